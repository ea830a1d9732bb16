"""``bench --dataset``: the data set's samples are benched, every one runs in accuracy mode, and each cell's
accuracy folder holds the reference accuracy script's line (the file MLPerf's checker reads)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from helpers.bench_cli import invoke

pytest.importorskip("PIL")


@pytest.fixture(scope="module")
def imagenet_run(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("dataset_bench")
    images = root / "imagenet"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (70, 90, 3), dtype=np.uint8)).save(images / f"v{i}.JPEG")
    (images / "val_map.txt").write_text("".join(f"v{i}.JPEG {i * 7}\n" for i in range(5)))
    res = invoke("convert", "zoo:resnet50-small", "--to", "onnx", "--out", str(root / "run"), "--no-validate",
                 "--quiet")
    assert res.exit_code == 0, res.output
    return root


# about 4 s: eager and ONNX, Offline, tiny profile
def test_bench_scores_every_sample_of_the_data_set(imagenet_run):
    run = imagenet_run / "run"
    res = invoke("bench", str(run), "--dataset", f"imagenet={imagenet_run / 'imagenet'}", "--profile", "tiny",
                 "--scenario", "Offline", "--threads", "1", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["dataset"]["name"] == "imagenet" and out["dataset"]["samples"] == 5
    assert out["results"]["samples"]["source"].endswith("datasets/imagenet.npz")
    lines = set()
    for backend in ("eager", "onnx-opset17"):
        score = out["dataset"]["scores"][backend]["Offline"]
        assert score["total"] == 5
        cell = out["results"]["cells"][backend]["Offline"]
        assert cell["accuracy"]["samples"] == 5  # every image, not the profile's accuracy sample count
        text = (run / cell["accuracy"]["log_dir"] / "accuracy.txt").read_text()
        assert text == score["line"] + "\n" and re.match(r"^accuracy=[\d.]+%, good=\d, total=5$", text)
        lines.add(text)
    assert len(lines) == 1  # the artifact scores what eager scores


def test_dataset_and_samples_together_are_refused(imagenet_run, tmp_path):
    np.savez(tmp_path / "s.npz", input=np.zeros((2, 3, 64, 64), np.float32))
    res = invoke("bench", str(imagenet_run / "run"), "--dataset", f"imagenet={imagenet_run / 'imagenet'}",
                 "--samples", str(tmp_path / "s.npz"), "--profile", "tiny")
    assert res.exit_code == 2 and "--dataset and --samples both choose the samples" in res.stderr
