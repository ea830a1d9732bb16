"""`opsets convert`: validated up-conversion of zoo exports, readable failures, nothing written on failure."""

from __future__ import annotations

import numpy as np
import onnx
import onnx.version_converter
import pytest
from helpers.opsets import export_zoo, layernorm, relu, save
from onnx import TensorProto as T

from modelport.converters.opset_convert import convert_opset
from modelport.errors import ExportError, InputError, ValidationFailed
from modelport.opsets import check_model, max_known_opset
from modelport.opsets.convert import explain_failure
from modelport.opsets.feeds import graph_specs
from modelport.validators.compare import compare_arrays
from modelport.validators.inputs import generated_sets


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    d = tmp_path_factory.mktemp("zoo13")
    return {name: export_zoo(name, d / f"{name}.onnx", opset=13) for name in ("resnet50", "bert-small")}


def opset_of(path) -> int:
    return next(i.version for i in onnx.load(str(path), load_external_data=False).opset_import if i.domain == "")


@pytest.mark.parametrize("name, target", [("resnet50", 17), ("bert-small", 18)])
def test_convert_up_validates(exports, tmp_path, name, target):
    out = tmp_path / f"{name}-{target}.onnx"
    r = convert_opset(exports[name], target, out)
    assert out.is_file() and opset_of(out) == target
    assert r.checker == "ok" and r.onnxruntime == "ok" and r.compared and r.ok
    assert r.outputs and all(o.passed and o.max_abs <= 1e-5 for o in r.outputs)
    assert {c["op"] for c in r.ops_changed} >= {"Relu" if name == "resnet50" else "ReduceMean"}
    onnx.checker.check_model(str(out), full_check=True)


def test_resnet50_minimum_opset(exports):
    r = check_model(exports["resnet50"])
    # the exporter writes MaxPool's ceil_mode, which MaxPool-8 does not have
    assert r.min_opset == 10 and r.confirmed
    maxpool = next(u for u in r.ops if u.op == "MaxPool")
    assert any("ceil_mode" in w for w in maxpool.why_not_lower)


def test_down_conversion_failure_is_readable(tmp_path):
    src = save(relu(14), tmp_path / "relu14.onnx")
    out = tmp_path / "relu13.onnx"
    with pytest.raises(ExportError) as ei:
        convert_opset(src, 13, out)
    msg = str(ei.value)
    assert msg.startswith("cannot convert Relu down from opset 14 to 13")
    assert "no lower opset is reachable from 14" in msg
    assert "natively at opset 13" in msg and "Assertion" not in msg
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["relu14.onnx"]


def test_reachable_range_is_named(exports, tmp_path):
    up = tmp_path / "r17.onnx"
    convert_opset(exports["resnet50"], 17, up, compare=False)
    with pytest.raises(ExportError) as ei:
        convert_opset(up, 12, tmp_path / "r12.onnx")
    assert "Relu" in str(ei.value) and "the lowest opset reachable from 17 is 14" in str(ei.value)
    assert not (tmp_path / "r12.onnx").exists()


def test_op_that_did_not_exist_yet(tmp_path):
    with pytest.raises(ExportError) as ei:
        convert_opset(save(layernorm(), tmp_path / "ln.onnx"), 16, tmp_path / "ln16.onnx")
    assert "LayerNormalization does not exist before its first version (its first version is 17)" in str(ei.value)


def test_numeric_mismatch_is_refused(monkeypatch, tmp_path):
    """A converter that silently changes a weight must not get its output written."""
    from onnx import helper as h

    w = h.make_tensor("w", T.FLOAT, [4], [1.0, 2.0, 3.0, 4.0])
    m = h.make_model(h.make_graph([h.make_node("Mul", ["x", "w"], ["y"])], "g",
                                  [h.make_tensor_value_info("x", T.FLOAT, ["batch", 4])],
                                  [h.make_tensor_value_info("y", T.FLOAT, ["batch", 4])], [w]),
                     opset_imports=[h.make_opsetid("", 13)])
    src = save(m, tmp_path / "mul.onnx")
    real = onnx.version_converter.convert_version

    def perturbing(model, opset):
        out = real(model, opset)
        out.graph.initializer[0].float_data[2] += 1e-3
        return out

    monkeypatch.setattr(onnx.version_converter, "convert_version", perturbing)
    out = tmp_path / "mul14.onnx"
    with pytest.raises(ValidationFailed) as ei:
        convert_opset(src, 14, out)
    assert "output 'y'" in str(ei.value)
    assert not out.exists()


def test_same_opset_and_bad_targets(tmp_path):
    src = save(relu(14), tmp_path / "r.onnx")
    r = convert_opset(src, 14, tmp_path / "same.onnx")
    assert r.ok and any("already" in n for n in r.notes)
    with pytest.raises(InputError, match=f"1..{max_known_opset()}"):
        convert_opset(src, max_known_opset() + 1, tmp_path / "x.onnx")
    with pytest.raises(InputError, match="not an ONNX model"):
        (tmp_path / "t.onnx").write_text("hello")
        convert_opset(tmp_path / "t.onnx", 15, tmp_path / "y.onnx")
    assert not (tmp_path / "x.onnx").exists() and not (tmp_path / "y.onnx").exists()


def test_external_data_model_converts_to_one_file(tmp_path):
    from onnx import helper as h
    from onnx import numpy_helper

    w = numpy_helper.from_array(np.arange(1, 5, dtype=np.float32), "w")
    m = h.make_model(h.make_graph([h.make_node("Add", ["x", "w"], ["a"]), h.make_node("Relu", ["a"], ["y"])], "g",
                                  [h.make_tensor_value_info("x", T.FLOAT, ["b", 4])],
                                  [h.make_tensor_value_info("y", T.FLOAT, ["b", 4])], [w]),
                     opset_imports=[h.make_opsetid("", 14)])
    onnx.save(m, str(tmp_path / "m.onnx"), save_as_external_data=True, location="m.data", size_threshold=0)
    assert (tmp_path / "m.data").is_file()
    r = convert_opset(tmp_path / "m.onnx", 18, tmp_path / "out.onnx")
    assert r.ok
    out = onnx.load(str(tmp_path / "out.onnx"), load_external_data=False)
    assert out.graph.initializer[0].data_location == onnx.TensorProto.DEFAULT
    assert numpy_helper.to_array(out.graph.initializer[0]).tolist() == [1.0, 2.0, 3.0, 4.0]


def test_explain_failure_patterns():
    assert explain_failure("BaseConverter.h:66: adapter_lookup: Assertion `false` failed: No Adapter From "
                           "Version $11 for Gemm", 11, 9, 10).startswith(
        "cannot convert Gemm down from opset 11 to 10: onnx has no down-adapter for Gemm-11 (-> Gemm-9)")
    msg = explain_failure("No Adapter To Version $12 for Relu", 13, 12, 13)
    assert "cannot convert Relu down to opset 12: onnx has no adapter from Relu-13 to Relu-6" in msg
    assert "modelport convert --opset 12" in msg
    assert "first version is 17" in explain_failure("No Previous Version of LayerNormalization", 17, 15, 17)
    assert "something odd" in explain_failure("something odd", 13, 11, 13)


def test_feeds_are_seeded_and_consistent():
    from onnx import helper as h

    m = h.make_model(h.make_graph([h.make_node("Gather", ["t", "i"], ["y"])], "g",
                                  [h.make_tensor_value_info("t", T.FLOAT, ["n", 5]),
                                   h.make_tensor_value_info("i", T.INT64, ["n"])],
                                  [h.make_tensor_value_info("y", T.FLOAT, None)]))
    specs = graph_specs(m)
    a, b = generated_sets(specs, seed=3, profile="quick"), generated_sets(specs, seed=3, profile="quick")
    assert all(np.array_equal(x.feed[k], y.feed[k]) for x, y in zip(a, b, strict=True) for k in x.feed)
    assert a[0].feed["t"].shape == (2, 5) and a[0].feed["i"].shape == (2,)  # one size per symbol
    assert a[0].feed["i"].dtype == np.int64 and set(np.unique(a[0].feed["i"])) <= {0, 1}
    assert [s.name for s in a] == ["example", "negated", "batch-5"]  # "n" leads both inputs: a batch axis
    assert a[2].feed["t"].shape == (5, 5) and a[2].feed["i"].shape == (5,)


def test_compare_flags_only_real_mismatches():
    """opsets convert judges by the one rule (validators.compare): only elements beyond atol and rtol fail."""
    ref = np.array([1.0, 2.0, 1e6], dtype=np.float32)
    assert compare_arrays("y", ref, ref * np.float32(1 + 1e-7), 1e-5, 1e-5).passed
    bad = compare_arrays("y", ref, ref + np.array([0, 1e-3, 0], dtype=np.float32), 1e-5, 1e-5)
    assert not bad.passed and bad.mismatched == 1 and bad.max_abs == pytest.approx(1e-3, rel=1e-2)
    shape = compare_arrays("y", ref, ref[:2], 1e-5, 1e-5)
    assert not shape.passed and shape.failed_on == "shape"
