"""Runners for the torch backends: eager ``nn.Module``, TorchScript archives and ``torch.export`` .pt2 files."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from modelport.runners.base import Runner, RunnerOptions


def flatten_outputs(out: object) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [v for v in out.values() if isinstance(v, torch.Tensor)]
    if hasattr(out, "to_tuple"):  # Hugging Face ModelOutput
        return [v for v in out.to_tuple() if isinstance(v, torch.Tensor)]
    if isinstance(out, (list, tuple)):
        flat: list[torch.Tensor] = []
        for item in out:
            flat.extend(flatten_outputs(item))
        return flat
    raise TypeError(f"model returned {type(out).__name__}, expected tensors")


class TorchModuleRunner(Runner):
    """Calls a module positionally with the inputs in ``input_names`` order, under ``inference_mode``."""

    def __init__(self, module: nn.Module | torch.jit.ScriptModule, input_names: list[str],
                 output_names: list[str], options: RunnerOptions = RunnerOptions(), kind: str = "eager") -> None:
        self.kind = kind
        self.options = options
        self.device = torch.device(options.device)
        if options.threads:
            torch.set_num_threads(options.threads)
        self.module = module.to(self.device) if hasattr(module, "to") else module
        self.input_names = list(input_names)
        self.output_names = list(output_names)

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        args = [torch.from_numpy(np.ascontiguousarray(feed[n])).to(self.device) for n in self.input_names]
        with torch.inference_mode():
            outs = flatten_outputs(self.module(*args))
        if len(outs) != len(self.output_names):
            names = [f"output_{i}" for i in range(len(outs))]
            self.output_names = names if not self.output_names else self.output_names[: len(outs)] + names[
                len(self.output_names):]
        return {n: t.detach().cpu().numpy() for n, t in zip(self.output_names, outs, strict=False)}

    def describe(self) -> dict[str, object]:
        return {**super().describe(), **torch_session()}

    def close(self) -> None:
        self.module = None  # type: ignore[assignment]


def torch_session() -> dict[str, object]:
    """torch's thread pools as a benchmark cell records them (docs/decisions.md, "Benchmarks: session settings
    per cell")."""
    return {"intra_op_threads": torch.get_num_threads(), "inter_op_threads": torch.get_num_interop_threads()}


def load_torchscript(path: str | Path, input_names: list[str], output_names: list[str],
                     options: RunnerOptions = RunnerOptions()) -> TorchModuleRunner:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated in 2.13; loading is fine
        module = torch.jit.load(str(path), map_location=options.device)
    module.eval()
    return TorchModuleRunner(module, input_names, output_names, options, kind="torchscript")


def load_pt2(path: str | Path, input_names: list[str], output_names: list[str],
             options: RunnerOptions = RunnerOptions()) -> TorchModuleRunner:
    from modelport.runners.pt2_archive import load_program

    program = load_program(path, trust_pickle=options.trust_pickle)
    module = program.module()
    return TorchModuleRunner(module, input_names, output_names, options, kind="pt2")
