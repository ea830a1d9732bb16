"""``modelport validate``: exit codes, one-line errors, the table and --json."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from helpers.validate import make_run, perturb_onnx

from modelport.cli import main
from modelport.validators import REPORT_NAME


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(["validate", *argv])
    out, err = capsys.readouterr()
    return e.value.code, out, err


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "cnn"
    make_run(run, "tiny-cnn", targets=("onnx", "torchscript"))
    return run


@pytest.fixture
def cnn_copy(cnn_run, tmp_path):
    dst = tmp_path / "cnn"
    shutil.copytree(cnn_run, dst)
    return dst


def test_passing_run_prints_a_table_and_exits_0(capsys, cnn_run):
    code, out, err = run_cli(capsys, str(cnn_run))
    assert code == 0, err
    assert "ARTIFACT" in out and "MAX ABS" in out and "MISMATCHED" in out
    assert "onnx-opset17  logits" in out and "torchscript   logits" in out
    assert "PASSED: 2 artifact(s)" in out
    assert (cnn_run / REPORT_NAME).is_file()


def test_json_on_stdout_and_quiet(capsys, cnn_run):
    code, out, _ = run_cli(capsys, str(cnn_run), "--json", "--seed", "5")
    assert code == 0
    report = json.loads(out)
    assert report["passed"] is True and report["batch_sizes"] == [2, 1, 5]
    assert report["settings"]["seed"] == 5 and [s["seed"] for s in report["input_sets"]] == [5, 6, 7, 8]
    code, out, err = run_cli(capsys, str(cnn_run), "--quiet")
    assert (code, out, err) == (0, "", "")


def test_mismatch_exits_4_with_one_line_naming_artifact_output_statistic_tolerance(capsys, cnn_copy):
    perturb_onnx(cnn_copy, "onnx-opset17", "fc.bias", index=(2,), delta=1e-3)
    code, out, err = run_cli(capsys, str(cnn_copy))
    assert code == 4
    assert err.count("\n") == 1
    assert err.startswith("modelport: error: artifact 'onnx-opset17' output 'logits' on input set 'example'")
    assert "max abs error 0.001 > atol 1e-05" in err
    assert "FAIL" in out and "FAILED (" in out
    # the table's detail line gives every statistic of the failing output
    detail = next(line for line in out.splitlines() if line.startswith("onnx-opset17 logits on example"))
    for stat in ("max abs", "max rel", "mean abs", "p99 abs", "mismatched 2/20", "worst [", "cosine", "needs atol"):
        assert stat in detail, detail
    code, out, err = run_cli(capsys, str(cnn_copy), "--json")
    assert code == 4 and json.loads(out)["passed"] is False
    assert json.loads((cnn_copy / REPORT_NAME).read_text())["failure"] in err
    # a per-output tolerance that covers the change makes it pass
    assert run_cli(capsys, str(cnn_copy), "--atol", "logits:2e-3", "-q")[0] == 0


def test_reference_mode_validates_files_and_names_the_traced_one(capsys, tmp_path):
    make_run(tmp_path / "t", "branchy", targets=("torchscript",), method="trace")
    make_run(tmp_path / "s", "branchy", targets=("torchscript",), method="script")
    traced, scripted = str(tmp_path / "t" / "model.pt"), str(tmp_path / "s" / "model.pt")
    code, out, err = run_cli(capsys, "--reference", "zoo:branchy", scripted, traced)
    assert code == 4
    assert f"artifact '{traced}' output 'y' on input set 'negated'" in err and "--method script" in err
    assert run_cli(capsys, "--reference", "zoo:branchy", scripted, "-q")[0] == 0


@pytest.mark.parametrize("args, message", [
    (["--atol", "abc"], "--atol 'abc': 'abc' is not a number"),
    (["--rtol", "logits:x1"], "--rtol 'logits:x1': 'x1' is not a number"),
    (["--atol", "nope:1e-3"], "--atol names output 'nope'"),
    (["--min-agreement", "1.5"], "--min-agreement 1.5 must be a fraction"),
    (["--batch-sizes", "1,x"], "--batch-sizes '1,x' must be comma-separated integers"),
    (["--model-class", "a:B"], "--model-class describe a --reference source"),
    (["--artifact", "nope"], "run has no artifact 'nope'"),
    (["--topk", "1"], None),
])
def test_bad_options_are_one_line_errors(capsys, cnn_run, args, message):
    code, _, err = run_cli(capsys, str(cnn_run), "-q", *args)
    if message is None:  # --topk on a classifier is fine
        assert code == 0
        return
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_bad_run_directories_and_inputs(capsys, cnn_copy, tmp_path):
    specs_ok = {"input": np.zeros((1, 3, 32, 32), np.float32)}
    np.savez(tmp_path / "ok.npz", **specs_ok)
    code, out, _ = run_cli(capsys, str(cnn_copy), "--inputs", str(tmp_path / "ok.npz"), "--json")
    assert code == 0 and json.loads(out)["input_sets"][-1]["name"] == "user"
    np.savez(tmp_path / "bad.npz", image=specs_ok["input"])
    code, _, err = run_cli(capsys, str(cnn_copy), "--inputs", str(tmp_path / "bad.npz"))
    assert code == 2 and "do not match the model's inputs ['input']" in err and err.count("\n") == 1

    (cnn_copy / "model.onnx").write_bytes(b"corrupt")
    code, _, err = run_cli(capsys, str(cnn_copy))
    assert code == 2 and "does not match its recorded sha256" in err and err.count("\n") == 1
    (cnn_copy / "model.onnx").unlink()
    code, _, err = run_cli(capsys, str(cnn_copy))
    assert code == 2 and "'model.onnx' is missing from the run directory" in err
    code, _, err = run_cli(capsys, str(tmp_path))
    assert code == 2 and "is not a modelport run directory" in err
    code, _, err = run_cli(capsys, "--reference", "zoo:tiny-cnn")
    assert code == 2 and "needs at least one artifact file" in err
    code, _, err = run_cli(capsys, "--reference", "zoo:tiny-cnn", str(tmp_path / "x.onnx"))
    assert code == 2 and "does not exist" in err
    code, _, err = run_cli(capsys, "--reference", "zoo:tiny-cnn", str(tmp_path / "ok.npz"))
    assert code == 2 and "cannot tell the artifact kind" in err


def test_convert_then_validate_from_the_command_line(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["convert", "zoo:bert-small", "--to", "onnx", "--out", str(tmp_path / "run"), "--no-validate", "-q"])
    assert e.value.code == 0
    capsys.readouterr()
    code, out, err = run_cli(capsys, str(tmp_path / "run"), "--json", "--min-agreement", "0.99", "--samples", "16")
    assert code == 0, err
    report = json.loads(out)
    [agreement] = [a for a in report["artifacts"] if a["id"] == "onnx-opset17"]
    # question answering: the gate is the task metric, span F1 of the predicted answers against eager's
    assert [g["output"] for g in agreement["agreement"]] == ["f1"]
    assert all(g["samples"] == 16 and g["agreement"] == 1.0 for g in agreement["agreement"])
