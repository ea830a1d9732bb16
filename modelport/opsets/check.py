"""Which opsets can a model be stamped with? Its true minimum, and whether it is valid at a target.

The lower bound "highest first since_version over the model's ops" is not the answer: attributes, inputs
and types matter (ArgMin with select_last_index=1 needs 12, Split with num_outputs needs 18, bfloat16
needs 13 for most ops). For every distinct node signature we check the node against each schema version
of its op (``nodecheck``), intersect the opsets at which every node is valid, and confirm the lowest with
``onnx.checker.check_model(full_check=True)`` on the model re-stamped at that opset, moving up if the
checker disagrees.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx
import onnx.checker
import onnx.shape_inference

from modelport.errors import InputError
from modelport.opsets import schemas as sx
from modelport.opsets.modelfile import (
    check_external_data,
    coerce_model,
    external_locations,
    iter_graphs,
    load_model,
)
from modelport.opsets.nodecheck import node_problems, type_string

_MAX_CONFIRM_TRIES = 6
_TWO_GB = 2**31 - 1


@dataclass
class OpUsage:
    """One operator type of the model and the opsets at which all its nodes are valid."""

    op: str
    domain: str
    count: int
    in_force: int | None  # since_version of the schema in force at the model's opset
    first_version: int  # the op's first since_version (what the naive lower bound uses)
    valid_opsets: list[int]
    min_opset: int | None
    why_not_lower: list[str] = field(default_factory=list)  # why min_opset - 1 does not work
    target_problems: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "domain": sx.display_domain(self.domain), "count": self.count,
                "in_force": self.in_force, "first_version": self.first_version, "min_opset": self.min_opset,
                "valid_opsets": _ranges(self.valid_opsets), "why_not_lower": self.why_not_lower,
                "target_problems": self.target_problems}


@dataclass
class CheckReport:
    source: str
    ir_version: int
    opset_imports: dict[str, int]
    opset: int | None  # the model's ai.onnx opset
    max_known_opset: int
    lower_bound: int | None  # highest first since_version over ai.onnx ops: the naive answer
    min_opset: int | None  # the true minimum ai.onnx opset (None: no single opset fits every node)
    min_opsets: dict[str, int | None]  # per standard domain
    valid_opsets: dict[str, list[int]]  # per standard domain
    confirmed: bool  # min_opset passed onnx.checker(full_check) when re-stamped
    checker_at_own_opset: str | None  # None: the model passes the checker as it is
    notes: list[str]
    ops: list[OpUsage]
    custom: dict[str, dict[str, int]]  # custom domain -> op -> count (listed, not judged)
    min_ir_version: int | None = None
    #: ops in the default (ai.onnx) domain that onnx does not define: the model is valid at no opset
    unknown_ops: dict[str, int] = field(default_factory=dict)
    target: int | None = None
    target_ok: bool | None = None
    target_problems: list[str] = field(default_factory=list)
    target_checker: str | None = None  # onnx.checker's verdict on the model re-stamped at the target

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "ir_version": self.ir_version,
            "opset_imports": {sx.display_domain(k): v for k, v in self.opset_imports.items()},
            "opset": self.opset, "max_known_opset": self.max_known_opset, "lower_bound": self.lower_bound,
            "min_opset": self.min_opset, "min_ir_version": self.min_ir_version,
            "min_opsets": {sx.display_domain(k): v for k, v in self.min_opsets.items()},
            "valid_opsets": {sx.display_domain(k): _ranges(v) for k, v in self.valid_opsets.items()},
            "confirmed": self.confirmed, "checker_at_own_opset": self.checker_at_own_opset,
            "notes": self.notes, "ops": [o.to_dict() for o in self.ops], "custom": self.custom,
            "target": self.target, "target_ok": self.target_ok, "target_problems": self.target_problems,
            "target_checker": self.target_checker, "unknown_ops": self.unknown_ops,
        }


def _ranges(values: list[int]) -> list[list[int]]:
    """[1,2,3,7,8] -> [[1,3],[7,8]]: compact for JSON and humans."""
    out: list[list[int]] = []
    for v in sorted(values):
        if out and v == out[-1][1] + 1:
            out[-1][1] = v
        else:
            out.append([v, v])
    return out


def format_ranges(values: list[int]) -> str:
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in _ranges(values)) or "none"


def _without_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with top-level initializers turned into typed inputs: same types, a tiny proto.

    Type inference needs only the initializers' types and shapes, and serialising a ResNet-50's weights
    would cost more than the whole analysis.
    """
    light = onnx.ModelProto()
    light.ir_version = max(int(model.ir_version), 4)  # IR >= 4 lets inputs and initializers differ
    light.opset_import.extend(model.opset_import)
    light.functions.extend(model.functions)
    g, src = light.graph, model.graph
    g.name = src.name
    g.node.extend(src.node)
    g.input.extend(src.input)
    g.output.extend(src.output)
    g.value_info.extend(src.value_info)
    declared = {i.name for i in src.input}
    for t in src.initializer:
        if t.name not in declared:
            g.input.append(onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    for sp in src.sparse_initializer:
        if sp.values.name not in declared:
            g.input.append(onnx.helper.make_tensor_value_info(sp.values.name, sp.values.data_type, list(sp.dims)))
    return light


def _value_types(model: onnx.ModelProto) -> tuple[dict[str, str], str | None]:
    """Type of every value we can learn, from shape inference at the model's own opset."""
    note = None
    try:
        inferred = onnx.shape_inference.infer_shapes(_without_weights(model), check_type=False, strict_mode=False)
    except Exception as e:  # noqa: BLE001 - inference is best effort; declared types still count
        inferred = model
        note = f"shape inference failed ({' '.join(str(e).split())[:160]}); only declared types were checked"
    types: dict[str, str] = {}
    for g in iter_graphs(inferred.graph):
        for vi in list(g.input) + list(g.output) + list(g.value_info):
            t = type_string(vi.type)
            if t:
                types[vi.name] = t
        for init in g.initializer:
            t = type_string(onnx.helper.make_tensor_type_proto(init.data_type, None))
            if t:
                types[init.name] = t
    return types, note


def _signature(node: onnx.NodeProto, types: dict[str, str]) -> tuple:
    return (node.domain, node.op_type,
            tuple(sorted((a.name, a.type) for a in node.attribute)),
            tuple((n == "", types.get(n)) for n in node.input),
            tuple((n == "", types.get(n)) for n in node.output))


class _Stamper:
    """Serialised copies of one model under different opset imports, for onnx.checker.

    The model is serialised once without its opset imports; a re-stamped copy is those bytes followed by
    a tiny message holding only the imports (protobuf merges concatenated messages, and a repeated field
    that is empty in the first part takes the second part's entries). This avoids a deep copy and a full
    serialisation per candidate opset, which dominate on a 100 MB model.
    """

    def __init__(self, model: onnx.ModelProto) -> None:
        self.imports = {sx.normalize_domain(i.domain): (i.domain, int(i.version)) for i in model.opset_import}
        saved = list(model.opset_import)
        del model.opset_import[:]
        try:
            self.body = model.SerializeToString()
        finally:
            model.opset_import.extend(saved)

    def stamped(self, domain: str | None = None, opset: int | None = None) -> bytes:
        tail = onnx.ModelProto()
        for d, (spelling, version) in self.imports.items():
            tail.opset_import.append(onnx.helper.make_opsetid(spelling, opset if d == domain else version))
        return self.body + tail.SerializeToString()

    def checker_error(self, domain: str | None = None, opset: int | None = None) -> str | None:
        return checker_error(self.stamped(domain, opset))


def checker_error(model: onnx.ModelProto | bytes) -> str | None:
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        return " ".join(str(e).split())[:300]
    except Exception as e:  # noqa: BLE001 - the checker raises several C++-mapped types
        return f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
    return None


def _with_external_data(model: onnx.ModelProto, model_or_path: object) -> tuple[onnx.ModelProto, str | None]:
    """The checker needs the weights (shape inference reads constant shapes); load them if we safely can."""
    if isinstance(model_or_path, onnx.ModelProto):
        return model, "the model proto references external data, so onnx.checker was not run; pass its path"
    path = Path(str(model_or_path))
    files = check_external_data(model, path.parent, str(path))  # refuses unsafe locations before any read
    if sum(f.stat().st_size for f in files) >= _TWO_GB:
        return model, "external data over 2 GB: onnx.checker was not run, results are from schema analysis only"
    return load_model(path, load_external_data=True), None


def model_opsets(model: onnx.ModelProto) -> dict[str, int]:
    return {sx.normalize_domain(i.domain): int(i.version) for i in model.opset_import}


def _require_known_opsets(imports: dict[str, int], source: str) -> None:
    for d, v in imports.items():
        if sx.is_standard_domain(d) and v > sx.max_known_opset(d):
            raise InputError(f"{source}: the model uses opset {v} of {sx.display_domain(d)} but the installed "
                             f"onnx {onnx.__version__} knows only up to {sx.max_known_opset(d)}", "upgrade onnx")


def _group_nodes(nodes: list[onnx.NodeProto], types: dict[str, str]) -> tuple[
        Counter[tuple[str, str]], dict[str, dict[str, int]], dict[tuple, onnx.NodeProto]]:
    """Node counts per standard op, counts of ops onnx does not define (per domain; ``ai.onnx`` for the default
    one), and one node per distinct signature: nodes that differ in nothing onnx checks are judged once."""
    counts: Counter[tuple[str, str]] = Counter()
    custom: dict[str, dict[str, int]] = {}
    groups: dict[tuple, onnx.NodeProto] = {}
    for n in nodes:
        d = sx.normalize_domain(n.domain)
        if not sx.is_standard_domain(d) or sx.lookup(n.op_type, d) is None:
            custom.setdefault(d or "ai.onnx", {}).setdefault(n.op_type, 0)
            custom[d or "ai.onnx"][n.op_type] += 1
            continue
        counts[(d, n.op_type)] += 1
        groups.setdefault(_signature(n, types), n)
    return counts, custom, groups


def check_model(model_or_path: onnx.ModelProto | str | os.PathLike[str], target: int | None = None,
                confirm: bool = True) -> CheckReport:
    """Analyse a model's operator versions. ``target`` (an ai.onnx opset) adds a per-node verdict there.

    ``confirm`` runs onnx.checker on the re-stamped model to confirm the minimum (costs one checker run per
    try; the converters' ``--opset min`` search may turn it off and rely on its own export checks).
    """
    model, source = coerce_model(model_or_path)
    ext_note = None
    if confirm and external_locations(model):
        model, ext_note = _with_external_data(model, model_or_path)
        if ext_note:
            confirm = False
    imports = model_opsets(model)
    _require_known_opsets(imports, source)
    if target is not None:
        sx.require_opset(target, sx.DEFAULT_DOMAIN, "target opset")

    types, type_note = _value_types(model)
    notes = [n for n in (ext_note, type_note) if n]
    nodes = [n for g in iter_graphs(model.graph) for n in g.node]
    if model.functions:
        notes.append("nodes inside model-local functions (" + ", ".join(f.name for f in model.functions) +
                     ") are not judged")

    counts, custom, groups = _group_nodes(nodes, types)
    unknown = custom.pop("ai.onnx", {})

    stamper = _Stamper(model) if confirm else None
    usages, valid_by_domain = _judge(groups, counts, imports, types, target)
    default_ops = [u for u in usages if u.domain == sx.DEFAULT_DOMAIN]
    report = CheckReport(
        source=source, ir_version=int(model.ir_version), opset_imports=imports,
        opset=imports.get(sx.DEFAULT_DOMAIN), max_known_opset=sx.max_known_opset(),
        lower_bound=max((u.first_version for u in default_ops), default=None),
        min_opset=None, min_opsets={}, valid_opsets=valid_by_domain, confirmed=False,
        checker_at_own_opset=stamper.checker_error() if stamper else None, notes=notes, ops=usages, custom=custom,
        unknown_ops=unknown,
    )
    if unknown:  # no opset defines these ops, so no opset makes the model valid
        valid_by_domain[sx.DEFAULT_DOMAIN] = []
    for d, valid in valid_by_domain.items():
        report.min_opsets[d] = min(valid) if valid else None
    if confirm and report.checker_at_own_opset is None:
        assert stamper is not None
        report.confirmed = _confirm(stamper, report)
    elif confirm:
        report.notes.append("the model fails onnx.checker at its own opset, so the minimum is from schema "
                            "analysis only")
    report.min_opset = report.min_opsets.get(sx.DEFAULT_DOMAIN)
    if report.min_opset is not None:
        report.min_ir_version = onnx.helper.find_min_ir_version_for(
            [onnx.helper.make_opsetid("", report.min_opset)])
    if target is not None:
        _judge_target(stamper, report, target)
    return report


def _judge(groups: dict[tuple, onnx.NodeProto], counts: Counter, imports: dict[str, int],
           types: dict[str, str], target: int | None) -> tuple[list[OpUsage], dict[str, list[int]]]:
    per_op: dict[tuple[str, str], set[int]] = {}
    target_problems: dict[tuple[str, str], list[str]] = {}
    for (d, op, *_), node in groups.items():
        history = sx.lookup(op, d)
        assert history is not None
        top = sx.max_known_opset(d)
        verdict = {s.since_version: not node_problems(node, s, s.since_version, types) for s in history}
        valid = {v for v in range(1, top + 1)
                 if (s := sx.schema_at(op, v, d)) is not None and verdict[s.since_version]}
        key = (d, op)
        per_op[key] = per_op.get(key, set(range(1, top + 1))) & valid
        if target is not None and d == sx.DEFAULT_DOMAIN:
            problems = node_problems(node, sx.schema_at(op, target, d), target, types)
            target_problems.setdefault(key, [])
            target_problems[key] += [p for p in problems if p not in target_problems[key]]
    usages = []
    for (d, op), valid in sorted(per_op.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        history = sx.lookup(op, d)
        assert history is not None
        lo = min(valid) if valid else None
        reasons: list[str] = []
        if lo is not None and lo > 1:
            for sig, node in groups.items():
                if sig[:2] == (d, op):
                    for p in node_problems(node, sx.schema_at(op, lo - 1, d), lo - 1, types):
                        if p not in reasons:
                            reasons.append(p)
        own = imports.get(d)
        in_force = sx.schema_at(op, own, d) if own else None
        usages.append(OpUsage(op, d, counts[(d, op)], in_force.since_version if in_force else None,
                              history[0].since_version, sorted(valid), lo, reasons,
                              target_problems.get((d, op)) if target is not None and d == "" else None))
    by_domain: dict[str, list[int]] = {}
    for d in {d for d, _ in per_op} | ({sx.DEFAULT_DOMAIN} if sx.DEFAULT_DOMAIN in imports else set()):
        allowed = set(range(1, sx.max_known_opset(d) + 1))
        for (dd, _), valid in per_op.items():
            if dd == d:
                allowed &= valid
        by_domain[d] = sorted(allowed)
    return usages, by_domain


def _confirm(stamper: _Stamper, report: CheckReport) -> bool:
    """Move each domain's minimum up until onnx.checker accepts the re-stamped model."""
    ok = True
    for d, valid in report.valid_opsets.items():
        if d not in report.opset_imports or not valid:
            continue
        own = report.opset_imports[d]
        tried = 0
        for v in valid:
            if v == own:
                report.min_opsets[d] = v
                break
            if tried >= _MAX_CONFIRM_TRIES:
                report.notes.append(f"{sx.display_domain(d)}: stopped confirming after {tried} opsets the "
                                    "checker rejected; the minimum shown is unconfirmed")
                ok = False
                break
            tried += 1
            err = stamper.checker_error(d, v)
            if err is None:
                report.min_opsets[d] = v
                break
            report.notes.append(f"{sx.display_domain(d)} opset {v}: every node matches its schema but "
                                f"onnx.checker refuses the model: {err}")
        else:
            ok = False
    return ok


def unknown_op_problem(op: str, count: int) -> str:
    nodes = f"{count} node{'s' if count != 1 else ''}"
    return f"{op} ({nodes}): not an operator of the ai.onnx domain in onnx {onnx.__version__}"


def _judge_target(stamper: _Stamper | None, report: CheckReport, target: int) -> None:
    report.target = target
    problems = [unknown_op_problem(op, n) for op, n in sorted(report.unknown_ops.items())]
    for u in report.ops:
        if u.domain == sx.DEFAULT_DOMAIN and u.target_problems:
            problems += [f"{u.op} ({u.count} node{'s' if u.count != 1 else ''}): {p}" for p in u.target_problems]
    report.target_problems = problems
    if sx.DEFAULT_DOMAIN not in report.opset_imports:
        report.target_ok = not problems
        return
    if stamper is not None:
        report.target_checker = stamper.checker_error(sx.DEFAULT_DOMAIN, target)
    report.target_ok = not problems and (report.target_checker is None or report.checker_at_own_opset is not None)
