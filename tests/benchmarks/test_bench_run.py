"""``modelport run`` on tiny-cnn with a very short profile: the whole convert -> validate -> bench -> report path.

One run (module fixture) feeds the checks; the baseline checks re-bench one artifact in one scenario.
"""

from __future__ import annotations

import json
import shutil

import matplotlib
import pytest
from helpers.bench_cli import invoke

from modelport.benchmarks.mlperf_logs import read_detail, read_summary
from modelport.benchmarks.regression import compare, load_baseline
from modelport.manifest import load_manifest

matplotlib.use("Agg")
import matplotlib.image  # noqa: E402

SCENARIOS = ["SingleStream", "MultiStream", "Offline", "Server"]
SHORT = ["--profile", "tiny", "--duration-ms", "100", "--server-trials", "2", "--total-samples", "8",
         "--accuracy-samples", "6", "--samples-per-query", "2", "--max-batch", "4", "--threads", "1"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "run"
    res = invoke("run", "zoo:tiny-cnn", "--out", str(out), "--json", *SHORT)
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    return out, payload


def test_every_artifact_and_the_eager_model_in_every_scenario(run):
    out, payload = run
    results = json.loads((out / "results.json").read_text())
    assert payload["results"]["cells"] == results["cells"]
    ids = ["eager"] + [a.id for a in load_manifest(out).artifacts]
    assert {a.target for a in load_manifest(out).artifacts} == {"torchscript", "onnx", "pt2"}
    assert list(results["cells"]) == ids
    for backend in ids:
        assert list(results["cells"][backend]) == SCENARIOS
        cells = results["cells"][backend]
        assert cells["SingleStream"]["metrics"]["latency_p90_ms"] > 0
        assert cells["MultiStream"]["metrics"]["query_latency_p99_ms"] > 0
        assert cells["Offline"]["metrics"]["samples_per_second"] > 0
        # Offline gets the whole query at once: full batches of --max-batch (every artifact has a batch axis)
        assert "4" in cells["Offline"]["batch_sizes"] and max(map(int, cells["Offline"]["batch_sizes"])) == 4
        assert results["backends"][backend]["batchable"] is True
        assert cells["Server"]["search"]["trials"], "the Server search ran no trial"
    assert results["machine"]["cpu_model"] and results["machine"]["usable_cores"] >= 1
    assert results["options"]["intra_op_threads"] == 1
    assert results["versions"]["torch"] and results["samples"]["seed"] == 0


def test_mlperf_logs_exist_and_parse(run):
    out, _ = run
    results = json.loads((out / "results.json").read_text())
    for backend, cells in results["cells"].items():
        for scenario, cell in cells.items():
            perf = out / cell["log_dir"]
            assert perf == out / "bench" / backend / scenario / "performance"
            summary_text = (perf / "mlperf_log_summary.txt").read_text()
            assert "Result is :" in summary_text
            summary = read_summary(perf)
            detail = read_detail(perf)
            assert summary["Scenario"] == scenario
            assert summary["Result is"] == detail.get("result_validity") == cell["validity"]
            assert (out / cell["accuracy"]["log_dir"] / "mlperf_log_accuracy.json").is_file()


def test_accuracy_mode_agrees_with_eager_on_every_sample(run):
    out, _ = run
    results = json.loads((out / "results.json").read_text())
    for backend, cells in results["cells"].items():
        for scenario, cell in cells.items():
            acc = cell["accuracy"]
            assert acc["agreement"] == 1.0, (backend, scenario, acc)
            assert acc["method"] == "top-1"
            assert acc["empty_responses"] == 0
            # MultiStream pads its last query with repeats; the other scenarios log each sample once
            assert acc["samples"] >= 6 if scenario == "MultiStream" else acc["samples"] == 6
            assert acc["outputs"]["logits"]["within_tolerance"], (backend, scenario, acc)


def test_server_search_reports_every_tried_qps(run):
    out, _ = run
    results = json.loads((out / "results.json").read_text())
    for backend, cells in results["cells"].items():
        server = cells["Server"]
        trials = server["search"]["trials"]
        for t in trials:
            assert t["target_qps"] > 0 and isinstance(t["passed"], bool)
            assert (out / t["log_dir"] / "mlperf_log_detail.txt").is_file()
        passing = [t["target_qps"] for t in trials if t["passed"]]
        assert server["metrics"]["max_valid_qps"] == (max(passing) if passing else None), backend
        assert server["metrics"]["latency_bound_ms"] == results["options"]["server_latency_ms"]


def test_plots_are_valid_pngs(run):
    out, _ = run
    names = ["latency_cdf_SingleStream.png", "latency_cdf_MultiStream.png", "throughput_Offline.png",
             "throughput_Server.png"]
    for name in names:
        path = out / "plots" / name
        assert path.read_bytes()[:8] == PNG_SIGNATURE, name
        img = matplotlib.image.imread(path)
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100


def test_report_has_a_table_per_scenario_with_ratios_to_eager(run):
    out, payload = run
    report = (out / "report.md").read_text()
    for scenario in SCENARIOS:
        assert f"## {scenario}" in report
        assert f"plots/{'latency_cdf_' if 'Stream' in scenario else 'throughput_'}{scenario}.png" in report
    assert report.count("speed-up vs eager") == 4
    for backend in payload["results"]["cells"]:
        assert f"| {backend} |" in report
    assert "| eager |" in report and "1.00x" in report


def test_doctored_baseline_fails_naming_the_metric_and_save_baseline_round_trips(run, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(run[0], out)
    results = json.loads((out / "results.json").read_text())
    onnx_id = next(b for b in results["cells"] if b.startswith("onnx"))
    doctored = json.loads(json.dumps(results))
    doctored["cells"][onnx_id]["Offline"]["metrics"]["samples_per_second"] *= 1000
    for rec in doctored["cells"][onnx_id]["Offline"].get("runs", []):  # the regression test reads the runs
        rec["metrics"]["samples_per_second"] *= 1000
    bad = tmp_path / "doctored.json"
    bad.write_text(json.dumps(doctored))
    saved = tmp_path / "saved" / "baseline.json"
    res = invoke("bench", str(out), "--artifact", onnx_id, "--scenario", "Offline", "--baseline", str(bad),
                 "--save-baseline", str(saved), "--quiet", *SHORT)
    assert res.exit_code == 5, res.output
    assert f"{onnx_id}/Offline/samples_per_second" in res.output
    assert "Traceback" not in res.output
    # the regression is recorded too, and the run's own files were rewritten before failing
    rewritten = json.loads((out / "results.json").read_text())
    regressed = [r["metric"] for r in rewritten["baseline_comparison"]["regressions"]]
    assert f"{onnx_id}/Offline/samples_per_second" in regressed
    # --save-baseline wrote a baseline that loads and matches itself exactly
    base = load_baseline(saved)
    assert not compare(base, rewritten, 0.0).regressions
    assert len(compare(base, rewritten, 0.0).changes) == len(compare(base, base, 0.0).changes) >= 2


def test_a_baseline_that_shares_no_metric_is_an_error_not_a_pass(run, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(run[0], out)
    results = json.loads((out / "results.json").read_text())
    only_single_stream = json.loads(json.dumps(results))
    for cells in only_single_stream["cells"].values():
        for scenario in [s for s in cells if s != "SingleStream"]:
            del cells[scenario]
    base = tmp_path / "ss.json"
    base.write_text(json.dumps(only_single_stream))
    (out / "results.json").unlink()  # nothing earlier to carry: the run has only its new Offline cells
    onnx_id = next(b for b in results["cells"] if b.startswith("onnx"))
    res = invoke("bench", str(out), "--artifact", onnx_id, "--scenario", "Offline", "--baseline", str(base),
                 "--quiet", *SHORT)
    assert res.exit_code == 2, res.output
    assert "shares no metric with this run" in res.output and "eager/SingleStream" in res.output


def test_a_partial_rebench_keeps_comparable_cells_and_drops_the_rest(run, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(run[0], out)
    before = json.loads((out / "results.json").read_text())
    onnx_id = next(b for b in before["cells"] if b.startswith("onnx"))
    res = invoke("bench", str(out), "--artifact", onnx_id, "--scenario", "Offline", "--quiet", *SHORT)
    assert res.exit_code == 0, res.output
    after = json.loads((out / "results.json").read_text())
    assert after["scenarios"] == SCENARIOS  # the report still covers everything
    assert {b: sorted(c) for b, c in after["cells"].items()} == {b: sorted(c) for b, c in before["cells"].items()}
    assert f"{onnx_id}/Offline" not in after["carried_cells"]["cells"]
    assert "torchscript/SingleStream" in after["carried_cells"]["cells"]
    assert "Kept from the bench of" in (out / "report.md").read_text()
    # measured differently (another thread count): the earlier cells are not mixed in
    res = invoke("bench", str(out), "--artifact", onnx_id, "--scenario", "Offline", "--quiet", *SHORT,
                 "--threads", "2")
    assert res.exit_code == 0, res.output
    again = json.loads((out / "results.json").read_text())
    assert again["scenarios"] == ["Offline"] and "carried_cells" not in again
    assert sorted(again["cells"]) == sorted(["eager", onnx_id])


def test_an_interrupted_rebench_leaves_the_earlier_results_and_their_logs_as_they_were(run, tmp_path, monkeypatch):
    """Cells finished before the interrupt are not moved over the folders the earlier results.json names."""
    from modelport.benchmarks import suite

    out = tmp_path / "copy"
    shutil.copytree(run[0], out)
    results = (out / "results.json").read_bytes()
    summary = out / "bench" / "eager" / "SingleStream" / "performance" / "mlperf_log_summary.txt"
    logged = summary.read_bytes()
    calls = []
    one_run = suite.one_run

    def interrupted_second_run(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return one_run(*args, **kwargs)

    monkeypatch.setattr(suite, "one_run", interrupted_second_run)
    res = invoke("bench", str(out), "--scenario", "SingleStream,Offline", "--quiet", *SHORT)
    assert res.exit_code == 130 and len(calls) == 2, res.output  # eager SingleStream ran, then the interrupt
    assert (out / "results.json").read_bytes() == results and summary.read_bytes() == logged
    assert not [p.name for p in out.iterdir() if p.name.startswith(".bench-")]  # no staged cell left behind
