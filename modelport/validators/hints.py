"""Why an artifact that matches on the example set fails on another: a frozen branch or a fixed shape, in words."""

from __future__ import annotations

from modelport.validators.inputs import InputSet
from modelport.validators.options import Candidate

TRACE_HINT = ("the artifact was traced, and tracing records only the path the example input took through "
              "data-dependent branches: re-export with --method script")
ONNX_TRACE_HINT = ("the TorchScript-based ONNX exporter traces the model, so a data-dependent branch is frozen at "
                   "the example input's path: rewrite it with torch.where, or keep the model as TorchScript "
                   "--method script")
MAYBE_TRACE_HINT = ("if it was made with torch.jit.trace, a data-dependent branch may be frozen: re-export with "
                    "--method script")


def failure_hint(cand: Candidate, s: InputSet, example_passed: bool, example_b: int | None, failed_on: str) -> str:
    """A "; ..." suffix for a failure on ``s``, or "" when the failure says nothing about how it was exported."""
    if not example_passed or s.name == "example":
        return ""
    if failed_on in ("run", "shape") and s.batch is not None and example_b is not None and s.batch != example_b:
        return f"; it works at the example batch {example_b}, so its batch axis is not really dynamic"
    if failed_on in ("run", "shape") and s.name == "other-dims":
        return "; it works at the example shapes, so an axis declared dynamic is not really dynamic"
    if failed_on != "values":
        return ""
    if cand.kind == "torchscript" and cand.method == "trace":
        return f"; {TRACE_HINT}"
    if cand.kind == "torchscript" and cand.method is None:
        return f"; {MAYBE_TRACE_HINT}"
    if cand.kind == "onnx" and cand.exporter == "torchscript":
        return f"; {ONNX_TRACE_HINT}"
    return ""


def batch_text(s: InputSet) -> str:
    return f" (batch {s.batch})" if s.batch is not None else ""
