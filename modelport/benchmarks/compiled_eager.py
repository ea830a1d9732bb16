"""``--with-compiled-eager``: the eager model compiled in-process with ``torch.compile``, benched as a second
reference backend (``eager-compiled``) next to eager, in every scenario.

It answers what users ask once they see an exported form beside eager: what would compiling in-process have
bought? (docs/decisions.md, "Benchmarks: torch.compile'd eager as a second reference"). ``torch.compile`` is
lazy: it compiles on the first call of each new input shape, and recompiles once with dynamic sizes when a
second shape arrives. The backend therefore compiles at the batch sizes its cells will use before any LoadGen
run (the bench's warm-up), and the compile time dynamo reports is recorded in the backend's entry.
"""

from __future__ import annotations

import time
from typing import Any

from modelport.benchmarks.backends import Backend, finish_backend
from modelport.errors import InputError
from modelport.manifest import RunManifest
from modelport.runners import RunnerOptions

COMPILED_ID = "eager-compiled"
HINT = "drop --with-compiled-eager"


def dynamo_compile_seconds() -> float:
    """Seconds dynamo has spent compiling in this process so far (its own timing; 0.0 where torch lacks it)."""
    try:
        from torch._dynamo.utils import compilation_time_metrics
    except ImportError:  # a torch without this private record: the compile time is then not recorded
        return 0.0
    return float(sum(compilation_time_metrics.get("_compile.compile_inner", [])))


class CompiledEager(Backend):
    """A backend whose warm-up also records how long ``torch.compile`` took for the shapes it saw."""

    compile_time_s: float = 0.0

    def warm_up(self, batch_sizes: list[int]) -> dict[int, float]:
        before = dynamo_compile_seconds()
        last = super().warm_up(batch_sizes)
        self.compile_time_s += dynamo_compile_seconds() - before
        return last

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "compile_time_s": round(self.compile_time_s, 3),
                "compiler": "torch.compile (inductor, default mode)"}


def compiled_eager_backend(manifest: RunManifest, options: RunnerOptions, trust_pickle: bool = False,
                           trust_remote_code: bool = False) -> CompiledEager:
    """The run's eager model under ``torch.compile``; one-line ``InputError`` where that cannot apply."""
    import torch

    from modelport.runners.torch_runners import TorchModuleRunner
    from modelport.sources import reload_source

    if any(a.components for a in manifest.artifacts):
        raise InputError("--with-compiled-eager applies to single-graph models; this run is generative", HINT)
    t0 = time.perf_counter()
    module = reload_source(manifest.source, trust_pickle=trust_pickle, trust_remote_code=trust_remote_code,
                           seed=manifest.seed)
    if isinstance(module, torch.jit.ScriptModule):
        raise InputError("--with-compiled-eager: this run's eager model is a TorchScript archive, which "
                         "torch.compile cannot compile", HINT)
    before = dynamo_compile_seconds()
    runner = TorchModuleRunner(torch.compile(module), [s.name for s in manifest.inputs],
                               list(manifest.output_names), options, kind=COMPILED_ID)
    backend = finish_backend(COMPILED_ID, COMPILED_ID, runner, manifest.inputs, None, t0, manifest.output_names,
                             cls=CompiledEager)
    backend.compile_time_s = dynamo_compile_seconds() - before  # the batch probe's compile
    return backend
