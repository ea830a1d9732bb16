"""ONNX operator-version knowledge, derived from the installed onnx (``onnx.defs``).

- ``op_history(op, domain)``: every schema version of an operator and what changed at each.
- ``diff(a, b)``: operators added, changed and removed (deprecated) in the opset range (a, b].
- ``check_model(model_or_path, target=None)``: a model's true minimum opset (``.min_opset``), per-op
  verdicts, and whether it is valid at ``target``.
- ``convert_model(path, opset)``: onnx.version_converter, then onnx.checker and an onnxruntime session on the
  result (the numeric comparison and the write are ``modelport.converters.opset_convert``).
- ``max_known_opset(domain)``: the highest opset the installed onnx knows.
"""

from modelport.opsets.check import CheckReport, OpUsage, check_model
from modelport.opsets.convert import Conversion, convert_model
from modelport.opsets.history import Change, OpHistory, OpsetDiff, VersionChange, diff, op_history
from modelport.opsets.modelfile import load_model
from modelport.opsets.schemas import max_known_opset, schema_at

__all__ = [
    "Change", "CheckReport", "Conversion", "OpHistory", "OpUsage", "OpsetDiff", "VersionChange",
    "check_model", "convert_model", "diff", "load_model", "max_known_opset", "op_history", "schema_at",
]
