"""Convert a model between ai.onnx opsets with onnx.version_converter, and prove the result.

A conversion is only written if the converted model passes ``onnx.checker`` (full check), loads in
onnxruntime, and computes the same outputs as the original on seeded inputs. The converter's C++
assertion text is turned into a sentence naming the op, the direction and an opset that works.
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

from modelport.converters.options import TORCHSCRIPT_RANGE
from modelport.errors import ExportError, InputError, ValidationFailed
from modelport.fsutil import atomic_path, ensure_writable_dir
from modelport.opsets import feeds as fd
from modelport.opsets import schemas as sx
from modelport.opsets.check import _checker_error, model_opsets
from modelport.opsets.modelfile import iter_graphs, load_model

_NO_FROM = re.compile(r"No Adapter From Version \$(\d+) for (\w+)")
_NO_TO = re.compile(r"No Adapter To Version \$(\d+) for (\w+)")
_NO_PREV = re.compile(r"No Previous Version of (\w+)")
_TWO_GB = 2**31 - 1


@dataclass
class ConvertReport:
    source: str
    out: str | None
    from_opset: int
    to_opset: int
    convert_seconds: float
    ops_changed: list[dict[str, Any]]  # op, from (since_version), to
    checker: str  # "ok"
    onnxruntime: str  # "ok"
    compared: bool
    seed: int
    atol: float
    rtol: float
    outputs: list[fd.OutputDiff] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outputs)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "out": self.out, "from_opset": self.from_opset, "to_opset": self.to_opset,
                "convert_seconds": round(self.convert_seconds, 4), "ops_changed": self.ops_changed,
                "checker": self.checker, "onnxruntime": self.onnxruntime, "compared": self.compared,
                "seed": self.seed, "atol": self.atol, "rtol": self.rtol,
                "outputs": [o.to_dict() for o in self.outputs], "notes": self.notes, "ok": self.ok,
                "versions": {"onnx": onnx.__version__, "onnxruntime": _ort_version()}}


def _ort_version() -> str:
    import onnxruntime

    return str(onnxruntime.__version__)


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
    lowest = TORCHSCRIPT_RANGE[0]  # the lowest opset any modelport exporter writes
    native = (f"or re-export the model natively at opset {target} (modelport convert --opset {target})"
              if target >= lowest else f"and no exporter writes opsets below {lowest}; choose a target of at "
              f"least {lowest}")
    if m := _NO_FROM.search(raw):
        v, op = int(m.group(1)), m.group(2)
        nxt = v - 1 if way == "down" else v + 1
        what = (f"cannot convert {op} {way} from opset {v} to {nxt}: onnx has no {way}-adapter for "
                f"{op}-{_since(op, v)}" + (f" (-> {op}-{_since(op, nxt)})" if _since(op, nxt) else ""))
    elif m := _NO_TO.search(raw):
        v, op = int(m.group(1)), m.group(2)
        prev = v + 1 if way == "down" else v - 1
        what = (f"cannot convert {op} {way} to opset {v}: onnx has no adapter from {op}-{_since(op, prev)} "
                f"to {op}-{_since(op, v)}")
    elif m := _NO_PREV.search(raw):
        op = m.group(1)
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


def _session(model_bytes_or_path: bytes | str):
    from modelport.runners.ort_runner import OrtRunner

    return OrtRunner(model_bytes_or_path).session


def convert(path: str | os.PathLike[str], opset: int, out: str | os.PathLike[str] | None, seed: int = 0,
            atol: float = 1e-5, rtol: float = 1e-5, compare: bool = True,
            progress: Callable[[str], None] | None = None) -> ConvertReport:
    """Convert the model at ``path`` to ai.onnx ``opset``; validate; write ``out`` atomically if given.

    Raises ExportError when the converter cannot do it, ValidationFailed when the result is not valid or
    not numerically the same model; nothing is written in either case.
    """
    step = progress or (lambda _msg: None)
    src = Path(path)
    sx.require_opset(opset, sx.DEFAULT_DOMAIN, "target opset")
    if out is not None:
        ensure_writable_dir(Path(out).parent if str(Path(out).parent) else Path("."))
    model = load_model(src, load_external_data=True)
    own = model_opsets(model).get(sx.DEFAULT_DOMAIN)
    if own is None:
        raise InputError(f"{src}: the model imports no ai.onnx opset, so there is nothing to convert")
    if own > sx.max_known_opset():
        raise InputError(f"{src}: the model uses ai.onnx opset {own} but the installed onnx {onnx.__version__} "
                         f"knows only up to {sx.max_known_opset()}", "upgrade onnx")

    step(f"converting opset {own} -> {opset}")
    t0 = time.perf_counter()
    if opset == own:
        converted, raw = model, None
    else:
        converted, raw = _try_convert(model, opset)
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

    report = ConvertReport(str(src), None, own, opset, seconds, _ops_changed(model, own, opset), "", "",
                           compare, seed, atol, rtol)
    if opset == own:
        report.notes.append("the model already is at this opset; it was validated and copied unchanged")

    step("onnx.checker (full check)")
    err = _checker_error(converted)
    if err:
        raise ValidationFailed(f"the model converted to opset {opset} fails onnx.checker: {err}",
                               "the converter produced an invalid model; re-export natively at that opset")
    report.checker = "ok"

    step("onnxruntime session")
    blob = converted.SerializeToString()
    try:
        new_sess = _session(blob)
    except Exception as e:  # noqa: BLE001 - ORT raises its own exception types
        raise ValidationFailed(f"onnxruntime cannot load the model converted to opset {opset}: "
                               f"{' '.join(str(e).split())[:300]}",
                               "onnx accepts it but onnxruntime does not; re-export natively at that opset") from None
    report.onnxruntime = "ok"

    if compare:
        step("comparing outputs on seeded inputs")
        report.outputs = _compare_sessions(src, model, new_sess, seed, atol, rtol)
        bad = [o for o in report.outputs if not o.ok]
        if bad:
            o = bad[0]
            detail = o.problem or (f"max abs error {o.max_abs:.3g}, {o.mismatched}/{o.total} elements beyond "
                                   f"atol={atol:g} and rtol={rtol:g}")
            raise ValidationFailed(f"the model converted to opset {opset} computes different values for output "
                                   f"{o.name!r}: {detail}", "nothing was written")
    else:
        report.notes.append("numeric comparison skipped (--no-compare)")

    if out is not None:
        with atomic_path(out) as tmp:
            tmp.write_bytes(blob)
        report.out = str(out)
    return report


def _compare_sessions(src: Path, model: onnx.ModelProto, new_sess, seed: int, atol: float,
                      rtol: float) -> list[fd.OutputDiff]:
    try:
        old_sess = _session(str(src))
    except Exception as e:  # noqa: BLE001
        raise ValidationFailed(f"onnxruntime cannot load the original model {src}: {' '.join(str(e).split())[:300]}",
                               "pass --no-compare to skip the numeric comparison") from None
    names = [o.name for o in old_sess.get_outputs()]
    results: list[fd.OutputDiff] = []
    # two input sets: different values and, for symbolic dimensions, a different size
    for k, dim in enumerate((2, 3)):
        feeds = fd.make_feeds(model, seed + k, dim_size=dim)
        try:
            ref = old_sess.run(names, feeds)
        except Exception as e:  # noqa: BLE001
            raise ValidationFailed(f"the original model does not run on generated inputs: "
                                   f"{' '.join(str(e).split())[:250]}",
                                   "pass --no-compare to skip the numeric comparison") from None
        try:
            new = new_sess.run(names, feeds)
        except Exception as e:  # noqa: BLE001
            raise ValidationFailed(f"the converted model fails in onnxruntime on inputs the original accepts: "
                                   f"{' '.join(str(e).split())[:250]}", "nothing was written") from None
        diffs = fd.compare(names, ref, new, atol, rtol)
        if k == 0:
            results = diffs
        else:
            results = [_worst(a, b) for a, b in zip(results, diffs, strict=True)]
    return results


def _worst(a: fd.OutputDiff, b: fd.OutputDiff) -> fd.OutputDiff:
    if not b.ok and a.ok:
        return b
    if not a.ok:
        return a
    return fd.OutputDiff(a.name, a.shape, a.dtype, max(a.max_abs, b.max_abs), max(a.max_rel, b.max_rel),
                         a.mismatched + b.mismatched, a.total + b.total, True)
