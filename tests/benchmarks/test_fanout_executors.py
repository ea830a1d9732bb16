"""``modelport run --executor ray|process``: a small matrix fanned out, merged into one report, with the
benchmark cells one at a time on this machine (docs/decisions.md, "Fan-out: Ray core, one benchmark per node").

The Ray test starts a real local Ray (num_cpus=2, dashboard off, 200 MB object store) and checks that it is
shut down afterwards; with CI=true a missing Ray is a failure, not a skip.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers.bench_cli import invoke
from helpers.fanout import require_ray

from modelport.benchmarks import executors
from modelport.benchmarks.results import BenchResults

SHORT = ["--scenario", "SingleStream", "--profile", "tiny", "--duration-ms", "100", "--total-samples", "8",
         "--accuracy-samples", "4", "--threads", "1"]
#: 2 targets x 2 opsets: the opset axis is ONNX's, so three cells (docs/decisions.md, "Fan-out: what a matrix
#: cell is")
TWO_BY_TWO = ["zoo:tiny-cnn", "--to", "onnx", "--to", "torchscript", "--opset", "13", "--opset", "17"]
CELLS_2X2 = {"tiny-cnn-onnx-opset13", "tiny-cnn-onnx-opset17", "tiny-cnn-torchscript"}


def check_merged(run_dir: Path, executor: str, cells: set[str]) -> dict:
    """Every cell of ``cells`` converted, validated and benchmarked (LoadGen's verdict recorded: a 100 ms run on a busy
    machine may be INVALID), accurate, the bench cells one at a time and after every conversion; returns
    results.json."""
    res = json.loads((run_dir / "results.json").read_text())
    assert res["schema"] == "modelport-matrix/1" and res["executor"]["name"] == executor and res["hosts"]
    assert cells <= set(res["cells"])
    for cid in set(res["cells"]) - cells:  # the cells expected to fail
        assert not res["cells"][cid]["convert"]["ok"] and res["cells"][cid]["bench"] is None
    res["cells"] = {cid: rec for cid, rec in res["cells"].items() if cid in cells}
    for cid, rec in res["cells"].items():
        assert rec["convert"]["ok"] and rec["bench"]["ok"], (cid, rec)
        own = BenchResults.from_json(json.loads((run_dir / rec["dir"] / "results.json").read_text()))
        assert own.cells, cid
        rows = [row for by_sc in rec["bench"]["backends"].values() for row in by_sc.values()]
        assert rows and all(r["validity"] in ("VALID", "INVALID") and r["value"] > 0 for r in rows)
        assert all(r["accuracy"] == 1.0 for r in rows)
        assert (run_dir / rec["dir"] / "validation.json").is_file()
    benches = sorted((r["bench"]["start"], r["bench"]["end"]) for r in res["cells"].values())
    assert all(end <= nxt for (_, end), (nxt, _) in zip(benches, benches[1:], strict=False)), benches
    assert max(r["convert"]["end"] for r in res["cells"].values()) <= benches[0][0]
    eager = [r["model"] for r in res["cells"].values() if "eager" in r["bench"]["backends"]]
    assert sorted(eager) == sorted({r["model"] for r in res["cells"].values()})  # once per model
    report = (run_dir / "report.md").read_text()
    assert all(f"| {cid} |" in report for cid in cells)
    return res


def test_ray_executor_runs_the_matrix(tmp_path, monkeypatch):
    """The 2x2 matrix of tiny-cnn, plus a file that is not a model: its cells fail one by one (one line
    each, the run's exit code theirs) while the others complete."""
    require_ray()
    broken = tmp_path / "not-a-model.pt"
    broken.write_bytes(b"not a model")
    matrix = tmp_path / "matrix.json"
    matrix.write_text(json.dumps({"models": ["zoo:tiny-cnn", str(broken)]}))
    made: list[str] = []
    make_dir = executors.ray_temp_dir
    monkeypatch.setattr(executors, "ray_temp_dir", lambda: made.append(make_dir()) or made[-1])
    out = tmp_path / "m"
    res = invoke("run", "--matrix", str(matrix), *TWO_BY_TWO[1:], *SHORT, "--executor", "ray", "--jobs", "2",
                 "--out", str(out), "--json")
    assert res.exit_code == 2, res.output[-3000:]
    assert json.loads(res.stdout)["run_dir"] == str(out)
    failed = [line for line in res.stderr.splitlines() if line.startswith("modelport: cell ")]
    assert len(failed) == 3 and all("not-a-model" in line and "(exit 2)" in line for line in failed)
    merged = check_merged(out, "ray", CELLS_2X2)
    ex = merged["executor"]
    assert ex["ray_version"] and ex["bench_slots"] == 1 and ex["resources"]["CPU"] == 2.0
    import ray

    assert not ray.is_initialized()  # the local Ray it started is shut down
    assert len(made) == 1 and not os.path.exists(made[0])  # with its session folder (not left in /tmp/ray)


@pytest.mark.slow
def test_process_executor_runs_a_matrix_file(tmp_path):
    matrix = tmp_path / "matrix.json"
    matrix.write_text(json.dumps({"models": ["zoo:tiny-cnn", "zoo:tiny-transformer"], "targets": ["onnx"],
                                  "opsets": [13, 17]}))
    out = tmp_path / "m"
    res = invoke("run", "--matrix", str(matrix), *SHORT, "--executor", "process", "--jobs", "2", "--out", str(out))
    assert res.exit_code == 0, res.output
    cells = {f"{m}-onnx-opset{o}" for m in ("tiny-cnn", "tiny-transformer") for o in (13, 17)}
    merged = check_merged(out, "process", cells)
    assert merged["executor"]["jobs"] == 2 and "run directory:" in res.stdout
    assert os.getpid() not in {r["convert"]["pid"] for r in merged["cells"].values()}  # cells ran in workers


@pytest.mark.slow
def test_an_unreachable_ray_cluster_is_refused_in_seconds(tmp_path):
    require_ray()
    out = tmp_path / "m"
    res = invoke("run", *TWO_BY_TWO, *SHORT, "--ray-address", "127.0.0.1:1", "--out", str(out))
    assert res.exit_code == 2 and "cannot connect to the Ray cluster at 127.0.0.1:1" in res.stderr, res.output
    assert not out.exists()


@pytest.mark.slow
def test_a_ray_without_bench_slots_is_refused_and_left_running(tmp_path):
    """A Ray the caller started (no modelport_bench_slot): refused before any cell, and not shut down."""
    require_ray()
    import ray

    ray.init(num_cpus=1, include_dashboard=False, object_store_memory=100 * 1024 * 1024, log_to_driver=False)
    try:
        res = invoke("run", *TWO_BY_TWO, *SHORT, "--executor", "ray", "--out", str(tmp_path / "m"))
        assert res.exit_code == 2 and "offers no 'modelport_bench_slot' resource" in res.stderr, res.output
        assert ray.is_initialized() and not (tmp_path / "m").exists()
    finally:
        ray.shutdown()
