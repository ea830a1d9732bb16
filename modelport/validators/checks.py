"""Checks beyond output values: the ONNX checker, symbolic dynamic axes in an ONNX graph, output names,
and a deterministic reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modelport.spec import InputSpec
from modelport.validators.results import CheckResult


def onnx_checker(path: str | Path) -> CheckResult:
    """``onnx.checker`` with ``full_check`` (shape inference too); given the path so external data is found."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as e:  # noqa: BLE001 - ValidationError, InferenceError, a protobuf DecodeError: all a rejection
        first = next((line for line in str(e).splitlines() if line.strip()), type(e).__name__)
        return CheckResult("onnx_checker", False, f"onnx.checker rejects the file: {first.strip()[:300]}")
    return CheckResult("onnx_checker", True, "onnx.checker full_check passed")


def onnx_dynamic_axes(path: str | Path, specs: list[InputSpec]) -> CheckResult:
    """Every axis the spec declares dynamic is symbolic (``dim_param`` or unset) in the ONNX graph's inputs.

    The dynamo exporter can quietly export a requested dynamic axis as static (docs/decisions.md, "Dynamic
    axes: proven, not declared"); running at another size catches it too, but this names the axis.
    """
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - protobuf errors have no common base worth naming
        return CheckResult("dynamic_axes", False, f"cannot read the ONNX graph: {type(e).__name__}: {e}"[:300])
    graph_inputs = {i.name: i for i in model.graph.input}
    static = []
    for s in specs:
        gi = graph_inputs.get(s.name)
        if gi is None or not s.dynamic_axes:
            continue
        dims = gi.type.tensor_type.shape.dim
        for axis in sorted(s.dynamic_axes):
            if axis < len(dims) and dims[axis].HasField("dim_value"):
                static.append(f"input {s.name!r} axis {axis} ({s.dynamic_axes[axis]}) is static "
                              f"({dims[axis].dim_value})")
    if static:
        return CheckResult("dynamic_axes", False, "requested dynamic but exported static: " + "; ".join(static))
    declared = sum(len(s.dynamic_axes) for s in specs)
    return CheckResult("dynamic_axes", True, f"{declared} dynamic axes are symbolic in the graph")


def input_names(spec: list[str], candidate: list[str]) -> CheckResult:
    """The artifact takes inputs the spec names (an exporter may drop an unused one, never rename one)."""
    unknown = [n for n in candidate if n not in spec]
    if unknown:
        return CheckResult("input_names", False, f"the artifact's inputs are {candidate}, the model's {spec} "
                           f"(unknown: {unknown})")
    dropped = [n for n in spec if n not in candidate]
    return CheckResult("input_names", True, f"inputs {candidate}" + (f" (unused, dropped: {dropped})" if dropped
                                                                        else ""))


def output_names(reference: list[str], candidate: list[str]) -> CheckResult:
    if list(candidate) == list(reference):
        return CheckResult("output_names", True, f"outputs {reference}")
    if sorted(candidate) == sorted(reference):
        return CheckResult("output_names", True, f"outputs {reference} (artifact order {candidate})")
    return CheckResult("output_names", False, f"the artifact's outputs are {candidate}, the reference's {reference}")


def identical(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> tuple[bool, float]:
    """Bit-for-bit equality of two runs' outputs (NaN equal to NaN), and the largest difference if not."""
    worst = 0.0
    same = a.keys() == b.keys()
    for k in a.keys() & b.keys():
        x, y = a[k], b[k]
        if x.shape != y.shape or x.dtype != y.dtype:
            return False, float("inf")
        if not np.array_equal(x, y, equal_nan=np.issubdtype(x.dtype, np.inexact)):
            same = False
            diff = np.abs(x.astype(np.float64) - y.astype(np.float64))
            worst = max(worst, float(np.nanmax(diff)) if diff.size else 0.0)
    return same, worst
