"""``BenchOptions``: what a bench is asked to do, and the checks that refuse meaningless values up front."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from modelport.benchmarks.scenarios import SCENARIOS
from modelport.benchmarks.settings import Profile
from modelport.errors import InputError
from modelport.runners import RunnerOptions
from modelport.runners.ort_runner import GRAPH_LEVELS


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass
class BenchOptions:
    scenarios: list[str]  # names, in the canonical order (``parse_scenarios``)
    profile: Profile
    artifact_ids: list[str] | None = None  # None = every artifact
    device: str = "cpu"
    threads: int | None = None  # intra-op threads; None = every usable core
    inter_op_threads: int = 1
    max_batch: int = 32  # Offline and Server batches
    batch_timeout_ms: float = 2.0  # Server: how long a batch waits to fill after its first sample
    workers: int = 1  # Offline/Server worker threads sharing the backend
    server_latency_ms: float | None = None  # None = derived (see suite.BOUND_FACTOR) or MLPerf's for submission
    user_conf: str | None = None
    samples_file: str | None = None  # .npz of samples instead of generated ones
    seed: int | None = None  # sample seed; None = the run's seed
    accuracy: bool = True
    trust_pickle: bool = False
    trust_remote_code: bool = False  # rebuilding a Hugging Face reference that has its own code
    repeat: int = 1  # fresh LoadGen runs per cell (docs/decisions.md, "Benchmarks: repeats, spread and noisy cells")
    noise_threshold: float = 0.10  # a headline whose relative spread exceeds this flags the cell noisy
    cpus: list[int] | None = None  # --cpus: pin the bench to these cores; intra-op threads default to their count
    # --loadgen: modelport | official (docs/decisions.md, "Benchmarks: choosing the LoadGen")
    loadgen: str = "modelport"
    compliance: list[str] = field(default_factory=list)  # --compliance: TEST01, TEST04 (compliance.py)
    mlperf_repo: str | None = None  # --mlperf-repo: MLPerf's own scripts verify them (compliance_official.py)
    # the model name LoadGen's conf parser matches (MLPerf's, e.g. resnet50, for MLPerf zoo models; set by
    # preflight), so --user-conf lines naming the model apply as well as '*' ones
    conf_model: str = "*"
    eager_cells: bool = True  # bench the eager model too (submission: only its outputs, for accuracy)
    # --ort-graph-opt-level: onnxruntime's session level for ONNX artifacts whose file stores none (None: all)
    ort_graph_opt_level: str | None = None
    # --with-compiled-eager: torch.compile'd eager as a second reference backend (compiled_eager.py)
    with_compiled_eager: bool = False
    ort_spinning: bool = True  # --no-ort-spinning: onnxruntime's intra-op threads do not spin (a busy machine)

    def local_only_flags(self) -> list[str]:
        """The options given that need an in-process single-graph bench (refused for a served model and for
        generative runs, never ignored)."""
        return [flag for flag, used in (("--ort-graph-opt-level", self.ort_graph_opt_level),
                                        ("--with-compiled-eager", self.with_compiled_eager),
                                        ("--no-ort-spinning", not self.ort_spinning)) if used]

    def runner_options(self) -> RunnerOptions:
        threads = self.threads or (len(self.cpus) if self.cpus else usable_cores())
        return RunnerOptions(self.device, threads, self.inter_op_threads, self.trust_pickle,
                             ort_allow_spinning=self.ort_spinning)

    def check(self) -> None:
        """Refuse values no bench can run with (one line naming the option), before any work."""
        unknown = [s for s in self.scenarios if s not in SCENARIOS]
        if unknown or not self.scenarios:
            raise InputError(f"unknown scenario {unknown[0]!r}" if unknown else "no scenario chosen",
                             f"use all or {', '.join(SCENARIOS)}")
        bound = self.server_latency_ms
        if bound is not None and not (math.isfinite(bound) and bound > 0):
            raise InputError(f"--server-latency-ms must be positive and finite, got {bound:g}",
                             "e.g. --server-latency-ms 100")
        if not (math.isfinite(self.batch_timeout_ms) and self.batch_timeout_ms >= 0):
            raise InputError(f"--batch-timeout-ms must be finite and at least 0, got {self.batch_timeout_ms:g}",
                             "e.g. --batch-timeout-ms 2 (0: never wait for a batch to fill)")
        for flag, value in (("--threads", self.threads), ("--inter-op-threads", self.inter_op_threads),
                            ("--max-batch", self.max_batch), ("--workers", self.workers)):
            if value is not None and value < 1:
                raise InputError(f"{flag} must be at least 1, got {value}")
        if self.repeat < 1:
            raise InputError(f"--repeat must be at least 1, got {self.repeat}")
        if not (math.isfinite(self.noise_threshold) and self.noise_threshold > 0):
            raise InputError(f"--noise-threshold must be positive, got {self.noise_threshold:g}", "e.g. 10%")
        if "TEST01" in self.compliance and not self.accuracy:
            raise InputError("--compliance TEST01 needs the accuracy run it is checked against",
                             "drop --no-accuracy")
        if self.ort_graph_opt_level is not None and self.ort_graph_opt_level not in GRAPH_LEVELS:
            raise InputError(f"--ort-graph-opt-level {self.ort_graph_opt_level!r} is not a level",
                             f"use one of {', '.join(GRAPH_LEVELS)}")
        if self.with_compiled_eager and not self.eager_cells:
            raise InputError("--with-compiled-eager needs the eager model's cells, and this bench runs none")
        if self.seed is not None and self.seed < 0:
            raise InputError(f"--sample-seed must be at least 0, got {self.seed}")
