"""A *trained* ResNet-50-small (slow): the zoo's untrained seeded weights put many gate samples within int8's
rounding of a tie (docs/decisions.md, "Precision: measured"); trained on a seeded class-structured image set,
the same topology's int8, fp16 and bf16 artifacts hold the default mlperf-99 gate on its held-out rows, and
bench them in Offline, through the user's path (--state-dict, --calibration, --inputs, --class-output)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.convert import manifest, run_cli

from modelport.zoo.resnet import ResNet50, natural_images

pytestmark = pytest.mark.slow

ARGS = {"num_classes": 10, "layers": [1, 1, 1, 1]}  # resnet50-small's topology: one bottleneck per stage


def _images(prototypes: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each image one of the class prototypes blended with another seeded photograph-like image."""
    labels = np.random.default_rng(seed).integers(0, len(prototypes), n)
    return (0.7 * prototypes[labels] + 0.3 * natural_images(n, 64, seed + 1)).astype(np.float32), labels


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("trained-r50s")
    prototypes = natural_images(10, 64, 7)
    torch.manual_seed(0)
    model = ResNet50(**ARGS)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for step in range(120):
        x, y = _images(prototypes, 32, 1000 + 2 * step)
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.save(model.state_dict(), d / "r50s.pt")
    np.savez(d / "calib.npz", x=_images(prototypes, 64, 1)[0])
    held, labels = _images(prototypes, 200, 3)
    np.savez(d / "val.npz", x=held)
    with torch.no_grad():
        assert (model.eval()(torch.from_numpy(held)).argmax(1).numpy() == labels).mean() > 0.9  # it learned
    return d


def test_trained_resnet50_small_holds_mlperf_99_in_every_precision_and_benches(
        trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "convert", trained / "r50s.pt", "--model-class", "modelport.zoo.resnet:ResNet50",
                           "--model-args", json.dumps(ARGS), "--input", "x:1,3,64,64", "--dynamic-batch",
                           "--to", "onnx", "--to", "torchscript", "--to", "pt2", "--precision", "fp32",
                           "--precision", "fp16", "--precision", "bf16", "--precision", "int8",
                           "--calibration", trained / "calib.npz", "--inputs", trained / "val.npz",
                           "--class-output", "logits", "--atol", "1e-3", "--out", out, "-q")
    assert code == 0, err  # every reduced-precision artifact passed the default gate, mlperf-99
    gates = {a["id"]: a["extra"]["quality_gate"] for a in manifest(out)["artifacts"] if "quality_gate" in a["extra"]}
    assert {"onnx-opset17-int8", "onnx-opset17-fp16", "pt2-int8", "torchscript-bf16"} <= set(gates)
    for gate in gates.values():
        assert gate["threshold"] == 0.99 and gate["samples"] == "samples of val.npz"
        assert gate["results"][0]["samples"] == 200 and gate["results"][0]["agreement"] >= 0.99
    code, _, err = run_cli(capsys, "bench", out, "--scenario", "Offline", "--profile", "tiny", "--samples",
                           trained / "val.npz", "--artifact", "onnx-opset17", "--artifact", "onnx-opset17-int8",
                           "-q")
    assert code == 0, err
    cells = json.loads((out / "results.json").read_text())["cells"]
    assert cells["onnx-opset17-int8"]["Offline"]["metrics"]["samples_per_second"] > 0
    assert cells["onnx-opset17-int8"]["Offline"]["accuracy"]["agreement"] >= 0.99
