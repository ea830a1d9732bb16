"""The audit.config of each MLPerf compliance test modelport runs (docs/decisions.md, "Benchmarks: compliance
tests TEST01 and TEST04").

The settings are the published ones (mlcommons/inference ``compliance/``): TEST01 runs in performance mode and
logs a random sample of responses into the accuracy log, with the published seed; TEST04 issues one sample
(index 3) for every query, so a SUT that caches results would show up as faster.
"""

from __future__ import annotations

#: the seed MLPerf's TEST01 audit.config gives LoadGen's accuracy-log sampling
TEST01_SEED = 720381539243781796
#: responses TEST01 logs in performance mode (the published value for most models)
TEST01_SAMPLES = 1024

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
