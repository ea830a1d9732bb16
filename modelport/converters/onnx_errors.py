"""Exporter exceptions rewritten as one-line ``ExportError``s that name the op, the opset and the way out."""

from __future__ import annotations

import re

from modelport.converters.capture import first_line
from modelport.errors import ExportError
from modelport.opsets import schemas as sx
from modelport.opsets.convert import adapter_gap
from modelport.opsets.exporters import DYNAMO_NATIVE_MIN

_KEEP_IN_TORCH = "keep that part in PyTorch (--to pt2 or --to torchscript) or register a custom ONNX translation"

_LEGACY_UNSUPPORTED = re.compile(
    r"Exporting the operator '(?P<op>[^']+)' to ONNX opset version (?P<opset>\d+) is not supported"
    r"(?:\. Support for this operator was added in version (?P<min>\d+))?")
_DYNAMO_NO_FUNCTION = re.compile(r"No ONNX function found for <OpOverload\(op='(?P<op>[^']+)'")


def aten_name(op: str) -> str:
    """``aten.linalg_qr`` (dynamo's spelling) -> ``aten::linalg_qr`` (the TorchScript exporter's)."""
    return op.replace(".", "::", 1) if "::" not in op else op


def dynamo_has_lowering(op: str) -> bool:
    """Whether the dynamo exporter's registry (onnxscript torchlib) lowers ``aten::op``; False when unknown."""
    import torch

    name = op.split("::", 1)[-1]
    try:
        from torch.onnx._internal.exporter import _registration  # private, hence the broad guard

        overload = getattr(torch.ops.aten, name).default
        return bool(_registration.ONNXRegistry.from_torchlib().is_registered(overload))
    except Exception:  # noqa: BLE001 - any failure means we cannot tell
        return False


def _chain(e: BaseException) -> str:
    parts = []
    seen = 0
    cur: BaseException | None = e
    while cur is not None and seen < 8:
        parts.append(str(cur))
        cur = cur.__cause__ or cur.__context__
        seen += 1
    return "\n".join(parts)


def unsupported_op(e: BaseException, exporter: str, opset: int) -> ExportError | None:
    """The op-level failures: an op that needs a newer opset, or one with no ONNX lowering at all."""
    text = _chain(e)
    m = _LEGACY_UNSUPPORTED.search(text)
    if m:
        op, at = m["op"], int(m["opset"])
        if m["min"]:
            need = int(m["min"])
            return ExportError(f"{op} is not exportable at opset {at} (support added in opset {need})",
                               f"re-run with --opset {need}")
        if dynamo_has_lowering(op):
            return ExportError(f"{op} has no ONNX lowering in the torchscript exporter at any opset (asked: {opset}), "
                               "but the dynamo exporter has one",
                               f"re-run with --opset {DYNAMO_NATIVE_MIN} (dynamo exporter)")
        return ExportError(f"{op} has no ONNX lowering in any exporter (torchscript at any opset, dynamo)",
                           _KEEP_IN_TORCH)
    m = _DYNAMO_NO_FUNCTION.search(text)
    if m:
        op = aten_name(m["op"].split(".default")[0])
        return ExportError(f"{op} has no ONNX lowering in the dynamo exporter (opset {opset})", _KEEP_IN_TORCH)
    return None


def export_failed(e: BaseException, exporter: str, opset: int) -> ExportError:
    err = unsupported_op(e, exporter, opset)
    if err is not None:
        return err
    text = _chain(e)
    # dynamo wraps the real problem in a long "step N/3" preamble; the summary line after it is the useful one
    summary = re.search(r"<class '[^']+'>: ([^\n]+)", text)
    line = first_line(summary.group(1)) if summary else first_line(str(e))
    return ExportError(f"the {exporter} ONNX exporter failed at opset {opset}: {type(e).__name__}: {line}")


def conversion_failed(e: BaseException, source: int, target: int) -> ExportError:
    """``onnx.version_converter`` failures are C++ assertion text; say which op blocks which opset."""
    text = str(e)
    gap = adapter_gap(text)
    floor = source
    if gap is None:
        why = first_line(text)
    elif gap.kind == "from":
        why, floor = f"{gap.op} has no adapter below opset {gap.version}", gap.version or source
    elif gap.kind == "to":
        why = f"{gap.op} has no adapter to opset {gap.version}"
    else:
        versions = sx.lookup(gap.op, sx.DEFAULT_DOMAIN)
        first = versions[0].since_version if versions else None
        why = f"{gap.op} does not exist before opset {first}" if first else f"{gap.op} has no earlier version"
        floor = first or source
    return ExportError(f"the dynamo exporter produces opset >= {source}; conversion {source}->{target} failed: {why}",
                       f"use --exporter torchscript or --opset >= {floor}")
