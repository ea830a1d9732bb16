"""Make a loaded module fit each exporter, whatever form it arrived in.

- A ``torch.export`` program's module (a .pt2 source) refuses ``train()``/``eval()``, which the TorchScript-based
  ONNX exporter calls; it is wrapped so that mode switches stop at the wrapper (it is already in inference form).
- A TorchScript archive cannot go through ``torch.export`` (so neither to .pt2 nor through the dynamo ONNX
  exporter); torch's ``TS2EPConverter`` turns it into an ``ExportedProgram``, with static shapes only.
"""

from __future__ import annotations

import torch
from torch import nn

from modelport.converters.capture import capture, first_line
from modelport.errors import ExportError
from modelport.spec import InputSpec


class ModeLocked(nn.Module):
    """Forwards to ``inner``; ``train()``/``eval()`` set only this wrapper's flag."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def train(self, mode: bool = True) -> ModeLocked:
        self.training = mode
        return self

    def forward(self, *args: torch.Tensor):  # noqa: ANN201 - whatever the inner module returns
        return self.inner(*args)


def for_torchscript_onnx(module: nn.Module, source_kind: str) -> nn.Module:
    return ModeLocked(module) if source_kind == "pt2" else module


def is_script_module(module: nn.Module) -> bool:
    return isinstance(module, torch.jit.ScriptModule)


def program_from_script(module: torch.jit.ScriptModule, args: tuple[torch.Tensor, ...],
                        specs: list[InputSpec], what: str) -> torch.export.ExportedProgram:
    dynamic = [f"{s.name}[{a}]" for s in specs for a in sorted(s.dynamic_axes)]
    if dynamic:
        shapes = " ".join(f"--input {s.name}:{'x'.join(map(str, s.shape))}:{s.dtype}" for s in specs)
        raise ExportError(f"{what} from a TorchScript archive needs static shapes (torch's TS2EPConverter takes no "
                          f"dynamic shapes), but these axes are dynamic: {', '.join(dynamic)}",
                          f"pass fixed input shapes ({shapes}) or convert from the original model")
    from torch._export.converter import TS2EPConverter  # the only TorchScript -> ExportedProgram path in torch

    try:
        with capture():
            return TS2EPConverter(module, args).convert()
    except Exception as e:  # noqa: BLE001
        raise ExportError(f"cannot turn the TorchScript archive into a torch.export program for {what}: "
                          f"{first_line(str(e))}", "use --to torchscript or --exporter torchscript") from None
