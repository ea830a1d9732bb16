"""What changed in an operator's schema from one version to the next, and between two opsets.

Every change is computed by comparing two ``onnx.defs.OpSchema`` objects field by field. Where onnx
records a change only in prose (ArgMin-11 allowing a negative ``axis`` is one), the schema fields are
identical and all we can honestly report is that a description changed; such items carry
``derived="text"`` so a reader knows they come from documentation, not from a structural field.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import onnx
import onnx.defs
from onnx import helper

from modelport.errors import InputError
from modelport.opsets import schemas as sx

_OPTION = {
    onnx.defs.OpSchema.FormalParameterOption.Single: "required",
    onnx.defs.OpSchema.FormalParameterOption.Optional: "optional",
    onnx.defs.OpSchema.FormalParameterOption.Variadic: "variadic",
}


@dataclass(frozen=True)
class Change:
    """One difference between a schema version and the one before it."""

    kind: str  # e.g. attribute_added, input_removed, types_added, deprecated, introduced
    subject: str  # the attribute, input, output or type constraint concerned ('' for the op itself)
    detail: str  # human-readable, one line
    derived: str = "schema"  # "schema": from a structural field; "text": only a description changed

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "subject": self.subject, "detail": self.detail, "derived": self.derived}


@dataclass(frozen=True)
class VersionChange:
    """Everything that differs between ``op``'s schema at ``version`` and at ``previous``."""

    op: str
    domain: str
    version: int
    previous: int | None
    items: tuple[Change, ...]
    deprecated: bool = False

    @property
    def structural(self) -> bool:
        """True if some schema field (not only prose) changed."""
        return any(c.derived == "schema" for c in self.items)

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "domain": sx.display_domain(self.domain), "version": self.version,
                "previous": self.previous, "deprecated": self.deprecated, "structural": self.structural,
                "items": [c.to_dict() for c in self.items]}


@dataclass(frozen=True)
class OpHistory:
    op: str
    domain: str
    versions: tuple[int, ...]
    changes: tuple[VersionChange, ...]  # one per version, the first one describes the introduction

    @property
    def deprecated_since(self) -> int | None:
        last = self.changes[-1]
        return last.version if last.deprecated else None

    def attributes_at(self, version: int) -> list[str]:
        s = sx.schema_at(self.op, version, self.domain)
        return sorted(s.attributes) if s else []

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "domain": sx.display_domain(self.domain), "versions": list(self.versions),
                "deprecated_since": self.deprecated_since, "max_known_opset": sx.max_known_opset(self.domain),
                "changes": [c.to_dict() for c in self.changes]}


def _clean(text: str) -> str:
    return " ".join((text or "").split())


def format_attribute_default(attr: onnx.defs.OpSchema.Attribute) -> str | None:
    """The default as text, or None when the attribute has none (required, or optional without default)."""
    proto = attr.default_value
    if proto is None or proto.type == onnx.AttributeProto.UNDEFINED:
        return None
    value = helper.get_attribute_value(proto)
    if isinstance(value, bytes):
        return repr(value.decode("utf-8", "replace"))
    if isinstance(value, onnx.TensorProto):
        return f"tensor({onnx.TensorProto.DataType.Name(value.data_type).lower()}, dims={list(value.dims)})"
    if isinstance(value, list):
        return "[" + ", ".join(v.decode() if isinstance(v, bytes) else repr(v) for v in value) + "]"
    return repr(value)


def _attr_desc(a: onnx.defs.OpSchema.Attribute) -> str:
    kind = a.type.name.lower()
    if a.required:
        return f"{kind}, required"
    d = format_attribute_default(a)
    return f"{kind}, default {d}" if d is not None else f"{kind}, optional without default"


def _param_desc(p: onnx.defs.OpSchema.FormalParameter, pos: int, constraints: dict[str, list[str]]) -> str:
    opt = _OPTION.get(p.option, str(p.option))
    types = constraints.get(p.type_str)
    t = f"{p.type_str} in {{{', '.join(sx.type_strings(types))}}}" if types else p.type_str
    extra = ""
    if p.option == onnx.defs.OpSchema.FormalParameterOption.Variadic:
        extra = f", min {p.min_arity}" + ("" if p.is_homogeneous else ", heterogeneous")
    return f"position {pos}, {opt}{extra}, {t}"


def _constraints(s: onnx.defs.OpSchema) -> dict[str, list[str]]:
    return {c.type_param_str: sorted(c.allowed_type_strs) for c in s.type_constraints}


def _introduction(s: onnx.defs.OpSchema) -> list[Change]:
    cons = _constraints(s)
    ins = ", ".join(p.name for p in s.inputs) or "none"
    outs = ", ".join(p.name for p in s.outputs) or "none"
    attrs = ", ".join(sorted(s.attributes)) or "none"
    items = [Change("introduced", "", f"introduced: inputs ({ins}); outputs ({outs}); attributes ({attrs})")]
    for name, types in cons.items():
        items.append(Change("type_constraint", name, f"{name} in {{{', '.join(sx.type_strings(types))}}}"))
    if s.deprecated:
        items.append(Change("deprecated", "", f"schema version {s.since_version} is marked deprecated "
                            "(onnx's checker rejects it)"))
    return items


def _compare_attributes(prev: onnx.defs.OpSchema, cur: onnx.defs.OpSchema) -> list[Change]:
    out: list[Change] = []
    pa, ca = prev.attributes, cur.attributes
    for name in sorted(set(ca) - set(pa)):
        out.append(Change("attribute_added", name, f"attribute {name} added ({_attr_desc(ca[name])})"))
    for name in sorted(set(pa) - set(ca)):
        out.append(Change("attribute_removed", name, f"attribute {name} removed (was {_attr_desc(pa[name])})"))
    for name in sorted(set(pa) & set(ca)):
        a, b = pa[name], ca[name]
        if a.type != b.type:
            out.append(Change("attribute_type_changed", name,
                              f"attribute {name} type {a.type.name.lower()} -> {b.type.name.lower()}"))
        if a.required != b.required:
            out.append(Change("attribute_required_changed", name,
                              f"attribute {name} {'now required' if b.required else 'no longer required'}"))
        da, db = format_attribute_default(a), format_attribute_default(b)
        if da != db:
            out.append(Change("attribute_default_changed", name,
                              f"attribute {name} default {da or 'none'} -> {db or 'none'}"))
        if _clean(a.description) != _clean(b.description):
            out.append(Change("attribute_description_changed", name,
                              f"attribute {name}: description changed (semantics may differ; see onnx docs)",
                              derived="text"))
    return out


def _compare_params(kind: str, prev: onnx.defs.OpSchema, cur: onnx.defs.OpSchema) -> list[Change]:
    out: list[Change] = []
    plist = list(prev.inputs if kind == "input" else prev.outputs)
    clist = list(cur.inputs if kind == "input" else cur.outputs)
    pc, cc = _constraints(prev), _constraints(cur)
    pmap = {p.name: (i, p) for i, p in enumerate(plist)}
    cmap = {p.name: (i, p) for i, p in enumerate(clist)}
    for name in [p.name for p in clist if p.name not in pmap]:
        i, p = cmap[name]
        out.append(Change(f"{kind}_added", name, f"{kind} {name} added ({_param_desc(p, i, cc)})"))
    for name in [p.name for p in plist if p.name not in cmap]:
        i, p = pmap[name]
        out.append(Change(f"{kind}_removed", name, f"{kind} {name} removed (was {_param_desc(p, i, pc)})"))
    for name in [p.name for p in clist if p.name in pmap]:
        (i, a), (j, b) = pmap[name], cmap[name]
        diffs = []
        if i != j:
            diffs.append(f"position {i} -> {j}")
        if a.option != b.option:
            diffs.append(f"{_OPTION.get(a.option)} -> {_OPTION.get(b.option)}")
        if a.type_str != b.type_str:
            diffs.append(f"type {a.type_str} -> {b.type_str}")
        if a.option == b.option == onnx.defs.OpSchema.FormalParameterOption.Variadic:
            if a.min_arity != b.min_arity:
                diffs.append(f"min arity {a.min_arity} -> {b.min_arity}")
            if a.is_homogeneous != b.is_homogeneous:
                diffs.append("now " + ("homogeneous" if b.is_homogeneous else "heterogeneous"))
        if diffs:
            out.append(Change(f"{kind}_changed", name, f"{kind} {name}: " + "; ".join(diffs)))
    return out


def _compare_types(prev: onnx.defs.OpSchema, cur: onnx.defs.OpSchema) -> list[Change]:
    out: list[Change] = []
    pc, cc = _constraints(prev), _constraints(cur)
    for name in sorted(set(cc) - set(pc)):
        out.append(Change("type_constraint_added", name,
                          f"type constraint {name} added: {{{', '.join(sx.type_strings(cc[name]))}}}"))
    for name in sorted(set(pc) - set(cc)):
        out.append(Change("type_constraint_removed", name, f"type constraint {name} removed"))
    for name in sorted(set(pc) & set(cc)):
        added = sorted(set(cc[name]) - set(pc[name]))
        removed = sorted(set(pc[name]) - set(cc[name]))
        if added:
            out.append(Change("types_added", name, f"{name} widened: + {', '.join(sx.type_strings(added))}"))
        if removed:
            out.append(Change("types_removed", name, f"{name} narrowed: - {', '.join(sx.type_strings(removed))}"))
    return out


def compare_schemas(prev: onnx.defs.OpSchema, cur: onnx.defs.OpSchema) -> list[Change]:
    """Every difference between two consecutive schema versions of one op."""
    out = _compare_attributes(prev, cur)
    out += _compare_params("input", prev, cur)
    out += _compare_params("output", prev, cur)
    out += _compare_types(prev, cur)
    if cur.deprecated and not prev.deprecated:
        out.append(Change("deprecated", "", f"deprecated at opset {cur.since_version}: onnx no longer accepts "
                          f"this op from this opset on"))
    elif prev.deprecated and not cur.deprecated:
        out.append(Change("undeprecated", "", f"version {prev.since_version} was deprecated; "
                          f"{cur.since_version} replaces it"))
    if prev.has_function != cur.has_function:
        out.append(Change("function_body", "", "now defined by a function body" if cur.has_function
                          else "no longer defined by a function body"))
    structural = any(c.derived == "schema" for c in out)
    if _clean(prev.doc) != _clean(cur.doc):
        out.append(Change("doc_changed", "", "operator description changed", derived="text"))
    if not structural:
        out.append(Change("no_structural_change", "",
                          "no attribute, input, output or type difference in the schema; the change is "
                          "described only in onnx's documentation text", derived="text"))
    return out


@functools.cache
def _history(op: str, domain: str) -> OpHistory:
    versions = sx.schemas(op, domain)
    changes = []
    prev = None
    for s in versions:
        items = _introduction(s) if prev is None else compare_schemas(prev, s)
        changes.append(VersionChange(op, domain, s.since_version, prev.since_version if prev else None,
                                     tuple(items), deprecated=bool(s.deprecated)))
        prev = s
    return OpHistory(op, domain, tuple(s.since_version for s in versions), tuple(changes))


def op_history(op: str, domain: str | None = None) -> OpHistory:
    """Every schema version of ``op`` with what changed at each; InputError for unknown ops/domains."""
    d = sx.require_domain(domain)
    sx.schemas(op, d)  # raises a readable error for an unknown op
    return _history(op, d)


@dataclass(frozen=True)
class OpsetDiff:
    """Operators whose schema changed in the opset range (start, end], per domain."""

    start: int
    end: int
    ranges: dict[str, tuple[int, int]]  # domain -> (start, end) in that domain's own opset numbers
    added: tuple[VersionChange, ...] = field(default=())
    changed: tuple[VersionChange, ...] = field(default=())
    removed: tuple[VersionChange, ...] = field(default=())

    @property
    def ops(self) -> set[tuple[str, str]]:
        """(domain, op) of every operator with a since_version in the range."""
        return {(c.domain, c.op) for c in self.added + self.changed + self.removed}

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start, "end": self.end,
            "ranges": {sx.display_domain(d): list(r) for d, r in self.ranges.items()},
            "added": [c.to_dict() for c in self.added],
            "changed": [c.to_dict() for c in self.changed],
            "removed": [c.to_dict() for c in self.removed],
        }


def diff(start: int, end: int, domains: list[str] | None = None) -> OpsetDiff:
    """Schema changes in (start, end] of ai.onnx, and of ai.onnx.ml at the versions released alongside.

    ``start`` may be 0: (0, end] lists every operator defined up to ``end`` as added.

    ``start``/``end`` are ai.onnx opsets unless ``domains`` is exactly one domain, in which case they are
    that domain's own opset numbers.
    """
    if domains is None:
        doms = [sx.DEFAULT_DOMAIN, sx.ML_DOMAIN]
        sx.require_opset(start, sx.DEFAULT_DOMAIN, "start opset", lowest=0)
        sx.require_opset(end, sx.DEFAULT_DOMAIN, "end opset")
        ml_start = sx.ml_opset_for(start) if start > 0 else 0
        ranges = {sx.DEFAULT_DOMAIN: (start, end), sx.ML_DOMAIN: (ml_start, sx.ml_opset_for(end))}
    else:
        doms = [sx.require_domain(d) for d in domains]
        for d in doms:
            sx.require_opset(start, d, "start opset", lowest=0)
            sx.require_opset(end, d, "end opset")
        ranges = {d: (start, end) for d in doms}
    if start > end:
        raise InputError(f"start opset {start} is above end opset {end}", "give the lower opset first")
    added, changed, removed = [], [], []
    for d in doms:
        lo, hi = ranges[d]
        for op in sx.ops(d):
            h = _history(op, d)
            for i, c in enumerate(h.changes):
                if not lo < c.version <= hi:
                    continue
                if i == 0:
                    added.append(c)
                elif c.deprecated and not h.changes[i - 1].deprecated:
                    removed.append(c)
                else:
                    changed.append(c)
    return OpsetDiff(start, end, ranges, tuple(added), tuple(changed), tuple(removed))
