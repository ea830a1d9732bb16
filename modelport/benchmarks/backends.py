"""Backends: one runner per artifact (and the eager reference), ready to be wrapped in a SUT.

Runners come from ``modelport.runners`` only (docs/decisions.md, "One runner per backend"). A backend knows
whether it can take a batch of several samples (the artifact declares a dynamic batch axis and a batch of 2
really works), warms itself up at every batch size it will see, and measures a first latency/throughput
estimate that sizes the LoadGen settings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from modelport.benchmarks import memory
from modelport.errors import InputError
from modelport.manifest import Artifact, RunManifest, verify_artifact_files
from modelport.runners import Runner, RunnerOptions, load_runner
from modelport.spec import InputSpec, make_inputs

EAGER_ID = "eager"
#: TorchScript warm-up per shape (ts_settled): at least, at most, the settled run and ratio, the time cap
TS_MIN_CALLS = 4
TS_MAX_CALLS = 40
TS_SETTLED_CALLS = 3
TS_SETTLED_RATIO = 1.5
TS_MAX_WARM_S = 30.0
#: the runner description keys that are session settings (ort_runner.session_settings, torch_runners.torch_session)
SESSION_KEYS = ("graph_optimization_level", "intra_op_threads", "inter_op_threads", "execution_mode",
                "allow_spinning", "cpu_mem_arena")


def batch_buckets(max_batch: int) -> list[int]:
    """Batch sizes a batching SUT runs: powers of two up to ``max_batch``, and ``max_batch`` itself.

    Partial batches are padded up to the next bucket, so warm-up covers every shape a run uses."""
    sizes = [1]
    while sizes[-1] * 2 < max_batch:
        sizes.append(sizes[-1] * 2)
    if max_batch > 1:
        sizes.append(max_batch)
    return sizes


def ts_settled(times: list[float]) -> bool:
    """Whether a TorchScript backend's calls at one shape have settled: its profiling executor profiles the
    first calls of a shape and compiles the optimised graph after them (again after a bailout), and those calls
    took seconds where a warm call took a millisecond (rnnt-small). Settled = the last ``TS_SETTLED_CALLS``
    calls each within ``TS_SETTLED_RATIO`` of the fastest so far, after at least ``TS_MIN_CALLS``; capped at
    ``TS_MAX_CALLS`` calls or ``TS_MAX_WARM_S`` seconds per shape (docs/decisions.md, "TorchScript: a warm-up
    until the profiling executor settles")."""
    if len(times) >= TS_MAX_CALLS or sum(times) >= TS_MAX_WARM_S:
        return True
    if len(times) < TS_MIN_CALLS:
        return False
    fastest = min(times)
    return all(t <= TS_SETTLED_RATIO * fastest for t in times[-TS_SETTLED_CALLS:])


def bucket_for(n: int, buckets: list[int]) -> int:
    for b in buckets:
        if b >= n:
            return b
    return buckets[-1]


@dataclass
class Estimate:
    latency_s: float  # median batch-1 latency
    batch: int
    batch_latency_s: float  # median latency of one batch of ``batch``

    @property
    def throughput(self) -> float:
        return self.batch / self.batch_latency_s


@dataclass
class Backend:
    id: str
    kind: str  # eager | torchscript | pt2 | onnx
    runner: Runner
    specs: list[InputSpec]
    batchable: bool
    artifact: Artifact | None = None
    notes: list[str] = field(default_factory=list)
    load_time_s: float = 0.0

    output_names: list[str] = field(default_factory=list)  # the run's names, which responses use
    warm_calls: dict[int, int] = field(default_factory=dict)  # batch size -> calls its warm-up took
    #: batch size -> the largest growth of resident memory one warm-up call of it took (bytes; Linux)
    memory_growth: dict[int, int] = field(default_factory=dict)
    #: the largest batch memory allows, when the warm-up stopped below the requested one (``memory``)
    batch_cap: int | None = None

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outs = self.runner.infer(feed)
        if self.output_names and list(outs) != self.output_names and len(outs) == len(self.output_names):
            # a runtime may name outputs its own way; the run's names are positional
            return dict(zip(self.output_names, outs.values(), strict=True))
        return outs

    def first_call(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``infer`` on one sample, its memory growth counted as batch 1's (``warm_up``)."""
        with memory.GrowthProbe() as probe:
            outs = self.infer(feed)
        self._record_growth(1, probe)
        return outs

    def _record_growth(self, batch: int, probe: memory.GrowthProbe) -> None:
        if probe.growth is not None:
            self.memory_growth[batch] = max(self.memory_growth.get(batch, 0), probe.growth)

    def max_batch(self, requested: int) -> int:
        if not self.batchable:
            return 1
        return min(requested, self.batch_cap) if self.batch_cap is not None else requested

    def dummy(self, batch: int, seed: int = 12345) -> dict[str, np.ndarray]:
        return make_inputs(self.specs, seed, batch=batch if self.batchable else None,
                           shapes=None if self.batchable else {s.name: _sample_shape(s) for s in self.specs})

    def warm_up(self, batch_sizes: list[int]) -> dict[int, float]:
        """Run every batch size a benchmark will use (first runs of a shape are slow: kernels get picked and
        caches filled); returns the time of the last run of each, which ``estimate`` reuses. The calls each
        shape took are kept in ``warm_calls`` (recorded with the backend).

        Each call's memory growth is measured; a batch predicted to take more than the machine has to spare is
        not run, and the largest batch run becomes ``batch_cap`` (``memory``; docs/decisions.md, "Zoo: 3D-UNet
        memory")."""
        last: dict[int, float] = {}
        for b in sorted(set(batch_sizes)):
            if b > 1 and self.batchable and last:
                ok, why = memory.fits(b, self.memory_growth, memory.available_bytes())
                if not ok:
                    self.batch_cap = max(last)
                    self.notes.append(f"max batch {self.batch_cap}: {why}")
                    break
            feed = self.dummy(b)
            times: list[float] = []
            while not self._warm(b, times):
                with memory.GrowthProbe() as probe:
                    t = time.perf_counter()
                    self.infer(feed)
                    times.append(time.perf_counter() - t)
                self._record_growth(b, probe)
            last[b] = times[-1]
            self.warm_calls[b] = len(times)
        return last

    def _warm(self, batch: int, times: list[float]) -> bool:
        if self.kind != "torchscript":  # a large batch is warm after one run; keep its cost down
            return len(times) >= (2 if batch == 1 else 1)
        return ts_settled(times)

    def estimate(self, batch: int, warm: dict[int, float], min_time_s: float = 0.2, max_runs: int = 20) -> Estimate:
        """Batch-1 latency measured again (it sizes SingleStream); larger batches from the warm-up's last run."""
        one = _median_time(self.infer, self.dummy(1), min_time_s, max_runs)
        if batch > 1 and self.batchable and batch in warm:
            return Estimate(one, batch, warm[batch])
        return Estimate(one, 1, one)

    def session(self) -> dict[str, Any]:
        """The runtime settings every cell of this backend ran under (threads, onnxruntime's graph level,
        spinning, memory arena), recorded per cell: cells measured under other settings are not comparable
        (docs/decisions.md, "Benchmarks: session settings per cell")."""
        described = self.runner.describe()
        return {k: _jsonable(described[k]) for k in SESSION_KEYS if k in described}

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "kind": self.kind, "batchable": self.batchable,
                             "load_time_s": round(self.load_time_s, 3), "runner": _jsonable(self.runner.describe()),
                             "session": self.session()}
        opts = getattr(self.runner, "options", None)
        if isinstance(opts, RunnerOptions):
            d["device"] = opts.device
            d["intra_op_threads"] = opts.threads
            d["inter_op_threads"] = opts.inter_op_threads
        if self.artifact is not None:
            d["path"] = self.artifact.path
            d["opset"] = self.artifact.opset
            d["size_bytes"] = self.artifact.size_bytes
        if self.warm_calls:
            d["warm_up_calls"] = {str(b): n for b, n in sorted(self.warm_calls.items())}
        if self.memory_growth:
            d["warm_up_memory_growth_mb"] = {str(b): round(n / 2**20) for b, n in sorted(self.memory_growth.items())}
        if self.batch_cap is not None:
            d["batch_cap"] = self.batch_cap
        if self.notes:
            d["notes"] = list(self.notes)
        return d

    def close(self) -> None:
        self.runner.close()


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def _sample_shape(spec: InputSpec) -> tuple[int, ...]:
    return (1, *spec.shape[1:]) if spec.batch_dynamic else spec.shape


def _median_time(fn: Any, feed: dict[str, np.ndarray], min_time_s: float, max_runs: int) -> float:
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < min_time_s and len(times) < max_runs):
        t = time.perf_counter()
        fn(feed)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def check_device(device: str) -> None:
    if device == "cpu":
        return
    if not device.startswith("cuda"):
        raise InputError(f"--device {device!r} is not supported", "use cpu or cuda")
    import torch

    if not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA GPU is visible to torch on this machine", "use --device cpu")


def _declared_batch_dynamic(artifact: Artifact | None, specs: list[InputSpec]) -> bool:
    if not all(s.batch_dynamic for s in specs):
        return False
    if artifact is None or not artifact.dynamic_axes:
        return True  # eager modules and torch artifacts that do not record axes follow the input specs
    for s in specs:
        axes = artifact.dynamic_axes.get(s.name, {})
        if "0" not in axes and 0 not in axes:
            return False
    return True


def _probe_batch(runner: Runner, specs: list[InputSpec]) -> str | None:
    """None when a batch of 2 runs and gives outputs with a leading axis of 2, else why not."""
    try:
        outs = runner.infer(make_inputs(specs, 7, batch=2))
    except Exception as e:  # noqa: BLE001 - any failure means: run this artifact at batch 1
        return f"a batch of 2 fails ({type(e).__name__}); running batch 1"
    if any(not o.ndim or o.shape[0] != 2 for o in outs.values()):
        return "outputs of a batch of 2 do not have a leading axis of 2; running batch 1"
    return None


def finish_backend(backend_id: str, kind: str, runner: Runner, specs: list[InputSpec], artifact: Artifact | None,
                   t0: float, output_names: list[str], cls: type[Backend] = Backend) -> Any:
    """The backend around a loaded runner: whether it batches (declared, then a batch of 2 tried), its notes;
    ``cls`` builds it (a Backend subclass, e.g. compiled_eager.CompiledEager)."""
    notes: list[str] = []
    batchable = _declared_batch_dynamic(artifact, specs)
    if not batchable:
        notes.append("no dynamic batch axis; every batch is one sample")
    else:
        why = _probe_batch(runner, specs)
        if why:
            batchable = False
            notes.append(why)
    return cls(backend_id, kind, runner, specs, batchable, artifact, notes, time.perf_counter() - t0,
               list(output_names))


def eager_backend(manifest: RunManifest, options: RunnerOptions, trust_pickle: bool = False,
                  trust_remote_code: bool = False) -> Backend:
    from modelport.runners.torch_runners import TorchModuleRunner
    from modelport.sources import reload_source

    t0 = time.perf_counter()
    module = reload_source(manifest.source, trust_pickle=trust_pickle, trust_remote_code=trust_remote_code,
                           seed=manifest.seed)
    runner = TorchModuleRunner(module, [s.name for s in manifest.inputs], list(manifest.output_names), options)
    return finish_backend(EAGER_ID, "eager", runner, manifest.inputs, None, t0, manifest.output_names)


def artifact_options(path: Path, artifact: Artifact, options: RunnerOptions, ort_level: str | None) -> RunnerOptions:
    """``--ort-graph-opt-level`` applies to ONNX artifacts whose file stores no level: an ``--optimize`` artifact
    keeps the level it was validated at (docs/decisions.md, "ONNX Runtime levels: one artifact per level")."""
    if ort_level is None or artifact.target != "onnx":
        return options
    from modelport.runners.ort_runner import recorded_level

    return options if recorded_level(str(path)) else replace(options, ort_graph_opt_level=ort_level)


def artifact_backend(run_dir: Path, manifest: RunManifest, artifact: Artifact, options: RunnerOptions,
                     ort_level: str | None = None) -> Backend:
    verify_artifact_files(run_dir, artifact)
    options = artifact_options(run_dir / artifact.path, artifact, options, ort_level)
    t0 = time.perf_counter()
    try:
        runner = load_runner(artifact.target, run_dir / artifact.path, [s.name for s in manifest.inputs],
                             list(manifest.output_names), options)
    except RuntimeError as e:
        if options.device != "cpu":
            raise InputError(f"artifact {artifact.id!r} cannot run on {options.device}: {e}") from None
        raise
    return finish_backend(artifact.id, artifact.target, runner, manifest.inputs, artifact, t0, manifest.output_names)
