"""Peak memory per sample of a long SingleStream run (issue 10, item d; docs/decisions.md, "LoadGen:
per-sample memory"): the LoadGen keeps what the results and logs need of each sample and nothing more, so a
null-SUT run that issues millions of queries stays at no more than 24 bytes of peak RSS per sample (it was 72
before: a 10 s run at ~9 M queries peaked at 644 MB). Measured in a fresh interpreter: the peak resident set
(VmHWM, reset to the current size just before StartTest) minus the resident set before StartTest, divided by
the samples issued. (Not ru_maxrss: in a child started by fork+exec it also holds the parent's size at the
fork, which hides growth smaller than that.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers.loadgen import OURS, UNDER_TEST

pytestmark = pytest.mark.skipif(UNDER_TEST != OURS, reason="a bound on our implementation")

SAMPLES = 1_500_000

_DRIVER = """
import json, sys, tempfile
import modelport.loadgen as lg
def status_kib(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
n = int(sys.argv[1])
done = [0]
def issue(qs):
    lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in qs])
    done[0] += len(qs)
sut = lg.ConstructSUT(issue, lambda: None)
qsl = lg.ConstructQSL(1024, 1024, lambda s: None, lambda s: None)
ts = lg.TestSettings()
ts.scenario = lg.TestScenario.SingleStream
ts.min_duration_ms = 0
ts.min_query_count = n
with tempfile.TemporaryDirectory() as outdir:
    ls = lg.LogSettings()
    ls.log_output.outdir = outdir
    ls.enable_trace = False
    open("/proc/self/clear_refs", "w").write("5")  # peak := current
    before = status_kib("VmRSS")
    lg.StartTestWithLogSettings(sut, qsl, ts, ls)
    after = status_kib("VmHWM")
print(json.dumps({"samples": done[0], "grown_bytes": (after - before) * 1024}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_single_stream_peak_rss_per_sample_is_at_most_24_bytes():
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(SAMPLES)], capture_output=True, text=True, timeout=300, check=True
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["samples"] == SAMPLES
    per_sample = result["grown_bytes"] / result["samples"]
    assert per_sample <= 24, f"{per_sample:.1f} bytes of peak RSS per sample"
