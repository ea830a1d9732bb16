"""Issue 13's done-when on the small zoo models (slow): ResNet-50-small and bert-small in fp16, bf16 and int8
(ONNX static/dynamic and .pt2 PT2E) convert, hold the task-metric gate on the seeded set, and bench in Offline;
a .pt2 int8 calibrated on one sample fails a 99.9% gate with exit 4.

The zoo's weights are seeded, not trained, so their logits have small margins: fp16 and bf16 agree with fp32
eager at 0.99 or more, int8 lands lower (ResNet-50-small top-1 about 0.9, bert-small span F1 about 0.98),
which a trained model would not (docs/decisions.md, "Precision: the gate is the task metric"). Each artifact is
therefore held to MLPerf's 99% where the seeded model allows it and to the measured floor otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers.convert import manifest, run_cli

from modelport import zoo

pytestmark = pytest.mark.slow

ALL = ("--to", "onnx", "--to", "torchscript", "--to", "pt2", *[a for p in ("fp32", "fp16", "bf16", "int8")
                                                               for a in ("--precision", p)])
BENCH = ("--scenario", "Offline", "--profile", "tiny", "--duration-ms", "100", "--total-samples", "8",
         "--threads", "1", "--no-accuracy", "--json")
#: model -> (convert --quality, the metric's name in the gate results, the floor each precision is held to):
#: MLPerf's 99% where the seeded model reaches it, else the measured level less a margin (bf16 TorchScript,
#: frozen and optimized for inference, measured 0.93 top-1 on ResNet-50-small and 0.984 F1 on bert-small)
MODELS = {"resnet50-small": (0.85, "top1_agreement", {"fp16": 0.99, "bf16": 0.9, "int8": 0.85}),
          "bert-small": (0.97, "f1", {"fp16": 0.99, "bf16": 0.98, "int8": 0.97})}
REDUCED = {"onnx-opset17-fp16", "onnx-opset17-int8", "torchscript-fp16", "torchscript-bf16", "pt2-fp16",
           "pt2-bf16", "pt2-int8"}


@pytest.mark.parametrize("model", list(MODELS))
def test_every_precision_converts_holds_the_gate_and_benches_offline(model: str, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    quality, metric, floors = MODELS[model]
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "convert", f"zoo:{model}", *ALL, "--quality", str(quality), "--out", out, "-q")
    assert code == 0, err
    arts = {a["id"]: a for a in manifest(out)["artifacts"]}
    assert REDUCED <= set(arts)
    gates = {art_id: next(r for r in arts[art_id]["extra"]["quality_gate"]["results"] if r["output"] == metric)
             for art_id in REDUCED}
    assert all(g["samples"] == 100 and g["passed"] for g in gates.values())
    agreement = {art_id: g["agreement"] for art_id, g in gates.items()}
    assert all(v >= floors[art_id.rsplit("-", 1)[1]] for art_id, v in agreement.items()), agreement
    assert json.loads((out / "validation.json").read_text())["passed"]
    code, text, err = run_cli(capsys, "bench", out, *BENCH)
    assert code == 0, err
    cells = json.loads(text)["results"]["cells"]
    for art_id in {*REDUCED, "onnx-opset17", "pt2", "torchscript", "eager"}:
        assert cells[art_id]["Offline"]["metrics"]["samples_per_second"] > 0, art_id


def test_pt2_int8_calibrated_on_one_sample_fails_a_999_gate(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    specs = zoo.get("resnet50-small").input_specs()
    rng = np.random.default_rng(123)
    np.savez(tmp_path / "one.npz", input=rng.uniform(-2, 2, (1, *specs[0].shape[1:])).astype(np.float32))
    code, _, err = run_cli(capsys, "convert", "zoo:resnet50-small", "--to", "pt2", "--out", tmp_path / "run",
                           "--precision", "fp32", "--precision", "int8", "--calibration", tmp_path / "one.npz",
                           "--quality", "mlperf-99.9")
    assert code == 4, err
    line = err.strip().splitlines()[-1]
    assert "'pt2-int8' (int8)" in line and "top1_agreement" in line and "below the quality gate 0.999" in line
    assert not (tmp_path / "run").exists()
