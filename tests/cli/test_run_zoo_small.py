"""``modelport run zoo:NAME-small --profile quick`` for every small MLPerf configuration: convert to TorchScript
and ONNX at the default opset, validate, bench one scenario with accuracy mode scored by the model's task
metric. Minutes in all on 2 cores, so slow; the per-model convert + task-metric checks are in
tests/sources/test_zoo_mlperf.py."""

from __future__ import annotations

import json

import pytest
from helpers.convert import run_cli

from modelport import zoo

SMALL = ["resnet50-small", "bert-small", "ssd-mobilenet-small", "ssd-resnet34-small", "3d-unet-small", "dlrm-small",
         "rnnt-small", "gnmt-small"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SMALL)
def test_quick_run_of_a_small_mlperf_config(name, tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "run", f"zoo:{name}", "--to", "torchscript", "--to", "onnx",
                                "--scenario", "Offline", "--profile", "quick", "--accuracy-samples", "16",
                                "--out", str(out), "--json")
    assert code == 0, err
    assert json.loads(stdout)["validation"] is True
    results = json.loads((out / "results.json").read_text())
    assert set(results["cells"]) == {"eager", "torchscript", "onnx-opset17"}
    for backend, by_scenario in results["cells"].items():
        cell = by_scenario["Offline"]
        assert cell["metrics"]["samples_per_second"] > 0, backend
        if backend != "eager":  # accuracy mode scores each artifact by the task metric against eager
            assert cell["accuracy"]["task_metric"]["metric"] == zoo.get(name).metric, backend
            assert cell["accuracy"]["task_metric"]["value"] >= 0.99, backend
    assert (out / "report.md").is_file()
