"""Reduced precision of a user's own trained classifier: ``--class-output`` names its logits, and the quality
gate judges the rows of ``--inputs`` (the user's data), in convert and again in ``validate RUN_DIR``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.convert import manifest, run_cli

MODEL = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                                  nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 4))

    def forward(self, x):
        return self.body(x)
"""


def _digits(rng: np.random.Generator, prototypes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, len(prototypes), n)
    x = prototypes[labels] + 0.3 * rng.standard_normal((n, 1, 8, 8))
    return x.astype(np.float32), labels


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small CNN trained on four noisy 8x8 patterns, its class file, and calibration and held-out rows."""
    d = tmp_path_factory.mktemp("user-model")
    (d / "net.py").write_text(MODEL)
    import importlib.util

    spec = importlib.util.spec_from_file_location("user_net", d / "net.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    model = module.Net()
    rng = np.random.default_rng(0)
    prototypes = rng.choice([-1.0, 1.0], (4, 1, 8, 8))
    x, y = _digits(rng, prototypes, 512)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.save(model.state_dict(), d / "net.pt")
    np.savez(d / "calib.npz", x=_digits(rng, prototypes, 32)[0])
    held, labels = _digits(rng, prototypes, 48)
    np.savez(d / "val.npz", x=held)
    with torch.no_grad():
        assert (model.eval()(torch.from_numpy(held)).argmax(1).numpy() == labels).mean() > 0.9  # it learned
    return d


def _convert(capsys: pytest.CaptureFixture[str], d: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    return run_cli(capsys, "convert", d / "net.pt", "--model-class", f"{d / 'net.py'}:Net", "--input", "x:1,1,8,8",
                   "--dynamic-batch", "--precision", "fp32", "--precision", "int8", "--calibration", d / "calib.npz",
                   "--out", out, *extra)


def test_int8_of_a_users_classifier_is_gated_on_the_users_rows(trained: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code, _, err = _convert(capsys, trained, out, "--inputs", trained / "val.npz", "--class-output", "output_0",
                            "--quality", "0.98", "-q")
    assert code == 0, err
    m = manifest(out)
    gate = next(a for a in m["artifacts"] if a["id"] == "onnx-opset17-int8")["extra"]["quality_gate"]
    assert gate["samples"] == "samples of val.npz"
    assert gate["results"][0]["samples"] == 48  # the file's rows only, not the 100 seeded samples beside them
    assert gate["results"][0]["agreement"] >= 0.99
    assert m["settings"]["class_outputs"] == ["output_0"] and m["settings"]["inputs_file"].endswith("val.npz")
    # 48 rows cannot resolve a 0.98 gate (one disagreement is 0.021): the pass is recorded with that caveat
    warnings = next(a for a in m["artifacts"] if a["id"] == "onnx-opset17-int8")["warnings"]
    assert any("judged only 48 rows" in w and "at least 50 rows" in w for w in warnings)

    # validate RUN_DIR given the same rows judges the gate as convert did: same output, threshold and tolerance
    code, _, err = run_cli(capsys, "validate", out, "--inputs", trained / "val.npz", "-q")
    assert code == 0, err
    report = json.loads((out / "validation.json").read_text())
    assert report["settings"]["gate_samples"] == "samples of val.npz" and report["settings"]["quality"] == 0.98
    assert report["settings"]["classification_outputs"] == ["output_0"]
    int8 = next(a for a in report["artifacts"] if a["id"] == "onnx-opset17-int8")
    assert [r["samples"] for r in int8["agreement"]] == [48]

    # bench's accuracy mode judges the logits the run named, by top-1 agreement, on every artifact
    code, _, err = run_cli(capsys, "bench", out, "--scenario", "Offline", "--profile", "tiny", "--samples",
                           trained / "val.npz", "-q")
    assert code == 0, err
    cells = json.loads((out / "results.json").read_text())["cells"]
    for backend in ("onnx-opset17", "onnx-opset17-int8"):
        accuracy = cells[backend]["Offline"]["accuracy"]
        assert accuracy["method"] == "top-1" and accuracy["agreement"] >= 0.99, (backend, accuracy)


def test_reduced_precision_without_logits_to_judge_is_refused_before_exporting(
        trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _convert(capsys, trained, tmp_path / "run")
    assert code == 2 and "--class-output NAME" in err and "Traceback" not in err
    code, _, err = _convert(capsys, trained, tmp_path / "run", "--class-output", "logits")
    assert code == 2 and "--class-output names 'logits'" in err and "['output_0']" in err
    assert not (tmp_path / "run").exists()


def test_inputs_that_are_also_calibration_rows_are_refused(trained: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _convert(capsys, trained, tmp_path / "run", "--inputs", trained / "calib.npz", "--class-output",
                            "output_0")
    assert code == 2 and "samples are also validation samples" in err
    assert not (tmp_path / "run").exists()


def test_validate_names_the_runs_inputs_file_and_never_reads_it_by_itself(trained: Path, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    val = tmp_path / "val.npz"
    val.write_bytes((trained / "val.npz").read_bytes())
    out = tmp_path / "run"
    code, _, err = _convert(capsys, trained, out, "--inputs", val, "--class-output", "output_0", "-q")
    assert code == 0, err
    rows = np.load(val)["x"]
    np.savez(val, x=rows[::-1].copy())  # same shape, other order: only the hash tells
    code, _, err = run_cli(capsys, "validate", out, "--inputs", val, "--json")
    assert code == 0, err
    assert any("changed since the run was converted" in w
               for w in json.loads((out / "validation.json").read_text())["warnings"])

    # a manifest's path lies outside the run directory and is not one the user gave: named, not read. A hostile
    # manifest pointing at another file (here a pickled npz, which read_npz would refuse) changes nothing
    hostile = tmp_path / "elsewhere.npz"
    np.save(hostile.with_suffix(".npy"), np.array([object()], dtype=object), allow_pickle=True)
    hostile.write_bytes(hostile.with_suffix(".npy").read_bytes())
    manifest_path = out / "manifest.json"
    data = json.loads(manifest_path.read_text())
    data["settings"]["inputs_file"] = str(hostile)
    manifest_path.write_text(json.dumps(data))
    code, _, err = run_cli(capsys, "validate", out, "--quality", "0.01", "--json")
    assert code == 0, err
    report = json.loads((out / "validation.json").read_text())
    assert report["settings"]["gate_samples"] == "seeded samples" and report["settings"]["inputs_file"] is None
    assert any(f"judged the rows of --inputs {hostile}" in w for w in report["warnings"])
