"""Runners for the fast artifacts: the AOTInductor package's consent rule and the onnxruntime level.

Loading an AOTInductor package dlopens native code (docs/decisions.md, "AOTInductor packages: native code,
loaded only when we built it"): a package this process did not compile is refused unless trusted.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from modelport.errors import UnsafePickleError
from modelport.runners import RunnerOptions, load_runner
from modelport.runners.aoti_runner import check_consent, register_produced
from modelport.runners.ort_runner import LEVEL_KEY


def test_a_package_this_process_did_not_build_is_refused(tmp_path):
    pkg = tmp_path / "someone.pt2"
    pkg.write_bytes(b"PK\x03\x04 pretend this holds a shared object")
    with pytest.raises(UnsafePickleError) as info:
        load_runner("aoti", pkg, ["x"], ["y"])
    assert info.value.exit_code == 2  # bad input, like a refused pickle
    assert "did not build" in str(info.value) and "--trust-pickle" in info.value.hint


def test_consent_is_by_content_not_by_path(tmp_path):
    pkg = tmp_path / "ours.pt2"
    pkg.write_bytes(b"compiled here")
    register_produced(pkg)
    check_consent(pkg, trust=False)  # what we built loads without a flag, wherever it was moved
    moved = tmp_path / "moved.pt2"
    pkg.rename(moved)
    check_consent(moved, trust=False)
    moved.write_bytes(b"compiled here, then edited")
    with pytest.raises(UnsafePickleError):
        check_consent(moved, trust=False)
    check_consent(moved, trust=True)  # the user's consent


def _linear_onnx(path, level: str | None) -> None:
    model = nn.Linear(4, 3).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(2, 4),), str(path), input_names=["x"], output_names=["y"],
                          opset_version=17, dynamo=False)
    if level is not None:
        proto = onnx.load(str(path))
        proto.metadata_props.add(key=LEVEL_KEY, value=level)
        onnx.save(proto, str(path))


@pytest.mark.parametrize(("recorded", "override", "used"), [
    (None, None, "all"),  # a plain export: onnxruntime's full level, as before
    ("basic", None, "basic"),  # an --optimize artifact runs at the level it was validated at
    ("basic", "disabled", "disabled"),  # --ort-graph-opt-level for the session wins
])
def test_ort_level_comes_from_the_file_unless_overridden(tmp_path, recorded, override, used):
    path = tmp_path / "m.onnx"
    _linear_onnx(path, recorded)
    runner = load_runner("onnx", path, ["x"], ["y"], RunnerOptions(ort_graph_opt_level=override))
    assert runner.describe()["graph_optimization_level"] == used
    out = runner.infer({"x": np.ones((2, 4), np.float32)})
    assert out["y"].shape == (2, 3)


def test_unknown_ort_level_is_refused(tmp_path):
    path = tmp_path / "m.onnx"
    _linear_onnx(path, None)
    with pytest.raises(ValueError, match="unknown onnxruntime graph optimisation level 'fast'"):
        load_runner("onnx", path, ["x"], ["y"], RunnerOptions(ort_graph_opt_level="fast"))


@pytest.mark.parametrize("spinning", [True, False])
def test_ort_spinning_is_set_on_the_session_and_described(tmp_path, spinning):
    path = tmp_path / "m.onnx"
    _linear_onnx(path, None)
    runner = load_runner("onnx", path, ["x"], ["y"], RunnerOptions(threads=1, ort_allow_spinning=spinning))
    described = runner.describe()
    assert described["allow_spinning"] is spinning and described["cpu_mem_arena"] is True
    assert runner.infer({"x": np.ones((2, 4), np.float32)})["y"].shape == (2, 3)
