"""The acceptance cases of docs/decisions.md ("Convert acceptance cases") that belong to convert: A1-A7, A10-A13,
and --opset min."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
import torch
from helpers import models as cm
from helpers.convert import (
    assert_matches_eager,
    assert_onnx_file,
    dim_params,
    entries,
    manifest,
    run_artifact,
    run_cli,
    specs_of,
)

from modelport import zoo
from modelport.spec import make_inputs

MODELS = str(Path(cm.__file__).resolve())


def _weights(tmp_path: Path, cls: type[torch.nn.Module]) -> Path:
    torch.manual_seed(0)
    p = tmp_path / f"{cls.__name__}.pt"
    torch.save(cls().state_dict(), p)
    return p


def _source(tmp_path: Path, cls: type[torch.nn.Module], shape: str) -> list:
    return ["--state-dict", _weights(tmp_path, cls), "--model-class", f"{MODELS}:{cls.__name__}", "--input",
            f"x:{shape}"]


def _eager(tmp_path: Path, cls: type[torch.nn.Module]) -> torch.nn.Module:
    m = cls()
    m.load_state_dict(torch.load(tmp_path / f"{cls.__name__}.pt", weights_only=True))
    return m.eval()


def test_a1_state_dict_opset13_uses_torchscript_exporter(tmp_path: Path, capsys) -> None:
    code, out, err = run_cli(capsys, "convert", "--state-dict", _cnn_weights(tmp_path), "--model-class",
                             "modelport.zoo.tiny:TinyCNN", "--input", "input:2x3x32x32", "--dynamic-batch",
                             "--opset", "13", "--out", tmp_path / "run", "--json")
    assert code == 0, err
    report = json.loads(out)  # --json: one object on stdout, nothing else
    art = report["artifacts"][0]
    assert art["exporter"] == "torchscript" and art["opset"] == 13
    assert art["extra"]["shapes_checked"] == ["batch 1", "batch 5"]
    assert_onnx_file(tmp_path / "run", art, 13)
    cnn = zoo.get("tiny-cnn").build(seed=0)
    assert_matches_eager(tmp_path / "run", cnn)
    specs = specs_of(manifest(tmp_path / "run"))
    for b in (1, 5):  # ORT at batch sizes other than the example's 2
        feed = make_inputs(specs, 5, batch=b)
        got = run_artifact(tmp_path / "run", art, feed, ["input"])[0]
        ref = cnn(torch.from_numpy(feed["input"])).detach().numpy()
        assert got.shape == (b, 10) and abs(got - ref).max() <= 1e-5


def _cnn_weights(tmp_path: Path) -> Path:
    p = tmp_path / "cnn.pt"
    torch.save(zoo.get("tiny-cnn").build(seed=0).state_dict(), p)
    return p


def test_a2_dynamo_below_18_is_verified_or_refused(tmp_path: Path, capsys) -> None:
    # never ships opset 18 for a request of 13: the down-conversion fails on Relu and says so
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--opset", "13", "--exporter", "dynamo",
                           "--out", tmp_path / "r13")
    assert code == 3
    assert "conversion 18->13 failed: Relu has no adapter below opset 14" in err
    assert "use --exporter torchscript or --opset >= 14" in err
    assert entries(tmp_path) == []
    # where the converter can go down, the result is shipped only after every check
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-transformer", "--opset", "17", "--exporter", "dynamo",
                           "--out", tmp_path / "r17")
    assert code == 0, err
    art = manifest(tmp_path / "r17")["artifacts"][0]
    assert art["exporter"] == "dynamo" and "converted to 17" in " ".join(art["warnings"])
    assert_onnx_file(tmp_path / "r17", art, 17)
    assert_matches_eager(tmp_path / "r17", zoo.get("tiny-transformer").build(seed=0))


def test_a3_op_needing_a_newer_opset(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "convert", *_source(tmp_path, cm.Triu, "2x6"), "--opset", "13",
                           "--out", tmp_path / "run")
    assert code == 3
    assert err.strip() == ("modelport: error: aten::triu is not exportable at opset 13 (support added in opset 14); "
                           "re-run with --opset 14")
    assert not (tmp_path / "run").exists()


def test_a4_op_without_any_lowering(tmp_path: Path, capsys) -> None:
    for opset in ("17", "18"):  # TorchScript-based exporter, then dynamo
        code, _, err = run_cli(capsys, "convert", *_source(tmp_path, cm.QR, "2x4x4"), "--opset", opset,
                               "--out", tmp_path / "run")
        assert code == 3
        assert "aten::linalg_qr has no ONNX lowering" in err and "keep that part in PyTorch" in err
        assert len(err.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, expected", [
    (["--opset", "6"], "opset 6 is below every exporter's range"),
    (["--opset", "24", "--exporter", "torchscript"],
     "opset 24 is outside the torchscript exporter's range 7-20; use --exporter dynamo (18-25)"),
    (["--opset", "29"], "opset 29 is beyond what the installed onnx"),
    (["--opset", "26", "--exporter", "dynamo"], "opset 26 is outside the dynamo exporter's range 18-25"),
])
def test_a5_opset_outside_the_exporters_range(args: list[str], expected: str, tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", *args, "--out", tmp_path / "run")
    assert code == 2 and expected in err
    assert "torchscript: 7-20; dynamo: 18-25" in err
    assert not (tmp_path / "run").exists()


def test_a6_exporter_output_the_checker_rejects(tmp_path: Path, capsys) -> None:
    # GELU at opset 8: the TorchScript exporter writes Erf, which needs opset 9; the exporter does not notice
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-transformer", "--opset", "8", "--exporter", "torchscript",
                           "--out", tmp_path / "run")
    assert code == 3
    assert "onnx.checker rejects the torchscript exporter's opset-8 output" in err and "Erf" in err
    assert "opset >= 18" in err  # the hint
    assert not (tmp_path / "run").exists()


def test_a7_dynamic_batch_is_proven_or_refused(tmp_path: Path, capsys) -> None:
    # the CNN's batch axis is really dynamic (the zoo run in test_convert_sources covers both exporters)
    code, _, err = run_cli(capsys, "convert", *_source(tmp_path, cm.HardBatch, "2x3x16"), "--dynamic-batch",
                           "--opset", "18", "--out", tmp_path / "run")
    assert code == 3
    assert "input 'x' axis 0 was requested dynamic but exported static (2)" in err
    code, _, err = run_cli(capsys, "convert", *_source(tmp_path, cm.HardBatch, "2x3x16"), "--dynamic-batch",
                           "--opset", "17", "--out", tmp_path / "run")
    assert code == 3
    assert "onnxruntime failed at batch 1 although the axis was exported dynamic" in err and "GEMM" in err
    assert entries(tmp_path) == ["HardBatch.pt"]


def test_a10_traced_branch_fails_and_script_passes(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "convert", "zoo:branchy", "--to", "torchscript", "--method", "trace",
                           "--out", tmp_path / "trace")
    assert code == 4
    assert "does not match the eager model on the negated" in err
    assert "TracerWarning" in err and "use --method script" in err
    assert not (tmp_path / "trace").exists()
    code, _, err = run_cli(capsys, "convert", "zoo:branchy", "--to", "torchscript", "--out", tmp_path / "script")
    assert code == 0, err
    assert manifest(tmp_path / "script")["artifacts"][0]["method"] == "script"
    assert_matches_eager(tmp_path / "script", zoo.get("branchy").build(seed=0))


def test_a11_training_mode_model_is_switched_to_eval(tmp_path: Path, capsys) -> None:
    torch.manual_seed(0)
    model = cm.TrainMode()
    assert model.training
    torch.save(model, tmp_path / "train.pt")
    code, _, err = run_cli(capsys, "convert", tmp_path / "train.pt", "--trust-pickle", "--input", "x:4x8",
                           "--out", tmp_path / "run")
    assert code == 0, err
    assert "training mode" in err
    m = manifest(tmp_path / "run")
    assert m["source"]["was_training"] and any("training mode" in w for w in m["warnings"])
    assert_matches_eager(tmp_path / "run", model.eval())


def test_a12_external_data_moves_with_the_artifact(tmp_path: Path, capsys, monkeypatch) -> None:
    # pretend the model is over 2 GB: the exporter writes external data, and the artifact is both files
    monkeypatch.setattr("modelport.converters.onnx_export.EXTERNAL_DATA_THRESHOLD", 0)
    code, out, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--opset", "18", "--out", tmp_path / "run", "--json")
    assert code == 0, err
    # the dynamo exporter prints its steps on stdout; with --json stdout must still be one JSON object
    assert json.loads(out)["artifacts"] == manifest(tmp_path / "run")["artifacts"]
    art = manifest(tmp_path / "run")["artifacts"][0]
    paths = [f["path"] for f in art["files"]]
    assert paths[0] == "model.opset18.onnx" and len(paths) == 2 and paths[1].startswith("model.opset18.onnx")
    assert sorted(paths) == sorted(p for p in entries(tmp_path / "run") if p.startswith("model"))
    model = onnx.load(str(tmp_path / "run" / paths[0]), load_external_data=False)
    assert any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    assert_matches_eager(tmp_path / "run", zoo.get("tiny-cnn").build(seed=0))


def _fake_worker(tmp_path: Path, body: str) -> list[str]:
    script = tmp_path / "fake_onnxsim.py"
    script.write_text("import os, sys\nimport onnx\nsrc, dest = sys.argv[1:]\n" + body)
    import sys

    return [sys.executable, str(script)]


def test_a13_onnxsim_crash_keeps_the_unsimplified_model(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr("modelport.converters.simplify.WORKER", _fake_worker(tmp_path, "os.abort()\n"))
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--simplify", "--out", tmp_path / "run")
    assert code == 0, err
    art = manifest(tmp_path / "run")["artifacts"][0]
    assert not art["simplified"]
    assert any(w.startswith("onnxsim failed/regressed: worker signal 6") for w in art["warnings"])
    assert "onnxsim failed/regressed" in err
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--simplify", "--strict", "--out", tmp_path / "strict")
    assert code == 3 and "onnxsim failed/regressed" in err and not (tmp_path / "strict").exists()


def test_a13_onnxsim_regression_is_caught(tmp_path: Path, capsys, monkeypatch) -> None:
    # a "simplifier" that silently changes a weight: the result no longer matches eager and is dropped
    body = ("m = onnx.load(src)\nt = m.graph.initializer[0]\nimport numpy as np\nfrom onnx import numpy_helper\n"
            "a = numpy_helper.to_array(t) + 0.5\nt.CopyFrom(numpy_helper.from_array(a, t.name))\nonnx.save(m, dest)\n")
    monkeypatch.setattr("modelport.converters.simplify.WORKER", _fake_worker(tmp_path, body))
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--simplify", "--out", tmp_path / "run")
    assert code == 0, err
    art = manifest(tmp_path / "run")["artifacts"][0]
    assert not art["simplified"] and "no longer matches eager" in " ".join(art["warnings"])
    assert_matches_eager(tmp_path / "run", zoo.get("tiny-cnn").build(seed=0))


def test_simplify_with_real_onnxsim(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-transformer", "--simplify", "--out", tmp_path / "run")
    assert code == 0, err
    art = manifest(tmp_path / "run")["artifacts"][0]
    assert art["simplified"] and art["extra"]["simplify"]["nodes_after"] < art["extra"]["simplify"]["nodes_before"]
    assert_matches_eager(tmp_path / "run", zoo.get("tiny-transformer").build(seed=0))


def test_opset_min_finds_the_lowest_opset(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "convert", *_source(tmp_path, cm.Triu, "2x6"), "--opset", "min",
                           "--out", tmp_path / "run")
    assert code == 0, err
    art = manifest(tmp_path / "run")["artifacts"][0]
    assert art["id"] == "onnx-opset14" and art["opset"] == 14
    tried = {t["opset"]: t["ok"] for t in art["extra"]["opset_search"]}
    assert tried[14] is True and all(not ok for op, ok in tried.items() if op < 14)
    assert_onnx_file(tmp_path / "run", art, 14)
    assert_matches_eager(tmp_path / "run", _eager(tmp_path, cm.Triu))
    assert dim_params(onnx.load(str(tmp_path / "run" / art["path"])), "x") == ["", ""]


def test_opset_min_searches_below_the_first_files_own_minimum(tmp_path: Path, capsys) -> None:
    """At 17 the exporter writes LayerNormalization (an opset-17 op), so that file alone says "17"; exporting
    natively lower decomposes it. The search must export lower, not trust the first file's minimum."""
    code, _, err = run_cli(capsys, "convert", "zoo:bert-small", "--opset", "min", "--out", tmp_path / "run", "-q")
    assert code == 0, err
    art = manifest(tmp_path / "run")["artifacts"][0]
    tried = {t["opset"]: t["ok"] for t in art["extra"]["opset_search"]}
    assert art["opset"] < 17 and tried[art["opset"]] is True
    assert tried.get(art["opset"] - 1) is False, tried  # the opset just below was tried and failed
    assert_onnx_file(tmp_path / "run", art, art["opset"])
