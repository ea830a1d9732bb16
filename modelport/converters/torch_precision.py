"""``convert --to torchscript|pt2|aoti --precision fp16|bf16``: the model cast to half precision (and int8
.pt2 and AOTInductor packages).

fp32 inputs and outputs with casts at the boundary (docs/decisions.md, "Precision: torch half precision"):
``CastBoundary`` casts float inputs to the dtype, runs the module cast with ``.to(dtype)`` in eval mode, and
casts float outputs back to fp32, so validation sets, the QSL and the runners feed every precision alike.
TorchScript is traced (scripting cannot compile the wrapper), ``.pt2`` captured by ``torch.export``; the gate
is the task metric (``stage_precision.quality_gate``), and element differences are reported by the validation.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from modelport.converters.exported import Exported
from modelport.converters.pt2 import export_pt2
from modelport.converters.stage import Staged, load_back, staging
from modelport.converters.stage_precision import PrecisionContext, gate_check
from modelport.converters.torchscript import export_torchscript
from modelport.errors import InputError

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


class CastBoundary(nn.Module):
    """``module`` in ``dtype`` behind fp32 inputs and outputs."""

    def __init__(self, module: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.inner, self.dtype = module, dtype

    def forward(self, *args: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        return self.run(*args)

    def run(self, *args: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        out = self.inner(*[a.to(self.dtype) if a.is_floating_point() else a for a in args])
        if isinstance(out, (tuple, list)):
            return tuple(o.float() if o.is_floating_point() else o for o in out)
        return out.float()


# torch.export matches dynamic shapes to named positional parameters, which ``*args`` does not have: one
# subclass per arity gives the .pt2 capture a plain signature (zoo models take at most three inputs)
class _Cast1(CastBoundary):
    def forward(self, a: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        return self.run(a)


class _Cast2(CastBoundary):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        return self.run(a, b)


class _Cast3(CastBoundary):
    def forward(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        return self.run(a, b, c)


_BY_ARITY: dict[int, type[CastBoundary]] = {1: _Cast1, 2: _Cast2, 3: _Cast3}


def _cast_copy(module: nn.Module, dtype: torch.dtype, arity: int) -> nn.Module:
    import copy

    cls = _BY_ARITY.get(arity, CastBoundary)
    return cls(copy.deepcopy(module).to(dtype).eval(), dtype).eval()


def stage_torch_precision(ctx: PrecisionContext, stage: Path, target: str, precision: str) -> Staged:
    """``target`` (torchscript | pt2 | aoti) of the model cast to ``precision``, gated by the task metric."""
    prep, options = ctx.prep, ctx.options
    art_id = f"{target}-{precision}"
    with staging(stage, art_id) as scratch:
        t0 = time.perf_counter()
        if precision == "int8":  # .pt2 and aoti build int8 (BUILT): PT2E, calibrated like ONNX static int8
            return _gated(ctx, scratch, _int8(ctx, target, scratch), target, art_id)
        wrapped = _cast_copy(prep.module, DTYPES[precision], len(prep.args))
        if target != "torchscript" and type(wrapped) is CastBoundary:  # torch.export needs the arity spelled out
            raise InputError(f"--precision {precision} for {target} handles models of at most {max(_BY_ARITY)} "
                             "inputs", "use --to torchscript for this precision")
        if target == "aoti":
            from modelport.converters.aoti import export_aoti

            e = export_aoti(wrapped, prep.args, prep.specs, scratch / f"model.aoti.{precision}.pt2",
                            options.freeze_aoti)
        elif target == "torchscript":
            e = export_torchscript(wrapped, prep.args, prep.specs, prep.output_names, "trace",
                                   scratch / f"model.{precision}.ts", options.freeze_torchscript)
        else:
            e = export_pt2(wrapped, prep.args, prep.specs, scratch / f"model.{precision}.pt2", prep.output_names)
        e.export_time_s = time.perf_counter() - t0
        e.extra["precision"] = {"precision": precision, "made_from": "the eager model, module.to(dtype) in eval",
                                "library": "torch", "boundary": "float32 inputs and outputs, cast inside",
                                "dtype": str(DTYPES[precision]).removeprefix("torch.")}
        return _gated(ctx, scratch, e, target, art_id)


def _int8(ctx: PrecisionContext, target: str, scratch: Path) -> Exported:
    """The PT2E int8 program, saved as a ``.pt2`` or compiled by AOTInductor."""
    prep = ctx.prep
    if target == "pt2":
        from modelport.converters.pt2_int8 import quantize_pt2

        return quantize_pt2(prep.module, prep.args, prep.specs, prep.output_names, ctx.calibration(),
                            scratch / "model.int8.pt2")
    from modelport.converters.aoti import compile_program, find_compiler
    from modelport.converters.pt2_int8 import quantized_program

    compiler = find_compiler()  # before quantizing: a missing compiler should not cost a calibration
    t0 = time.perf_counter()
    program, info, notes = quantized_program(prep.module, prep.args, prep.specs, ctx.calibration(), "aoti")
    frozen = ctx.options.freeze_aoti
    e = compile_program(program, prep.specs, scratch / "model.aoti.int8.pt2", frozen, compiler, t0, notes)
    info["runs_as"] = ("oneDNN int8 kernels (inductor's freezing lowers the quantize/dequantize patterns)" if frozen
                       else "reference representation compiled: quantize/dequantize around fp32 kernels")
    e.extra["precision"] = info
    return e


def _gated(ctx: PrecisionContext, scratch: Path, e: Exported, target: str, art_id: str) -> Staged:
    """Loaded back through the runner validate and bench use, and held to the task-metric gate."""
    staged = Staged(e, scratch, ctx.prep.session)
    precision = e.extra["precision"]["precision"]
    load_back(ctx.prep, target, e.path, gate_check(ctx, e, art_id, precision) if ctx.options.validate else None)
    return staged
