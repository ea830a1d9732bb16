"""``modelport bench`` edge cases: an artifact without a dynamic batch axis, user samples, and bad input."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
import torch
from helpers.bench_cli import invoke

from modelport.benchmarks import BenchOptions, get_profile
from modelport.benchmarks.suite import run_bench
from modelport.manifest import ArtifactFile, load_manifest
from modelport.progress import Progress

SHORT = ["--profile", "tiny", "--duration-ms", "100", "--server-trials", "2", "--total-samples", "8",
         "--accuracy-samples", "4", "--threads", "1"]


@pytest.fixture(scope="module")
def fixed_run(tmp_path_factory):
    """tiny-cnn exported to ONNX with a fixed batch of 1 (no dynamic axis)."""
    out = tmp_path_factory.mktemp("fixed") / "run"
    res = invoke("convert", "zoo:tiny-cnn", "--to", "onnx", "--input", "input:1x3x32x32:float32:-2,2",
                 "--out", str(out), "--no-validate", "--quiet")
    assert res.exit_code == 0, res.output
    return out


def test_fixed_batch_artifact_runs_batch_one_on_user_samples(fixed_run, tmp_path):
    samples = tmp_path / "samples.npz"
    np.savez(samples, input=np.random.default_rng(1).uniform(-2, 2, (5, 3, 32, 32)).astype(np.float32))
    res = invoke("bench", str(fixed_run), "--scenario", "Offline,Server", "--samples", str(samples), "--json",
                 "--workers", "2", *SHORT)
    assert res.exit_code == 0, res.output
    results = json.loads(res.stdout)["results"]
    onnx = results["cells"]["onnx-opset17"]
    assert results["backends"]["onnx-opset17"]["batchable"] is False
    assert "no dynamic batch axis" in results["backends"]["onnx-opset17"]["notes"][0]
    assert set(onnx["Offline"]["batch_sizes"]) == {"1"}  # JSON keys
    assert set(onnx["Server"]["batch_sizes"]) == {"1"}
    assert results["samples"]["source"] == str(samples) and results["samples"]["total"] == 5
    assert results["options"]["workers"] == 2
    assert onnx["Offline"]["accuracy"]["agreement"] == 1.0 and onnx["Offline"]["accuracy"]["samples"] == 4
    assert list(results["cells"]) == ["eager", "onnx-opset17"]


@pytest.mark.parametrize("args, message", [
    (["--scenario", "Interactive"], "unknown scenario 'Interactive'"),
    (["--artifact", "nope"], "run has no artifact 'nope'"),
    (["--baseline", "/nonexistent/results.json"], "--baseline '/nonexistent/results.json' does not exist"),
    (["--user-conf", "/nonexistent/user.conf"], "--user-conf '/nonexistent/user.conf' does not exist"),
    (["--tolerance", "lots"], "--tolerance 'lots' is not a number"),
    (["--duration-ms", "0"], "--duration-ms must be at least 1"),
    (["--server-latency-ms", "-3"], "--server-latency-ms must be positive"),
])
def test_bad_options_fail_in_one_line_before_benchmarking(fixed_run, args, message):
    results = fixed_run / "results.json"
    before = results.stat().st_mtime_ns if results.exists() else None
    res = invoke("bench", str(fixed_run), *SHORT, *args)
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output
    assert (results.stat().st_mtime_ns if results.exists() else None) == before  # nothing was benchmarked


def test_user_conf_is_applied_and_a_broken_one_refused(fixed_run, tmp_path):
    conf = tmp_path / "user.conf"
    conf.write_text("# ours\n*.SingleStream.min_query_count = 37\n")
    res = invoke("bench", str(fixed_run), *SHORT, "--scenario", "SingleStream", "--no-accuracy", "--user-conf",
                 str(conf), "--json")
    assert res.exit_code == 0, res.output
    cell = json.loads(res.stdout)["results"]["cells"]["onnx-opset17"]["SingleStream"]
    assert cell["effective_settings"]["min_query_count"] == 37 and cell["metrics"]["query_count"] >= 37
    assert "accuracy" not in cell
    conf.write_text("*.SingleStream.min_query_count = 37 # trailing comment\n")
    res = invoke("bench", str(fixed_run), *SHORT, "--user-conf", str(conf))
    assert res.exit_code == 2 and "could not be parsed" in res.output


def test_not_a_run_directory(tmp_path):
    res = invoke("bench", str(tmp_path / "missing"))
    assert res.exit_code == 2 and "does not exist" in res.output
    res = invoke("bench", str(tmp_path))
    assert res.exit_code == 2 and "not a modelport run directory" in res.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_cuda_without_a_gpu_is_a_clear_error(fixed_run):
    res = invoke("bench", str(fixed_run), "--device", "cuda", *SHORT)
    assert res.exit_code == 2 and "no CUDA GPU" in res.output


def test_accuracy_mode_catches_an_artifact_of_another_model(fixed_run, tmp_path):
    """An ONNX file of tiny-cnn with other weights, recorded as this run's artifact: fast, wrong, exit 4."""

    other = tmp_path / "other"
    res = invoke("convert", "zoo:tiny-cnn", "--to", "onnx", "--input", "input:1x3x32x32:float32:-2,2",
                 "--seed", "1", "--out", str(other), "--no-validate", "--quiet")
    assert res.exit_code == 0, res.output
    run = tmp_path / "run"
    shutil.copytree(fixed_run, run)
    shutil.copy(other / "model.opset17.onnx", run / "model.opset17.onnx")
    manifest = load_manifest(run)
    manifest.artifacts[0].files = [ArtifactFile.of(run, "model.opset17.onnx")]
    manifest.save(run)
    res = invoke("bench", str(run), *SHORT, "--scenario", "Offline")
    assert res.exit_code == 4, res.output
    error = next(line for line in res.output.splitlines() if "error:" in line)  # a busy machine adds warnings
    assert "onnx-opset17 Offline: agreement" in error and "eager Offline" not in error
    results = json.loads((run / "results.json").read_text())
    assert results["cells"]["onnx-opset17"]["Offline"]["accuracy"]["agreement"] < 1.0
    assert (run / "report.md").is_file()


def test_progress_names_each_cell_and_the_server_qps_on_a_terminal(fixed_run, tmp_path):

    run = tmp_path / "run"
    shutil.copytree(fixed_run, run)
    stream = io.StringIO()
    profile = get_profile("tiny", duration_ms=100, server_trials=2, total_samples=8, accuracy_samples=2)

    run_bench(run, BenchOptions(["Offline", "Server"], profile, threads=1), Progress(enabled=True, stream=stream))
    text = stream.getvalue()
    for backend in ("eager", "onnx-opset17"):
        assert f"{backend} Offline: running" in text and f"{backend} Server: trying" in text
        assert f"{backend} Offline:" in text and "samples/s" in text
    assert " QPS (bound " in text


def test_modified_artifact_is_refused(fixed_run, tmp_path):

    copy = tmp_path / "run"
    shutil.copytree(fixed_run, copy)
    with open(copy / "model.opset17.onnx", "ab") as f:
        f.write(b"\0")
    res = invoke("bench", str(copy), "--scenario", "Offline", *SHORT)
    assert res.exit_code == 2 and "does not match its recorded sha256" in res.output
