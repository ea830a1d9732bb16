"""``torch.export`` (.pt2): the successor of TorchScript in torch 2.13."""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from modelport.converters.adapt import is_script_module, program_from_script
from modelport.converters.capture import capture, first_line
from modelport.converters.example import dynamic_symbols
from modelport.converters.exported import Exported
from modelport.errors import ExportError
from modelport.spec import InputSpec


def dynamic_shapes_for(specs: list[InputSpec]) -> tuple[dict[int, torch.export.Dim] | None, ...] | None:
    """``torch.export`` dynamic shapes from the spec; one ``Dim`` per symbol, shared across inputs that name it."""
    if not any(s.dynamic_axes for s in specs):
        return None
    dims: dict[str, torch.export.Dim] = {}
    out: list[dict[int, torch.export.Dim] | None] = []
    for s in specs:
        if not s.dynamic_axes:
            out.append(None)
            continue
        entry = {}
        for axis, sym in sorted(s.dynamic_axes.items()):
            name = "".join(c if c.isalnum() or c == "_" else "_" for c in sym) or f"d{axis}"
            if name[0].isdigit():
                name = f"d_{name}"
            if name not in dims:
                dims[name] = torch.export.Dim(name, min=1)
            entry[axis] = dims[name]
        out.append(entry)
    return tuple(out)


def export_failure(e: BaseException, what: str) -> ExportError:
    """A ``torch.export`` failure, as one line with the usual way out."""
    text = first_line(str(e))
    cause = e.__cause__
    while cause is not None and ("step 1/3" in text or not text):
        text = first_line(str(cause))
        cause = cause.__cause__
    hint = "use --to torchscript (--method script) or --exporter torchscript"
    if "data-dependent" in str(e).lower() or "GuardOnDataDependent" in type(e).__name__:
        hint = ("the model branches on tensor values, which torch.export cannot capture; rewrite the branch "
                "with torch.cond, or " + hint)
    return ExportError(f"{what}: {text}", hint)


def export_pt2(module: nn.Module, args: tuple[torch.Tensor, ...], specs: list[InputSpec], dest: Path) -> Exported:
    t0 = time.perf_counter()
    with capture() as cap:
        if is_script_module(module):
            program = program_from_script(module, args, specs, "a .pt2 export")
        else:
            try:
                program = torch.export.export(module, args, dynamic_shapes=dynamic_shapes_for(specs))
            except Exception as e:  # noqa: BLE001
                raise export_failure(e, "torch.export cannot capture the model") from None
        try:
            torch.export.save(program, str(dest))
        except Exception as e:  # noqa: BLE001
            raise ExportError(f"cannot save the .pt2 program: {first_line(str(e))}") from None
    return Exported("pt2", dest, [dest], time.perf_counter() - t0, dynamic_axes=dynamic_symbols(specs),
                    warnings=cap.warnings)
