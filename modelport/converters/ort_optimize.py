"""``convert --optimize O0..O3``: an ONNX artifact per ONNX Runtime optimisation level.

Levels follow ``optimum-cli export onnx --optimize`` and onnxruntime's graph levels (docs/decisions.md, "ONNX
Runtime levels: one artifact per level"):

- O0: no graph optimisation at run time (``disabled``); the file is the plain export.
- O1: onnxruntime's basic level (constant folding, redundant-node removal) at run time.
- O2: the onnxruntime transformer optimizer's fusions (Attention, SkipLayerNormalization,
  EmbedLayerNormalization, BiasGelu) written into the file, opened at the ``extended`` level.
- O3: the O2 file opened at ``all`` (adds layout transforms that depend on the CPU, so done at load, not saved).

The level is written into the file's metadata (``runners.ort_runner.LEVEL_KEY``), so every runner that opens
the artifact (gate, validation, bench) uses the level that was validated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from modelport.converters.capture import first_line
from modelport.runners.ort_runner import LEVEL_KEY

RUNTIME_LEVEL = {"O0": "disabled", "O1": "basic", "O2": "extended", "O3": "all"}
FUSING_LEVELS = ("O2", "O3")
#: the fused operators counted in the manifest (onnxruntime's own names)
FUSED_OPS = ("Attention", "MultiHeadAttention", "SkipLayerNormalization", "EmbedLayerNormalization",
             "LayerNormalization", "BiasGelu", "FastGelu", "Gelu")


@dataclass
class Optimized:
    level: str
    runtime_level: str
    fused: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def info(self) -> dict[str, Any]:
        return {"level": self.level, "ort_graph_opt_level": self.runtime_level, "fused_ops": self.fused}


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    found = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for n in graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    found[n.output[0]] = numpy_helper.to_array(a.t)
    return found


def scale_as_div(model: onnx.ModelProto) -> int:
    """Rewrite attention's ``MatMul(q, k) * c`` as ``MatMul(q, k) / (1/c)``; returns how many were rewritten.

    onnxruntime's attention fusion finds the mask's ``Mul`` among the parents of the score ``Add`` by type, so
    a scale written as a ``Mul`` (PyTorch code that multiplies by ``1/sqrt(d)``) hides the mask and nothing
    fuses; Hugging Face models divide. The two differ by at most one rounding of the scale, and the fused
    Attention node computes its own scale anyway; the result is validated like any artifact.
    """
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    consts = _constants(graph)
    count = 0
    for softmax in (n for n in graph.node if n.op_type == "Softmax"):
        add = producer.get(softmax.input[0])
        if add is None or add.op_type != "Add":
            continue
        for name in add.input:
            mul = producer.get(name)
            if mul is None or mul.op_type != "Mul" or len(mul.input) != 2:
                continue
            matmul, c = producer.get(mul.input[0]), consts.get(mul.input[1])
            if matmul is None or matmul.op_type != "MatMul" or c is None or c.size != 1 or not c.reshape(()):
                continue
            recip = f"{mul.output[0]}_modelport_reciprocal"
            graph.initializer.append(numpy_helper.from_array(np.array(1.0 / c.reshape(()), dtype=c.dtype), recip))
            mul.op_type, mul.input[1] = "Div", recip
            count += 1
    return count


def _fuse(model: onnx.ModelProto, result: Optimized) -> onnx.ModelProto:
    """The transformer optimizer's BERT-family fusions (they find nothing to fuse in a CNN, which is harmless)."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_by_fusion

    rewritten = scale_as_div(model)
    quiet = logging.getLogger("onnxruntime.transformers")
    saved = [(lg, lg.level) for lg in (quiet, logging.getLogger())]
    for lg, _ in saved:
        lg.setLevel(logging.ERROR)  # the optimizer logs every fusion at INFO/WARNING on the root logger
    try:
        # The raw 0/1 mask, not the default 1-D "mask index": that one assumes right padding and gives other
        # numbers for any other mask. num_heads/hidden_size 0: read from the graph.
        fusion = FusionOptions("bert")
        fusion.use_raw_attention_mask(True)
        fused = optimize_by_fusion(model, "bert", 0, 0, fusion)
    except Exception as e:  # noqa: BLE001 - the optimizer raises anything on graphs it does not expect
        result.warnings.append(f"the onnxruntime transformer optimizer failed ({first_line(str(e), 200)}); "
                               f"{result.level} ships without fusions")
        return model
    finally:
        for lg, level in saved:
            lg.setLevel(level)
    stats = fused.get_fused_operator_statistics()
    result.fused = {op: int(stats.get(op, 0)) for op in FUSED_OPS if stats.get(op)}
    if rewritten:
        result.fused["scale_mul_as_div"] = rewritten
    return fused.model


def optimize_onnx(src: Path, dest: Path, level: str) -> Optimized:
    """Write the ``level`` artifact for the ONNX file ``src`` to ``dest`` (one file: callers skip external data)."""
    result = Optimized(level, RUNTIME_LEVEL[level])
    model = onnx.load(str(src))
    if level in FUSING_LEVELS:
        model = _fuse(model, result)
    domains = {n.domain for n in model.graph.node if n.domain} - {o.domain for o in model.opset_import}
    for domain in sorted(domains):  # the fused ops' domain (com.microsoft): onnx.checker requires its import
        model.opset_import.add(domain=domain, version=1)
    kept = [p for p in model.metadata_props if p.key != LEVEL_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    model.metadata_props.add(key=LEVEL_KEY, value=result.runtime_level)
    onnx.save(model, str(dest))
    return result
