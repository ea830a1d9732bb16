"""Fast artifacts (docs/decisions.md, "TorchScript: frozen for inference", "ONNX Runtime levels: one artifact
per level", "AOTInductor: --to aoti"): frozen TorchScript by default, ONNX per onnxruntime level with the
transformer fusions at O2+, AOTInductor packages, and the one-line refusals around them.

Artifacts are inspected independently (torch.jit.load, onnx.load), not through modelport's runners.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from helpers.bench_cli import invoke
from helpers.convert import manifest, run_cli

from modelport.runners import RunnerOptions, load_runner

LEVEL_KEY = "modelport.ort_graph_opt_level"


def _one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _jit_load(path: Path) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.load(str(path))


@pytest.fixture(scope="module")
def bert_levels(tmp_path_factory):
    out = tmp_path_factory.mktemp("fast") / "bert"
    res = invoke("convert", "zoo:bert-small", "--to", "onnx", "--optimize", "O1", "--optimize", "O2",
                 "--optimize", "O3", "--out", str(out), "--quiet")
    assert res.exit_code == 0, res.output
    return out


def test_optimize_for_inference_only_for_graphs_with_convolutions():
    import torch

    from modelport.converters.torchscript import for_inference

    notes: list[str] = []
    mlp = torch.jit.script(torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)))
    frozen, applied = for_inference(mlp, notes)
    # Linear layers only: freeze alone, which keeps aten::linear (optimize_for_inference rewrites each into a
    # matmul with a transposed constant and an add, measured slower on BERT)
    assert applied == "freeze" and "aten::linear" in str(frozen.graph) and notes == []
    assert "aten::linear" not in str(torch.jit.optimize_for_inference(torch.jit.freeze(mlp.eval())).graph)
    cnn = torch.jit.script(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()))
    optimized, applied = for_inference(cnn, notes)
    assert applied == "freeze+optimize_for_inference" and "mkldnn" in str(optimized.graph)


def test_torchscript_is_frozen_by_default_and_validated(tmp_path, capsys):
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--to", "torchscript", "--out", tmp_path / "r")
    assert code == 0, err
    (art,) = manifest(tmp_path / "r")["artifacts"]
    assert art["id"] == "torchscript" and art["extra"]["frozen"] is True
    # optimize_for_inference's MKLDNN constants do not load back for convolutions; freeze alone then ships
    assert art["extra"]["inference_passes"] in ("freeze+optimize_for_inference", "freeze")
    assert art["extra"]["equivalence"]["passed"]
    # frozen: weights are constants of the graph, not parameters of a module
    assert list(_jit_load(tmp_path / "r" / art["path"]).parameters()) == []


def test_keep_unfrozen_ships_the_scripted_module(tmp_path, capsys):
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--to", "torchscript", "--torchscript-keep-unfrozen",
                           "--out", tmp_path / "r")
    assert code == 0, err
    (art,) = manifest(tmp_path / "r")["artifacts"]
    assert art["extra"]["frozen"] is False
    assert len(list(_jit_load(tmp_path / "r" / art["path"]).parameters())) > 0


def test_each_level_is_its_own_validated_artifact(bert_levels):
    m = manifest(bert_levels)
    ids = [a["id"] for a in m["artifacts"]]
    assert ids == ["onnx-opset17", "onnx-opset17-O1", "onnx-opset17-O2", "onnx-opset17-O3"]
    report = json.loads((bert_levels / "validation.json").read_text())
    assert report["passed"] and {a["id"] for a in report["artifacts"]} == set(ids)
    levels = {a["id"]: a["extra"].get("optimize", {}).get("ort_graph_opt_level") for a in m["artifacts"]}
    assert levels == {"onnx-opset17": None, "onnx-opset17-O1": "basic", "onnx-opset17-O2": "extended",
                      "onnx-opset17-O3": "all"}


def test_o2_fuses_attention_and_layer_norm_on_bert(bert_levels):
    """bert-small has 2 layers: one fused Attention each, two SkipLayerNormalization each."""
    o2 = onnx.load(str(bert_levels / "model.opset17.O2.onnx"))
    ops = Counter(n.op_type for n in o2.graph.node)
    assert ops["Attention"] + ops["MultiHeadAttention"] == 2
    assert ops["SkipLayerNormalization"] == 4
    assert ops["Softmax"] == 0  # no unfused attention left
    assert {p.key: p.value for p in o2.metadata_props}[LEVEL_KEY] == "extended"
    o1 = onnx.load(str(bert_levels / "model.opset17.O1.onnx"))
    assert Counter(n.op_type for n in o1.graph.node)["Attention"] == 0
    art = next(a for a in manifest(bert_levels)["artifacts"] if a["id"] == "onnx-opset17-O2")
    assert art["extra"]["optimize"]["fused_ops"]["Attention"] == 2


def test_o2_matches_eager_on_a_mask_that_is_not_padding(bert_levels):
    """The fused Attention must take the raw mask: a 1-D "mask index" would assume right padding."""
    m = manifest(bert_levels)
    names = [s["name"] for s in m["inputs"]]
    rng = np.random.default_rng(3)
    feed = {"input_ids": rng.integers(0, 1000, (3, 20)), "attention_mask": rng.integers(0, 2, (3, 20)),
            "token_type_ids": rng.integers(0, 2, (3, 20))}
    plain = load_runner("onnx", bert_levels / "model.opset17.onnx", names, m["output_names"])
    fused = load_runner("onnx", bert_levels / "model.opset17.O2.onnx", names, m["output_names"])
    want, got = plain.infer(feed), fused.infer(feed)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], atol=1e-5, rtol=1e-5)
    assert fused.describe()["graph_optimization_level"] == "extended"
    forced = load_runner("onnx", bert_levels / "model.opset17.O2.onnx", names, m["output_names"],
                         RunnerOptions(ort_graph_opt_level="basic"))
    assert forced.describe()["graph_optimization_level"] == "basic"


@pytest.mark.parametrize(("args", "needle"), [
    (["--optimize", "O4"], "--optimize O4 (fp16) is not offered"),
    (["--optimize", "O9"], "unknown --optimize level 'O9'"),
    (["--to", "torchscript", "--optimize", "O2"], "--optimize applies to ONNX artifacts"),
])
def test_bad_optimize_requests_are_one_line_input_errors(tmp_path, capsys, args, needle):
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", *args, "--out", tmp_path / "r")
    assert code == 2
    assert needle in _one_line(err)
    assert not (tmp_path / "r").exists()


def test_aoti_without_a_compiler_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-g++"))
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--to", "aoti", "--out", tmp_path / "r")
    assert code == 3
    line = _one_line(err)
    assert "--to aoti needs a C++ compiler" in line and "no-such-g++" in line
    assert not (tmp_path / "r").exists()


def test_all_does_not_include_aoti(tmp_path, capsys):
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--to", "all", "--no-validate", "--out", tmp_path / "r")
    assert code == 0, err
    assert {a["target"] for a in manifest(tmp_path / "r")["artifacts"]} == {"torchscript", "onnx", "pt2"}


def test_bench_runs_each_level_at_its_level_and_records_it(bench_copy):
    res = invoke("bench", str(bench_copy), "--scenario", "Offline", "--artifact", "onnx-opset17-O2", "--profile",
                 "tiny", "--duration-ms", "100", "--total-samples", "8", "--accuracy-samples", "4", "--threads", "1",
                 "--quiet")
    assert res.exit_code == 0, res.output
    results = json.loads((bench_copy / "results.json").read_text())
    assert results["backends"]["onnx-opset17-O2"]["runner"]["graph_optimization_level"] == "extended"
    # The cell was measured at that level (a 100 ms Offline run can be INVALID by LoadGen's duration rule when
    # its sample count was sized on a busier moment, so validity is not what this checks).
    cell = results["cells"]["onnx-opset17-O2"]["Offline"]
    assert cell["errors"] == [] and cell["accuracy"]["agreement"] == 1.0


@pytest.fixture
def bench_copy(bert_levels, tmp_path):
    """A copy of the converted run, so benching does not change what the other tests read."""
    return Path(shutil.copytree(bert_levels, tmp_path / "run"))


def test_aoti_records_the_inductor_options_it_compiles_with(monkeypatch):
    from torch._inductor import config

    from modelport.converters.aoti import RECORDED_OPTIONS, inductor_options

    monkeypatch.setattr(config, "freezing", True)
    recorded = inductor_options()
    assert set(recorded) == set(RECORDED_OPTIONS) and recorded["freezing"] is True
    assert recorded["max_autotune_gemm_backends"] == config.max_autotune_gemm_backends
