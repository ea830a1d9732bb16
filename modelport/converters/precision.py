"""``convert --precision fp16|int8``: reduced-precision ONNX artifacts made from the checked fp32 export.

Each precision is a separate artifact (``onnx-opset17-fp16``, ``onnx-opset17-int8``) beside the fp32 one,
made by maintained libraries only (docs/decisions.md, "Precision: reduced-precision artifacts"):

- fp16: ``onnxconverter_common.float16.convert_float_to_float16`` with ``keep_io_types=True`` (fp32 inputs and
  outputs, casts at the boundary) and its default op block list (the ops that stay fp32, recorded).
- int8 static: ``onnxruntime.quantization.quantize_static``, QDQ format, per-channel int8 weights, uint8
  activations, MinMax / Entropy / Percentile calibration on a calibration set (below).
- int8 dynamic: ``quantize_dynamic`` on MatMul weights, for graphs without convolutions (transformers), where
  activation ranges vary per input and a static calibration fits badly; the output head stays fp32.

The calibration set is ``--calibration FILE.npz`` or N samples from the zoo entry's generator (else the
input specs) at a seed no validation or benchmark set uses (``calibration_seed``); its hash, size, method and
seed go into the manifest.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelport.errors import InputError
from modelport.spec import InputSpec, make_inputs

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
#: the reduced precisions each target builds beside fp32. bf16 ONNX is not built:
#: no maintained pass converts a graph to bf16, and onnxruntime's CPU provider lacks bf16 kernels for most ops
#: (docs/decisions.md, "Precision: no bf16 ONNX"); int8 .pt2 is PT2E (converters.pt2_int8)
#: AOTInductor: no fp16 (this CPU's fp16 kernels are casts: pt2-fp16 ran at 0.08x fp32, "Precision: measured")
BUILT = {"onnx": ("fp16", "int8"), "torchscript": ("fp16", "bf16"), "pt2": ("fp16", "bf16", "int8"),
         "aoti": ("bf16", "int8")}
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
QUANTIZE_MODES = ("auto", "static", "dynamic")
#: tag mixed into the calibration seed: validation uses seed+small offsets, the gate seed+1000+i, the
#: benchmarks' QSL SeedSequence([seed, index]); SeedSequence([seed, tag]) lands at a 64-bit value none of them use
_CALIBRATION_TAG = 0xCA11B


def makers_of(precision: str) -> list[str]:
    """The targets that build ``precision`` (BUILT), in BUILT's order."""
    return [t for t, built in BUILT.items() if precision in built]


def spoken(names: list[str], last: str = "and") -> str:
    """``a, b and c`` (or ``a, b or c``) for a one-line message."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {last} {names[-1]}"


def parse_precisions(values: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The precisions asked for, fp32 first whether named or not: every other one is made from the fp32 export
    (``--precision int8`` alone means fp32 and int8, as the help's "also ship" says)."""
    out: list[str] = ["fp32"]
    for v in values:
        p = str(v).strip().lower()
        if p not in PRECISIONS:
            raise InputError(f"unknown --precision {v!r}", f"use one of {', '.join(PRECISIONS)}")
        if p not in out:
            out.append(p)
    return tuple(out)


ONNX_INT8_WAY = "use --to onnx --precision int8 (onnxruntime static or dynamic quantization)"


def refuse_unbuildable(targets: tuple[str, ...] | list[str], precisions: tuple[str, ...] | list[str]) -> None:
    """``--to pt2|aoti --precision int8`` without torchao (an optional extra): one line, before anything is
    loaded."""
    import importlib.util

    wanting = [t for t in ("pt2", "aoti") if t in targets or (t == "pt2" and "all" in targets)]
    if wanting and "int8" in precisions and importlib.util.find_spec("torchao") is None:
        raise InputError(f"--to {wanting[0]} --precision int8 needs torchao (torch's PT2E quantization flow), which "
                         "is not installed", f"pip install 'modelport[quantize]', or {ONNX_INT8_WAY}")


def calibration_seed(seed: int) -> int:
    return int(np.random.SeedSequence([seed, _CALIBRATION_TAG]).generate_state(1, dtype=np.uint64)[0] >> 1)


@dataclass
class CalibrationSet:
    feeds: list[dict[str, np.ndarray]]  # batches of at most 16 samples
    origin: str  # "zoo-samples" | "input-specs" | the .npz path
    seed: int | None
    size: int
    sha256: str = ""

    def __post_init__(self) -> None:
        h = hashlib.sha256()
        for feed in self.feeds:
            for name in sorted(feed):
                h.update(name.encode())
                h.update(np.ascontiguousarray(feed[name]).tobytes())
        self.sha256 = h.hexdigest()

    def rows(self) -> set[bytes]:
        """One digest per sample (all inputs of a row), to prove no sample is also a validation sample."""
        return {row for feed in self.feeds for row in row_digests(feed)}

    def info(self, method: str) -> dict[str, Any]:
        return {"origin": self.origin, "size": self.size, "seed": self.seed, "sha256": self.sha256, "method": method}


def row_digests(feed: dict[str, np.ndarray]) -> list[bytes]:
    n = min(len(a) for a in feed.values()) if feed else 0
    out = []
    for i in range(n):
        h = hashlib.sha256()
        for name in sorted(feed):
            h.update(np.ascontiguousarray(feed[name][i]).tobytes())
        out.append(h.digest())
    return out


def calibration_set(specs: list[InputSpec], seed: int, size: int, entry: Any = None,
                    npz: str | None = None) -> CalibrationSet:
    """The user's ``.npz`` (batches of 16 rows), or ``size`` samples at the calibration seed."""
    if npz is not None:
        from modelport.validators.inputs import load_npz

        feed = load_npz(npz, specs, "--calibration").feed
        n = min(len(a) for a in feed.values())
        return CalibrationSet([{k: a[i:i + 16] for k, a in feed.items()} for i in range(0, n, 16)], str(npz), None, n)
    s = calibration_seed(seed)
    feeds, done = [], 0
    use_entry = entry is not None and any(sp.batch_dynamic for sp in specs)
    while done < size:
        n = min(16, size - done) if any(sp.batch_dynamic for sp in specs) else None
        feeds.append(entry.samples(n, s + done) if use_entry else make_inputs(specs, s + done, batch=n))
        done += n or (specs[0].shape[0] if specs and specs[0].shape else 1)
    return CalibrationSet(feeds, "zoo-samples" if use_entry else "input-specs", s, done)


@contextmanager
def _quiet() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime.quantization logs advice at WARNING on the root logger
    try:
        # its entropy and percentile calibrators print() their progress: on stdout that would break --json
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


@dataclass
class Reduced:
    precision: str
    info: dict[str, Any] = field(default_factory=dict)
    ir_version: int | None = None


def to_fp16(src: Path, dest: Path) -> Reduced:
    import onnx
    from onnxconverter_common import float16

    with warnings.catch_warnings(record=True) as caught:  # one UserWarning per weight clipped to fp16's range
        warnings.simplefilter("always")
        model = onnx.load(str(src))
        # Casts *to* float32 (a mask cast in BERT) keep their ``to`` while the converter retypes their output as
        # float16, which onnxruntime refuses to load: keep them in fp32 (the converter adds the casts around them)
        casts = [n.name for n in model.graph.node
                 if n.op_type == "Cast" and any(a.name == "to" and a.i == onnx.TensorProto.FLOAT for a in n.attribute)]
        model = float16.convert_float_to_float16(model, keep_io_types=True, node_block_list=casts)
    onnx.save(model, str(dest))
    clipped = sum("truncated" in str(w.message) for w in caught)
    return Reduced("fp16", {"library": "onnxconverter-common float16.convert_float_to_float16",
                            "keep_io_types": True, "io_dtype": "float32",
                            "op_block_list": sorted(float16.DEFAULT_OP_BLOCK_LIST), "node_block_list": casts,
                            "values_clipped_to_fp16_range": clipped}, model.ir_version)


def has_conv(src: Path) -> bool:
    import onnx

    return any(n.op_type == "Conv" for n in onnx.load(str(src), load_external_data=False).graph.node)


#: ops an output layer's result may pass through on its way to a graph output (bias, split, reshape, cast)
_TO_OUTPUT = {"Add", "Split", "Squeeze", "Unsqueeze", "Reshape", "Flatten", "Transpose", "Identity", "Cast",
              "Slice", "Gather"}


def output_layers(src: Path) -> list[str]:
    """The MatMul/Gemm nodes whose results reach a graph output through nothing but ``_TO_OUTPUT`` ops: the
    model's output head (BERT's QA projection, a classifier). Dynamic int8 keeps them in fp32: their output is
    the logits themselves, so quantizing their input flips argmaxes for the least compute saved
    (docs/decisions.md, "Precision: the output head stays fp32 in dynamic int8")."""
    import onnx

    graph = onnx.load(str(src), load_external_data=False).graph
    producer = {out: n for n in graph.node for out in n.output}
    constant = {i.name for i in graph.initializer}
    constant |= {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    found: list[str] = []
    seen: set[str] = set()
    todo = [o.name for o in graph.output]
    while todo:
        node = producer.get(todo.pop())
        if node is None or node.output[0] in seen:
            continue
        seen.add(node.output[0])
        inputs = [i for i in node.input if i and i not in constant]
        if node.op_type in ("MatMul", "Gemm"):
            if node.name:  # the quantizer excludes nodes by name; an unnamed one cannot be kept out
                found.append(node.name)
        elif node.op_type in _TO_OUTPUT and (node.op_type != "Add" or len(inputs) == 1):
            todo.extend(inputs)  # an Add of two computed tensors is a residual, not a bias: the head ends there
    return sorted(found)


def int8_exclusions(src: Path, keep: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """``--int8-keep-fp32`` resolved against the exported graph: (operator types, node names), each name being
    an ONNX operator type of the graph or one of its node names; anything else is refused in one line."""
    if not keep:
        return [], []
    import onnx

    graph = onnx.load(str(src), load_external_data=False).graph
    types, names = {n.op_type for n in graph.node}, {n.name for n in graph.node if n.name}
    unknown = [k for k in keep if k not in types and k not in names]
    if unknown:
        raise InputError(f"--int8-keep-fp32 {unknown[0]!r} is neither an operator type nor a node name of the "
                         "exported graph", "modelport validate --localize names the nodes; operator types are "
                         f"ONNX's ({', '.join(sorted(types)[:6])}, ...)")
    return sorted({k for k in keep if k in types}), sorted({k for k in keep if k not in types})


def to_int8(src: Path, dest: Path, mode: str, method: str, calib: CalibrationSet | None,
            keep: tuple[str, ...] = ()) -> Reduced:
    """Static QDQ (per-channel weights) or dynamic MatMul quantization; ``mode`` is already resolved. ``keep``:
    operator types and node names left in fp32 (``--int8-keep-fp32``), recorded."""
    from onnxruntime import quantization as q

    kept_ops, kept_nodes = int8_exclusions(src, keep)
    with _quiet():
        if mode == "dynamic":
            head = output_layers(src)
            op_types = [t for t in ("MatMul",) if t not in kept_ops]
            if not op_types:
                raise InputError("--int8-keep-fp32 MatMul leaves dynamic int8 nothing to quantize",
                                 "drop it, or keep single MatMul nodes by name")
            kept = sorted({*head, *kept_nodes})
            # the dynamic quantizer first splits each Gemm into NAME_MatMul + NAME_Add and matches exclusions
            # against the new names, so a Gemm kept by its own name is kept under both
            q.quantize_dynamic(str(src), str(dest), weight_type=q.QuantType.QInt8, op_types_to_quantize=op_types,
                               nodes_to_exclude=sorted({*kept, *(f"{k}_MatMul" for k in kept)}))
            check_quantized(dest, kept)
            return Reduced("int8", {"library": "onnxruntime.quantization.quantize_dynamic", "mode": "dynamic",
                                    "op_types": op_types, "weight_type": "int8",
                                    "nodes_kept_fp32": sorted({*head, *kept_nodes}), "op_types_kept_fp32": kept_ops,
                                    "calibration": None})
        assert calib is not None
        import onnx
        from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

        # an input the exporter dropped as unused is not fed (ORT refuses unknown feed names)
        taken = {i.name for i in onnx.load(str(src), load_external_data=False).graph.input}
        reader = _Reader([{k: v for k, v in feed.items() if k in taken} for feed in calib.feeds])
        # None = onnxruntime's own default list; an operator type kept in fp32 is taken out of that list
        op_types = sorted({*QLinearOpsRegistry, *QDQRegistry} - set(kept_ops)) if kept_ops else None
        q.quantize_static(str(src), str(dest), reader, quant_format=q.QuantFormat.QDQ, per_channel=True,
                          activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8,
                          op_types_to_quantize=op_types, nodes_to_exclude=kept_nodes,
                          calibrate_method={"minmax": q.CalibrationMethod.MinMax,
                                            "entropy": q.CalibrationMethod.Entropy,
                                            "percentile": q.CalibrationMethod.Percentile}[method])
    check_quantized(dest, [])
    return Reduced("int8", {"library": "onnxruntime.quantization.quantize_static", "mode": "static",
                            "format": "QDQ", "per_channel": True, "activation_type": "uint8", "weight_type": "int8",
                            "nodes_kept_fp32": kept_nodes, "op_types_kept_fp32": kept_ops,
                            "calibration": calib.info(method)})


_QDQ_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}
#: operators that only a quantized graph has
_QUANTIZED_OPS = _QDQ_OPS | {"MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat",
                             "QLinearConv", "QLinearMatMul"}


def check_quantized(dest: Path, kept: list[str]) -> None:
    """The quantizer's output must have quantized something, and none of the nodes kept in fp32 (matched with
    the suffixes the quantizer appends to what it rewrites): an "int8" artifact that is fp32, or a manifest
    that says a node stayed fp32 when it did not, is refused, not shipped."""
    import onnx

    nodes = onnx.load(str(dest), load_external_data=False).graph.node
    quantized = [n.name for n in nodes if n.op_type in _QUANTIZED_OPS]
    if not quantized:
        raise InputError("--precision int8 quantized nothing: every layer it can quantize was kept in fp32 "
                         "(--int8-keep-fp32, or dynamic int8's output head) or the graph has none",
                         "use --quantize static for convolutions, or keep fewer layers in fp32")
    # the quantized compute nodes only: a (Dynamic)QuantizeLinear is named after the tensor it reads, which
    # may be a kept node's output
    compute = [n.name for n in nodes if n.op_type in _QUANTIZED_OPS - _QDQ_OPS]
    touched = [k for k in kept if any(c == k or c.startswith(f"{k}_") for c in compute)]
    if touched:
        raise InputError(f"onnxruntime quantized {touched[0]!r}, which was to stay in fp32",
                         "keep it by operator type with --int8-keep-fp32 OP, or use --quantize static")


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over our batches."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self._it = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)

    def __iter__(self):  # noqa: ANN204 - the protocol onnxruntime's reader declares
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        item = self.get_next()
        if item is None:
            raise StopIteration
        return item
