"""Stages for the fast artifacts: AOTInductor packages and ONNX Runtime optimisation levels.

Both follow ``stage``'s pattern: export into a scratch directory, load back through the runner every other
part will use, gate against eager (when validating), and only then return a ``Staged`` to commit.
"""

from __future__ import annotations

import time
from pathlib import Path

from modelport.converters.aoti import export_aoti
from modelport.converters.exported import Exported
from modelport.converters.options import ConvertOptions
from modelport.converters.ort_optimize import optimize_onnx
from modelport.converters.prepare import Prepared
from modelport.converters.rundir import onnx_level_file_name
from modelport.converters.stage import Staged, gate_staged, load_back, stage_program, staging


def stage_aoti(prep: Prepared, options: ConvertOptions, stage: Path) -> Staged:
    return stage_program(prep, options, stage, "aoti",
                         lambda path: export_aoti(prep.module, prep.args, prep.specs, path, options.freeze_aoti),
                         "the AOTInductor package")


def stage_onnx_level(prep: Prepared, options: ConvertOptions, stage: Path, base: Staged, level: str) -> Staged | None:
    """The ``level`` artifact made from the checked ONNX export ``base`` (still in its scratch directory).

    None, with a warning on ``base``, when the export has external data (over 2 GB): the optimizer rewrites
    the whole graph in memory and writes one file, which protobuf cannot hold at that size.
    """
    b = base.exported
    if len(b.files) > 1:
        b.warnings.append(f"--optimize {level} skipped: the model has external data (over 2 GB)")
        return None
    assert b.opset is not None
    with staging(stage, f"onnx{b.opset}-{level}") as scratch:
        dest = scratch / onnx_level_file_name(b.opset, level)
        t0 = time.perf_counter()
        opt = optimize_onnx(b.path, dest, level)
        e = Exported("onnx", dest, [dest], time.perf_counter() - t0, opset=b.opset, exporter=b.exporter,
                     ir_version=b.ir_version, dynamic_axes=dict(b.dynamic_axes), warnings=list(opt.warnings),
                     extra={"optimize": opt.info(), "optimized_from": f"onnx-opset{b.opset}"})
        staged = Staged(e, scratch, prep.session)
        hint = f"fusions change rounding: use a lower --optimize level, or --atol/--rtol if {level}'s numerics are " \
               "acceptable"
        gate = lambda runner: gate_staged(prep, staged, runner, f"the opset-{b.opset} ONNX model at {level}", hint)  # noqa: E731
        load_back(prep, "onnx", dest, gate if options.validate else None,
                  (f"onnxruntime cannot open the {level} model", f"drop --optimize {level}"))
        return staged
