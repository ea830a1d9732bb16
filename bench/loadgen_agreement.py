"""Do both LoadGens measure the same thing? Ours vs the official mlperf_loadgen on one deterministic SUT.

Each (LoadGen, scenario) runs in a fresh interpreter with the same seeds and settings against the same SUT:
one worker thread that serves every issue call after a fixed per-call cost plus a fixed service time per
sample (spin-waits, so the service time does not depend on the OS timer slack). Both LoadGens drive it
through the compatible API (ConstructSUT / QuerySamplesComplete), so the harness is identical. For each
scenario the headline metric MLPerf publishes (read from mlperf_log_detail.txt, the key the submission
checker reads) is printed for both, with the relative difference and both validities. Target: within 2%
and the same validity in every scenario.

Then our Server schedule accuracy: issue time minus scheduled time for every sample (from our trace's
``issue_start_ns``), p50 and p99, at 1k and 10k target QPS with a SUT that completes inline.

    python bench/loadgen_agreement.py [--duration-ms 4000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

OURS = "modelport.loadgen"
OFFICIAL = "mlperf_loadgen"
SERVICE_US = 200.0  # per sample
CALL_US = 50.0  # per issue call (a batch's fixed cost)

# scenario -> (detail-log key of the headline metric, what it is, settings beyond the common ones)
SCENARIOS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "SingleStream": ("early_stopping_latency_ss", "p90 latency, early-stopping estimate (ns)",
                     {"single_stream_expected_latency_ns": 300_000}),
    "MultiStream": ("early_stopping_latency_ms", "p99 query latency, early-stopping estimate (ns)",
                    {"multi_stream_samples_per_query": 8, "multi_stream_expected_latency_ns": 2_000_000}),
    "Server": ("result_completed_samples_per_sec", "completed samples/s",
               {"server_target_qps": 1000, "server_target_latency_ns": 20_000_000}),
    # expected above the SUT's ~4,700 samples/s, so the run outlasts min_duration (else both are INVALID)
    "Offline": ("result_samples_per_second", "samples/s", {"offline_expected_qps": 6000}),
}


# ---- worker: one StartTest in this (fresh) process ----------------------------------------------------

def _spin(us: float) -> None:
    import time

    end = time.perf_counter() + us / 1e6
    while time.perf_counter() < end:
        pass


def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    import importlib
    import queue
    import threading

    import numpy as np

    lg = importlib.import_module(spec["module"])
    work: queue.Queue = queue.Queue()
    inline = spec.get("inline", False)
    response = np.zeros(4, dtype=np.uint8)
    ptr, size = response.ctypes.data, response.nbytes

    def serve() -> None:
        while True:
            samples = work.get()
            if samples is None:
                return
            _spin(CALL_US + SERVICE_US * len(samples))
            lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, ptr, size) for s in samples])

    def issue(samples: list[Any]) -> None:
        if inline:
            lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, ptr, size) for s in samples])
        else:
            work.put(list(samples))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(1024, 1024, lambda idx: None, lambda idx: None)
    ts = lg.TestSettings()
    ts.scenario = getattr(lg.TestScenario, spec["scenario"])
    ts.mode = lg.TestMode.PerformanceOnly
    ts.min_duration_ms = spec["duration_ms"]
    ts.min_query_count = 100
    for key, value in spec["settings"].items():
        setattr(ts, key, value)
    log = lg.LogSettings()
    log.log_output.outdir = spec["outdir"]
    log.enable_trace = bool(spec.get("trace"))
    lg.StartTestWithLogSettings(sut, qsl, ts, log)
    work.put(None)
    thread.join()
    lg.DestroyQSL(qsl)
    lg.DestroySUT(sut)
    return {"ok": True}


def run_once(module: str, scenario: str, settings: dict[str, Any], duration_ms: int, trace: bool = False,
             inline: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lg-agree-") as outdir:
        spec = {"module": module, "scenario": scenario, "settings": settings, "duration_ms": duration_ms,
                "outdir": outdir, "trace": trace, "inline": inline}
        proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True,
                              text=True, timeout=duration_ms / 1000 * 20 + 120)
        if proc.returncode != 0:
            raise RuntimeError(f"{module} {scenario} failed: {proc.stderr.strip()[-500:]}")
        detail = _detail(Path(outdir) / "mlperf_log_detail.txt")
        issue_delays = _issue_delays(Path(outdir) / "mlperf_log_trace.json") if trace else []
    return {"detail": detail, "issue_delays_ns": issue_delays}


def _detail(path: Path) -> dict[str, Any]:
    """Every ``:::MLLOG {...}`` line's key and value (the last one wins)."""
    values: dict[str, Any] = {}
    for line in path.read_text().splitlines():
        if line.startswith(":::MLLOG "):
            entry = json.loads(line[len(":::MLLOG "):])
            values[entry["key"]] = entry["value"]
    return values


def _issue_delays(path: Path) -> list[int]:
    if not path.is_file():
        return []
    delays = []
    for line in path.read_text().splitlines():
        if '"issue_start_ns"' in line:
            delays.append(json.loads(line.rstrip(",\n"))["args"]["issue_start_ns"])
    return delays


# ---- driver ---------------------------------------------------------------------------------------------

def _percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))]) if ordered else float("nan")


def measure(duration_ms: int) -> dict[str, Any]:
    rows = []
    for scenario, (key, what, settings) in SCENARIOS.items():
        cell: dict[str, Any] = {"scenario": scenario, "metric": key, "what": what}
        for name, module in (("ours", OURS), ("official", OFFICIAL)):
            detail = run_once(module, scenario, settings, duration_ms)["detail"]
            cell[name] = detail.get(key)
            cell[f"{name}_valid"] = detail.get("result_validity")
            print(f"  {scenario:<12} {name:<8} {key} = {cell[name]} ({cell[f'{name}_valid']})", file=sys.stderr)
        ours, official = cell["ours"], cell["official"]
        cell["rel_diff"] = (ours - official) / official if isinstance(ours, (int, float)) and official else None
        rows.append(cell)
    schedule = []
    for qps in (1000, 10000):
        settings = {"server_target_qps": qps, "server_target_latency_ns": 100_000_000}
        delays = run_once(OURS, "Server", settings, duration_ms, trace=True, inline=True)["issue_delays_ns"]
        schedule.append({"target_qps": qps, "samples": len(delays), "p50_ns": _percentile(delays, 0.5),
                         "p99_ns": _percentile(delays, 0.99)})
    return {"rows": rows, "schedule": schedule, "service_us": SERVICE_US, "call_us": CALL_US,
            "duration_ms": duration_ms, "load_average": os.getloadavg()}


def render(result: dict[str, Any]) -> str:
    lines = [f"deterministic SUT: {result['call_us']:.0f} us per issue call + {result['service_us']:.0f} us per "
             f"sample, one worker thread; {result['duration_ms']} ms per run; load average "
             f"{', '.join(f'{x:.1f}' for x in result['load_average'])}", "",
             f"{'scenario':<13}{'headline (detail-log key)':<36}{'ours':>14}{'official':>14}{'diff':>8}"
             f"  validity (ours / official)"]
    for r in result["rows"]:
        diff = f"{r['rel_diff'] * 100:+.1f}%" if r["rel_diff"] is not None else "n/a"
        lines.append(f"{r['scenario']:<13}{r['metric']:<36}{r['ours']!s:>14}{r['official']!s:>14}{diff:>8}"
                     f"  {r['ours_valid']} / {r['official_valid']}")
    lines += ["", "our Server schedule accuracy (issue time - scheduled time, inline-completing SUT):"]
    for s in result["schedule"]:
        lines.append(f"  {s['target_qps']:>6} QPS: p50 {s['p50_ns'] / 1000:.1f} us, p99 {s['p99_ns'] / 1000:.1f} us "
                     f"({s['samples']} samples)")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration-ms", type=int, default=4000)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))))
        return
    result = measure(args.duration_ms)
    print(json.dumps(result, indent=2) if args.json else render(result))


if __name__ == "__main__":
    main()
