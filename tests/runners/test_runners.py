"""The one way every part loads and runs an artifact: each backend gives the eager module's outputs, by name."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from modelport.runners.base import RunnerOptions
from modelport.runners.load import load_runner
from modelport.runners.ort_runner import providers_for
from modelport.runners.torch_runners import TorchModuleRunner


class TwoOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.fc(x)
        return y, y.argmax(dim=1)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    torch.manual_seed(0)
    model = TwoOut().eval()
    d = tmp_path_factory.mktemp("runners")
    x = torch.randn(2, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(model), str(d / "m.ts"))
        torch.onnx.export(model, (x,), str(d / "m.onnx"), input_names=["x"], output_names=["y", "k"],
                          opset_version=17, dynamo=False, dynamic_axes={"x": {0: "batch"}})
    torch.export.save(torch.export.export(model, (x,)), str(d / "m.pt2"))
    return model, {"torchscript": d / "m.ts", "onnx": d / "m.onnx", "pt2": d / "m.pt2"}


@pytest.mark.parametrize("kind", ["torchscript", "onnx", "pt2"])
def test_every_backend_matches_eager_by_name(artifacts, kind):
    model, paths = artifacts
    feed = {"x": np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32)}
    eager = TorchModuleRunner(model, ["x"], ["y", "k"]).infer(feed)
    runner = load_runner(kind, paths[kind], ["x"], ["y", "k"])
    try:
        got = runner.infer(feed)
    finally:
        runner.close()
    assert list(got) == ["y", "k"]
    np.testing.assert_allclose(got["y"], eager["y"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got["k"], eager["k"])
    assert got["k"].dtype == np.int64


def test_eager_runner_names_extra_outputs():
    runner = TorchModuleRunner(TwoOut().eval(), ["x"], ["only"])
    out = runner.infer({"x": np.zeros((1, 4), np.float32)})
    assert list(out) == ["only", "output_1"]


def test_unknown_kind_is_refused(artifacts):
    with pytest.raises(ValueError, match="no runner for artifact kind 'tflite'"):
        load_runner("tflite", artifacts[1]["onnx"], ["x"], ["y"])


def test_cpu_provider_and_threads(artifacts):
    assert providers_for("cpu") == ["CPUExecutionProvider"]
    runner = load_runner("onnx", artifacts[1]["onnx"], ["x"], ["y", "k"], RunnerOptions(threads=1))
    out = runner.infer({"x": np.ones((5, 4), np.float32)})  # the dynamic batch runs at another size
    assert out["y"].shape == (5, 3)
