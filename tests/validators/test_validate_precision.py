"""validate RUN_DIR judges reduced-precision artifacts by the task metric at --quality; element figures reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.convert import run_cli


@pytest.fixture(scope="module")
def int8_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from modelport.converters.options import ConvertOptions
    from modelport.converters.pipeline import convert

    out = tmp_path_factory.mktemp("prec") / "run"
    convert("zoo:resnet50-small", ConvertOptions(out=out, precision=("fp32", "int8"), quality=0.5))
    return out


def test_reduced_precision_passes_on_the_task_metric_despite_element_differences(
        int8_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "validate", int8_run, "--quality", "0.6", "--json")
    assert code == 0, err
    report = json.loads(out)
    int8 = next(a for a in report["artifacts"] if a["id"] == "onnx-opset17-int8")
    # int8 differs from eager far beyond fp32 tolerances: reported, but not the gate
    assert not all(s["passed"] for s in int8["input_sets"])
    (gate,) = int8["agreement"]
    assert gate["metric"] == "classification" and gate["threshold"] == 0.6 and gate["passed"]
    fp32 = next(a for a in report["artifacts"] if a["id"] == "onnx-opset17")
    assert fp32["agreement"] == []  # fp32 keeps the element gate


def test_quality_preset_failure_exits_4_naming_artifact_metric_and_margin(
        int8_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "validate", int8_run, "--quality", "mlperf-99.9", "--artifact", "onnx-opset17-int8")
    assert code == 4
    line = err.strip().splitlines()[-1]
    assert "'onnx-opset17-int8' (int8)" in line and "top1_agreement" in line and "below the quality gate 0.999" in line
    assert "Traceback" not in err


def test_quality_must_be_a_fraction_or_preset(int8_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "validate", int8_run, "--quality", "mlperf-98")
    assert code == 2 and "mlperf-99" in err
