"""LoadGen-core checks owned by the loadgen implementation: run-ending knobs against the official
module (issued index sequence, counts, error lines), the trace file, early-stopping figures,
and refusing overlapping runs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import modelport.loadgen as lg

# One StartTest in a fresh interpreter (the official module keeps process-wide state).
DRIVER = textwrap.dedent(
    """
    import importlib, json, sys, tempfile, time
    lg = importlib.import_module(sys.argv[1]); knobs = json.loads(sys.argv[2])
    outdir = tempfile.mkdtemp(); calls = []; held = []
    def issue(qs):
        calls.append([q.index for q in qs])
        if knobs.get("_always_slow"):
            time.sleep(0.004)
        if knobs.get("_hold"):
            held.extend(qs)
            return
        lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in qs])
    def flush():
        lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in held])
    sut = lg.ConstructSUT(issue, flush)
    qsl = lg.ConstructQSL(100, 100, lambda s: None, lambda s: None)
    ts = lg.TestSettings()
    for k, v in knobs.items():
        if k.startswith("_"):
            continue
        setattr(ts, k, getattr(lg.TestScenario, v) if k == "scenario" else v)
    ls = lg.LogSettings(); ls.log_output.outdir = outdir; ls.enable_trace = False
    lg.StartTestWithLogSettings(sut, qsl, ts, ls)
    detail = {}
    for line in open(outdir + "/mlperf_log_detail.txt"):
        rec = json.loads(line[len(":::MLLOG "):])
        detail.setdefault(rec["key"], rec["value"])
    print(json.dumps({"calls": calls, "detail": detail}))
    """
)


def _run(module: str, knobs: dict) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", DRIVER, module, json.dumps(knobs)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


BASE = {"min_duration_ms": 200, "min_query_count": 10, "sample_index_rng_seed": 11, "schedule_rng_seed": 12}


@pytest.mark.parametrize(
    "knobs",
    [
        {"max_query_count": 50, "single_stream_expected_latency_ns": 100000},
        {"scenario": "Server", "server_target_qps": 2000, "server_max_async_queries": 20, "_hold": True},
    ],
    ids=["max_query_count", "server_max_async_queries"],
)
def test_early_ends_match_official(knobs):
    ours, theirs = (_run(m, {**BASE, **knobs}) for m in ("modelport.loadgen", "mlperf_loadgen"))
    assert ours["calls"] == theirs["calls"]
    for key in ("generated_query_count", "error_runtime", "result_query_count", "result_validity"):
        assert ours["detail"].get(key) == theirs["detail"].get(key), key


def test_server_coalescing_keeps_the_sample_sequence():
    knobs = {**BASE, "scenario": "Server", "server_target_qps": 2000, "server_coalesce_queries": True,
             "_always_slow": True}
    ours, theirs = (_run(m, knobs) for m in ("modelport.loadgen", "mlperf_loadgen"))
    flat = lambda run: [i for call in run["calls"] for i in call]  # noqa: E731
    assert flat(ours) == flat(theirs)
    # a 4 ms issue call against 0.5 ms arrivals must merge due queries into one call
    assert max(len(c) for c in ours["calls"]) > 1
    assert ours["detail"]["result_query_count"] == theirs["detail"]["generated_query_count"]


def test_trace_is_chrome_json_with_one_event_per_sample(tmp_path):
    sut = lg.ConstructSUT(lambda qs: lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in qs]),
                          lambda: None)
    qsl = lg.ConstructQSL(16, 16, lambda s: None, lambda s: None)
    ts = lg.TestSettings()
    ts.scenario = lg.TestScenario.Offline
    ts.min_duration_ms = 0
    ts.min_query_count = 40000  # more than one trace chunk
    ls = lg.LogSettings()
    ls.log_output.outdir = str(tmp_path)
    ls.enable_trace = True
    lg.StartTestWithLogSettings(sut, qsl, ts, ls)
    lg.DestroySUT(sut)
    lg.DestroyQSL(qsl)
    trace = json.loads((tmp_path / "mlperf_log_trace.json").read_text())
    samples = [e for e in trace["traceEvents"] if e.get("name") == "Sample"]
    assert len(samples) == 40000
    assert sorted(e["args"]["sample_seq"] for e in samples) == list(range(40000))
    assert all(e["dur"] >= 0 for e in samples)


@pytest.mark.parametrize(("p", "min_queries"), [(0.90, 64), (0.99, 662), (0.999, 6636)])
def test_early_stopping_minimum_query_counts(p, min_queries):
    # h(t=1) + 1 is the "Processed at least N queries" figure of the official LoadGen
    assert lg._core._min_passing_queries(1, p) + 1 == min_queries


def test_early_stopping_is_fast_for_millions_of_queries():
    start = time.perf_counter()
    discard = lg._core._early_stopping_discard(5_000_000, 0.90)
    assert time.perf_counter() - start < 0.5
    assert 490_000 < discard < 500_000  # about (1-p)·n, minus the confidence margin


def test_overlapping_start_test_is_refused(tmp_path):
    release = threading.Event()
    started = threading.Event()

    def issue(qs):
        started.set()
        release.wait(10)
        lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in qs])

    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(4, 4, lambda s: None, lambda s: None)
    ts = lg.TestSettings()
    ts.min_duration_ms = 0
    ts.min_query_count = 1
    ls = lg.LogSettings()
    ls.log_output.outdir = str(tmp_path)
    runner = threading.Thread(target=lg.StartTestWithLogSettings, args=(sut, qsl, ts, ls))
    runner.start()
    assert started.wait(10)
    other = tmp_path / "other"
    other.mkdir()
    ls2 = lg.LogSettings()
    ls2.log_output.outdir = str(other)
    with pytest.raises(lg.LoadGenError, match="already running"):
        lg.StartTestWithLogSettings(sut, qsl, ts, ls2)
    release.set()
    runner.join(10)
    assert not runner.is_alive()
