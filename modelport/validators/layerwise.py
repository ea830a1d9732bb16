"""Layer-wise ONNX against ONNX: every tensor of a reference graph beside the same tensor of a candidate graph.

Polygraphy's layer-wise comparison (``polygraphy run a.onnx --onnxrt --onnx-outputs mark all`` against another
file), done with the same mark-all copy as localization (``localize_graph.run_marked``). Tensors are matched by
name: precision conversions keep the fp32 graph's tensor names. In a QDQ graph (onnxruntime.quantization) the
value the next layer reads is not tensor ``T`` but the DequantizeLinear output of ``QuantizeLinear(T)``; that
one is compared, so each row shows what quantizing that tensor cost (docs/decisions.md, "Localization: nodes to
modules"). Rows are sorted worst first by cosine similarity (scale-free; max abs grows with a layer's range).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from modelport.errors import InputError
from modelport.spec import InputSpec
from modelport.validators.compare import compare_arrays
from modelport.validators.localize_graph import GraphInfo, load_graph, run_marked
from modelport.validators.results import OutputComparison
from modelport.validators.tolerances import Tolerances

#: rows shown on the terminal; every row is in --json and validation.json
SHOWN_ROWS = 15


@dataclass
class LayerRow:
    tensor: str  # the reference's tensor name
    compared_as: str  # the candidate tensor compared: the same name, or its DequantizeLinear output
    reference_node: str  # "name (OpType)"
    candidate_node: str
    shape: list[int]
    max_abs: float | None
    max_rel: float | None
    mean_abs: float | None
    cosine: float | None
    #: max abs error / max |reference|: scale-free, unlike max_rel, which explodes where the reference is ~0
    abs_to_range: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LayerwiseReport:
    reference: str
    candidate: str
    input_set: str
    reduced_precision: bool  # either graph quantizes or halves: outputs are reported, not gated
    rows: list[LayerRow] = field(default_factory=list)  # worst first
    unmatched: list[str] = field(default_factory=list)  # reference tensors the candidate has no value for
    outputs: list[OutputComparison] = field(default_factory=list)  # the graph outputs by the tolerance rule
    #: the first tensor, in the reference's topological order, beyond the tolerance (same precision only)
    first_divergence: str | None = None

    @property
    def passed(self) -> bool:
        return self.reduced_precision or all(o.passed for o in self.outputs)

    def failure(self) -> str:
        bad = next(o for o in self.outputs if not o.passed)
        where = f"; first tensor beyond the tolerance: {self.first_divergence}" if self.first_divergence else ""
        return f"{self.candidate!r} against {self.reference!r}: output {bad.name!r} {bad.describe_failure()}{where}"

    def to_json(self) -> dict[str, Any]:
        return {"reference": self.reference, "candidate": self.candidate, "input_set": self.input_set,
                "reduced_precision": self.reduced_precision, "passed": self.passed,
                "first_divergence": self.first_divergence,
                "rows": [r.to_json() for r in self.rows], "unmatched": self.unmatched,
                "outputs": [o.to_json() for o in self.outputs]}

    def render(self) -> str:
        lines = [f"layer-wise: {self.candidate} against {self.reference} on input set {self.input_set!r} "
                 f"({len(self.rows)} tensors matched by name, {len(self.unmatched)} not in the candidate; "
                 "worst first)",
                 f"  {'candidate node':<44} {'tensor':<44} {'max abs':>10} {'abs/range':>10} {'cosine':>10}"]
        for r in self.rows[:SHOWN_ROWS]:
            cos = "n/a" if r.cosine is None else f"{r.cosine:.7f}"
            lines.append(f"  {_cut(r.candidate_node, 44):<44} {_cut(r.tensor, 44):<44} {_g(r.max_abs):>10} "
                         f"{_g(r.abs_to_range):>10} {cos:>10}")
        if len(self.rows) > SHOWN_ROWS:
            lines.append(f"  ... {len(self.rows) - SHOWN_ROWS} more rows in --json / validation.json")
        if self.first_divergence:
            lines.append(f"  first tensor beyond the tolerance in topological order: {self.first_divergence}")
        verdict = ("reduced precision: element differences reported, not gated" if self.reduced_precision
                   else "outputs match" if self.passed else f"FAILED: {self.failure()}")
        lines.append(f"  graph outputs: {verdict}")
        return "\n".join(lines)


def _g(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else "..." + text[-(width - 3):]


def _to_range(max_abs: float | None, ref: np.ndarray) -> float | None:
    top = float(np.abs(ref).max()) if ref.size else 0.0
    return None if max_abs is None or top == 0.0 or not np.isfinite(top) else max_abs / top


def _dequantized(info: GraphInfo, tensor: str) -> str | None:
    """The output of ``DequantizeLinear(QuantizeLinear(tensor))`` in ``info``, if the graph quantizes it."""
    for qi in info.consumers.get(tensor, []):
        q = info.nodes[qi]
        if q.op_type != "QuantizeLinear":
            continue
        for di in info.consumers.get(q.output[0], []):
            if info.nodes[di].op_type == "DequantizeLinear":
                return info.nodes[di].output[0]
    return None


def match_tensor(cand: GraphInfo, tensor: str) -> str | None:
    """The candidate tensor standing for the reference's ``tensor``: its dequantized value, else itself."""
    if tensor not in cand.producer:
        return None
    return _dequantized(cand, tensor) or tensor


def specs_from_onnx(info: GraphInfo) -> list[InputSpec]:
    """Input specs from a graph's inputs: symbolic dims dynamic (example size 1), floats in [-1, 1), integers in
    [0, 2)."""
    from onnx import helper

    specs = []
    for vi in info.model.graph.input:  # type: ignore[attr-defined]
        if vi.name in info.initializers:
            continue
        t = vi.type.tensor_type
        try:
            dtype = np.dtype(helper.tensor_dtype_to_np_dtype(t.elem_type)).name
        except (KeyError, TypeError, ValueError):
            raise InputError(f"input {vi.name!r} of the reference ONNX file has no tensor type",
                             "give the inputs with --input NAME:SHAPE[:DTYPE]") from None
        shape = tuple(d.dim_value if d.dim_value > 0 else 1 for d in t.shape.dim)
        # a symbolic axis is dynamic, so a user's --inputs rows may have any size there
        dynamic = {i: d.dim_param or f"d{i}" for i, d in enumerate(t.shape.dim) if d.dim_value <= 0}
        low, high = (-1.0, 1.0) if np.issubdtype(np.dtype(dtype), np.floating) else (0.0, 2.0)
        specs.append(InputSpec(vi.name, shape, dtype, low, high, dynamic_axes=dynamic))
    return specs


def compare_layers(reference: str, candidate: str, feed: dict[str, np.ndarray], input_set: str,
                   tolerances: Tolerances, ref_name: str | None = None, cand_name: str | None = None,
                   threads: int | None = None) -> LayerwiseReport:
    """Run both graphs with every tensor marked on ``feed``; one row per tensor matched by name, worst first."""
    ref_info, cand_info = load_graph(reference), load_graph(candidate)
    missing = [n for n in ref_info.graph_inputs if n not in cand_info.graph_inputs]
    if missing:
        raise InputError(f"{candidate!r} has no input {missing[0]!r}, which {reference!r} takes",
                         "compare two exports of the same model")
    ref_vals, cand_vals = run_marked(ref_info, feed, threads), run_marked(cand_info, feed, threads)
    report = LayerwiseReport(ref_name or reference, cand_name or candidate, input_set,
                             ref_info.reduced_precision or cand_info.reduced_precision)
    for node in ref_info.nodes:
        for tensor in node.output:
            ref = ref_vals.get(tensor)
            if ref is None or not np.issubdtype(ref.dtype, np.floating):
                continue
            other = match_tensor(cand_info, tensor)
            got = cand_vals.get(other) if other else None
            if got is None or got.shape != ref.shape:
                report.unmatched.append(tensor)
                continue
            atol, rtol, _ = tolerances.for_output("", ref.dtype)
            c = compare_arrays(tensor, ref, got.astype(ref.dtype, copy=False), atol, rtol)
            if not c.passed and report.first_divergence is None and not report.reduced_precision:
                report.first_divergence = f"{tensor!r} from {cand_info.label(tensor)}"
            report.rows.append(LayerRow(tensor, other or tensor, ref_info.label(tensor), cand_info.label(tensor),
                                        c.ref_shape, c.max_abs, c.max_rel, c.mean_abs, c.cosine,
                                        _to_range(c.max_abs, ref)))
    report.rows.sort(key=lambda r: (1.0 if r.cosine is None else r.cosine, -(r.max_abs or 0.0)))
    for name in ref_info.graph_outputs:
        atol, rtol, _ = tolerances.for_output(name, ref_vals[name].dtype)
        if name not in cand_vals:
            raise InputError(f"{candidate!r} has no output {name!r}, which {reference!r} has")
        report.outputs.append(compare_arrays(name, ref_vals[name], cand_vals[name], atol, rtol))
    return report
