"""Convert a model between ai.onnx opsets with onnx.version_converter, and check what the converter wrote.

``convert_model`` converts in memory and refuses a result that fails ``onnx.checker`` (full check) or does
not load in onnxruntime; the converter's C++ assertion text becomes a sentence naming the op, the direction
and an opset that works. Proving the result computes what the original did, and writing it, is
``modelport.converters.opset_convert`` (``modelport opsets convert``): it needs the comparison engine of
``modelport.validators``, a layer above this one.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx
import onnx.version_converter

from modelport.errors import ExportError, InputError, ValidationFailed
from modelport.opsets import schemas as sx
from modelport.opsets.check import checker_error, model_opsets
from modelport.opsets.exporters import LOWEST_EXPORTED_OPSET
from modelport.opsets.modelfile import iter_graphs, load_model
from modelport.runners import Runner

_NO_FROM = re.compile(r"No Adapter From Version \$(\d+) for (\w+)")
_NO_TO = re.compile(r"No Adapter To Version \$(\d+) for (\w+)")
_NO_PREV = re.compile(r"No Previous Version of (\w+)")
_TWO_GB = 2**31 - 1


@dataclass
class AdapterGap:
    """What ``onnx.version_converter`` could not do, from its assertion text."""

    kind: str  # "from": no adapter leaving ``version``; "to": none arriving at it; "previous": op too new
    op: str
    version: int | None = None


def adapter_gap(raw: str) -> AdapterGap | None:
    """Parse the converter's failure text ("No Adapter From Version $14 for Relu", ...); None if unknown."""
    if m := _NO_FROM.search(raw):
        return AdapterGap("from", m.group(2), int(m.group(1)))
    if m := _NO_TO.search(raw):
        return AdapterGap("to", m.group(2), int(m.group(1)))
    if m := _NO_PREV.search(raw):
        return AdapterGap("previous", m.group(1))
    return None


@dataclass
class Conversion:
    """A converted model that passed the checker and loads in onnxruntime (``runner``), not yet compared."""

    source: str
    original: onnx.ModelProto
    blob: bytes  # the converted model, serialised
    runner: Runner  # an onnxruntime session of ``blob``
    from_opset: int
    to_opset: int
    convert_seconds: float
    ops_changed: list[dict[str, Any]]  # op, from (since_version), to
    notes: list[str] = field(default_factory=list)


def _try_convert(model: onnx.ModelProto, opset: int) -> tuple[onnx.ModelProto | None, str | None]:
    try:
        return onnx.version_converter.convert_version(model, opset), None
    except Exception as e:  # noqa: BLE001 - the converter raises bare RuntimeError/C++ errors
        return None, " ".join(str(e).split())


def reachable_limit(model: onnx.ModelProto, own: int, direction: int) -> int:
    """The lowest (direction -1) or highest (+1) opset the converter reaches from ``own``.

    The converter walks one opset at a time, so the reachable opsets form one interval around ``own``;
    a binary search needs about log2(28) conversions.
    """
    if direction < 0:
        lo, hi = 1, own  # hi is reachable; find the smallest reachable
        while lo < hi:
            mid = (lo + hi) // 2
            if _try_convert(model, mid)[0] is not None:
                hi = mid
            else:
                lo = mid + 1
        return hi
    lo, hi = own, sx.max_known_opset()
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _try_convert(model, mid)[0] is not None:
            lo = mid
        else:
            hi = mid - 1
    return lo


def explain_failure(raw: str, own: int, target: int, limit: int) -> str:
    """One sentence from the converter's assertion text: which op, which direction, what would work."""
    way = "down" if target < own else "up"
    if limit == own:
        reach = f"no {'lower' if way == 'down' else 'higher'} opset is reachable from {own}"
    else:
        reach = (f"the lowest opset reachable from {own} is {limit}" if way == "down"
                 else f"the highest opset reachable from {own} is {limit}")
    lowest = LOWEST_EXPORTED_OPSET
    native = (f"or re-export the model natively at opset {target} (modelport convert --opset {target})"
              if target >= lowest else f"and no exporter writes opsets below {lowest}; choose a target of at "
              f"least {lowest}")
    gap = adapter_gap(raw)
    if gap is not None and gap.kind == "from" and gap.version is not None:
        v, op = gap.version, gap.op
        nxt = v - 1 if way == "down" else v + 1
        what = (f"cannot convert {op} {way} from opset {v} to {nxt}: onnx has no {way}-adapter for "
                f"{op}-{_since(op, v)}" + (f" (-> {op}-{_since(op, nxt)})" if _since(op, nxt) else ""))
    elif gap is not None and gap.kind == "to" and gap.version is not None:
        v, op = gap.version, gap.op
        prev = v + 1 if way == "down" else v - 1
        what = (f"cannot convert {op} {way} to opset {v}: onnx has no adapter from {op}-{_since(op, prev)} "
                f"to {op}-{_since(op, v)}")
    elif gap is not None:
        op = gap.op
        first = sx.lookup(op, "")
        since = f" (its first version is {first[0].since_version})" if first else ""
        what = f"cannot convert {op} down to opset {target}: {op} does not exist before its first version{since}"
    else:
        what = f"onnx.version_converter cannot convert opset {own} to {target}: {raw[:200]}"
    return f"{what}; {reach}, {native}"


def _since(op: str, opset: int) -> int | None:
    """since_version of op's schema in force at ``opset``, None if unknown or not yet defined."""
    if sx.lookup(op, "") is None or not 1 <= opset <= sx.max_known_opset():
        return None
    s = sx.schema_at(op, opset)
    return s.since_version if s else None


def _ops_changed(model: onnx.ModelProto, a: int, b: int) -> list[dict[str, Any]]:
    out = []
    seen = sorted({n.op_type for g in iter_graphs(model.graph) for n in g.node if n.domain in ("", "ai.onnx")})
    for op in seen:
        if sx.lookup(op, "") is None:
            continue
        sa, sb = sx.schema_at(op, a), sx.schema_at(op, b)
        va, vb = (sa.since_version if sa else None), (sb.since_version if sb else None)
        if va != vb:
            out.append({"op": op, "from": va, "to": vb})
    return out


def convert_model(path: str | os.PathLike[str], opset: int,
                  progress: Callable[[str], None] | None = None) -> Conversion:
    """Convert the model at ``path`` to ai.onnx ``opset`` in memory; check the result; write nothing.

    Raises ExportError when the converter cannot do it, ValidationFailed when the result fails onnx.checker
    or does not load in onnxruntime, InputError for an unusable file or opset.
    """
    step = progress or (lambda _msg: None)
    src = Path(path)
    sx.require_opset(opset, sx.DEFAULT_DOMAIN, "target opset")
    model = load_model(src, load_external_data=True)
    own = model_opsets(model).get(sx.DEFAULT_DOMAIN)
    if own is None:
        raise InputError(f"{src}: the model imports no ai.onnx opset, so there is nothing to convert")
    if own > sx.max_known_opset():
        raise InputError(f"{src}: the model uses ai.onnx opset {own} but the installed onnx {onnx.__version__} "
                         f"knows only up to {sx.max_known_opset()}", "upgrade onnx")

    step(f"converting opset {own} -> {opset}")
    t0 = time.perf_counter()
    converted, raw = (model, None) if opset == own else _try_convert(model, opset)
    seconds = time.perf_counter() - t0
    if converted is None:
        assert raw is not None
        limit = reachable_limit(model, own, -1 if opset < own else +1)
        raise ExportError(explain_failure(raw, own, opset, limit))
    got = model_opsets(converted).get(sx.DEFAULT_DOMAIN)
    if got != opset:
        raise ExportError(f"onnx.version_converter returned a model stamped opset {got}, not {opset}")
    if converted.ByteSize() > _TWO_GB:
        raise InputError(f"{src}: the converted model is over 2 GB; opsets convert writes single-file models only")

    step("onnx.checker (full check)")
    err = checker_error(converted)
    if err:
        raise ValidationFailed(f"the model converted to opset {opset} fails onnx.checker: {err}",
                               "the converter produced an invalid model; re-export natively at that opset")
    step("onnxruntime session")
    from modelport.runners.ort_runner import OrtRunner  # onnxruntime loads only when a conversion runs

    blob = converted.SerializeToString()
    try:
        runner = OrtRunner(blob)
    except Exception as e:  # noqa: BLE001 - ORT raises its own exception types
        raise ValidationFailed(f"onnxruntime cannot load the model converted to opset {opset}: "
                               f"{' '.join(str(e).split())[:300]}",
                               "onnx accepts it but onnxruntime does not; re-export natively at that opset") from None
    notes = ["the model already is at this opset; it was validated and copied unchanged"] if opset == own else []
    return Conversion(str(src), model, blob, runner, own, opset, seconds, _ops_changed(model, own, opset), notes)
