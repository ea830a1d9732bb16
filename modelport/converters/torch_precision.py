"""``convert --to torchscript --precision fp16|bf16``: the TorchScript model cast to half precision.

fp32 inputs and outputs with casts at the boundary (docs/decisions.md, "Precision: torch half precision"):
``CastBoundary`` casts float inputs to the dtype, runs the module cast with ``.to(dtype)`` in eval mode, and
casts float outputs back to fp32, so validation sets, the QSL and the runners feed every precision alike.
The wrapper takes ``*args`` (any model's inputs), which scripting cannot compile: it is traced, and like
every traced artifact judged on input sets of both signs; its gate is the task metric (``quality_gate``).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import torch
from torch import nn

from modelport.converters.stage import Staged, scratch_dir
from modelport.converters.stage_precision import PrecisionContext, quality_gate
from modelport.converters.torchscript import export_torchscript
from modelport.runners import load_runner

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


class CastBoundary(nn.Module):
    """``module`` in ``dtype`` behind fp32 inputs and outputs."""

    def __init__(self, module: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.inner, self.dtype = module, dtype

    def forward(self, *args: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        out = self.inner(*[a.to(self.dtype) if a.is_floating_point() else a for a in args])
        if isinstance(out, (tuple, list)):
            return tuple(o.float() if o.is_floating_point() else o for o in out)
        return out.float()


def _cast_copy(module: nn.Module, dtype: torch.dtype) -> nn.Module:
    import copy

    return CastBoundary(copy.deepcopy(module).to(dtype).eval(), dtype).eval()


def stage_torchscript_precision(ctx: PrecisionContext, stage: Path, precision: str) -> Staged:
    prep, options = ctx.prep, ctx.options
    art_id = f"torchscript-{precision}"
    scratch = scratch_dir(stage, art_id)
    try:
        t0 = time.perf_counter()
        wrapped = _cast_copy(prep.module, DTYPES[precision])
        e = export_torchscript(wrapped, prep.args, prep.specs, prep.output_names, "trace",
                               scratch / f"model.{precision}.ts", options.freeze_torchscript)
        e.export_time_s = time.perf_counter() - t0
        e.extra["precision"] = {"precision": precision, "made_from": "the eager model, module.to(dtype) in eval",
                                "library": "torch", "boundary": "float32 inputs and outputs, cast inside",
                                "dtype": str(DTYPES[precision]).removeprefix("torch.")}
        staged = Staged(e, scratch, prep.session)
        runner = load_runner("torchscript", e.path, [s.name for s in prep.specs], prep.output_names)
        try:
            if options.validate:
                e.extra["quality_gate"] = quality_gate(ctx, art_id, precision, runner)
        finally:
            runner.close()
        return staged
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
