"""Pick the runner for an artifact kind."""

from __future__ import annotations

from pathlib import Path

from modelport.runners.base import Runner, RunnerOptions


def load_runner(kind: str, path: str | Path, input_names: list[str], output_names: list[str],
                options: RunnerOptions = RunnerOptions()) -> Runner:
    """``kind`` is the artifact target: ``torchscript``, ``pt2``, ``aoti`` or ``onnx``."""
    if kind == "onnx":
        from modelport.runners.ort_runner import OrtRunner

        return OrtRunner(path, options)
    if kind == "torchscript":
        from modelport.runners.torch_runners import load_torchscript

        return load_torchscript(path, input_names, output_names, options)
    if kind == "pt2":
        from modelport.runners.torch_runners import load_pt2

        return load_pt2(path, input_names, output_names, options)
    if kind == "aoti":
        from modelport.runners.aoti_runner import AotiRunner

        return AotiRunner(path, input_names, output_names, options)
    raise ValueError(f"no runner for artifact kind {kind!r}")
