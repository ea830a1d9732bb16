"""What torch 2.13's ONNX exporters can write: the facts both ``converters`` (which picks an exporter per
opset) and ``opsets`` (which advises re-exporting instead of converting) rely on.

Kept here, at the bottom of the stack that both read, so that neither imports the other for them. The
reasons and measurements are in docs/decisions.md, "ONNX exporter per opset".
"""

from __future__ import annotations

#: the opset ``convert`` exports when none is asked for
DEFAULT_OPSET = 17
#: native opset range of the TorchScript-based exporter (``torch.onnx.export(dynamo=False)``)
TORCHSCRIPT_RANGE = (7, 20)
#: native opset range of the dynamo exporter; below it modelport down-converts its opset-18 output
DYNAMO_RANGE = (18, 25)
DYNAMO_NATIVE_MIN = DYNAMO_RANGE[0]
#: the lowest opset any exporter writes: below it, re-exporting is no way out
LOWEST_EXPORTED_OPSET = TORCHSCRIPT_RANGE[0]
#: ``auto`` uses the TorchScript-based exporter below this opset and dynamo from it on
AUTO_DYNAMO_FROM = DYNAMO_NATIVE_MIN


def ranges_text(max_known: int, onnx_version: str) -> str:
    """The exporters' ranges in words, for errors about an opset no exporter can write."""
    ts, dyn = TORCHSCRIPT_RANGE, DYNAMO_RANGE
    return (f"torchscript: {ts[0]}-{ts[1]}; dynamo: {dyn[0]}-{dyn[1]} ({ts[0]}-{DYNAMO_NATIVE_MIN - 1} by verified "
            f"down-conversion); onnx {onnx_version} knows <= {max_known}")
