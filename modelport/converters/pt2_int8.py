"""``convert --to pt2 --precision int8``: static int8 through torch's PT2E flow, saved as a ``.pt2`` program.

torchao's ``prepare_pt2e`` / ``convert_pt2e`` with its ``X86InductorQuantizer`` (default config: per-channel
symmetric int8 weights, per-tensor affine uint8 activations observed by a histogram) on the captured graph,
calibrated on the same calibration set as ONNX static int8 (``PrecisionContext.calibration``: same seed, hash
and size), then captured again with ``torch.export`` (dynamic axes kept) and saved with ``torch.export.save``.
The saved program holds plain tensors and torch's own ``quantized_decomposed`` ops, so it loads weights-only
like any ``.pt2`` (``runners.pt2_archive`` registers those ops); it runs as the reference representation
(quantize/dequantize around fp32 kernels) unless compiled. See docs/decisions.md, "Precision: int8 .pt2
through PT2E".

In torch 2.13 the flow lives in the ``torchao`` package (``torch.ao.quantization.quantize_pt2e`` is gone): it is
optional (``modelport[quantize]``), and a request without it is refused before anything is exported.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torch
from torch import nn

from modelport.converters.capture import first_line
from modelport.converters.example import dynamic_symbols
from modelport.converters.exported import Exported
from modelport.converters.precision import ONNX_INT8_WAY, CalibrationSet, refuse_unbuildable
from modelport.converters.pt2 import capture_program, dynamic_shapes_for, export_program, suggested_ranges
from modelport.errors import ExportError, InputError
from modelport.sources import metadata
from modelport.sources.metadata import EXTRA_FILE
from modelport.spec import InputSpec

#: the ops the X86 inductor quantizer quantizes by themselves; everything else only around them
_QUANTIZABLE = ("conv1d", "conv2d", "linear")


@contextlib.contextmanager
def _quiet_import() -> Iterator[None]:
    """torchao logs a warning per CUDA-only extension it cannot load on a CPU build, and torch one per Enum
    torchao registers with pytree: noise for a CPU quantization flow."""
    loggers = [logging.getLogger(n) for n in ("torchao", "torch.utils._pytree")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _capture(module: nn.Module, args: tuple[torch.Tensor, ...], specs: list[InputSpec]) -> tuple[Any, str]:
    """The graph to annotate. Strict capture (dynamo) first: it names each call of a module apart, while the
    non-strict one groups every call of a reused module (ResNet's one ReLU per block) into one partition with
    several outputs, which the quantizer cannot annotate."""
    try:
        try:
            program = torch.export.export(module, args, dynamic_shapes=dynamic_shapes_for(specs), strict=True)
        except Exception as e:  # noqa: BLE001 - the model bounds an axis: torch's suggested range, once
            ranges = suggested_ranges(str(e))
            if not ranges:
                raise
            program = torch.export.export(module, args, dynamic_shapes=dynamic_shapes_for(specs, ranges), strict=True)
        return program.module(), "strict"
    except Exception:  # noqa: BLE001 - dynamo cannot trace it: the capture every .pt2 uses (one-line errors)
        return capture_program(module, args, specs, [], "a .pt2 int8 export", "torch.export").module(), "non-strict"


def _quantizable(graph_module: Any) -> int:
    return sum(1 for n in graph_module.graph.nodes
               if n.op == "call_function" and getattr(n.target, "__name__", "").split(".")[0] in _QUANTIZABLE)


def _drop_unused(graph_module: Any) -> Any:
    """convert_pt2e folds each weight into an int8 constant but leaves the fp32 parameter registered, and
    torch.export would save every registered tensor (the int8 file came out larger than the fp32 one)."""
    graph_module.graph.eliminate_dead_code()
    used = {n.target for n in graph_module.graph.nodes if n.op == "get_attr"}
    for name, _ in [*graph_module.named_parameters(), *graph_module.named_buffers()]:
        if name not in used:
            owner, _, attr = name.rpartition(".")
            delattr(graph_module.get_submodule(owner) if owner else graph_module, attr)
    graph_module.recompile()
    return graph_module


def quantize_pt2(module: nn.Module, args: tuple[torch.Tensor, ...], specs: list[InputSpec], output_names: list[str],
                 calib: CalibrationSet, dest: Path) -> Exported:
    """The PT2E int8 program of ``module``, saved at ``dest``; refuses models the flow does not apply to."""
    t0 = time.perf_counter()
    program, info, notes = quantized_program(module, args, specs, calib, "pt2")
    torch.export.save(program, str(dest), extra_files={EXTRA_FILE: metadata.dumps(specs, output_names)})
    info["runs_as"] = "reference representation: quantize/dequantize around fp32 kernels (not compiled)"
    return Exported("pt2", dest, [dest], time.perf_counter() - t0, dynamic_axes=dynamic_symbols(specs), warnings=notes,
                    extra={"precision": info})


def quantized_program(module: nn.Module, args: tuple[torch.Tensor, ...], specs: list[InputSpec],
                      calib: CalibrationSet, target: str) -> tuple[Any, dict[str, Any], list[str]]:
    """The PT2E int8 ``ExportedProgram`` (dynamic axes kept), what the manifest records of it, and notes.

    ``target`` names the artifact in the one-line refusals (``pt2``: saved as it is; ``aoti``: compiled, where
    inductor's freezing lowers the quantize/dequantize patterns to oneDNN's int8 kernels)."""
    refuse_unbuildable((target,), ("int8",))
    with _quiet_import():
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
        from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq
    graph_module, how = _capture(module, args, specs)
    layers = _quantizable(graph_module)
    if not layers:
        raise InputError(f"--to {target} --precision int8: the PT2E flow quantizes Conv1d/Conv2d/Linear layers and "
                         "the model has none", ONNX_INT8_WAY)
    notes: list[str] = []
    try:
        quantizer = xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config())
        prepared = prepare_pt2e(graph_module, quantizer)
        with torch.no_grad():
            for feed in calib.feeds:
                prepared(*[torch.from_numpy(feed[s.name]) for s in specs])
        converted = _drop_unused(convert_pt2e(prepared))
        program = export_program(converted, args, specs, notes)
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - a graph the quantizer cannot annotate: one line, the ONNX way out
        raise ExportError(f"the PT2E int8 flow cannot quantize the model: {first_line(str(e))}",
                          ONNX_INT8_WAY) from None
    info = {"precision": "int8", "made_from": f"the eager model, torch.export ({how}) then PT2E",
            "library": f"torchao {version('torchao')} prepare_pt2e/convert_pt2e", "quantizer": "X86InductorQuantizer",
            "mode": "static", "per_channel": True, "weight_type": "int8 (symmetric)",
            "activation_type": "uint8 (affine, per tensor)", "boundary": "float32 inputs and outputs",
            "quantizable_layers": layers, "calibration": calib.info("histogram (torchao default)")}
    return program, info, notes
