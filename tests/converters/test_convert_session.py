"""convert judges each artifact once per input set: the post-export checks, the gate and the full validation
share one validation session, so no set runs twice (and the gate judges exactly as the full validation)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
from helpers.convert import manifest, run_cli
from onnx import TensorProto as T
from onnx import helper as h

from modelport.runners.ort_runner import OrtRunner
from modelport.runners.torch_runners import TorchModuleRunner


def test_each_artifact_runs_each_input_set_once(tmp_path: Path, capsys, monkeypatch) -> None:
    calls: Counter[str] = Counter()

    def counting(cls: type, kind: str | None = None):
        real = cls.infer

        def infer(self, feed):
            calls[kind or self.kind] += 1
            return real(self, feed)

        monkeypatch.setattr(cls, "infer", infer)

    counting(OrtRunner, "onnx")
    counting(TorchModuleRunner)
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--to", "onnx", "--to", "torchscript",
                           "--out", tmp_path / "run")
    assert code == 0, err
    report = json.loads((tmp_path / "run" / "validation.json").read_text())
    names = [s["name"] for s in report["input_sets"]]
    assert names == ["example", "negated", "batch-1", "batch-5"]
    for art in report["artifacts"]:
        assert [s["input_set"] for s in art["input_sets"]] == names
    # one run per set for each artifact; the eager model once per set plus the determinism check
    assert calls == {"onnx": len(names), "torchscript": len(names), "eager": len(names) + 1}, calls
    gate = manifest(tmp_path / "run")["artifacts"][0]["extra"]["equivalence"]
    assert gate["profile"] == "quick" and [s["input_set"] for s in gate["sets"]] == ["example", "negated", "batch-5"]
    # the gate's results are the validation's: the same numbers for the same sets
    onnx_sets = {s["input_set"]: s for s in report["artifacts"][0]["input_sets"]}
    for s in gate["sets"]:
        assert s["max_abs"] == max(o["max_abs"] for o in onnx_sets[s["input_set"]]["outputs"])


def test_opsets_convert_accepts_infinities_the_original_produces_too(tmp_path: Path, capsys) -> None:
    """Log(Relu(x)) is -inf wherever x <= 0, in the original and the conversion alike: the same model."""
    m = h.make_model(h.make_graph([h.make_node("Relu", ["x"], ["r"]), h.make_node("Log", ["r"], ["y"])], "g",
                                  [h.make_tensor_value_info("x", T.FLOAT, ["batch", 4])],
                                  [h.make_tensor_value_info("y", T.FLOAT, ["batch", 4])]),
                     opset_imports=[h.make_opsetid("", 14)])
    src = tmp_path / "log.onnx"
    onnx.save(m, str(src))
    code, out, err = run_cli(capsys, "opsets", "convert", src, "--opset", "18", "--out", tmp_path / "o.onnx", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["ok"] and data["input_sets"] == ["example", "negated", "batch-5"]
    assert all(o["nonfinite_ref"] > 0 and o["passed"] for o in data["outputs"])
    assert np.isneginf(OrtRunner(str(tmp_path / "o.onnx")).infer({"x": -np.ones((1, 4), np.float32)})["y"]).all()


def test_opsets_convert_refuses_a_conversion_that_loses_an_infinity(tmp_path: Path, capsys, monkeypatch) -> None:
    """x / w with a zero in w is +-inf in one column; a converter that turns that zero into 1e-30 makes the
    column finite. The old opsets comparison divided inf by inf (NaN) and let it pass; the one rule fails it."""
    import onnx.version_converter

    w = h.make_tensor("w", T.FLOAT, [4], [1.0, 0.0, 2.0, 4.0])
    m = h.make_model(h.make_graph([h.make_node("Div", ["x", "w"], ["y"])], "g",
                                  [h.make_tensor_value_info("x", T.FLOAT, ["batch", 4])],
                                  [h.make_tensor_value_info("y", T.FLOAT, ["batch", 4])], [w]),
                     opset_imports=[h.make_opsetid("", 13)])
    src = tmp_path / "div.onnx"
    onnx.save(m, str(src))
    real = onnx.version_converter.convert_version

    def perturbing(model, opset):
        out = real(model, opset)
        out.graph.initializer[0].float_data[1] = 1e-30
        return out

    monkeypatch.setattr(onnx.version_converter, "convert_version", perturbing)
    code, _, err = run_cli(capsys, "opsets", "convert", src, "--opset", "14", "--out", tmp_path / "o.onnx")
    assert code == 4 and "computes different values for output 'y'" in err and "non-finite" in err, err
    assert not (tmp_path / "o.onnx").exists()
