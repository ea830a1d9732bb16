"""``bench --dataset`` and ``submission --dataset`` on resnet50-small: the data set's samples are benched, every
one runs in accuracy mode, and each cell's accuracy folder holds the reference accuracy script's line (the file
MLPerf's checker reads); and the official LoadGen applies user.conf lines naming the MLPerf model."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from helpers.bench_cli import invoke
from helpers.mlperf_checker import fake_mlperf_repo

pytest.importorskip("PIL")
pytest.importorskip("mlperf_loadgen")
SUBMIT = ["--submitter", "Acme", "--system", "box1", "--division", "open", "--system-type", "edge", "--dry-run",
          "--threads", "1"]


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


# about 6 s: SingleStream performance, accuracy over the 5 images, TEST01 and TEST04, then the checker
def test_submission_tree_carries_the_data_set_line_and_the_checker_verdict(imagenet_run, tmp_path):
    repo = fake_mlperf_repo(tmp_path / "inference")
    res = invoke("submission", str(imagenet_run / "run"), *SUBMIT, "--scenario", "SingleStream",
                 "--out", str(tmp_path / "sub"), "--dataset", f"imagenet={imagenet_run / 'imagenet'}",
                 "--check", "--mlperf-repo", str(repo), "--json")
    assert res.exit_code == 0, res.output
    check = json.loads(res.stdout)["check"]
    assert check["passed"] and check["version"] == "v6.1" and check["summary"] == "submission looks OK"
    root = tmp_path / "sub" / "open" / "Acme"
    lines = (root / "results/box1/resnet50/SingleStream/accuracy/accuracy.txt").read_text().splitlines()
    assert re.match(r"^accuracy=[\d.]+%, good=\d, total=5$", lines[0]) and lines[-1].startswith("hash=")
    # --mlperf-repo also verified the compliance tests: the stand-in's verify files are what the tree holds
    scenario = root / "results/box1/resnet50/SingleStream"
    assert (scenario / "TEST01" / "verify_accuracy.txt").read_text().endswith("TEST PASS\n")
    assert (scenario / "TEST04" / "verify_performance.txt").read_text() == "stand-in\nTEST PASS\n"
    assert "TEST04 passed (MLPerf's verification scripts)" in (scenario / "README.md").read_text()
    system = json.loads((root / "systems" / "box1.json").read_text())
    # the fields MLPerf's checker requires are all there; what the machine cannot tell is left to --system-json
    assert system["accelerators_per_node"] == "0" and system["accelerator_memory_capacity"] == "N/A"
    assert {"host_storage_capacity", "host_processor_caches", "cooling", "system_type_detail"} <= set(system)


def test_a_data_set_no_submitted_benchmark_uses_is_refused(imagenet_run, tmp_path):
    (tmp_path / "squad").mkdir()
    res = invoke("submission", str(imagenet_run / "run"), *SUBMIT, "--out", str(tmp_path / "sub"),
                 "--dataset", f"squad={tmp_path / 'squad'}")
    assert res.exit_code == 2 and "--dataset squad: no submitted benchmark is scored on it" in res.stderr


# about 4 s (eager and ONNX cells); the same with our LoadGen is in test_bench_submission.py
def test_official_loadgen_applies_user_conf_lines_naming_the_mlperf_model(imagenet_run, tmp_path):
    conf = tmp_path / "user.conf"
    conf.write_text("resnet50.SingleStream.min_query_count = 37\nbert.SingleStream.min_query_count = 999\n")
    res = invoke("bench", str(imagenet_run / "run"), "--scenario", "SingleStream", "--no-accuracy", "--profile",
                 "tiny", "--duration-ms", "50", "--threads", "1", "--user-conf", str(conf), "--loadgen", "official",
                 "--json")
    assert res.exit_code == 0, res.output
    cell = json.loads(res.stdout)["results"]["cells"]["onnx-opset17"]["SingleStream"]
    assert cell["effective_settings"]["min_query_count"] == 37 and cell["settings"]["conf_model"] == "resnet50"


# about 5 s: tiny-cnn converted to ONNX, then eager and ONNX in Offline over the data set's 5 images
def test_run_passes_the_data_set_to_its_bench_step(imagenet_run, tmp_path):
    res = invoke("run", "zoo:tiny-cnn", "--to", "onnx", "--out", str(tmp_path / "run"), "--dataset",
                 f"imagenet={imagenet_run / 'imagenet'}", "--profile", "tiny", "--scenario", "Offline", "--threads",
                 "1", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["dataset"]["name"] == "imagenet" and out["dataset"]["samples"] == 5
    assert out["results"]["samples"]["source"] == str(tmp_path / "run" / "datasets" / "imagenet.npz")
    for backend in ("eager", "onnx-opset17"):
        cell = out["results"]["cells"][backend]["Offline"]
        assert cell["accuracy"]["samples"] == 5
        line = out["dataset"]["scores"][backend]["Offline"]["line"]
        assert (tmp_path / "run" / cell["accuracy"]["log_dir"] / "accuracy.txt").read_text() == line + "\n"


@pytest.mark.parametrize("extra, needle", [
    ([], "not a folder"),
    (["--no-accuracy"], "--dataset scores the accuracy run"),
    (["--executor", "serial"], "--dataset scores one run directory, not a matrix"),
])
def test_run_refuses_a_bad_data_set_request_before_converting(imagenet_run, tmp_path, extra, needle):
    folder = tmp_path / "missing" if not extra else imagenet_run / "imagenet"
    res = invoke("run", "zoo:tiny-cnn", "--to", "onnx", "--out", str(tmp_path / "run"), "--dataset",
                 f"imagenet={folder}", *extra)
    assert res.exit_code == 2 and needle in res.stderr and "Traceback" not in res.output, res.output
    assert not (tmp_path / "run").exists()
