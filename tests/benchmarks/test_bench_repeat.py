"""``--repeat``, the regression call that survives noise, ``--cpus`` and the Server bound's rule.

The CLI checks bench one ONNX artifact of tiny-cnn in Offline only (a few seconds each). A slowdown is
injected into the artifact's backend (a sleep per batch), so "slower" is real whatever the machine's load;
the identical re-run uses a wide tolerance for the same reason: a busy shared machine may move a run by
more than 5%, and the point here is the rule, not this machine's noise (bench/regression_noise.py measures
false alarms and detections at 20%).
"""

from __future__ import annotations

import json
import os
import time
from types import SimpleNamespace

import pytest
from helpers.bench_cli import invoke

from modelport.benchmarks.backends import Backend
from modelport.benchmarks.comparison import judge
from modelport.benchmarks.noise import parse_cpus, pinned
from modelport.benchmarks.preflight import server_bound
from modelport.benchmarks.stats import mann_whitney_greater, min_p_value, spread
from modelport.errors import InputError

ONNX = "onnx-opset17"
FAST = ["--profile", "tiny", "--duration-ms", "150", "--scenario", "Offline", "--total-samples", "8",
        "--max-batch", "4", "--threads", "1", "--no-accuracy", "--artifact", ONNX]
METRIC = f"{ONNX}/Offline/samples_per_second"


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """A converted tiny-cnn and a 3-repeat baseline of its ONNX artifact."""
    root = tmp_path_factory.mktemp("repeat")
    res = invoke("convert", "zoo:tiny-cnn", "--to", "onnx", "--out", str(root / "run"), "--no-validate", "--quiet")
    assert res.exit_code == 0, res.output
    res = invoke("bench", str(root / "run"), "--repeat", "3", "--save-baseline", str(root / "base.json"), "--json",
                 *FAST)
    assert res.exit_code == 0, res.output
    return root / "run", root / "base.json", json.loads(res.stdout)


def test_repeat_3_keeps_three_runs_per_cell_and_their_spread(baseline):
    run, _, payload = baseline
    results = json.loads((run / "results.json").read_text())
    assert results["schema_version"] == 2 and results["options"]["repeat"] == 3
    assert payload["results"]["cells"] == results["cells"]
    for backend in ("eager", ONNX):
        cell = results["cells"][backend]["Offline"]
        runs = cell["runs"]
        assert len(runs) == 3
        values = [r["metrics"]["samples_per_second"] for r in runs]
        s = cell["spread"]["samples_per_second"]
        assert s["runs"] == 3 and s["min"] == min(values) and s["max"] == max(values)
        assert cell["metrics"]["samples_per_second"] == s["median"] == sorted(values)[1]
        assert s["relative_spread"] == pytest.approx((max(values) - min(values)) / s["median"])
        assert cell["noisy"] == (s["relative_spread"] > 0.10)
        # every run has its own LoadGen logs
        assert len({r["log_dir"] for r in runs}) == 3
        for r in runs:
            assert (run / r["log_dir"] / "mlperf_log_detail.txt").is_file()
        assert {"start", "end", "others_cpu_cores", "busy"} <= set(cell["noise"])
        assert cell["noise"]["start"]["affinity"]
    assert "runs: median [min–max], spread" in (run / "report.md").read_text()


def test_an_identical_rerun_is_within_noise(baseline, tmp_path):
    run, base, _ = baseline
    res = invoke("bench", str(run), "--repeat", "3", "--baseline", str(base), "--tolerance", "80%", *FAST)
    assert res.exit_code == 0, res.output
    results = json.loads((run / "results.json").read_text())
    change = next(c for c in results["baseline_comparison"]["compared"] if c["metric"] == METRIC)
    assert change["regressed"] is False and len(change["baseline_runs"]) == len(change["current_runs"]) == 3
    assert change["verdict"].startswith(("within noise", "faster")), change
    assert "Mann-Whitney" in change["test"] and change["p_value"] is not None
    assert f"{METRIC}: {change['verdict']}" in res.stdout


def test_a_slower_artifact_is_a_significant_regression_exit_5(baseline, monkeypatch):
    run, base, _ = baseline
    infer = Backend.infer

    def slow(self, feed):  # 10 ms per batch: tens of times the artifact's own time for a batch of 4
        out = infer(self, feed)
        if self.id == ONNX:
            time.sleep(0.010)
        return out

    monkeypatch.setattr(Backend, "infer", slow)
    res = invoke("bench", str(run), "--repeat", "3", "--baseline", str(base), "--tolerance", "80%", *FAST)
    assert res.exit_code == 5, res.output
    line = res.stderr.strip().splitlines()[-1]
    assert METRIC in line and "slower by" in line and "(p=0.05)" in line and "Traceback" not in res.output
    results = json.loads((run / "results.json").read_text())
    regressed = results["baseline_comparison"]["regressions"]
    assert [r["metric"] for r in regressed] == [METRIC]
    assert "REGRESSED" in (run / "report.md").read_text()


def test_cpus_pins_the_bench_and_sets_threads_to_match(baseline):
    run, _, _ = baseline
    core = min(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    args = [a for a in FAST if a not in ("--threads", "1")]
    res = invoke("bench", str(run), "--cpus", str(core), "--json", *args)
    assert res.exit_code == 0, res.output
    results = json.loads(res.stdout)["results"]
    assert results["options"]["cpus"] == [core] and results["options"]["intra_op_threads"] == 1
    assert results["cells"][ONNX]["Offline"]["noise"]["start"]["affinity"] == [core]
    assert os.sched_getaffinity(0) == before  # restored for whatever runs next in this process


@pytest.mark.parametrize("text, message", [("x", "is not a list of core ids"), ("100000", "not available")])
def test_bad_cpus_are_one_line_errors(text, message):
    with pytest.raises(InputError, match=message):
        parse_cpus(text)


def test_pinning_is_undone():
    before = os.sched_getaffinity(0)
    with pinned([min(before)]):
        assert os.sched_getaffinity(0) == {min(before)}
    assert os.sched_getaffinity(0) == before


def test_mann_whitney_matches_known_values():
    assert mann_whitney_greater([4, 5, 6], [1, 2, 3]) == pytest.approx(0.05)  # 1 / C(6, 3)
    assert mann_whitney_greater([1, 2, 3], [4, 5, 6]) == 1.0
    assert mann_whitney_greater([2, 4, 6], [1, 3, 5]) == pytest.approx(0.35)  # scipy: 0.35
    assert mann_whitney_greater([1, 1, 1], [1, 1, 1]) == 1.0  # all tied: no evidence
    assert min_p_value(3, 3) == pytest.approx(0.05) and min_p_value(2, 2) == pytest.approx(1 / 6)
    # beyond the exact limit the normal approximation: a clear shift is tiny, no shift about one half
    shifted = mann_whitney_greater([i + 0.5 for i in range(40)], [i - 10.0 for i in range(40)])
    assert shifted < 0.01
    assert 0.3 < mann_whitney_greater(list(range(40)), [i + 0.5 for i in range(40)]) < 0.6
    s = spread([3.0, 1.0, 2.0])
    assert (s.median, s.low, s.high, s.relative) == (2.0, 1.0, 3.0, 1.0)


def test_the_verdict_needs_both_the_tolerance_and_significance():
    # throughput 10% lower in every run: slower, by the rank test
    v = judge([100, 101, 102], [90, 91, 92], True, 0.05)
    assert v.regressed and v.p_value == pytest.approx(0.05) and v.words(True, "samples/s").startswith("slower by")
    # beyond the tolerance but overlapping runs: within noise
    v = judge([100, 80, 120], [90, 70, 125], True, 0.05)
    assert not v.regressed and v.words(True, "samples/s").startswith("within noise")
    # significant but within the tolerance: not a regression
    assert not judge([100, 101, 102], [98, 98.5, 99], True, 0.05).regressed
    # latency: higher is worse; lower beyond the tolerance and significant is faster
    assert judge([1.0, 1.1, 1.2], [2.0, 2.1, 2.2], False, 0.05).regressed
    assert judge([2.0, 2.1, 2.2], [1.0, 1.1, 1.2], False, 0.05).words(False, "ms").startswith("faster by")
    # one run each: the tolerance alone decides, and says so
    v = judge([100], [80], True, 0.05)
    assert v.regressed and v.p_value is None and "tolerance only" in v.test
    # measured before, nothing now: a regression
    assert judge([100, 100, 100], [None, None, None], True, 0.05).regressed


def test_the_server_bound_rule_says_which_applied():
    mlperf = SimpleNamespace(name="resnet50", mlperf=SimpleNamespace(server_latency_ms=15.0))
    assert server_bound(mlperf, None) == (15.0, "the MLPerf constraint of resnet50")
    assert server_bound(mlperf, 40.0) == (40.0, "--server-latency-ms")
    assert server_bound(SimpleNamespace(name="bert"), None) == (130.0, "mlperf.conf (bert)")
    no_mlperf = SimpleNamespace(name="tiny-cnn", mlperf=None)
    assert server_bound(no_mlperf, None) == (None, "")  # derived later from the eager model
    assert server_bound(None, None) == (None, "")


def test_compare_writes_its_report_json_and_plots(baseline, tmp_path):
    import shutil

    original, base, _ = baseline
    run, other = tmp_path / "run", tmp_path / "other"
    shutil.copytree(original, run)
    shutil.copy(base, run / "results.json")  # the 3-repeat bench (later tests re-bench the original)
    shutil.copytree(original, other)
    res = invoke("bench", str(other), "--repeat", "3", *FAST)
    assert res.exit_code == 0, res.output
    out = tmp_path / "cmp"
    res = invoke("compare", str(run), str(other), "--out", str(out), "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [r["label"] for r in doc["runs"]] == ["run", "other"]
    row = next(r for r in doc["metrics"] if r["metric"] == METRIC)
    assert [v["runs"] for v in row["values"]] == [3, 3] and row["verdicts"][0] is None
    assert row["verdicts"][1]["test"].startswith("Mann-Whitney")
    report = (out / "compare.md").read_text()
    assert METRIC in report and "## Validation" in report
    assert json.loads((out / "compare.json").read_text())["metrics"] == doc["metrics"]
    for plot in ("throughput_Offline.png",):
        assert (out / "plots" / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # one run, or an output that is in the way: one line, exit 2, nothing written
    assert invoke("compare", str(run), "--out", str(tmp_path / "x")).exit_code == 2
    assert not (tmp_path / "x").exists()
    res = invoke("compare", str(run), str(tmp_path / "nope"), "--out", str(tmp_path / "y"))
    assert res.exit_code == 2 and "has no results.json" in res.stderr and not (tmp_path / "y").exists()
