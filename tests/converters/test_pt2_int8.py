"""convert --to pt2 --precision int8: PT2E (torchao) int8 programs, calibrated like ONNX static int8, loading
weights-only through the .pt2 scan, and refused in one line where the flow does not apply."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers.convert import manifest, run_cli

from modelport import zoo
from modelport.converters.precision import calibration_set
from modelport.errors import InputError
from modelport.runners.pt2_archive import unsafe_globals

_INT8 = ("--precision", "fp32", "--precision", "int8")

# A fresh interpreter: the program's quantized_decomposed ops must be registered by the loader itself, not by
# torchao having been imported while converting; prints the outputs' shapes/dtypes and the program's weights.
_LOAD = """
import json, sys, torch
from modelport.runners import load_runner
from modelport.runners.pt2_archive import load_program
path = sys.argv[1]
runner = load_runner("pt2", path, ["input"], ["logits"])
out = runner.infer({"input": torch.rand(5, 3, 32, 32).numpy()})
weights = {k: str(v.dtype) for k, v in load_program(path).state_dict.items() if v.dim() == 4}
print(json.dumps({"out": {k: [list(v.shape), str(v.dtype)] for k, v in out.items()}, "weights": weights,
                  "torchao_imported": "torchao" in sys.modules}))
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from modelport.converters.options import ConvertOptions
    from modelport.converters.pipeline import convert

    out = tmp_path_factory.mktemp("pt2int8") / "run"
    convert("zoo:tiny-cnn", ConvertOptions(out=out, targets=("pt2",), precision=("fp32", "int8"), quality=0.9))
    return out


def test_pt2_int8_is_recorded_and_calibrated_on_the_onnx_calibration_set(run: Path) -> None:
    arts = {a["id"]: a for a in manifest(run)["artifacts"]}
    assert set(arts) == {"pt2", "pt2-int8"}
    pt2 = arts["pt2-int8"]["extra"]
    made = pt2["precision"]
    assert made["library"].startswith("torchao ") and made["quantizer"] == "X86InductorQuantizer"
    assert (made["mode"], made["per_channel"], made["quantizable_layers"]) == ("static", True, 3)
    # the samples ONNX static int8 calibrates on (the same function, seed and size feed both)
    entry = zoo.get("tiny-cnn")
    onnx_calib = calibration_set(entry.input_specs(), 0, 64, entry)
    assert (made["calibration"]["sha256"], made["calibration"]["size"]) == (onnx_calib.sha256, 64)
    assert made["calibration"]["seed"] == onnx_calib.seed and made["calibration"]["origin"] == "zoo-samples"
    assert pt2["quality_gate"]["threshold"] == 0.9 and all(r["passed"] for r in pt2["quality_gate"]["results"])
    report = json.loads((run / "validation.json").read_text())
    (judged,) = [a for a in report["artifacts"] if a["id"] == "pt2-int8"]
    # validated like ONNX int8: element differences reported, the task-metric agreement is the gate
    assert report["passed"] and not all(s["passed"] for s in judged["input_sets"])
    assert [(g["threshold"], g["passed"]) for g in judged["agreement"]] == [(0.9, True)]


def test_pt2_int8_loads_weights_only_in_a_fresh_process_at_another_batch(run: Path) -> None:
    path = run / "model.int8.pt2"
    assert unsafe_globals(path) == []  # nothing beyond plain tensors: the scan lets it through untrusted
    res = subprocess.run([sys.executable, "-c", _LOAD, str(path)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["out"] == {"logits": [[5, 10], "float32"]}  # dynamic batch kept, fp32 at the boundary
    assert not got["torchao_imported"]  # validate/bench need no torchao to run the artifact
    # the conv weights are int8; convert_pt2e's unused fp32 copies are not shipped
    assert got["weights"] and set(got["weights"].values()) == {"torch.int8"}


@pytest.mark.parametrize("target", ["pt2", "aoti"])
def test_pt2_int8_without_torchao_is_refused_before_loading(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchao" else real(name, *a))
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--to", target, *_INT8, "--out", tmp_path / "run")
    assert code == 2 and "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert f"--to {target} --precision int8 needs torchao" in line and "--to onnx --precision int8" in line
    assert not (tmp_path / "run").exists()


def test_pt2_int8_of_a_model_without_conv_or_linear_is_refused(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "elementwise.py"
    src.write_text("import torch\n\nclass Net(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                   "        self.scale = torch.nn.Parameter(torch.ones(8))\n\n"
                   "    def forward(self, x):\n        return torch.tanh(x) * self.scale\n")
    torch.save({"scale": torch.full((8,), 2.0)}, tmp_path / "w.pt")  # a parameter, but no Conv or Linear
    code, _, err = run_cli(capsys, "convert", "--state-dict", tmp_path / "w.pt", "--model-class", f"{src}:Net",
                           "--input", "x:2x8", "--to", "pt2", *_INT8, "--class-output", "output_0", "--out",
                           tmp_path / "run")
    assert code == 2 and "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert "quantizes Conv1d/Conv2d/Linear layers and the model has none" in line
    assert "--to onnx --precision int8" in line and not (tmp_path / "run").exists()


def test_help_and_matrix_offer_the_precisions_that_are_built(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from modelport.benchmarks.matrix import from_options, load_matrix_file
    from modelport.converters.precision import PRECISIONS

    code, out, _ = run_cli(capsys, "convert", "--help")
    assert code == 0 and "fp32|fp16|bf16|int8" in out.replace("\n", " ") and len(PRECISIONS) == 4
    defaults = from_options("zoo:tiny-cnn", ("onnx",), ("17",), ("fp32",), ["Offline"])
    m = tmp_path / "m.json"
    m.write_text(json.dumps({"targets": ["onnx", "pt2"], "precisions": ["fp32", "bf16", "int8"]}))
    cells = {c.id: c.precisions for c in load_matrix_file(m, defaults).cells}
    assert cells == {"tiny-cnn-onnx-opset17": ("fp32", "int8"), "tiny-cnn-pt2": ("fp32", "bf16", "int8")}
    m.write_text(json.dumps({"targets": ["onnx"], "precisions": ["fp32", "bf16"]}))  # no target builds bf16 here
    with pytest.raises(InputError, match="'bf16' is built for torchscript, pt2 and aoti only") as e:
        load_matrix_file(m, defaults)
    assert e.value.hint == "add torchscript, pt2 or aoti to the targets"
