"""`opsets check`: a model's true minimum opset and per-node validity, checked against onnx.checker."""

from __future__ import annotations

import onnx
import onnx.checker
import pytest
from helpers.opsets import (
    argmin,
    export_zoo,
    layernorm,
    relu,
    save,
    split_attribute,
    split_input,
    split_num_outputs,
    with_custom_op,
)
from onnx import TensorProto as T

from modelport.errors import InputError
from modelport.opsets import check_model, max_known_opset


def restamped(m: onnx.ModelProto, opset: int) -> onnx.ModelProto:
    c = onnx.ModelProto()
    c.CopyFrom(m)
    for imp in c.opset_import:
        if imp.domain in ("", "ai.onnx"):
            imp.version = opset
    return c


def checker_accepts(m: onnx.ModelProto) -> bool:
    try:
        onnx.checker.check_model(m, full_check=True)
    except Exception:  # noqa: BLE001 - any checker/inference failure means "not valid"
        return False
    return True


MODELS = {
    "argmin": (lambda: argmin(), 1),
    "argmin_select_last_index": (lambda: argmin(select_last_index=1), 12),
    "argmin_bf16": (lambda: argmin(dtype=T.BFLOAT16), 13),
    "relu_bf16": (lambda: relu(dtype=T.BFLOAT16), 13),
    "split_num_outputs": (split_num_outputs, 18),
    "split_input": (split_input, 13),
    "relu": (lambda: relu(), 1),
    "layernorm": (layernorm, 17),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_min_opset(name):
    build, expected = MODELS[name]
    m = build()
    r = check_model(m)
    assert r.min_opset == expected
    assert r.confirmed
    # independent confirmation with onnx.checker: valid at the minimum, invalid just below it
    assert checker_accepts(restamped(m, expected))
    if expected > 1:
        assert not checker_accepts(restamped(m, expected - 1))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_valid_opsets_equal_what_the_checker_accepts(name):
    m = MODELS[name][0]()
    r = check_model(m, confirm=False)
    accepted = [v for v in range(1, max_known_opset() + 1) if checker_accepts(restamped(m, v))]
    assert r.valid_opsets[""] == accepted


def test_attributes_count_not_just_first_since_version():
    r = check_model(argmin(select_last_index=1))
    assert r.lower_bound == 1 and r.min_opset == 12
    (usage,) = r.ops
    assert usage.op == "ArgMin" and usage.in_force == 13 and usage.first_version == 1
    assert any("select_last_index" in w and "ArgMin-11" in w for w in usage.why_not_lower)


def test_removed_attribute_bounds_the_range_from_above():
    r = check_model(split_attribute())
    assert max(r.valid_opsets[""]) == 12  # Split-13 dropped the 'split' attribute


def test_no_single_opset_fits():
    a, b = split_attribute(), split_num_outputs()
    a.graph.node.extend(b.graph.node)
    a.graph.node[1].input[0] = "x"
    a.graph.node[1].output[:] = ["c", "d"]
    r = check_model(a, confirm=False)
    assert r.min_opset is None and r.valid_opsets[""] == []


@pytest.mark.parametrize("build, target, needle", [
    (lambda: argmin(select_last_index=1), 11, "attribute select_last_index does not exist in ArgMin-11"),
    (split_num_outputs, 17, "attribute num_outputs does not exist in Split-13"),
    (lambda: argmin(dtype=T.BFLOAT16), 12, "input data has type bfloat16, which ArgMin-12 does not allow"),
    (layernorm, 16, "LayerNormalization does not exist at opset 16"),
    (split_input, 12, "2 inputs given, Split-11 takes 1"),
])
def test_target_says_why_not(build, target, needle):
    r = check_model(build(), target=target)
    assert r.target_ok is False
    assert any(needle in p for p in r.target_problems), r.target_problems
    assert r.target_checker  # onnx.checker agrees that the target is invalid


def test_target_valid():
    r = check_model(argmin(select_last_index=1), target=12)
    assert r.target_ok is True and r.target_problems == [] and r.target_checker is None


def test_custom_domains_are_listed_not_judged():
    r = check_model(with_custom_op())
    assert r.custom == {"com.microsoft": {"FusedGelu": 1}}
    assert [u.op for u in r.ops] == ["Relu"]
    assert r.opset_imports["com.microsoft"] == 1


def test_reports_ir_version_and_accepts_path(tmp_path):
    m = argmin(select_last_index=1)
    p = save(m, tmp_path / "a.onnx")
    r = check_model(p)
    assert r.ir_version == m.ir_version
    assert r.min_opset == 12 and r.to_dict()["min_opset"] == 12
    assert r.min_ir_version == onnx.helper.find_min_ir_version_for([onnx.helper.make_opsetid("", 12)])


def test_zoo_bert_small_export(tmp_path):
    p = export_zoo("bert-small", tmp_path / "bert13.onnx", opset=13)
    m = onnx.load(str(p))
    r = check_model(p)
    assert r.confirmed and r.opset == 13
    # Unsqueeze takes its axes as an input from 13 on, so 13 is the floor even though the naive bound is lower
    assert r.lower_bound < r.min_opset == 13
    assert any(u.op == "Unsqueeze" and u.min_opset == 13 for u in r.ops)
    accepted = [v for v in range(1, max_known_opset() + 1) if checker_accepts(restamped(m, v))]
    assert r.valid_opsets[""] == accepted


# --- bad input ---------------------------------------------------------------------------------------------

def _external(tmp_path, location: str, create: bytes | None):
    m = relu()
    init = onnx.helper.make_tensor("w", T.FLOAT, [4], [1.0, 2.0, 3.0, 4.0])
    init.ClearField("float_data")
    init.data_location = onnx.TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", "16")):
        e = init.external_data.add()
        e.key, e.value = k, v
    m.graph.initializer.append(init)
    d = tmp_path / "model"
    d.mkdir()
    if create is not None:
        target = (d / location)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(create)
    return save(m, d / "m.onnx")


def test_external_data_inside_folder_is_accepted(tmp_path):
    p = _external(tmp_path, "w.bin", b"\0" * 16)
    r = check_model(p)
    assert r.min_opset == 1 and r.confirmed and not r.notes


@pytest.mark.parametrize("location, create, needle", [
    ("w.bin", None, "is missing"),
    ("../secret.bin", b"\0" * 16, "outside the model's folder"),
    ("w.bin", b"\0" * 4, "needs bytes 0..16"),
])
def test_bad_external_data(tmp_path, location, create, needle):
    p = _external(tmp_path, location, create)
    with pytest.raises(InputError) as ei:
        check_model(p)
    assert needle in str(ei.value)


def test_not_onnx(tmp_path):
    for content in (b"this is not a model\n", b"", b"\x08\x96\x01garbage\xff\xff"):
        p = tmp_path / "x.onnx"
        p.write_bytes(content)
        with pytest.raises(InputError) as ei:
            check_model(p)
        assert "not an ONNX model" in str(ei.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        check_model(tmp_path / "nope.onnx")
    with pytest.raises(InputError, match="is not a file"):
        check_model(tmp_path)


def test_opset_beyond_known(tmp_path):
    m = relu()
    m.opset_import[0].version = max_known_opset() + 5
    with pytest.raises(InputError, match=f"knows only up to {max_known_opset()}"):
        check_model(save(m, tmp_path / "future.onnx"))
    with pytest.raises(InputError, match=f"1..{max_known_opset()}"):
        check_model(relu(), target=max_known_opset() + 1)
