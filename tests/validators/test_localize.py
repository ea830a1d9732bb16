"""validate --localize names the first ONNX node (and its torch module) that leaves the eager model; ONNX against
ONNX (fp32 vs int8) gives a layer-wise table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from helpers.convert import run_cli
from helpers.validate import perturb_onnx


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny-cnn in fp32 and int8 (static QDQ), as convert writes them (TorchScript-based ONNX exporter)."""
    from modelport.converters.options import ConvertOptions
    from modelport.converters.pipeline import convert

    out = tmp_path_factory.mktemp("loc") / "run"
    convert("zoo:tiny-cnn", ConvertOptions(out=out, precision=("fp32", "int8")))
    return out


def _second_conv(path: Path) -> tuple[str, str]:
    """(node name, weight initializer) of the graph's second Conv, read from the file itself."""
    convs = [n for n in onnx.load(str(path)).graph.node if n.op_type == "Conv"]
    return convs[1].name, convs[1].input[1]


@pytest.fixture(scope="module")
def perturbed(run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A copy of the run whose fp32 ONNX has one Conv weight changed (manifest rehashed); and that node's name."""
    copy = tmp_path_factory.mktemp("loc-bad") / "run"
    shutil.copytree(run, copy)
    node, weight = _second_conv(copy / "model.opset17.onnx")
    perturb_onnx(copy, "onnx-opset17", weight, index=(0, 0, 0, 0), delta=0.5)
    return copy, node


def test_localize_names_the_perturbed_conv_and_its_module(perturbed: tuple[Path, str],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    run_dir, node = perturbed
    code, out, err = run_cli(capsys, "validate", run_dir, "--localize", "--artifact", "onnx-opset17", "--json")
    assert code == 4, err
    (loc,) = json.loads(out)["localization"]
    first = loc["first"]
    assert first["node"] == node == "/features/features.4/Conv" and first["op"] == "Conv"
    # the exporter folded BatchNorm features.5 into the Conv: the Conv's ONNX output is that module's output
    assert first["module"] == "features.4" and first["module_class"] == "Conv2d"
    assert first["folded"] == ["features.5 (BatchNorm2d)"]
    assert first["comparison"]["max_abs"] > loc["atol"] and not first["comparison"]["passed"]
    assert loc["upstream"]["module"] == "features.3" and loc["upstream"]["op"] == "MaxPool"
    line = err.strip().splitlines()[-1]
    assert "first divergence of 'onnx-opset17': ONNX node /features/features.4/Conv" in line
    assert "torch module features.4 (Conv2d)" in line and "Traceback" not in err
    saved = json.loads((run_dir / "validation.json").read_text())
    assert saved["localization"][0]["first"]["node"] == node


def test_failing_artifact_is_localized_without_asking(perturbed: tuple[Path, str],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    run_dir, node = perturbed
    code, out, err = run_cli(capsys, "validate", run_dir, "--artifact", "onnx-opset17")
    assert code == 4
    assert f"first divergence: ONNX node {node} (Conv)" in out
    assert "torch module: features.4 (Conv2d), with features.5 (BatchNorm2d) folded into it" in out
    assert "last match upstream: ONNX node /features/features.3/MaxPool" in out


def test_matching_artifact_has_no_divergence_and_int8_gets_a_layer_table(run: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "validate", run, "--localize", "--json")
    assert code == 0, err
    report = json.loads(out)
    (loc,) = report["localization"]
    assert loc["artifact"] == "onnx-opset17" and loc["first"] is None
    assert loc["compared"] >= 7 and loc["unpaired_modules"] == []  # every module output of tiny-cnn is compared
    (table,) = report["layerwise"]  # int8 differs from eager by design: compared with the fp32 artifact instead
    assert table["candidate"] == "onnx-opset17-int8" and table["reference"] == "onnx-opset17"
    assert table["reduced_precision"] and table["passed"]


def test_fp32_vs_int8_layer_table_has_a_row_per_conv(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fp32, int8 = run / "model.opset17.onnx", run / "model.opset17.int8.onnx"
    code, out, err = run_cli(capsys, "validate", "--reference", fp32, int8, "--json")
    assert code == 0, err
    (table,) = json.loads(out)["layerwise"]
    convs = {n.name for n in onnx.load(str(int8)).graph.node if n.op_type == "Conv"}
    assert len(convs) == 2
    assert convs <= {r["candidate_node"].rsplit(" (", 1)[0] for r in table["rows"]}
    for r in table["rows"]:
        assert r["max_abs"] is not None and r["max_rel"] is not None and 0.99 < r["cosine"] <= 1.0 + 1e-9
    # quantized activations are read through their DequantizeLinear output
    assert any(r["compared_as"] != r["tensor"] for r in table["rows"])
    cosines = [r["cosine"] for r in table["rows"]]
    assert cosines == sorted(cosines)  # worst first
    code, out, _ = run_cli(capsys, "validate", "--reference", fp32, int8)
    assert code == 0 and "layer-wise:" in out and "/features/features.4/Conv (Conv)" in out


def test_onnx_against_onnx_fails_on_a_changed_weight(run: Path, perturbed: tuple[Path, str],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    run_dir, node = perturbed
    code, _, err = run_cli(capsys, "validate", "--reference", run / "model.opset17.onnx",
                           run_dir / "model.opset17.onnx")
    assert code == 4
    assert f"first tensor beyond the tolerance: '{node}_output_0' from {node} (Conv)" in err.strip().splitlines()[-1]


def test_onnx_reference_takes_onnx_files_only(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "validate", "--reference", run / "model.opset17.onnx", run / "manifest.json")
    assert code == 2 and "cannot tell the artifact kind" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "validate", run, "--localize", "--against", "nope")
    assert code == 2 and "run has no artifact 'nope'" in err



@pytest.mark.slow
def test_dynamo_export_is_localized_through_its_node_metadata(tmp_path: Path) -> None:
    """The dynamo exporter names nodes node_Conv_N and records scopes in metadata_props; its fused Conv carries the
    BatchNorm's scope and the Conv's weight by name."""
    import warnings

    import torch

    from modelport import zoo
    from modelport.spec import make_inputs
    from modelport.validators import localize_onnx

    entry = zoo.get("tiny-cnn")
    module, specs = entry.build(seed=0), entry.input_specs()
    feed = make_inputs(specs, 0)
    path = tmp_path / "dynamo.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.from_numpy(feed["input"]),), str(path), dynamo=True, opset_version=18,
                          input_names=["input"], output_names=["logits"], verbose=False)
    clean = localize_onnx(module, specs, feed, str(path), "dynamo", "example", 1e-5, 1e-5)
    assert clean.first is None and clean.compared >= 7
    model = onnx.load(str(path))
    conv = [n for n in model.graph.node if n.op_type == "Conv"][1]
    weight = next(t for t in model.graph.initializer if t.name == conv.input[1])
    assert weight.name == "features.4.weight"
    arr = onnx.numpy_helper.to_array(weight).copy()
    arr[0, 0, 0, 0] += 0.5
    weight.CopyFrom(onnx.numpy_helper.from_array(arr, weight.name))
    onnx.save(model, str(path))
    first = localize_onnx(module, specs, feed, str(path), "dynamo", "example", 1e-5, 1e-5).first
    assert first is not None and first["node"] == conv.name
    assert first["module"] == "features.5" and first["reads"] == ["features.4"]


def test_transformer_layers_in_a_module_list_are_paired(tmp_path: Path) -> None:
    """bert-small iterates an nn.ModuleList: the exporter's scope is /layers.1/intermediate/..., straight from the
    root; a changed MatMul weight is named at its Linear module, with nothing folded into it."""
    from helpers.validate import export_onnx

    from modelport import zoo
    from modelport.spec import make_inputs
    from modelport.validators import localize_onnx

    entry = zoo.get("bert-small")
    module, specs = entry.build(seed=0), entry.input_specs()
    path = tmp_path / "bert.onnx"
    export_onnx(module, specs, list(entry.output_names), path)
    model = onnx.load(str(path))
    matmul = next(n for n in model.graph.node if n.name == "/layers.1/intermediate/MatMul")
    weight = next(t for t in model.graph.initializer if t.name == matmul.input[1])
    arr = onnx.numpy_helper.to_array(weight).copy()
    arr[0, :] += 0.5
    weight.CopyFrom(onnx.numpy_helper.from_array(arr, weight.name))
    onnx.save(model, str(path))
    loc = localize_onnx(module, specs, make_inputs(specs, 0), str(path), "bert", "example", 1e-5, 1e-5)
    assert loc.unpaired_modules == [] and loc.first is not None
    assert loc.first["module"] == "layers.1.intermediate" and loc.first["module_class"] == "Linear"
    assert loc.first["node"].startswith("/layers.1/intermediate/") and loc.first["folded"] == []
    assert loc.upstream["module"] == "layers.1.attention_norm"


def test_rounding_beyond_a_tight_tolerance_is_not_called_a_divergence(run: Path) -> None:
    """Deep fp32 graphs exceed an output-sized tolerance inside by rounding alone (ResNet-50's layer4); at atol 0
    tiny-cnn's folded Conv+BatchNorm does too. That is reported as rounding, not as the first divergence."""
    from modelport import zoo
    from modelport.spec import make_inputs
    from modelport.validators import localize_onnx

    entry = zoo.get("tiny-cnn")
    module, specs = entry.build(seed=0), entry.input_specs()
    loc = localize_onnx(module, specs, make_inputs(specs, 0), str(run / "model.opset17.onnx"), "fp32", "example",
                        0.0, 0.0)
    assert loc.first is None and loc.rounding
    assert loc.rounding[0]["module"] == "features.0" and 1.0 - loc.rounding[0]["cosine"] < 1e-8
    assert "no divergence beyond rounding" in loc.render()


def test_the_fp32_base_of_a_layer_table_must_be_inside_the_run(run: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """--artifact int8 does not validate the fp32 artifact, but the table reads it: the same file checks apply."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    shutil.copy(copy / "model.opset17.onnx", tmp_path / "outside.onnx")
    manifest = json.loads((copy / "manifest.json").read_text())
    fp32 = next(a for a in manifest["artifacts"] if a["id"] == "onnx-opset17")
    fp32["path"] = fp32["files"][0]["path"] = "../outside.onnx"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = run_cli(capsys, "validate", copy, "--localize", "--artifact", "onnx-opset17-int8")
    assert code == 2 and "inside the run directory" in err.strip().splitlines()[-1]


def test_onnx_against_onnx_replays_the_users_rows(run: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # the reference file's symbolic batch axis is dynamic, so any number of rows fits; the first 32 are replayed
    rows = np.random.default_rng(3).uniform(-2, 2, (40, 3, 32, 32)).astype(np.float32)
    np.savez(tmp_path / "rows.npz", input=rows)
    code, out, err = run_cli(capsys, "validate", "--reference", run / "model.opset17.onnx",
                             run / "model.opset17.int8.onnx", "--inputs", tmp_path / "rows.npz", "--json")
    assert code == 0, err
    (table,) = json.loads(out)["layerwise"]
    assert table["input_set"] == "user (first 32 of 40 rows)"
