"""The audit.config of each MLPerf compliance test modelport runs (docs/decisions.md, "Benchmarks: compliance
tests TEST01 and TEST04").

The settings are the published ones (mlcommons/inference ``compliance/``): TEST01 runs in performance mode and
logs a random sample of responses into the accuracy log, with the published seed and the model's published
sampling target; TEST04 issues one sample
(index 3) for every query, so a SUT that caches results would show up as faster.
"""

from __future__ import annotations

#: the seed MLPerf's TEST01 audit.config gives LoadGen's accuracy-log sampling
TEST01_SEED = 720381539243781796
#: responses TEST01 logs in performance mode for a model without a published value
TEST01_SAMPLES = 1024
#: the published ``accuracy_log_sampling_target`` of ``compliance/TEST01/<model>/audit.config`` (read at
#: mlcommons/inference b66003e), by mlperf.conf model name: 3D-UNet's patch outputs are 25 MB each, so 64
TEST01_SAMPLES_BY_MODEL = {"resnet50": 4096, "bert": 4096, "rnnt": 4096, "dlrm": 4096, "3d-unet": 64,
                           "ssd-resnet34": 256}

AUDIT_CONFIGS: dict[str, str] = {
    "TEST01": ("# MLPerf TEST01: accuracy log sampled in performance mode (written by modelport)\n"
               "*.*.mode = 2\n"
               f"*.*.accuracy_log_rng_seed = {TEST01_SEED}\n"
               f"*.*.accuracy_log_sampling_target = {TEST01_SAMPLES}\n"),
    "TEST04": ("# MLPerf TEST04: the same sample in every query (written by modelport)\n"
               "*.*.mode = 2\n"
               "*.*.performance_issue_unique = 0\n"
               "*.*.performance_issue_same = 1\n"
               "*.*.performance_issue_same_index = 3\n"),
}
COMPLIANCE_TESTS: tuple[str, ...] = tuple(AUDIT_CONFIGS)


def audit_config(test: str, model: str = "*") -> str:
    """The audit.config of ``test`` for the mlperf.conf model ``model`` (LoadGen applies only its ``*.*``
    lines, so a model's own value goes into them): TEST01 with the model's published sampling target."""
    target = TEST01_SAMPLES_BY_MODEL.get(model, TEST01_SAMPLES)
    if test != "TEST01" or target == TEST01_SAMPLES:
        return AUDIT_CONFIGS[test]
    return AUDIT_CONFIGS[test].replace(f"sampling_target = {TEST01_SAMPLES}\n", f"sampling_target = {target}\n")
