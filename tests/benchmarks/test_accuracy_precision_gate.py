"""bench accuracy mode: fp32 artifacts must agree on every sample; fp16/int8 ones are judged by the task metric
at the quality gate their manifest records (not by element tolerances, not left unjudged)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.benchmarks.results import AccuracyResult, BenchResults, Cell
from modelport.benchmarks.workflow import accuracy_failures
from modelport.manifest import Artifact, ArtifactFile, RunManifest, SourceRecord
from modelport.spec import InputSpec


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    def art(aid: str, extra: dict) -> Artifact:
        return Artifact(aid, "onnx", f"{aid}.onnx", [ArtifactFile(f"{aid}.onnx", "0" * 64, 1)], 0.1, extra=extra)

    int8 = {"precision": {"precision": "int8", "mode": "static"}, "quality_gate": {"threshold": 0.95}}
    fp16 = {"precision": {"precision": "fp16"}}  # no recorded gate: the default, mlperf-99
    RunManifest(SourceRecord("zoo", "zoo:tiny-cnn"), [InputSpec("input", (1, 3, 32, 32))], ["logits"],
                artifacts=[art("onnx-opset17", {}), art("onnx-opset17-int8", int8),
                           art("onnx-opset17-fp16", fp16)]).save(tmp_path)
    return tmp_path


def _results(**agreements: tuple[float, str, float | None]) -> BenchResults:
    cells = {}
    for backend, (agreement, method, metric) in agreements.items():
        task = {"metric": "classification", "primary": "top1_agreement", "value": metric, "samples": 200,
                "values": {}} if metric is not None else None
        cells[backend.replace("_", "-")] = {"Offline": Cell(accuracy=AccuracyResult(200, agreement, method,
                                                                                   task_metric=task))}
    return BenchResults(cells=cells)


def test_reduced_precision_cells_are_gated_by_the_recorded_task_metric_threshold(run_dir: Path) -> None:
    # int8 at 0.96 passes its recorded 0.95 gate although its element-wise outputs all differ from eager
    ok = _results(onnx_opset17=(1.0, "top-1", 1.0), onnx_opset17_int8=(0.0, "tolerance", 0.96),
                  onnx_opset17_fp16=(0.995, "top-1", None))
    assert accuracy_failures(ok, run_dir) == []
    bad = _results(onnx_opset17=(0.99, "top-1", 0.99), onnx_opset17_int8=(1.0, "top-1", 0.90),
                   onnx_opset17_fp16=(0.98, "top-1", None))
    failures = accuracy_failures(bad, run_dir)
    assert failures[0] == "onnx-opset17 Offline: agreement 0.9900 on 200 samples"  # fp32: every sample
    assert failures[1].startswith("onnx-opset17-int8 Offline: classification top1_agreement against eager 0.9000")
    assert "below the quality gate 0.95 recorded at convert" in failures[1]
    assert "top-1 agreement against eager 0.9800" in failures[2] and "quality gate 0.99 " in failures[2]
