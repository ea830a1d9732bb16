"""Input specs derived from an ONNX graph, for ``opsets convert``'s comparison of a converted model with its
original.

Without a model spec we know only the declared types and shapes, so the specs say: symbolic (or unset)
dimensions are dynamic with example size 2; floats are drawn from [-2, 2); integers from [0, 2) because
integer inputs are usually indices or token ids, and 0 and 1 are in range for any axis of size >= 2; bools
from {0, 1}. The seeded input sets themselves come from the one builder, ``validators.inputs`` (the caller
picks the profile), so a converted model is judged on the same kinds of sets as an export.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from modelport.errors import InputError
from modelport.spec import InputSpec, is_float, normalize_dtype

#: the example size of a symbolic dimension
EXAMPLE_DIM = 2
FLOAT_RANGE = (-2.0, 2.0)
INT_RANGE = (0.0, 2.0)


def graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """Inputs a caller must feed: old IR versions also list initializers as graph inputs."""
    inits = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def _dims(vi: onnx.ValueInfoProto) -> list[tuple[int | None, str]]:
    """(static size or None, symbol) per axis; an unnamed dynamic axis gets a symbol of its own."""
    out = []
    for axis, d in enumerate(vi.type.tensor_type.shape.dim):
        static = int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else None
        out.append((static, d.dim_param or f"{vi.name}_dim{axis}"))
    return out


def _dtype(vi: onnx.ValueInfoProto) -> str:
    tt = vi.type.tensor_type
    if vi.type.WhichOneof("value") != "tensor_type" or tt.elem_type == onnx.TensorProto.UNDEFINED:
        raise InputError(f"input {vi.name!r} is not a plain tensor; cannot generate values for it",
                         "pass --no-compare to skip the numeric comparison")
    np_dtype = helper.tensor_dtype_to_np_dtype(tt.elem_type)
    try:
        return normalize_dtype(np.dtype(np_dtype).name)
    except (InputError, TypeError):
        raise InputError(f"input {vi.name!r} has type {np_dtype}; cannot generate values for it",
                         "pass --no-compare to skip the numeric comparison") from None


def graph_specs(model: onnx.ModelProto) -> list[InputSpec]:
    """One ``InputSpec`` per input the model must be fed (see the module docstring).

    A dynamic axis 0 is a batch axis unless its symbol also names another axis: the input-set builder
    resizes batch axes alone, and inputs that share a symbol must keep equal sizes.
    """
    dims = {vi.name: _dims(vi) for vi in graph_inputs(model)}
    off_batch = {sym for axes in dims.values() for axis, (static, sym) in enumerate(axes) if axis and static is None}
    specs = []
    for vi in graph_inputs(model):
        dtype = _dtype(vi)
        shape = tuple(static or EXAMPLE_DIM for static, _ in dims[vi.name])
        dynamic = {axis: sym for axis, (static, sym) in enumerate(dims[vi.name])
                   if static is None and (axis or sym not in off_batch)}
        low, high = FLOAT_RANGE if is_float(dtype) else INT_RANGE
        specs.append(InputSpec(vi.name, shape, dtype, low, high, dynamic))
    return specs
