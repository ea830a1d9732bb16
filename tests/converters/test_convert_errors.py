"""Bad input to convert: one line naming the problem and the way out, a non-zero exit, nothing left behind."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.convert import entries, manifest, run_cli

from modelport import zoo


def _one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if not line.startswith("modelport: warning:")]
    assert len(lines) == 1, err
    assert lines[0].startswith("modelport: error: ")
    assert "Traceback" not in err
    return lines[0]


def test_output_directory_that_cannot_be_written(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--out", blocker / "run")
    assert code == 2
    assert "is not writable" in _one_error_line(err) and "choose another --out" in err
    assert entries(tmp_path) == ["file"]


def test_existing_non_empty_output_directory_is_not_overwritten(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--out", out)
    assert code == 2 and "already exists and is not empty" in _one_error_line(err)
    assert entries(out) == ["keep.txt"]


def test_an_empty_existing_output_directory_is_used(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    out.mkdir()
    code, _, err = run_cli(capsys, "convert", "zoo:branchy", "--to", "torchscript", "--out", out, "--no-validate")
    assert code == 0, err
    assert entries(out) == ["manifest.json", "model.ts"]
    assert entries(tmp_path) == ["run"]  # no temporary directory left beside it


def test_a_failure_halfway_through_a_multi_target_run_keeps_nothing(tmp_path: Path, capsys) -> None:
    # the scripted TorchScript export succeeds; then the TorchScript-based ONNX exporter, which traces, records one
    # side of Branchy's data-dependent branch and fails the equivalence gate: the run keeps nothing
    code, _, err = run_cli(capsys, "convert", "zoo:branchy", "--to", "torchscript", "--to", "onnx",
                           "--out", tmp_path / "run")
    line = _one_error_line(err)
    assert code == 4 and "the opset-17 ONNX export (torchscript) does not match the eager model" in line
    assert "data-dependent branch" in line
    assert entries(tmp_path) == []


def test_an_interrupted_run_leaves_nothing(tmp_path: Path, capsys, monkeypatch) -> None:
    import modelport.converters.pipeline as pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "stage_pt2", interrupted)  # after the TorchScript and ONNX artifacts exist
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--to", "all", "--out", tmp_path / "run")
    assert code == 130  # click reports the KeyboardInterrupt as "aborted"
    assert entries(tmp_path) == []


def test_pickled_model_without_trust_flag(tmp_path: Path, capsys) -> None:
    torch.save(zoo.get("tiny-cnn").build(seed=0), tmp_path / "whole.pt")
    code, _, err = run_cli(capsys, "convert", tmp_path / "whole.pt", "--input", "input:2x3x32x32",
                           "--out", tmp_path / "run")
    assert code == 2
    line = _one_error_line(err)
    assert "modelport.zoo.tiny.TinyCNN" in line and "--trust-pickle" in line and "--state-dict" in line
    assert entries(tmp_path) == ["whole.pt"]


def test_source_without_an_input_spec(tmp_path: Path, capsys) -> None:
    from helpers import models as cm

    torch.save(cm.Triu().state_dict(), tmp_path / "w.pt")
    code, _, err = run_cli(capsys, "convert", "--state-dict", tmp_path / "w.pt", "--model-class",
                           f"{cm.__file__}:Triu", "--out", tmp_path / "run")
    assert code == 2 and "pass --input NAME:SHAPE" in _one_error_line(err)
    assert entries(tmp_path) == ["w.pt"]


@pytest.mark.parametrize("args, expected", [
    (["--opset", "thirteen"], "--opset 'thirteen' is not a number or 'min'"),
    (["--input", "input:2xAx32"], "must be integers"),
    (["--dynamic", "nope:0"], "--dynamic names input 'nope'"),
    (["--input", "input:2x4x32x32"], "the model fails on its example inputs"),
])
def test_bad_options(args: list[str], expected: str, tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", *args, "--out", tmp_path / "run")
    assert code == 2 and expected in _one_error_line(err)
    assert entries(tmp_path) == []


def test_no_validate_skips_the_comparisons_but_not_the_structural_checks(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "convert", "zoo:branchy", "--to", "torchscript", "--method", "trace",
                           "--no-validate", "--out", tmp_path / "run")
    assert code == 0, err
    art = manifest(tmp_path / "run")["artifacts"][0]
    assert "equivalence" not in art["extra"] and any(w.startswith("TracerWarning") for w in art["warnings"])
    assert not (tmp_path / "run" / "validation.json").exists()


def test_gate_tolerance_defaults_and_overrides() -> None:
    import numpy as np

    from modelport.converters.options import ConvertOptions
    from modelport.converters.prepare import gate_tolerances
    from modelport.manifest import SourceRecord

    def fp32(options: ConvertOptions, record: SourceRecord) -> tuple[float, float]:
        return gate_tolerances(options, record).for_output("logits", np.dtype(np.float32))[:2]

    resnet = SourceRecord(kind="zoo", spec="zoo:resnet50")
    cnn = SourceRecord(kind="zoo", spec="zoo:tiny-cnn")
    user = SourceRecord(kind="state_dict", spec="w.pt")
    assert fp32(ConvertOptions(), resnet) == (1e-3, 1e-5)  # the validators' per-model allowance
    assert fp32(ConvertOptions(), cnn) == (1e-5, 1e-5)
    assert fp32(ConvertOptions(), user) == (1e-5, 1e-5)
    assert fp32(ConvertOptions(atol=1e-4, rtol=1e-3), resnet) == (1e-4, 1e-3)


def test_tolerance_option_reaches_the_gate(tmp_path: Path, capsys) -> None:
    # with atol 0 and rtol 0 even the last-bit differences of onnxruntime fail the gate, and the message says so
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-transformer", "--atol", "0", "--rtol", "0",
                           "--out", tmp_path / "run")
    assert code == 4 and "tolerance abs 0 and rel 0" in _one_error_line(err)
    assert entries(tmp_path) == []


def test_a_failed_full_validation_keeps_the_artifacts(tmp_path: Path, capsys, monkeypatch) -> None:
    """When the validators' report fails, the exports are kept (they passed their own checks) and exit is 4."""
    import modelport.validators as validators

    class Failed:
        passed = False

        def failure_message(self) -> str:
            return "onnx-opset17: output 'logits' max abs 3e-4 exceeds atol 1e-5"

    calls = []

    def fake_validate_run(run_dir, manifest=None, reference=None, options=None, progress=None, session=None,
                          final_dir=None):
        calls.append((Path(run_dir).parent, Path(final_dir), reference is not None))
        return Failed()

    monkeypatch.setattr(validators, "validate_run", fake_validate_run)
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--out", tmp_path / "run")
    assert code == 4 and "max abs 3e-4 exceeds atol 1e-5" in _one_error_line(err)
    # run on the staged directory (beside --out, renamed into place after), with the eager module passed in
    assert calls == [(tmp_path, tmp_path / "run", True)]
    assert entries(tmp_path / "run") == ["manifest.json", "model.opset17.onnx"]


def test_opset_min_stops_at_an_op_no_opset_can_export(tmp_path: Path, capsys) -> None:
    from helpers import models as cm

    torch.save(cm.QR().state_dict(), tmp_path / "w.pt")
    code, _, err = run_cli(capsys, "convert", "--state-dict", tmp_path / "w.pt", "--model-class",
                           f"{cm.__file__}:QR", "--input", "x:2x4x4", "--opset", "min", "--out", tmp_path / "run")
    assert code == 3 and "aten::linalg_qr has no ONNX lowering in any exporter" in _one_error_line(err)
    assert entries(tmp_path) == ["w.pt"]


def test_default_run_directory(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for _ in range(2):  # two runs in the same second do not collide
        code, out, err = run_cli(capsys, "convert", "zoo:branchy", "--to", "torchscript", "--no-validate", "--json")
        assert code == 0, err
    runs = entries(tmp_path / "runs")
    assert len(runs) == 2 and all(r.startswith("branchy-") for r in runs)
