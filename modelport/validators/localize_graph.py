"""The ONNX side of localization: every intermediate tensor of a graph, and the torch scope of every node.

- ``run_marked``: Polygraphy's ``--onnx-outputs mark all``, done with onnx itself: a temporary copy of the
  model (in memory) gets every node output as a graph output and runs once through the one onnxruntime runner,
  with graph optimisations off so that each tensor is the one its node computes (docs/decisions.md,
  "Localization: nodes to modules").
- ``node_scope``: the module path the exporter recorded for a node. torch 2.13's dynamo exporter writes it in
  the node's ``metadata_props`` (``pkg.torch.onnx.name_scopes``: qualified module names, then the fx node);
  the TorchScript-based exporter only in the node name (``/layer1/layer1.0/relu_1/Relu``: unqualified names,
  ``_N`` for the N-th repeated call, then the op type).
"""

from __future__ import annotations

import ast
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from modelport.errors import InputError
from modelport.runners import RunnerOptions

NAME_SCOPES_KEY = "pkg.torch.onnx.name_scopes"
#: a serialized model must stay below protobuf's 2 GiB (with room for the added outputs' names)
PROTOBUF_LIMIT = 2**31 - 2**24
#: ops that only a reduced-precision (quantized or half) graph has
QUANT_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger",
                       "ConvInteger", "QLinearConv", "QLinearMatMul"})


@dataclass
class GraphInfo:
    """A loaded graph's nodes in topological order, who produces each tensor and who consumes it."""

    model: object  # onnx.ModelProto
    nodes: list = field(default_factory=list)  # onnx.NodeProto, in the file's (topological) order
    producer: dict[str, int] = field(default_factory=dict)  # tensor -> index of the node writing it
    consumers: dict[str, list[int]] = field(default_factory=dict)  # tensor -> indices of nodes reading it
    graph_inputs: list[str] = field(default_factory=list)
    graph_outputs: list[str] = field(default_factory=list)
    initializers: set[str] = field(default_factory=set)

    def label(self, tensor: str) -> str:
        """``node name (OpType)`` of the tensor's producer, or the tensor's own name for a graph input."""
        i = self.producer.get(tensor)
        if i is None:
            return tensor
        node = self.nodes[i]
        return f"{node.name or tensor} ({node.op_type})"

    def ancestors(self, tensor: str) -> set[str]:
        """Every tensor ``tensor`` depends on (initializers excluded)."""
        seen: set[str] = set()
        todo = [tensor]
        while todo:
            i = self.producer.get(todo.pop())
            if i is None:
                continue
            for name in self.nodes[i].input:
                if name and name not in seen and name not in self.initializers:
                    seen.add(name)
                    todo.append(name)
        return seen

    @property
    def reduced_precision(self) -> bool:
        """Quantize/dequantize ops or float16 tensors: a graph made from an fp32 one by lowering precision."""
        import onnx

        if any(n.op_type in QUANT_OPS for n in self.nodes):
            return True
        return any(t.data_type == onnx.TensorProto.FLOAT16 for t in self.model.graph.initializer)


def load_graph(path: str | Path) -> GraphInfo:
    """Read an ONNX file (with its external data) into a ``GraphInfo``; a broken file is an ``InputError``."""
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception as e:  # noqa: BLE001 - protobuf and file errors alike mean the file cannot be read
        raise InputError(f"cannot read {str(path)!r} as ONNX: {' '.join(str(e).split())[:200]}") from None
    info = GraphInfo(model=model, nodes=list(model.graph.node))
    info.initializers = {t.name for t in model.graph.initializer}
    info.graph_inputs = [i.name for i in model.graph.input if i.name not in info.initializers]
    info.graph_outputs = [o.name for o in model.graph.output]
    for idx, node in enumerate(info.nodes):
        for name in node.output:
            if name:
                info.producer[name] = idx
        for name in node.input:
            if name:
                info.consumers.setdefault(name, []).append(idx)
    return info


def run_marked(info: GraphInfo, feed: dict[str, np.ndarray], threads: int | None = None) -> dict[str, np.ndarray]:
    """Every node output of the graph on ``feed``: a copy with all of them marked as graph outputs, run once."""
    import onnx

    from modelport.runners.ort_runner import OrtRunner

    marked = onnx.ModelProto()
    marked.CopyFrom(info.model)  # type: ignore[arg-type]
    have = set(info.graph_outputs)
    for node in marked.graph.node:
        for name in node.output:
            if name and name not in have:
                # no type: onnxruntime takes the producer's (as Polygraphy's mark-all leaves it unset too)
                marked.graph.output.append(onnx.ValueInfoProto(name=name))
                have.add(name)
    with tempfile.TemporaryDirectory(prefix="modelport-marked-") as tmp:
        if marked.ByteSize() < PROTOBUF_LIMIT:
            model: bytes | Path = marked.SerializeToString()
        else:  # a protobuf cannot hold 2 GB: the copy goes to a scratch file with its weights beside it
            model = Path(tmp) / "marked.onnx"
            onnx.save(marked, str(model), save_as_external_data=True, location="marked.data")
        runner = OrtRunner(model, RunnerOptions(threads=threads, ort_graph_opt_level="disabled"))
        try:
            return runner.infer(as_declared(info.model, feed))
        finally:
            runner.close()


def as_declared(model: object, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``feed`` with each float array cast to the float type the graph declares for that input (an fp16 file
    converted without ``keep_io_types`` takes fp16 inputs; both files of a comparison get the same values)."""
    from onnx.helper import tensor_dtype_to_np_dtype

    declared = {i.name: i.type.tensor_type.elem_type for i in model.graph.input}  # type: ignore[attr-defined]
    out = {}
    for name, arr in feed.items():
        want = declared.get(name)
        dtype = tensor_dtype_to_np_dtype(want) if want else None
        cast = dtype is not None and np.issubdtype(arr.dtype, np.floating) and np.issubdtype(dtype, np.floating)
        out[name] = arr.astype(dtype) if cast and dtype != arr.dtype else arr
    return out


def node_scope(node: object) -> list[str]:
    """The module path the exporter recorded for ``node`` (outermost first, op name dropped); [] if none."""
    for prop in node.metadata_props:  # type: ignore[attr-defined]
        if prop.key == NAME_SCOPES_KEY:
            try:
                scopes = ast.literal_eval(prop.value)
            except (ValueError, SyntaxError):
                return []
            # ['', 'features', 'features.1', '_native_batch_norm_legit_no_training']: root, modules, fx node
            return [s for s in scopes[:-1] if s]
    name = node.name  # type: ignore[attr-defined]
    if name.startswith("/"):
        return [s for s in name.split("/")[1:-1] if s]  # '/features/features.0/Conv' -> features, features.0
    return []
