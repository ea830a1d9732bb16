"""``torch.export`` (.pt2): the successor of TorchScript in torch 2.13."""

from __future__ import annotations

import re
import time
from pathlib import Path

import torch
from torch import nn

from modelport.converters.adapt import is_script_module, program_from_script
from modelport.converters.capture import capture, first_line
from modelport.converters.example import dynamic_symbols
from modelport.converters.exported import Exported
from modelport.errors import ExportError
from modelport.sources import metadata
from modelport.sources.metadata import EXTRA_FILE
from modelport.spec import InputSpec


def _dim_name(sym: str, axis: int) -> str:
    """A symbol as a valid ``Dim`` name (an identifier)."""
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in sym) or f"d{axis}"
    return f"d_{name}" if name[0].isdigit() else name


def dynamic_shapes_for(specs: list[InputSpec], ranges: dict[str, dict[str, int]] | None = None,
                       ) -> tuple[dict[int, torch.export.Dim] | None, ...] | None:
    """``torch.export`` dynamic shapes from the spec; one ``Dim`` per symbol, shared across inputs that name it.

    ``ranges`` bounds some symbols (``{"sequence": {"max": 64}}``), from torch.export's own suggested fixes.
    """
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
            name = _dim_name(sym, axis)
            if name not in dims:
                bounds = {"min": 1, **(ranges or {}).get(name, {})}
                dims[name] = torch.export.Dim(name, **bounds)
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


_SUGGESTED_PIN = re.compile(r"^\s*(\w+) = (\d+)\s*$", re.M)
STATIC_AXIS_HINT = ("the model fixes this size (e.g. a view/reshape with a constant); drop the "
                    "--dynamic/--dynamic-batch request or make the model shape-generic")
_SUGGESTED_RANGE = re.compile(r"^\s*(\w+) = Dim\('(\w+)'((?:, (?:min|max)=\d+)*)\)\s*$", re.M)


def suggested_ranges(message: str) -> dict[str, dict[str, int]]:
    """torch.export's "Suggested fixes" that only bound a dimension (``seq = Dim('seq', max=64)``).

    Fixes that pin a dimension to a constant (``seq = 16``) are not taken: that axis cannot be dynamic.
    """
    out: dict[str, dict[str, int]] = {}
    for m in _SUGGESTED_RANGE.finditer(message):
        bounds = dict(kv.split("=") for kv in m.group(3).replace(" ", "").split(",") if kv)
        out[m.group(2)] = {k: int(v) for k, v in bounds.items()}
    return out


def export_program(module: nn.Module, args: tuple[torch.Tensor, ...], specs: list[InputSpec],
                   notes: list[str]) -> torch.export.ExportedProgram:
    """``torch.export.export`` with the spec's dynamic axes; when the model bounds an axis (a position table of
    64 entries bounds the sequence), take torch's suggested range once and record it in ``notes``."""
    try:
        return torch.export.export(module, args, dynamic_shapes=dynamic_shapes_for(specs))
    except Exception as e:  # noqa: BLE001
        if "Constraints violated" not in str(e):
            raise
        pinned = _SUGGESTED_PIN.findall(str(e))
        if pinned:
            sym, size = pinned[0]
            axes = [(s.name, a) for s in specs for a, name in s.dynamic_axes.items() if _dim_name(name, a) == sym]
            where = axes[0] if axes else (sym, "?")
            raise ExportError(f"input '{where[0]}' axis {where[1]} was requested dynamic but exported static ({size})",
                              STATIC_AXIS_HINT) from None
        ranges = suggested_ranges(str(e))
        if not ranges:
            raise
    program = torch.export.export(module, args, dynamic_shapes=dynamic_shapes_for(specs, ranges))
    for name, bounds in ranges.items():
        notes.append(f"dynamic axis {name!r} is bounded by the model: " +
                     ", ".join(f"{k} {v}" for k, v in sorted(bounds.items())) + " (torch.export's suggested fix)")
    return program


def capture_program(module: nn.Module, args: tuple[torch.Tensor, ...], specs: list[InputSpec], notes: list[str],
                    purpose: str, capturer: str) -> torch.export.ExportedProgram:
    """The ``torch.export`` capture shared by the .pt2 target and the dynamo ONNX exporter.

    TorchScript sources go through torch's converter; everything else through ``export_program`` (with its
    retry on the model's own axis bounds). Failures become one-line ExportErrors naming ``capturer``.
    """
    if is_script_module(module):
        return program_from_script(module, args, specs, purpose)
    try:
        return export_program(module, args, specs, notes)
    except ExportError:
        raise
    except Exception as e:  # noqa: BLE001
        raise export_failure(e, f"{capturer} cannot capture the model") from None


def export_pt2(module: nn.Module, args: tuple[torch.Tensor, ...], specs: list[InputSpec], dest: Path,
               output_names: list[str]) -> Exported:
    t0 = time.perf_counter()
    notes: list[str] = []
    with capture() as cap:
        program = capture_program(module, args, specs, notes, "a .pt2 export", "torch.export")
        try:
            # The archive carries its input spec, so `modelport convert model.pt2` needs no --input.
            torch.export.save(program, str(dest), extra_files={EXTRA_FILE: metadata.dumps(specs, output_names)})
        except Exception as e:  # noqa: BLE001
            raise ExportError(f"cannot save the .pt2 program: {first_line(str(e))}") from None
    return Exported("pt2", dest, [dest], time.perf_counter() - t0, dynamic_axes=dynamic_symbols(specs),
                    warnings=notes + cap.warnings)
