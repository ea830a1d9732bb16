"""Small ONNX models built with onnx.helper for the opsets tests, and the zoo exports they convert."""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto as T
from onnx import helper as h


def model(nodes, inputs, outputs, opset, inits=(), extra_opsets=()) -> onnx.ModelProto:
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info(*i) for i in inputs],
                     [h.make_tensor_value_info(*o) for o in outputs], initializer=list(inits))
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset), *extra_opsets])


def argmin(opset: int = 13, dtype: int = T.FLOAT, **attrs) -> onnx.ModelProto:
    return model([h.make_node("ArgMin", ["x"], ["y"], axis=1, **attrs)], [("x", dtype, [2, 4])],
                 [("y", T.INT64, [2, 1])], opset)


def split_num_outputs() -> onnx.ModelProto:
    return model([h.make_node("Split", ["x"], ["a", "b"], axis=1, num_outputs=2)], [("x", T.FLOAT, [2, 4])],
                 [("a", T.FLOAT, [2, 2]), ("b", T.FLOAT, [2, 2])], 18)


def split_attribute() -> onnx.ModelProto:
    """The opset <= 12 form: sizes as an attribute, which Split-13 removed."""
    return model([h.make_node("Split", ["x"], ["a", "b"], axis=1, split=[1, 3])], [("x", T.FLOAT, [2, 4])],
                 [("a", T.FLOAT, [2, 1]), ("b", T.FLOAT, [2, 3])], 11)


def split_input() -> onnx.ModelProto:
    s = h.make_tensor("s", T.INT64, [2], [1, 3])
    return model([h.make_node("Split", ["x", "s"], ["a", "b"], axis=1)], [("x", T.FLOAT, [2, 4])],
                 [("a", T.FLOAT, [2, 1]), ("b", T.FLOAT, [2, 3])], 13, inits=[s])


def relu(opset: int = 14, dtype: int = T.FLOAT) -> onnx.ModelProto:
    return model([h.make_node("Relu", ["x"], ["y"])], [("x", dtype, [2, 4])], [("y", dtype, [2, 4])], opset)


def layernorm() -> onnx.ModelProto:
    sc = h.make_tensor("sc", T.FLOAT, [4], [1.0] * 4)
    return model([h.make_node("LayerNormalization", ["x", "sc"], ["y"], axis=-1)], [("x", T.FLOAT, [2, 4])],
                 [("y", T.FLOAT, [2, 4])], 17, inits=[sc])


def with_custom_op() -> onnx.ModelProto:
    nodes = [h.make_node("Relu", ["x"], ["r"]),
             h.make_node("FusedGelu", ["r"], ["y"], domain="com.microsoft")]
    return model(nodes, [("x", T.FLOAT, [2, 4])], [("y", T.FLOAT, [2, 4])], 14,
                 extra_opsets=[h.make_opsetid("com.microsoft", 1)])


def save(m: onnx.ModelProto, path: Path) -> Path:
    onnx.save(m, str(path))
    return path


def export_zoo(name: str, path: Path, opset: int = 13) -> Path:
    """Export a zoo model with the TorchScript-based exporter at ``opset``."""
    import torch

    from modelport import zoo
    from modelport.spec import make_inputs

    entry = zoo.get(name)
    specs = entry.input_specs()
    args = tuple(torch.from_numpy(v) for v in make_inputs(specs, seed=0).values())
    torch.onnx.export(entry.build(seed=0), args, str(path), opset_version=opset, dynamo=False,
                      input_names=[s.name for s in specs], output_names=list(entry.output_names))
    return path
