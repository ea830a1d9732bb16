"""``modelport bench`` edge cases: an artifact without a dynamic batch axis, user samples, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from modelport.cli import cli

SHORT = ["--profile", "tiny", "--duration-ms", "100", "--server-trials", "2", "--total-samples", "8",
         "--accuracy-samples", "4", "--threads", "1"]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


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
                 *SHORT)
    assert res.exit_code == 0, res.output
    results = json.loads(res.stdout)["results"]
    onnx = results["cells"]["onnx-opset17"]
    assert results["backends"]["onnx-opset17"]["batchable"] is False
    assert "no dynamic batch axis" in results["backends"]["onnx-opset17"]["notes"][0]
    assert set(onnx["Offline"]["batch_sizes"]) == {"1"}  # JSON keys
    assert set(onnx["Server"]["batch_sizes"]) == {"1"}
    assert results["samples"]["source"] == str(samples) and results["samples"]["total"] == 5
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


def test_modified_artifact_is_refused(fixed_run, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(fixed_run, copy)
    with open(copy / "model.opset17.onnx", "ab") as f:
        f.write(b"\0")
    res = invoke("bench", str(copy), "--scenario", "Offline", *SHORT)
    assert res.exit_code == 2 and "does not match its recorded sha256" in res.output
