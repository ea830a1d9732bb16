"""``modelport opsets convert``: an ONNX file converted to another opset, written only once it is proven.

``modelport.opsets.convert_model`` converts and checks the result (onnx.checker, an onnxruntime session);
here the converted model is compared with the original, both in onnxruntime, on the quick input profile of
``validators.inputs`` (specs derived from the graph by ``opsets.feeds``) by the one rule of
``validators.compare``; only then is ``out`` written, atomically. Nothing is written on any failure.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx
import onnxruntime

from modelport.errors import ValidationFailed
from modelport.fsutil import atomic_path, ensure_writable_dir
from modelport.opsets.convert import Conversion, convert_model
from modelport.opsets.feeds import graph_specs
from modelport.runners.ort_runner import OrtRunner
from modelport.validators.compare import worst_per_output
from modelport.validators.inputs import QUICK, generated_sets
from modelport.validators.results import OutputComparison
from modelport.validators.session import ReferenceFailed, ValidationSession
from modelport.validators.tolerances import Tolerances

_NO_COMPARE_HINT = "pass --no-compare to skip the numeric comparison"


@dataclass
class ConvertReport:
    source: str
    out: str | None
    from_opset: int
    to_opset: int
    convert_seconds: float
    ops_changed: list[dict[str, Any]]  # op, from (since_version), to
    checker: str  # "ok"
    onnxruntime: str  # "ok"
    compared: bool
    seed: int
    atol: float | None  # the user's; None = the dtype's default
    rtol: float | None
    outputs: list[OutputComparison] = field(default_factory=list)  # per output, worst over the input sets
    input_sets: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.passed for o in self.outputs)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "out": self.out, "from_opset": self.from_opset, "to_opset": self.to_opset,
                "convert_seconds": round(self.convert_seconds, 4), "ops_changed": self.ops_changed,
                "checker": self.checker, "onnxruntime": self.onnxruntime, "compared": self.compared,
                "seed": self.seed, "atol": self.atol, "rtol": self.rtol, "input_sets": self.input_sets,
                "outputs": [o.to_json() for o in self.outputs], "notes": self.notes, "ok": self.ok,
                "versions": {"onnx": onnx.__version__, "onnxruntime": str(onnxruntime.__version__)}}


def convert_opset(path: str | os.PathLike[str], opset: int, out: str | os.PathLike[str] | None, seed: int = 0,
                  atol: float | None = None, rtol: float | None = None, compare: bool = True,
                  progress: Callable[[str], None] | None = None) -> ConvertReport:
    """Convert the model at ``path`` to ai.onnx ``opset``; validate; write ``out`` atomically if given.

    Raises ExportError when the converter cannot do it, ValidationFailed when the result is not valid or
    not numerically the same model; nothing is written in either case.
    """
    step = progress or (lambda _msg: None)
    if out is not None:
        ensure_writable_dir(Path(out).parent if str(Path(out).parent) else Path("."))
    conv = convert_model(path, opset, step)
    report = ConvertReport(conv.source, None, conv.from_opset, opset, conv.convert_seconds, conv.ops_changed,
                           "ok", "ok", compare, seed, atol, rtol, notes=list(conv.notes))
    try:
        if compare:
            step("comparing outputs on seeded inputs")
            report.outputs, report.input_sets = compare_with_original(conv, seed, atol, rtol)
        else:
            report.notes.append("numeric comparison skipped (--no-compare)")
    finally:
        conv.runner.close()
    if out is not None:
        with atomic_path(out) as tmp:
            tmp.write_bytes(conv.blob)
        report.out = str(out)
    return report


def compare_with_original(conv: Conversion, seed: int, atol: float | None,
                          rtol: float | None) -> tuple[list[OutputComparison], list[str]]:
    """The converted model against the original on the quick profile; ``ValidationFailed`` if they differ."""
    try:
        original = OrtRunner(conv.source)
    except Exception as e:  # noqa: BLE001 - ORT raises its own exception types
        raise ValidationFailed(f"onnxruntime cannot load the original model {conv.source}: "
                               f"{' '.join(str(e).split())[:300]}", _NO_COMPARE_HINT) from None
    specs = graph_specs(conv.original)
    sets = generated_sets(specs, seed, profile=QUICK)
    tolerances = Tolerances({"": atol} if atol is not None else {}, {"": rtol} if rtol is not None else {})
    session = ValidationSession(original, specs, sets, tolerances)
    try:
        for s in sets:
            session.reference_outputs(s)
    except ReferenceFailed as e:
        raise ValidationFailed(f"the original model does not run on generated inputs: {e.reason}",
                               _NO_COMPARE_HINT) from None
    finally:
        session.close()
    results = session.judge_all("converted", conv.runner, sets)
    failed_run = next((r for r in results if r.error), None)
    if failed_run is not None:
        raise ValidationFailed(f"the converted model fails in onnxruntime on inputs the original accepts "
                               f"(input set {failed_run.input_set!r}): {failed_run.error}", "nothing was written")
    outputs = worst_per_output(results)
    bad = next((o for o in outputs if not o.passed), None)
    if bad is not None:
        detail = (f"max abs error {bad.max_abs:.3g}, {bad.mismatched}/{bad.total} elements beyond atol={bad.atol:g} "
                  f"and rtol={bad.rtol:g}" if bad.failed_on == "values" else bad.describe_failure())
        raise ValidationFailed(f"the model converted to opset {conv.to_opset} computes different values for output "
                               f"{bad.name!r}: {detail}", "nothing was written")
    return outputs, [s.name for s in sets]
