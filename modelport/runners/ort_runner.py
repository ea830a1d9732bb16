"""onnxruntime runner, with session options chosen for speed and recorded."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modelport.runners.base import Runner, RunnerOptions


def session_options(options: RunnerOptions):  # -> ort.SessionOptions
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if options.threads:
        so.intra_op_num_threads = options.threads
    if options.inter_op_threads:
        so.inter_op_num_threads = options.inter_op_threads
    so.log_severity_level = 3
    return so


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
        self.session = ort.InferenceSession(self.path, sess_options=session_options(options),
                                            providers=providers_for(options.device))
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outs = self.session.run(None, {n: feed[n] for n in self.input_names})
        return dict(zip(self.output_names, outs, strict=True))

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "providers": self.session.get_providers(),
                "intra_op_threads": self.options.threads, "inter_op_threads": self.options.inter_op_threads}

    def close(self) -> None:
        self.session = None  # type: ignore[assignment]
