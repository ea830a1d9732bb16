"""Is one node valid against one schema version? And if not, why, in words.

This mirrors what ``OpSchema::Verify`` and strict type inference check (attribute names and types,
required attributes, input/output counts, missing required inputs, allowed types), but returns reasons a
user can act on instead of stopping at the first failure. ``check.py`` confirms its verdicts with
``onnx.checker`` itself.
"""

from __future__ import annotations

import onnx
import onnx.defs

_Option = onnx.defs.OpSchema.FormalParameterOption


def elem_type_name(elem_type: int) -> str | None:
    if elem_type == onnx.TensorProto.UNDEFINED:
        return None
    try:
        return onnx.TensorProto.DataType.Name(elem_type).lower()
    except ValueError:
        return None


def type_string(tp: onnx.TypeProto) -> str | None:
    """onnx.defs spelling of a value's type ('tensor(float)', 'seq(tensor(int64))'), None if unknown."""
    which = tp.WhichOneof("value")
    if which == "tensor_type":
        e = elem_type_name(tp.tensor_type.elem_type)
        return f"tensor({e})" if e else None
    if which == "sparse_tensor_type":
        e = elem_type_name(tp.sparse_tensor_type.elem_type)
        return f"sparse_tensor({e})" if e else None
    if which == "sequence_type":
        inner = type_string(tp.sequence_type.elem_type)
        return f"seq({inner})" if inner else None
    if which == "optional_type":
        inner = type_string(tp.optional_type.elem_type)
        return f"optional({inner})" if inner else None
    if which == "map_type":
        k = elem_type_name(tp.map_type.key_type)
        v = type_string(tp.map_type.value_type)
        return f"map({k}, {v})" if k and v else None
    return None


def short(t: str) -> str:
    return t[7:-1] if t.startswith("tensor(") else t


def _formal(params: list[onnx.defs.OpSchema.FormalParameter], i: int):
    if i < len(params):
        return params[i]
    if params and params[-1].option == _Option.Variadic:
        return params[-1]
    return None


def _check_values(kind: str, names: list[str], params, constraints: dict[str, set[str]],
                  types: dict[str, str], label: str) -> list[str]:
    out = []
    for i, name in enumerate(names):
        p = _formal(params, i)
        if p is None:
            continue
        if name == "":
            if p.option == _Option.Single:
                out.append(f"{kind} {i} ({p.name}) is required by {label} but left empty")
            continue
        t = types.get(name)
        if t is None:
            continue
        allowed = constraints.get(p.type_str, {p.type_str})
        if t not in allowed:
            out.append(f"{kind} {p.name} has type {short(t)}, which {label} does not allow "
                       f"({p.type_str}: {', '.join(sorted(short(a) for a in allowed))})")
    return out


def node_problems(node: onnx.NodeProto, schema: onnx.defs.OpSchema | None, opset: int,
                  types: dict[str, str]) -> list[str]:
    """Why ``node`` is invalid under ``schema`` (the schema in force at ``opset``); [] if it is valid.

    ``types`` maps value names to type strings; values missing from it are not type-checked.
    """
    if schema is None:
        return [f"{node.op_type} does not exist at opset {opset}"]
    label = f"{node.op_type}-{schema.since_version}"
    if schema.deprecated:
        return [f"{label} is deprecated (in force at opset {opset}); onnx rejects it"]
    out: list[str] = []
    spec = schema.attributes
    present = set()
    for a in node.attribute:
        present.add(a.name)
        if a.name not in spec:
            out.append(f"attribute {a.name} does not exist in {label}")
        elif a.ref_attr_name == "" and int(spec[a.name].type) != int(a.type):
            want = spec[a.name].type.name.lower()
            got = onnx.AttributeProto.AttributeType.Name(a.type).lower()
            out.append(f"attribute {a.name} is {got}, {label} expects {want}")
    for name, s in spec.items():
        if s.required and name not in present:
            out.append(f"{label} requires attribute {name}")
    n_in, n_out = len(node.input), len(node.output)
    if not schema.min_input <= n_in <= schema.max_input:
        out.append(f"{n_in} inputs given, {label} takes {_arity(schema.min_input, schema.max_input)}")
    if not schema.min_output <= n_out <= schema.max_output:
        out.append(f"{n_out} outputs given, {label} produces {_arity(schema.min_output, schema.max_output)}")
    constraints = {c.type_param_str: set(c.allowed_type_strs) for c in schema.type_constraints}
    out += _check_values("input", list(node.input), list(schema.inputs), constraints, types, label)
    out += _check_values("output", list(node.output), list(schema.outputs), constraints, types, label)
    return out


def _arity(lo: int, hi: int) -> str:
    if lo == hi:
        return str(lo)
    if hi >= 2**31 - 1:
        return f"at least {lo}"
    return f"{lo} to {hi}"
