"""``modelport bench``/``run`` check every input before any work, and an interrupted bench leaves nothing.

Each bad input (a tampered later artifact, a corrupt or wrongly typed baseline, a corrupt samples file, a
meaningless number, a read-only run directory) must be: exit 2, one line on stderr naming the problem, and
the run directory exactly as it was (no cell ran, no log folder, no results.json).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers.bench_cli import Result, invoke
from helpers.security import read_only

from modelport.benchmarks import BenchOptions, get_profile
from modelport.benchmarks.cells import STAGING_PREFIX
from modelport.benchmarks.suite import run_bench
from modelport.manifest import ArtifactFile, load_manifest

SHORT = ["--profile", "tiny", "--duration-ms", "100", "--server-trials", "2", "--total-samples", "8",
         "--accuracy-samples", "4", "--samples-per-query", "2", "--max-batch", "4", "--threads", "1"]


def snapshot(root: Path) -> dict[str, tuple[bool, int, int]]:
    """Every file and folder under ``root`` (hidden ones too); files with their size and modification time
    (a folder's own time changes when a writability probe comes and goes inside it)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[str((Path(dirpath) / name).relative_to(root))] = (True, 0, 0)
        for name in filenames:
            p = Path(dirpath) / name
            st = p.stat()
            out[str(p.relative_to(root))] = (False, st.st_size, st.st_mtime_ns)
    return out


def assert_refused(res: Result, needle: str, code: int = 2) -> None:
    """Exit ``code``, exactly one line on stderr, naming the problem, no traceback."""
    assert res.exit_code == code, res.output
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("modelport: error: "), res.stderr
    assert needle in lines[0], lines[0]
    assert "Traceback" not in res.output


@pytest.fixture(scope="module")
def two_artifacts(tmp_path_factory):
    """tiny-cnn as ONNX and TorchScript (two artifacts, so one can be tampered after the other)."""
    out = tmp_path_factory.mktemp("checks") / "run"
    res = invoke("convert", "zoo:tiny-cnn", "--to", "onnx", "--to", "torchscript", "--out", str(out),
                 "--no-validate", "--quiet")
    assert res.exit_code == 0, res.output
    assert len(load_manifest(out).artifacts) == 2
    return out


@pytest.fixture
def run_copy(two_artifacts, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(two_artifacts, dst)
    return dst


def _last_artifact(run: Path):
    return load_manifest(run).artifacts[-1]


@pytest.mark.parametrize("how, needle", [
    ("append", "does not match its recorded sha256"),  # the file changed, the manifest did not
    ("truncate-and-rehash", "is not a zip archive"),  # corrupt, and the manifest's hash changed to match it
])
def test_a_tampered_later_artifact_fails_before_the_first_cell(run_copy, how, needle):
    art = _last_artifact(run_copy)
    path = run_copy / art.path
    if how == "append":
        with open(path, "ab") as f:
            f.write(b"\0")
    else:
        path.write_bytes(path.read_bytes()[:100])
        manifest = load_manifest(run_copy)
        manifest.artifacts[-1].files = [ArtifactFile.of(run_copy, art.path)]
        manifest.save(run_copy)
    before = snapshot(run_copy)
    res = invoke("bench", str(run_copy), *SHORT, "--scenario", "Offline")
    assert_refused(res, needle)
    assert f"artifact {art.id!r}" in res.stderr
    assert snapshot(run_copy) == before  # the eager model and the first artifact were not benchmarked


def test_a_corrupt_onnx_file_with_a_matching_hash_is_refused_up_front(run_copy):
    manifest = load_manifest(run_copy)
    onnx = next(a for a in manifest.artifacts if a.target == "onnx")
    (run_copy / onnx.path).write_bytes(b"\x08\x07garbage")
    onnx.files = [ArtifactFile.of(run_copy, onnx.path)]
    manifest.save(run_copy)
    before = snapshot(run_copy)
    res = invoke("bench", str(run_copy), *SHORT, "--scenario", "Offline")
    assert_refused(res, "is not an ONNX model")
    assert snapshot(run_copy) == before


def _baseline(tmp_path: Path, mutate) -> Path:
    doc = json.loads((Path(__file__).parent / "results_v1.json").read_text())
    mutate(doc)
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(doc))
    return path


def _set_metric(value):
    def mutate(doc):
        doc["cells"]["onnx-opset17"]["Offline"]["metrics"]["samples_per_second"] = value
    return mutate


@pytest.mark.parametrize("mutate, needle", [
    (_set_metric("fast"), "cells.onnx-opset17.Offline.metrics.samples_per_second is a string, expected a number"),
    (_set_metric([1.0]), "cells.onnx-opset17.Offline.metrics.samples_per_second is a list, expected a number"),
    (_set_metric({"v": 1}), "samples_per_second is an object, expected a number"),
    (lambda d: d["cells"]["eager"]["Offline"].update(accuracy="all good"),
     "cells.eager.Offline.accuracy is a string, expected an object"),
    (lambda d: d["cells"]["eager"]["Offline"]["accuracy"].update(agreement="1.0"),
     "cells.eager.Offline.accuracy.agreement is a string, expected a number"),
    (lambda d: d["cells"]["eager"].update(Offline=[1, 2]), "cells.eager.Offline is a list, expected an object"),
    (lambda d: d["cells"]["eager"].update(Interactive={}), "unknown scenario 'Interactive'"),
    (lambda d: d["cells"]["eager"]["Server"]["search"].update(trials="many"),
     "cells.eager.Server.search.trials is a string, expected a list"),
    (lambda d: d.update(cells=[]), "no 'cells'"),
    (lambda d: d.update(schema_version=99), "schema_version 99 is newer"),
])
def test_a_wrongly_typed_baseline_is_one_line_before_any_work(run_copy, tmp_path, mutate, needle):
    base = _baseline(tmp_path, mutate)
    before = snapshot(run_copy)
    res = invoke("bench", str(run_copy), *SHORT, "--scenario", "Offline", "--baseline", str(base))
    assert_refused(res, needle)
    assert f"--baseline {str(base)!r}" in res.stderr
    assert snapshot(run_copy) == before


@pytest.mark.parametrize("args, needle", [
    (["--server-latency-ms", "nan"], "--server-latency-ms must be positive and finite, got nan"),
    (["--server-latency-ms", "inf"], "--server-latency-ms must be positive and finite, got inf"),
    (["--server-latency-ms", "0"], "--server-latency-ms must be positive"),
    (["--batch-timeout-ms", "nan"], "--batch-timeout-ms must be finite and at least 0, got nan"),
    (["--batch-timeout-ms", "inf"], "--batch-timeout-ms must be finite and at least 0, got inf"),
    (["--batch-timeout-ms", "-1"], "--batch-timeout-ms"),  # click's range check: also exit 2, one line
    (["--sample-seed", "-1"], "--sample-seed must be at least 0"),
])
def test_meaningless_numbers_are_refused_before_any_work(run_copy, args, needle):
    before = snapshot(run_copy)
    res = invoke("bench", str(run_copy), *SHORT, "--scenario", "Server", *args)
    assert res.exit_code == 2, res.output
    assert len(res.stderr.splitlines()) == 1 and needle in res.stderr, res.stderr
    assert snapshot(run_copy) == before


def _npz_bytes(kind: str, tmp_path: Path) -> bytes:
    good = tmp_path / "good.npz"
    np.savez(good, input=np.zeros((4, 3, 32, 32), np.float32))
    data = good.read_bytes()
    if kind == "truncated":
        return data[: len(data) // 2]
    if kind == "empty":
        return b""
    if kind == "text":
        return b"not an archive\n" * 10
    npy = tmp_path / "one.npy"
    np.save(npy, np.zeros((4, 3, 32, 32), np.float32))
    return npy.read_bytes()


@pytest.mark.parametrize("kind, needle", [
    ("truncated", "is not a readable .npz file"),
    ("empty", "is not a readable .npz file"),
    ("text", "is not a readable .npz file"),
    ("npy", "holds one unnamed array (.npy)"),
])
def test_a_corrupt_samples_file_is_refused_before_any_work(run_copy, tmp_path, kind, needle):
    samples = tmp_path / "samples.npz"
    samples.write_bytes(_npz_bytes(kind, tmp_path))
    before = snapshot(run_copy)
    res = invoke("bench", str(run_copy), *SHORT, "--scenario", "Offline", "--samples", str(samples))
    assert_refused(res, needle)
    assert f"--samples {str(samples)!r}" in res.stderr
    assert snapshot(run_copy) == before


@pytest.mark.parametrize("bad, needle", [
    ("baseline", "--baseline"),
    ("samples", "is not a readable .npz file"),
    ("samples-keys", "has no array 'input'"),  # a zoo model's input names are known before converting
])
def test_run_checks_its_baseline_and_samples_before_converting(tmp_path, bad, needle):
    corrupt = tmp_path / "corrupt.npz"
    if bad == "samples-keys":
        np.savez(corrupt, image=np.zeros((4, 3, 32, 32), np.float32))
    else:
        corrupt.write_bytes(b"{ not json" if bad == "baseline" else b"")
    out = tmp_path / "out"
    flag = "--samples" if bad.startswith("samples") else f"--{bad}"
    res = invoke("run", "zoo:tiny-cnn", "--to", "onnx", "--out", str(out), *SHORT, flag, str(corrupt))
    assert_refused(res, needle)
    assert not out.exists()  # nothing was converted


@pytest.mark.parametrize("where", [".", "bench"])
def test_a_read_only_run_directory_is_refused_before_any_work(run_copy, where):
    (run_copy / "bench").mkdir()
    target = run_copy / where
    before = snapshot(run_copy)
    with read_only(target):
        res = invoke("bench", str(run_copy), *SHORT, "--scenario", "Offline")
    assert_refused(res, "is not writable")
    assert snapshot(run_copy) == before


def test_a_cell_that_fails_leaves_no_folder_and_keeps_the_earlier_one(run_copy, monkeypatch):
    profile = get_profile("tiny", duration_ms=100, total_samples=8, accuracy_samples=4)
    options = BenchOptions(["SingleStream"], profile, artifact_ids=["eager"], threads=1)
    run_bench(run_copy, options)
    earlier = run_copy / "bench" / "eager" / "SingleStream"
    before = snapshot(run_copy)

    def fails(*_a, **_kw):
        raise RuntimeError("accuracy check crashed")

    # the performance run completes and writes its logs; the cell fails afterwards, in its accuracy pass
    monkeypatch.setattr("modelport.benchmarks.cells.check_accuracy", fails)
    with pytest.raises(RuntimeError, match="accuracy check crashed"):
        run_bench(run_copy, options)
    assert snapshot(run_copy) == before  # the earlier folder and results.json untouched, nothing staged left
    assert "No errors encountered" in (earlier / "performance" / "mlperf_log_summary.txt").read_text()


@pytest.mark.parametrize("sig, code, line", [(signal.SIGINT, 130, "modelport: aborted"),
                                             (signal.SIGTERM, 143, "modelport: terminated")])
def test_an_interrupted_bench_leaves_no_cell_folder_behind(run_copy, sig, code, line):
    res = invoke("bench", str(run_copy), *SHORT, "--scenario", "SingleStream", "--artifact", "eager")
    assert res.exit_code == 0, res.output
    before = snapshot(run_copy)
    exe = Path(sys.executable).with_name("modelport")
    proc = subprocess.Popen([str(exe), "bench", str(run_copy), *SHORT, "--scenario", "SingleStream",
                             "--duration-ms", "120000", "--no-accuracy"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # a shell runs background jobs with SIGINT ignored, and Python keeps it so
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not list(run_copy.glob(f"{STAGING_PREFIX}*")):  # the first cell has started
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        time.sleep(0.5)  # well inside the cell: LoadGen has written part of its logs
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert err.splitlines() == [line]
    assert snapshot(run_copy) == before  # no staged folder, the earlier cell and results.json as they were
