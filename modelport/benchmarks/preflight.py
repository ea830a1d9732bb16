"""Checks before work: everything a bench reads is checked before its first cell runs.

A bench takes minutes and writes logs per cell, so a bad input found late (the second artifact's file
changed, a corrupt samples file, a read-only run directory) would fail after earlier cells ran and left
their logs. Here every option, every artifact (its files' sha256 and a cheap parse of the file), the run
directory's writability and the samples file are checked first; each problem is one ``InputError``
(docs/decisions.md, "Errors: one line, one exit code": exit 2, one line naming it).
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from modelport import zoo
from modelport.benchmarks import lg
from modelport.benchmarks.accuracy import Reference
from modelport.benchmarks.backends import EAGER_ID, check_device
from modelport.benchmarks.cells import BENCH_DIR
from modelport.benchmarks.options import BenchOptions
from modelport.benchmarks.qsl import SampleLibrary
from modelport.benchmarks.settings import MLPERF_SERVER_LATENCY_MS
from modelport.errors import InputError
from modelport.manifest import Artifact, RunManifest, load_manifest, verify_artifact_files
from modelport.spec import InputSpec
from modelport.validators.tolerances import Tolerances
from modelport.zoo.mlperf import MLPERF

#: folders a bench writes into, besides the run directory itself
_WRITTEN_DIRS = (BENCH_DIR, "plots")


@dataclass
class BenchPlan:
    """A bench whose inputs all passed their checks."""

    run_dir: Path
    manifest: RunManifest
    options: BenchOptions  # the profile adjusted to the model (mlperf.conf's per-model rules)
    artifacts: list[Artifact]
    task: str | None
    metric: str | None  # the zoo entry's task metric (validators.task_metrics), scored in accuracy mode
    tolerances: Tolerances
    seed: int
    qsl: SampleLibrary
    server_latency_ms: float | None  # None: derived from the eager warm-up
    bound_source: str
    class_outputs: list[str] | None = None  # convert's --class-output: logits judged by top-1 agreement

    def reference(self) -> Reference:
        """The accuracy check's eager side, judged as convert judged the run."""
        return Reference(self.task, self.tolerances, self.metric, self.class_outputs)


def plan_bench(run_dir: Path, options: BenchOptions) -> BenchPlan:
    """Check every input of a bench of ``run_dir``; raise ``InputError`` on the first problem."""
    manifest = load_manifest(run_dir)
    options.check()
    check_device(options.device)
    lg.use(options.loadgen)  # before any SUT or QSL exists; a missing official wheel is an input error here
    ids = [i for i in options.artifact_ids or [] if i != EAGER_ID]
    artifacts = [manifest.artifact(i) for i in ids] if options.artifact_ids else list(manifest.artifacts)
    for art in artifacts:
        verify_artifact_files(run_dir, art)
        check_loadable(run_dir, art, options.trust_pickle)
    check_writable(run_dir)
    entry = zoo.entry_for_source(manifest.source.spec) if manifest.source.kind == "zoo" else None
    seed = manifest.seed if options.seed is None else options.seed
    if seed < 0:
        raise InputError(f"the run's seed {seed} cannot seed samples", "pass --sample-seed N (N >= 0)")
    options = replace(options, profile=options.profile.for_model(entry.name if entry else None),
                      conf_model=mlperf_conf_name(entry))
    p = options.profile
    qsl = SampleLibrary(manifest.inputs, p.total_samples, p.total_samples, seed, options.samples_file,
                        zoo_generator(entry, manifest.inputs, manifest.source.model_args))
    bound, source = server_bound(entry, options.server_latency_ms)
    # convert's own --atol/--rtol, so an fp32 cell is held to the tolerance its artifact was validated at
    recorded = manifest.settings
    tolerances = Tolerances.for_model(entry, {"": recorded["atol"]} if recorded.get("atol") is not None else {},
                                      {"": recorded["rtol"]} if recorded.get("rtol") is not None else {})
    return BenchPlan(run_dir, manifest, options, artifacts, entry.task if entry else None,
                     entry.metric if entry else None, tolerances, seed, qsl, bound, source,
                     list(recorded.get("class_outputs") or []) or None)


def zoo_generator(entry: zoo.ZooEntry | None, specs: list[InputSpec],
                  model_args: dict[str, Any] | None) -> tuple[str, Callable[[int], dict[str, np.ndarray]]] | None:
    """The zoo entry's realistic sample generator for the QSL (one sample per seed), when it has one and its
    samples fit the run's inputs (every batch axis dynamic, the other axes equal); None: the input specs."""
    if entry is None or not all(s.batch_dynamic for s in specs) or not entry.samples_fit(specs, model_args):
        return None
    names = [s.name for s in specs]
    return f"zoo:{entry.name}'s sample generator", lambda seed: {
        n: a for n, a in entry.samples(1, seed, model_args).items() if n in names}


def mlperf_conf_name(entry: object | None) -> str:
    """The model name mlperf.conf and user.conf lines use for a zoo entry ("*" for a model outside MLPerf)."""
    keywords = getattr(entry, "mlperf", None)
    return next((name for name, kw in MLPERF.items() if kw is keywords), "*") if keywords is not None else "*"


def server_bound(entry: object | None, given_ms: float | None) -> tuple[float | None, str]:
    """The Server latency bound and which rule gave it (docs/decisions.md, "Benchmarks: a Server bound from a
    robust estimate"): ``--server-latency-ms`` when given (the user's explicit word wins), else the MLPerf
    model's own constraint (the zoo entry's ``mlperf`` record, or mlperf.conf's table), in every profile;
    (None, "") leaves it to the eager warm-up (``suite``)."""
    if given_ms is not None:
        return given_ms, "--server-latency-ms"
    name = getattr(entry, "name", None)
    mlperf = getattr(entry, "mlperf", None)
    own = getattr(mlperf, "server_latency_ms", None)
    if isinstance(own, (int, float)) and own > 0:
        return float(own), f"the MLPerf constraint of {name}"
    if name in MLPERF_SERVER_LATENCY_MS:
        return MLPERF_SERVER_LATENCY_MS[str(name)], f"mlperf.conf ({name})"
    return None, ""


def check_loadable(run_dir: Path, artifact: Artifact, trust_pickle: bool = False) -> None:
    """A cheap look at the artifact's main file, so a file its runner would refuse fails before any cell:
    ONNX parses (external data checked, not read); TorchScript and .pt2 are zip archives, and a .pt2 holds
    no code-executing payload unless ``trust_pickle``. Loading the runner itself is the expensive part."""
    path = run_dir / artifact.path
    where = f"artifact {artifact.id!r} ({artifact.path})"
    if artifact.target == "onnx":
        from modelport.opsets.modelfile import load_model

        try:
            load_model(path)
        except InputError as e:
            raise InputError(f"{where}: {e.message}") from None
    elif not zipfile.is_zipfile(path):
        raise InputError(f"{where} is not a zip archive, as TorchScript and .pt2 files are",
                         "re-run modelport convert")
    elif artifact.target == "pt2" and not trust_pickle:
        from modelport.runners.pt2_archive import refusal, unsafe_globals

        names = unsafe_globals(path)
        if names:
            raise refusal(path, names)


def check_writable(run_dir: Path) -> None:
    """Prove the bench can create its folders and files (a read-only run directory fails here, not after
    the first cell)."""
    for folder in (run_dir, *(run_dir / d for d in _WRITTEN_DIRS)):
        if not folder.is_dir():
            continue
        try:
            probe = tempfile.mkdtemp(prefix=".modelport-probe-", dir=folder)
            shutil.rmtree(probe)
        except OSError as e:
            shown = run_dir if folder == run_dir else folder
            raise InputError(f"the run directory {str(shown)!r} is not writable: {e.strerror or e}",
                             "bench writes its logs and results there; copy the run directory somewhere "
                             "writable") from None
