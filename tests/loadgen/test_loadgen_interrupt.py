"""Ctrl-C during a long LoadGen run (docs/decisions.md, "LoadGen: interrupts stop a running test"): the wait
for completions runs without the GIL, yet a SIGINT (or a SIGTERM whose handler raises) must stop StartTest
within about a second, with the exception the handler raised, the logs saying the test was aborted, and the
next StartTest in the same process working.

Each case runs in a child process, so a signal that StartTest failed to act on cannot stop pytest itself."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from helpers.loadgen import OURS, UNDER_TEST
from helpers.signals import default_sigint

pytestmark = pytest.mark.skipif(UNDER_TEST != OURS, reason="extension behaviour of ours only")

# argv: outdir, scenario, signal name. Prints one JSON line.
CHILD = textwrap.dedent(
    """
    import json, os, signal, sys, threading, time
    from pathlib import Path
    import modelport.loadgen as lg

    outdir, scenario, signame = Path(sys.argv[1]), sys.argv[2], sys.argv[3]

    class Terminated(Exception):
        pass

    def on_term(signum, frame):
        raise Terminated("SIGTERM")

    signal.signal(signal.SIGTERM, on_term)
    held = []
    complete = False

    def issue(qs):
        if complete:
            lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in qs])
        else:
            held.extend(q.id for q in qs)  # never completed: the run would wait completion_timeout_s

    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(64, 64, lambda s: None, lambda s: None)

    def run(name, **fields):
        ts = lg.TestSettings()
        ts.scenario = getattr(lg.TestScenario, scenario)
        ts.mode = lg.TestMode.PerformanceOnly
        ts.min_duration_ms = 0
        ts.min_query_count = 32
        ts.completion_timeout_s = 600
        ts.server_target_qps = 0.5  # Server: 2 s between queries, so the issuer sleeps, not waits
        for key, value in fields.items():
            setattr(ts, key, value)
        ls = lg.LogSettings()
        (outdir / name).mkdir()
        ls.log_output.outdir = str(outdir / name)
        lg.StartTestWithLogSettings(sut, qsl, ts, ls)

    sig = getattr(signal, signame)
    threading.Timer(0.5, os.kill, (os.getpid(), sig)).start()
    start = time.monotonic()
    try:
        run("interrupted")
        raised = None
    except BaseException as exc:
        raised = type(exc).__name__
    elapsed = time.monotonic() - start
    complete = True
    run("next", server_target_qps=1000)
    print(json.dumps({"raised": raised, "elapsed": elapsed, "held": len(held)}))
    """
)


@pytest.mark.parametrize(
    ("scenario", "signame", "exc"),
    [
        ("Offline", "SIGINT", "KeyboardInterrupt"),
        ("SingleStream", "SIGINT", "KeyboardInterrupt"),
        ("Server", "SIGINT", "KeyboardInterrupt"),
        ("MultiStream", "SIGTERM", "Terminated"),
    ],
)
def test_a_signal_stops_a_waiting_test_and_the_next_one_runs(tmp_path, scenario, signame, exc):
    r = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), scenario, signame],
        capture_output=True, text=True, timeout=60, preexec_fn=default_sigint,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["raised"] == exc
    assert out["held"] >= 1  # it was waiting on samples the SUT never completed
    # 0.5 s until the signal, then one interrupt check (50 ms); generous for a loaded machine
    assert out["elapsed"] < 1.5, out
    summary = (tmp_path / "interrupted" / "mlperf_log_summary.txt").read_text()
    assert "Result is : INVALID" in summary
    assert f"Test aborted : {exc}" in summary
    detail = (tmp_path / "interrupted" / "mlperf_log_detail.txt").read_text()
    assert f"Test aborted: {exc}" in detail
    following = (tmp_path / "next" / "mlperf_log_summary.txt").read_text()
    assert "Test aborted" not in following
    assert following.endswith("No errors encountered during test.\n")  # (32 queries: early stopping may say INVALID)
