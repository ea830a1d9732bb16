"""Every source kind converts to every target; each artifact is checked independently of modelport."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from helpers.convert import assert_matches_eager, assert_onnx_file, dim_params, manifest, run_cli

from modelport import zoo

CNN_INPUT = "input:2x3x32x32:float32:-2,2"


@pytest.fixture(scope="module")
def cnn() -> torch.nn.Module:
    return zoo.get("tiny-cnn").build(seed=0)


@pytest.fixture(scope="module")
def zoo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """zoo:tiny-cnn to every target, ONNX at 13 (TorchScript exporter) and 18 (dynamo); shared by later tests."""
    out = tmp_path_factory.mktemp("zoo") / "run"
    from modelport.cli import main

    with pytest.raises(SystemExit) as e:
        main(["convert", "zoo:tiny-cnn", "--to", "all", "--opset", "13", "--opset", "18", "--out", str(out),
              "--quiet"])
    assert e.value.code == 0
    return out


def test_zoo_to_every_target(zoo_run: Path, cnn: torch.nn.Module) -> None:
    m = manifest(zoo_run)
    ids = [a["id"] for a in m["artifacts"]]
    assert ids == ["torchscript", "onnx-opset13", "onnx-opset18", "pt2"]
    arts = {a["id"]: a for a in m["artifacts"]}
    assert arts["onnx-opset13"]["exporter"] == "torchscript"
    assert arts["onnx-opset18"]["exporter"] == "dynamo"
    assert arts["torchscript"]["method"] == "script"
    for op in (13, 18):
        model = assert_onnx_file(zoo_run, arts[f"onnx-opset{op}"], op)
        assert dim_params(model, "input")[0] == "batch"  # the zoo declares the batch axis dynamic
    # dynamo defaults to external data; below 2 GB modelport ships one self-contained file (A12)
    assert [f["path"] for f in arts["onnx-opset18"]["files"]] == ["model.opset18.onnx"]
    assert sorted(p.name for p in zoo_run.iterdir()) == [
        "manifest.json", "model.opset13.onnx", "model.opset18.onnx", "model.pt2", "model.ts", "validation.json"]
    assert_matches_eager(zoo_run, cnn)


def test_manifest_records_hashes_versions_and_settings(zoo_run: Path) -> None:
    m = manifest(zoo_run)
    assert m["source"]["kind"] == "zoo" and m["source"]["spec"] == "zoo:tiny-cnn"
    assert m["seed"] == 0 and m["inputs"][0]["name"] == "input"
    for a in m["artifacts"]:
        for f in a["files"]:
            data = (zoo_run / f["path"]).read_bytes()
            assert f["sha256"] == hashlib.sha256(data).hexdigest() and f["size_bytes"] == len(data)
        assert a["export_time_s"] > 0 and a["extra"]["equivalence"]["passed"]
    for pkg in ("torch", "onnx", "onnxruntime", "onnxsim", "modelport"):
        assert m["versions"][pkg]
    assert m["settings"]["targets"] == ["torchscript", "onnx", "pt2"] and m["settings"]["opsets"] == [13, 18]
    assert m["timings"]["convert_s"] > 0


def _state_dict(tmp_path: Path, cnn: torch.nn.Module) -> Path:
    p = tmp_path / "weights.pt"
    torch.save(cnn.state_dict(), p)
    return p


@pytest.mark.parametrize("kind", ["state_dict", "pickle", "torchscript", "pt2"])
def test_source_kind_to_every_target(kind: str, tmp_path: Path, zoo_run: Path, cnn: torch.nn.Module,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    if kind == "state_dict":
        args = ["--state-dict", _state_dict(tmp_path, cnn), "--model-class", "modelport.zoo.tiny:TinyCNN",
                "--input", CNN_INPUT, "--dynamic-batch"]
    elif kind == "pickle":
        p = tmp_path / "whole.pt"
        torch.save(cnn, p)
        args = [p, "--trust-pickle", "--input", CNN_INPUT, "--dynamic-batch"]
    elif kind == "torchscript":
        # the archive carries its input spec (modelport.json); torch.export needs static shapes from it
        args = [zoo_run / "model.ts", "--input", CNN_INPUT]
    else:
        args = [zoo_run / "model.pt2"]
    code, _, err = run_cli(capsys, "convert", *args, "--to", "all", "--out", out, "--quiet")
    assert code == 0, err
    m = manifest(out)
    assert m["source"]["kind"] == kind
    assert [a["target"] for a in m["artifacts"]] == ["torchscript", "onnx", "pt2"]
    assert_onnx_file(out, m["artifacts"][1], 17)
    assert_matches_eager(out, cnn)


def test_state_dict_class_mismatch_is_refused(tmp_path: Path, cnn: torch.nn.Module,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "convert", "--state-dict", _state_dict(tmp_path, cnn), "--model-class",
                           "modelport.zoo.tiny:TinyCNN", "--model-args", '{"num_classes": 5}', "--input", CNN_INPUT,
                           "--out", tmp_path / "run")
    assert code == 2 and "size mismatch for fc.weight" in err
    assert not (tmp_path / "run").exists()


def test_multi_input_int64_model_with_two_dynamic_axes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "convert", "zoo:bert-small", "--to", "torchscript", "--to", "onnx",
                           "--out", tmp_path / "run", "--quiet")
    assert code == 0, err
    m = manifest(tmp_path / "run")
    art = m["artifacts"][1]
    model = assert_onnx_file(tmp_path / "run", art, 17)
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        assert dim_params(model, name) == ["batch", "sequence"]
    assert art["extra"]["shapes_checked"][:2] == ["batch 1", "batch 5"] and len(art["extra"]["shapes_checked"]) == 3
    assert_matches_eager(tmp_path / "run", zoo.get("bert-small").build(seed=0))


def test_hugging_face_directory_to_every_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=64, max_position_embeddings=64)
    model = transformers.BertForSequenceClassification(cfg).eval()
    model.save_pretrained(tmp_path / "hf")
    code, _, err = run_cli(capsys, "convert", tmp_path / "hf", "--to", "all", "--out", tmp_path / "run", "--quiet")
    assert code == 0, err
    m = manifest(tmp_path / "run")
    assert m["source"]["kind"] == "hf"
    pt2 = m["artifacts"][2]
    # the position table (64) bounds the dynamic sequence axis; torch.export's range fix is taken and recorded
    assert any("'sequence' is bounded by the model: max 64" in w for w in pt2["warnings"])
    assert_onnx_file(tmp_path / "run", m["artifacts"][1], 17)
    assert_matches_eager(tmp_path / "run", model)


@pytest.mark.parametrize("artifact", ["model.ts", "model.pt2"])
def test_archives_carry_their_input_spec(zoo_run: Path, artifact: str) -> None:
    """Converting an archive modelport wrote needs no --input: the spec (with value ranges) travels inside it."""
    from modelport.sources import load_source

    loaded = load_source(str(zoo_run / artifact))
    assert [s.to_json() for s in loaded.inputs] == [s.to_json() for s in zoo.get("tiny-cnn").input_specs()]
    assert loaded.output_names == ["logits"]
