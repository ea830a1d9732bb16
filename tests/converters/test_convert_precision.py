"""convert --precision fp16|int8: separate ONNX artifacts, recorded, gated by task-metric agreement with fp32."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers.convert import manifest, run_cli

from modelport import zoo
from modelport.converters.precision import calibration_set, output_layers, row_digests
from modelport.runners import load_runner
from modelport.validators.inputs import GATE_SEED_OFFSET, gate_batches, generated_sets

PRECISIONS = ("--precision", "fp32", "--precision", "fp16", "--precision", "int8")


def test_fp16_and_int8_are_separate_recorded_artifacts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--out", out, *PRECISIONS, "--quality", "0.9", "-q")
    assert code == 0, err
    arts = {a["id"]: a for a in manifest(out)["artifacts"]}
    assert set(arts) == {"onnx-opset17", "onnx-opset17-fp16", "onnx-opset17-int8"}
    fp16 = arts["onnx-opset17-fp16"]["extra"]["precision"]
    assert fp16["keep_io_types"] and "onnxconverter-common" in fp16["library"] and fp16["op_block_list"]
    int8 = arts["onnx-opset17-int8"]["extra"]["precision"]
    assert (int8["mode"], int8["format"], int8["per_channel"]) == ("static", "QDQ", True)
    calib = int8["calibration"]
    assert calib["size"] == 64 and calib["method"] == "minmax" and len(calib["sha256"]) == 64
    assert arts["onnx-opset17-int8"]["extra"]["quality_gate"]["threshold"] == 0.9
    entry = zoo.get("tiny-cnn")
    specs = entry.input_specs()
    feed = {s.name: np.zeros((2, *s.shape[1:]), s.np_dtype) for s in specs}
    for art in arts.values():  # every precision loads through the one runner loader (bench uses it)
        runner = load_runner("onnx", out / art["path"], [s.name for s in specs], list(entry.output_names))
        got = runner.infer(feed)
        runner.close()
        assert all(v.dtype == np.float32 for v in got.values())  # fp32 at the boundary for every precision
    report = json.loads((out / "validation.json").read_text())
    assert report["passed"] and report["settings"]["quality"] == 0.9


def test_calibration_samples_never_overlap_validation_samples() -> None:
    entry = zoo.get("resnet50-small")
    specs = entry.input_specs()
    calib = calibration_set(specs, 0, 64, entry)
    validation = {r for s in generated_sets(specs, 0) for r in row_digests(s.feed)}
    validation |= {r for f in gate_batches(specs, 0, 100) for r in row_digests(f)}
    assert calib.size == 64 and len(calib.rows()) == 64
    assert not calib.rows() & validation
    assert calib.seed not in range(0, GATE_SEED_OFFSET + 100)
    assert calibration_set(specs, 0, 64, entry).sha256 == calib.sha256  # seeded: the same set every run


def test_calibration_file_sharing_validation_samples_is_refused(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    specs = zoo.get("tiny-cnn").input_specs()
    example = generated_sets(specs, 0)[0].feed  # the validation's own example set
    np.savez(tmp_path / "calib.npz", **example)
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--out", tmp_path / "run", *PRECISIONS,
                           "--calibration", tmp_path / "calib.npz")
    assert code == 2
    assert "samples are also validation samples" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_int8_calibrated_on_one_sample_fails_a_999_gate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    specs = zoo.get("resnet50-small").input_specs()
    rng = np.random.default_rng(123)
    np.savez(tmp_path / "one.npz", input=rng.uniform(-2, 2, (1, *specs[0].shape[1:])).astype(np.float32))
    code, _, err = run_cli(capsys, "convert", "zoo:resnet50-small", "--out", tmp_path / "run", "--precision", "fp32",
                           "--precision", "int8", "--calibration", tmp_path / "one.npz", "--quality", "mlperf-99.9")
    assert code == 4, err
    assert "'onnx-opset17-int8'" in err and "top1_agreement" in err and "below the quality gate 0.999" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("args", "needle"), [
    (("--precision", "fp32", "--precision", "bf16"), "add --to torchscript"),
    (("--precision", "int4"), "unknown --precision"),
    (("--to", "aoti", "--precision", "fp32", "--precision", "fp16"), "built for onnx, torchscript and pt2 only"),
    (("--to", "torchscript", "--precision", "fp32", "--precision", "int8"), "add --to onnx"),
    (("--precision", "fp32", "--precision", "int8", "--quality", "1.5"), "--quality"),
    (("--precision", "fp32", "--precision", "int8", "--calibration", "missing.npz"), "does not exist"),
    (("--to", "pt2", "--precision", "fp32", "--precision", "int8", "--int8-keep-fp32", "Add"),
     "--int8-keep-fp32 applies to ONNX int8"),
    (("--precision", "fp16", "--calibration-method", "entropy"), "no --precision int8 was asked for"),
    (("--precision", "int8", "--quantize", "dynamic", "--calibration-samples", "8"), "applies to static int8"),
])
def test_unsupported_requests_are_refused_up_front(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   args: tuple[str, ...], needle: str) -> None:
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--out", tmp_path / "run", *args)
    assert code == 2 and needle in err and "Traceback" not in err


def test_torch_half_precisions_keep_fp32_io_and_pass_the_gate(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "convert", "zoo:bert-small", "--to", "torchscript", "--to", "pt2", "--out", out,
                           "--precision", "fp32", "--precision", "fp16", "--precision", "bf16", "--quality", "0.9",
                           "-q")
    assert code == 0, err
    arts = {a["id"]: a for a in manifest(out)["artifacts"]}
    assert set(arts) == {f"{t}{p}" for t in ("torchscript", "pt2") for p in ("", "-fp16", "-bf16")}
    for art_id in (f"{t}-{p}" for t in ("torchscript", "pt2") for p in ("fp16", "bf16")):
        p = art_id.split("-")[1]
        extra = arts[art_id]["extra"]
        assert extra["precision"]["dtype"] == {"fp16": "float16", "bf16": "bfloat16"}[p]
        (gate,) = extra["quality_gate"]["results"]
        assert gate["metric"] == "question-answering" and gate["agreement"] >= 0.9
    report = json.loads((out / "validation.json").read_text())
    assert report["passed"]


def _graph(tmp_path: Path, head: bool) -> Path:
    """head: x -> MatMul -> + bias -> Split -> (a, b), a two-output QA-like head; else a residual block's output,
    x + MatMul(x) -> y, whose MatMul is a layer of the body, not a head."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32), "w")
    bias = numpy_helper.from_array(np.zeros(4, np.float32), "bias")
    if head:
        nodes = [helper.make_node("MatMul", ["x", "w"], ["y"], name="head"),
                 helper.make_node("Add", ["y", "bias"], ["yb"], name="head_bias"),
                 helper.make_node("Split", ["yb"], ["a", "b"], name="split", axis=1, num_outputs=2)]
        outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 2]) for n in ("a", "b")]
    else:
        nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="body"),
                 helper.make_node("Add", ["h", "x"], ["y"], name="residual")]
        outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])], outs,
                              [w, bias])
    path = tmp_path / f"g{int(head)}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    return path


def test_dynamic_int8_keeps_the_output_head_and_only_it_in_fp32(tmp_path: Path) -> None:
    # the walk back from the outputs passes a bias Add and a Split to the head's MatMul ...
    assert output_layers(_graph(tmp_path, head=True)) == ["head"]
    # ... but stops at a residual Add (two computed inputs): a block's own MatMul stays quantized
    assert output_layers(_graph(tmp_path, head=False)) == []


def test_bert_small_dynamic_int8_records_its_fp32_head(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "convert", "zoo:bert-small", "--out", out, "--precision", "fp32", "--precision",
                           "int8", "--no-validate", "-q")
    assert code == 0, err
    int8 = next(a for a in manifest(out)["artifacts"] if a["id"] == "onnx-opset17-int8")["extra"]["precision"]
    assert int8["mode"] == "dynamic" and int8["nodes_kept_fp32"] == ["/qa_outputs/MatMul"]
    import onnx

    graph = onnx.load(str(out / "model.opset17.int8.onnx")).graph
    ops = {n.name: n.op_type for n in graph.node}
    assert ops["/qa_outputs/MatMul"] == "MatMul"  # left in fp32
    assert any(op in ("MatMulInteger", "DynamicQuantizeMatMul") for op in ops.values())  # the rest quantized



def test_int8_keep_fp32_leaves_an_operator_type_and_a_node_unquantized(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import onnx

    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--out", out, "--precision", "fp32", "--precision",
                           "int8", "--int8-keep-fp32", "Gemm", "--int8-keep-fp32", "/features/features.4/Conv",
                           "--quality", "0.9", "-q")
    assert code == 0, err
    int8 = next(a for a in manifest(out)["artifacts"] if a["id"] == "onnx-opset17-int8")["extra"]["precision"]
    assert (int8["op_types_kept_fp32"], int8["nodes_kept_fp32"]) == (["Gemm"], ["/features/features.4/Conv"])
    assert manifest(out)["settings"]["int8_keep_fp32"] == ["Gemm", "/features/features.4/Conv"]
    graph = onnx.load(str(out / "model.opset17.int8.onnx")).graph
    made_by = {o: n.op_type for n in graph.node for o in n.output}
    weights = {n.name: made_by.get(n.input[1], "initializer") for n in graph.node if n.op_type in ("Conv", "Gemm")}
    # the kept layers read their fp32 weights directly; the other Conv reads int8 weights through a dequantize
    assert weights == {"/fc/Gemm": "initializer", "/features/features.4/Conv": "initializer",
                       "/features/features.0/Conv": "DequantizeLinear"}


def test_int8_keep_fp32_of_an_unknown_name_is_refused_in_one_line(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--out", tmp_path / "run", "--precision", "fp32",
                           "--precision", "int8", "--int8-keep-fp32", "/no/such/Conv", "-q")
    assert code == 2 and "Traceback" not in err
    assert "'/no/such/Conv' is neither an operator type nor a node name" in err.strip().splitlines()[-1]
    assert not (tmp_path / "run").exists()


def test_histogram_calibration_keeps_json_stdout_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # onnxruntime's percentile and entropy calibrators print() their progress; --json output must stay one document
    code, out, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--out", tmp_path / "run", "--precision", "fp32",
                             "--precision", "int8", "--calibration-method", "percentile", "--quality", "0.5", "--json")
    assert code == 0, err
    int8 = {a["id"]: a for a in json.loads(out)["artifacts"]}["onnx-opset17-int8"]
    assert int8["extra"]["precision"]["calibration"]["method"] == "percentile"


MLP = """
from torch import nn


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(16, 32)
        self.fc = nn.Linear(32, 4)

    def forward(self, x):
        return self.fc(self.hidden(x).relu())
"""


def test_dynamic_int8_keeps_a_gemm_head_that_onnxruntime_splits(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    # onnxruntime's dynamic quantizer renames a Gemm to NAME_MatMul + NAME_Add before matching exclusions
    import importlib.util

    import onnx
    import torch

    (tmp_path / "mlp.py").write_text(MLP)
    spec = importlib.util.spec_from_file_location("mlp_under_test", tmp_path / "mlp.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    torch.save(module.MLP().state_dict(), tmp_path / "mlp.pt")
    code, _, err = run_cli(capsys, "convert", tmp_path / "mlp.pt", "--model-class", f"{tmp_path / 'mlp.py'}:MLP",
                           "--input", "x:1,16", "--dynamic-batch", "--precision", "fp32", "--precision", "int8",
                           "--quantize", "dynamic", "--class-output", "output_0", "--quality", "0.5", "--out",
                           tmp_path / "run", "-q")
    assert code == 0, err
    int8 = {a["id"]: a for a in manifest(tmp_path / "run")["artifacts"]}["onnx-opset17-int8"]
    assert int8["extra"]["precision"]["nodes_kept_fp32"] == ["/fc/Gemm"]
    nodes = onnx.load(str(tmp_path / "run" / int8["path"])).graph.node
    integer = [n.name for n in nodes if n.op_type == "MatMulInteger"]
    assert integer and all(name.startswith("/hidden/") for name in integer)  # the head is not among them


def test_int8_that_would_quantize_nothing_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # tiny-cnn's only MatMul/Gemm is its head, which dynamic int8 keeps in fp32
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--out", tmp_path / "run", "--precision", "fp32",
                           "--precision", "int8", "--quantize", "dynamic")
    assert code == 2 and "quantized nothing" in err and "--quantize static" in err
    assert not (tmp_path / "run").exists()


def test_calibration_without_int8_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.savez(tmp_path / "calib.npz", input=np.zeros((2, 3, 32, 32), np.float32))
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--out", tmp_path / "run", "--precision", "fp32",
                           "--precision", "fp16", "--calibration", tmp_path / "calib.npz")
    assert code == 2 and "--calibration applies to int8" in err


@pytest.mark.parametrize(("model", "opset", "precision", "needle"), [
    ("tiny-cnn", "10", "int8", "(static) needs ONNX opset 13 or higher, and this export is opset 10"),
    ("tiny-cnn", "7", "fp16", "needs ONNX opset 9 or higher"),
    ("bert-small", "9", "int8", "made an opset-11 file from the opset-9 export"),  # onnxruntime raised it
])
def test_reduced_precision_never_ships_a_file_of_another_opset(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              model: str, opset: str, precision: str,
                                                              needle: str) -> None:
    code, _, err = run_cli(capsys, "convert", f"zoo:{model}", "--opset", opset, "--precision", "fp32",
                           "--precision", precision, "--quality", "0.5", "--out", tmp_path / "run")
    assert code == 2 and needle in err and "Traceback" not in err, err
    assert not (tmp_path / "run").exists()


def test_a_reduced_precision_alone_also_ships_fp32(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--precision", "fp16", "--out", tmp_path / "run", "-q")
    assert code == 0, err
    m = manifest(tmp_path / "run")
    assert [a["id"] for a in m["artifacts"]] == ["onnx-opset17", "onnx-opset17-fp16"]
    assert m["settings"]["precision"] == ["fp32", "fp16"]
