"""onnxruntime runner, with session options chosen for speed and recorded.

The graph optimisation level is part of what an optimised artifact is (docs/decisions.md, "ONNX Runtime
levels: one artifact per level"): ``convert --optimize O2`` writes the level into the file's metadata and the
runner opens the session at that level, so validation and benchmarks run exactly what was validated.
``RunnerOptions.ort_graph_opt_level`` overrides it; ``describe()`` records the level used and the other session
settings a benchmark cell records (docs/decisions.md, "Benchmarks: session settings per cell").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modelport.runners.base import Runner, RunnerOptions

#: the metadata key ``convert --optimize`` writes and the runner reads
LEVEL_KEY = "modelport.ort_graph_opt_level"
GRAPH_LEVELS = ("disabled", "basic", "extended", "all")
DEFAULT_LEVEL = "all"
SPINNING_KEY = "session.intra_op.allow_spinning"


def graph_level(name: str):  # -> ort.GraphOptimizationLevel
    import onnxruntime as ort

    if name not in GRAPH_LEVELS:
        raise ValueError(f"unknown onnxruntime graph optimisation level {name!r}; use one of {', '.join(GRAPH_LEVELS)}")
    return {"disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[name]


def recorded_level(model: str | bytes) -> str | None:
    """The level an optimised artifact records in its metadata, or None (a plain export, a user's file)."""
    import onnx

    proto = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(model, load_external_data=False)
    level = next((p.value for p in proto.metadata_props if p.key == LEVEL_KEY), None)
    return level if level in GRAPH_LEVELS else None


def session_options(options: RunnerOptions, level: str = DEFAULT_LEVEL):  # -> ort.SessionOptions
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = graph_level(level)
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if options.threads:
        so.intra_op_num_threads = options.threads
    if options.inter_op_threads:
        so.inter_op_num_threads = options.inter_op_threads
    so.log_severity_level = 3
    so.enable_cpu_mem_arena = options.ort_mem_arena
    if not options.ort_allow_spinning:
        so.add_session_config_entry(SPINNING_KEY, "0")
    return so


def session_settings(so, level: str) -> dict[str, object]:  # so: ort.SessionOptions
    """What a session was opened with, as results.json records it per backend and per cell."""
    spinning = _config_entry(so, SPINNING_KEY, "1")  # onnxruntime's default: intra-op threads spin
    return {"graph_optimization_level": level, "intra_op_threads": so.intra_op_num_threads or None,
            "inter_op_threads": so.inter_op_num_threads or None, "execution_mode": so.execution_mode.name,
            "allow_spinning": spinning != "0", "cpu_mem_arena": bool(so.enable_cpu_mem_arena)}


def _config_entry(so, key: str, default: str) -> str:
    try:
        return so.get_session_config_entry(key)
    except Exception:  # noqa: BLE001 - onnxruntime raises its own Fail for an entry never set
        return default


def providers_for(device: str) -> list[str]:
    import onnxruntime as ort

    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise RuntimeError("onnxruntime has no CUDAExecutionProvider here (install onnxruntime-gpu)")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OrtRunner(Runner):
    kind = "onnxruntime"

    def __init__(self, model: str | Path | bytes, options: RunnerOptions = RunnerOptions()) -> None:
        """``model`` is a path, or a serialized ModelProto (for models that exist only in memory)."""
        import onnxruntime as ort

        self.path = model if isinstance(model, bytes) else str(model)
        self.options = options
        self.level = options.ort_graph_opt_level or recorded_level(self.path) or DEFAULT_LEVEL
        so = session_options(options, self.level)
        self.settings = session_settings(so, self.level)
        self.session = ort.InferenceSession(self.path, sess_options=so, providers=providers_for(options.device))
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outs = self.session.run(None, {n: feed[n] for n in self.input_names})
        return dict(zip(self.output_names, outs, strict=True))

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "providers": self.session.get_providers(), **self.settings}

    def close(self) -> None:
        self.session = None  # type: ignore[assignment]
