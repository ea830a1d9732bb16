"""`opsets show` / `diff` answers, checked against onnx.defs itself for every operator."""

from __future__ import annotations

import onnx
import onnx.defs
import pytest

from modelport.errors import InputError
from modelport.opsets import diff, max_known_opset, op_history
from modelport.opsets import schemas as sx

ALL_DEFAULT_OPS = sorted({s.name for s in onnx.defs.get_all_schemas_with_history() if s.domain == ""})


def walk_versions(op: str, domain: str = "") -> list[int]:
    """since_versions reached by walking onnx.defs.get_schema downward from the newest opset."""
    out = []
    v = onnx.defs.C.schema_version_map()[domain][1]
    while v >= 1:
        try:
            s = onnx.defs.get_schema(op, v, domain)
        except onnx.defs.SchemaError:
            break
        out.append(s.since_version)
        v = s.since_version - 1
    return sorted(out)


def items(change, kind: str) -> set[str]:
    return {i.subject for i in change.items if i.kind == kind}


def test_argmin_history():
    h = op_history("ArgMin")
    assert h.versions == (1, 11, 12, 13)
    by_v = {c.version: c for c in h.changes}
    # 11: negative axis is documented only in prose; we report it as a description change, not a schema one
    assert not by_v[11].structural
    assert "axis" in items(by_v[11], "attribute_description_changed")
    assert all(i.derived == "text" for i in by_v[11].items)
    assert items(by_v[12], "attribute_added") == {"select_last_index"}
    added_types = [i.detail for i in by_v[13].items if i.kind == "types_added"]
    assert len(added_types) == 1 and "bfloat16" in added_types[0]
    assert h.to_dict()["versions"] == [1, 11, 12, 13]


def test_split_history():
    h = op_history("Split")
    assert h.versions == (1, 2, 11, 13, 18)
    by_v = {c.version: c for c in h.changes}
    assert items(by_v[13], "attribute_removed") == {"split"}
    assert items(by_v[13], "input_added") == {"split"}
    assert items(by_v[18], "attribute_added") == {"num_outputs"}


def test_resize_history():
    h = op_history("Resize")
    assert h.versions == (10, 11, 13, 18, 19)
    by_v = {c.version: c for c in h.changes}
    assert {"coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a"} <= items(by_v[11], "attribute_added")
    assert {"roi", "sizes"} <= items(by_v[11], "input_added")
    assert {"antialias", "axes", "keep_aspect_ratio_policy"} == items(by_v[18], "attribute_added")
    changed = {i.subject: i.detail for i in by_v[13].items if i.kind == "input_changed"}
    assert "required -> optional" in changed["roi"]


def test_ml_domain_history():
    h = op_history("LabelEncoder", "ai.onnx.ml")
    assert h.versions == tuple(walk_versions("LabelEncoder", "ai.onnx.ml"))
    by_v = {c.version: c for c in h.changes}
    assert "keys_tensor" in items(by_v[4], "attribute_added")
    assert h.to_dict()["domain"] == "ai.onnx.ml"


def test_deprecation_is_reported():
    h = op_history("Upsample")
    assert h.deprecated_since == 10
    assert any(i.kind == "deprecated" for i in h.changes[-1].items)


@pytest.mark.parametrize("op", ALL_DEFAULT_OPS)
def test_every_op_matches_onnx_defs(op):
    h = op_history(op)
    assert list(h.versions) == walk_versions(op)
    for prev_v, change in zip((None, *h.versions), h.changes, strict=False):
        cur = onnx.defs.get_schema(op, change.version, "")
        assert h.attributes_at(change.version) == sorted(cur.attributes)
        assert change.deprecated == bool(cur.deprecated)
        if prev_v is None:
            continue
        prev = onnx.defs.get_schema(op, prev_v, "")
        assert items(change, "attribute_added") == set(cur.attributes) - set(prev.attributes)
        assert items(change, "attribute_removed") == set(prev.attributes) - set(cur.attributes)
        assert items(change, "input_added") == {p.name for p in cur.inputs} - {p.name for p in prev.inputs}
        assert items(change, "input_removed") == {p.name for p in prev.inputs} - {p.name for p in cur.inputs}
        assert items(change, "output_added") == {p.name for p in cur.outputs} - {p.name for p in prev.outputs}
        pc = {c.type_param_str: set(c.allowed_type_strs) for c in prev.type_constraints}
        cc = {c.type_param_str: set(c.allowed_type_strs) for c in cur.type_constraints}
        assert items(change, "types_added") == {k for k in pc.keys() & cc.keys() if cc[k] - pc[k]}
        assert items(change, "types_removed") == {k for k in pc.keys() & cc.keys() if pc[k] - cc[k]}
        # a version with no structural difference must say so, never pretend
        assert change.structural or any(i.kind == "no_structural_change" for i in change.items)


def test_diff_equals_ops_with_a_since_version_in_range():
    versions = {op: walk_versions(op) for op in ALL_DEFAULT_OPS}
    top = max_known_opset()
    for a in range(0, top + 1):  # 0: (0, b] lists every operator defined up to b
        for b in range(max(a, 1), top + 1):
            d = diff(a, b, [""])
            expected = {op for op, vs in versions.items() if any(a < v <= b for v in vs)}
            assert {op for _, op in d.ops} == expected, (a, b)
            assert {c.op for c in d.added} == {op for op, vs in versions.items() if a < vs[0] <= b}


def test_diff_17_18():
    d = diff(17, 18)
    changed = {c.op for c in d.changed}
    reduce_ops = {op for op in ALL_DEFAULT_OPS if op.startswith("Reduce") and 18 in walk_versions(op)}
    assert {"ReduceMean", "ReduceMax", "ReduceL2"} <= reduce_ops <= changed
    assert "Split" in changed and "Resize" in changed
    assert "ReduceSum" not in changed  # it changed at 13, not 18
    assert {c.op for c in d.added} >= {"Mish", "Col2Im"}
    split = next(c for c in d.changed if c.op == "Split")
    assert items(split, "attribute_added") == {"num_outputs"}


def test_diff_removed_lists_deprecations():
    d = diff(9, 11, [""])
    assert {c.op for c in d.removed} == {"Upsample", "Scatter"}


def test_diff_includes_ml_at_matching_release():
    d = diff(15, 16)
    assert d.ranges["ai.onnx.ml"] == (2, 3)
    assert any(c.domain == "ai.onnx.ml" for c in d.changed + d.added)


def test_domain_spellings():
    assert op_history("Relu", "ai.onnx").versions == op_history("Relu").versions


@pytest.mark.parametrize("call, needle", [
    (lambda: op_history("NoSuchOp"), "no operator 'NoSuchOp'"),
    (lambda: op_history("relu"), "did you mean Relu"),
    (lambda: op_history("Relu", "com.example"), "unknown operator domain"),
    (lambda: diff(1, max_known_opset() + 1), f"1..{max_known_opset()}"),
    (lambda: diff(13, 11), "above end opset"),
])
def test_bad_input(call, needle):
    with pytest.raises(InputError) as ei:
        call()
    assert needle in str(ei.value) and "\n" not in str(ei.value)


def test_schema_index_is_consistent_with_get_schema():
    for op in ("Relu", "Split", "Resize"):
        for v in range(1, max_known_opset() + 1):
            s = sx.schema_at(op, v)
            try:
                expected = onnx.defs.get_schema(op, v, "").since_version
            except onnx.defs.SchemaError:
                expected = None
            assert (s.since_version if s else None) == expected
