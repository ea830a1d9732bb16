"""Stages for reduced-precision ONNX artifacts (``convert --precision fp16|int8``).

Like ``stage_fast.stage_onnx_level``: made from the checked fp32 export still in its scratch directory, loaded
back through the runner every other part uses, and gated, here by the quality gate (task-metric agreement
with the fp32 eager model at ``--quality``) instead of element tolerances (docs/decisions.md, "Precision: the
gate is the task metric").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from modelport import zoo
from modelport.converters.exported import Exported
from modelport.converters.options import ConvertOptions
from modelport.converters.precision import CalibrationSet, calibration_set, has_conv, row_digests, to_fp16, to_int8
from modelport.converters.prepare import Prepared
from modelport.converters.stage import Staged, load_back, staging
from modelport.errors import InputError, ValidationFailed
from modelport.runners import Runner
from modelport.validators.agreement import gate_reference, gate_samples, judge_agreement, too_few_rows
from modelport.validators.inputs import InputSet, gate_batches
from modelport.validators.options import DEFAULT_QUALITY, Candidate
from modelport.validators.results import Failure, ValidationReport


class PrecisionContext:
    """What every precision artifact of one convert run shares: the calibration set and the reference's side
    of the quality gate, each computed once."""

    def __init__(self, prep: Prepared, options: ConvertOptions) -> None:
        self.prep, self.options = prep, options
        self._calib: CalibrationSet | None = None
        self._gate_ref: dict[str, np.ndarray] | None = None

    @property
    def vopts(self) -> Any:
        return replace(self.prep.validation, min_agreement=None)

    def calibration(self) -> CalibrationSet:
        if self._calib is None:
            o, prep = self.options, self.prep
            entry = zoo.ZOO.get(prep.validation.model_name or "")
            calib = calibration_set(prep.specs, o.seed, o.calibration_samples, entry, o.calibration)
            self._refuse_overlap(calib)
            self._calib = calib
        return self._calib

    def _refuse_overlap(self, calib: CalibrationSet) -> None:
        """Calibrating on a validation sample would grade the quantizer on its own homework: refused."""
        seen: set[bytes] = set()
        for s in self.prep.session.sets:
            seen.update(row_digests(s.feed))
        for feed in gate_batches(self.prep.specs, self.options.seed, self.vopts.samples):
            seen.update(row_digests(feed))
        shared = len(calib.rows() & seen)
        if shared:
            raise InputError(f"--calibration {self.options.calibration}: {shared} of its samples are also validation "
                             "samples", "calibrate on data the validation does not use")

    def gate_ref(self) -> dict[str, np.ndarray]:
        if self._gate_ref is None:
            s = self.prep.session
            self._gate_ref = gate_reference(s.reference, s.specs, self.vopts, s.class_outputs, self.user_set(),
                                            ValidationReport())
        return self._gate_ref

    def user_set(self) -> InputSet | None:
        """The rows of ``--inputs``: the gate's samples when given."""
        return next((s for s in self.prep.session.sets if s.source == "npz"), None)


def quality_gate(ctx: PrecisionContext, art_id: str, precision: str, runner: Runner) -> dict[str, Any]:
    """``ValidationFailed`` naming artifact, metric and margin when the task metric is below ``--quality``."""
    s, threshold = ctx.prep.session, ctx.options.quality or DEFAULT_QUALITY
    failures: list[Failure] = []
    cand = Candidate(art_id, "onnx", Path(art_id), precision=precision)
    results = judge_agreement(cand, runner, s.specs, ctx.vopts, s.class_outputs, ctx.gate_ref(), ctx.user_set(),
                              failures, threshold)
    if failures:
        # nothing of a failed convert is kept, so localizing means converting again at a --quality it passes
        keep = ", keep layers in fp32 (--int8-keep-fp32 OP|NODE; to see which, convert again with a lower " \
            "--quality and run validate --localize on it)" if precision == "int8" and art_id.startswith("onnx") else ""
        raise ValidationFailed(failures[0].message, f"use a higher precision, another --calibration-method or "
                               f"more --calibration-samples{keep}, or a lower --quality if the loss is acceptable")
    return {"threshold": threshold, "samples": gate_samples(ctx.vopts, ctx.user_set()),
            "results": [r.to_json() for r in results]}


#: the lowest opset each reduced precision loads at in onnxruntime (measured on tiny-cnn, onnxruntime 1.32):
#: static int8's per-channel DequantizeLinear takes an axis from opset 13 (opset 10 and 12 files fail to load);
#: onnxconverter-common's fp16 graphs fail to load at opsets 7 and 8; dynamic int8 is checked after the fact
MIN_OPSET = {"static": 13, "fp16": 9}


def file_opset(path: Path) -> int | None:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def gate_check(ctx: PrecisionContext, e: Exported, art_id: str, precision: str) -> Callable[[Runner], None]:
    """The load-back check holding ``e`` to the quality gate: records the gate, and warns when the user's rows
    are too few for the threshold to mean anything."""
    def check(runner: Runner) -> None:
        record = quality_gate(ctx, art_id, precision, runner)
        e.extra["quality_gate"] = record
        rows = min((r["samples"] for r in record["results"]), default=0)
        note = too_few_rows(rows, record["threshold"]) if ctx.user_set() is not None else None
        if note:
            e.warnings.append(note)
    return check


def stage_onnx_precision(ctx: PrecisionContext, stage: Path, base: Staged, precision: str) -> Staged | None:
    """The ``precision`` artifact made from the checked fp32 export ``base``; None (with a warning) over 2 GB."""
    b, options, prep = base.exported, ctx.options, ctx.prep
    if len(b.files) > 1:
        b.warnings.append(f"--precision {precision} skipped: the model has external data (over 2 GB)")
        return None
    assert b.opset is not None
    art_id = f"onnx-opset{b.opset}-{precision}"
    mode = None if precision == "fp16" else \
        options.quantize if options.quantize != "auto" else ("static" if has_conv(b.path) else "dynamic")
    need = MIN_OPSET.get(mode or precision, 1)
    if b.opset < need:
        raise InputError(f"--precision {precision}{f' ({mode})' if mode else ''} needs ONNX opset {need} or higher, "
                         f"and this export is opset {b.opset}", f"ask for --opset {need} (or higher) beside it")
    with staging(stage, art_id) as scratch:
        dest = scratch / f"model.opset{b.opset}.{precision}.onnx"
        t0 = time.perf_counter()
        if precision == "fp16":
            made = to_fp16(b.path, dest)
        else:
            made = to_int8(b.path, dest, mode, options.calibration_method,
                           ctx.calibration() if mode == "static" else None, options.int8_keep_fp32)
        got = file_opset(dest)
        if got != b.opset:  # onnxruntime's dynamic quantizer raises a low opset to the one its operators need
            raise InputError(f"--precision {precision} made an opset-{got} file from the opset-{b.opset} export",
                             f"ask for --opset {got} (or higher), so the file is the opset its name says")
        info = {"precision": precision, "made_from": f"onnx-opset{b.opset}", **made.info}
        if made.ir_version is None:
            import onnx

            made.ir_version = onnx.load(str(dest), load_external_data=False).ir_version
        e = Exported("onnx", dest, [dest], time.perf_counter() - t0, opset=b.opset, exporter=b.exporter,
                     ir_version=made.ir_version, dynamic_axes=dict(b.dynamic_axes), extra={"precision": info})
        staged = Staged(e, scratch, prep.session)
        load_back(prep, "onnx", dest, gate_check(ctx, e, art_id, precision) if options.validate else None,
                  (f"onnxruntime cannot open the {precision} model", f"drop --precision {precision}"))
        return staged
