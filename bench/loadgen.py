"""Side-by-side overhead benchmark: modelport.loadgen vs the official mlperf_loadgen (null SUT, trace off).

Every measurement runs in a fresh interpreter (the official module keeps process-wide state), is
repeated, and is reported as min / median. Measured:
  * SingleStream queries/s ("QPS w/ loadgen overhead" from the summary, and queries / wall time),
  * Offline samples/s with the compatible API (ConstructSUT) for both, the official FastSUT, and our batch API,
  * the highest Server target_qps that stays VALID (100 ms bound; a doubling then bisecting search,
    every tried value reported),
  * start-up (StartTest -> first issue callback) + tear-down (last issue return -> StartTest return),
  * peak RSS per sample of a SingleStream run (default 10 s): the peak resident set after StartTest
    minus the resident set before it, divided by the samples issued. The peak is /proc's VmHWM, reset
    to the current size just before StartTest; ru_maxrss is the fallback off Linux (in a fork+exec'd
    child it also holds the parent's size at the fork, which hides small growth). Each LoadGen first
    gets a 1 s calibration run and then runs with single_stream_expected_latency_ns set to its own
    measured latency, as a tuned harness would (the official LoadGen pre-generates every query for
    twice the duration, so a badly guessed expected latency would dominate its figure).
Then each ratio ours/official against the issue-5 targets. Run it on a quiet machine:
    python bench/loadgen.py [--quick] [--json] [--repeat N]
    python bench/loadgen.py --rss-only [--rss-duration-ms 10000]   # just the memory figures
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

OURS = "modelport.loadgen"
OFFICIAL = "mlperf_loadgen"

TARGETS = {  # ratio ours/official: (goal, higher_is_better)
    "SingleStream QPS": (1.5, True),
    "Server max VALID QPS": (1.5, True),
    "Offline samples/s (compatible API)": (1.0, True),
    "Offline samples/s (batch API)": (5.0, True),
    "start-up + tear-down": (0.5, False),
}


# ---- worker: one StartTest in this (fresh) process --------------------------------------------


def _status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _rss_baseline_kib() -> int:
    """The resident set now, with the peak reset to it (Linux); else ru_maxrss so far (KiB)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # VmHWM := VmRSS
    except OSError:
        pass
    now = _status_kib("VmRSS")
    return now if now is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _rss_peak_kib() -> int:
    peak = _status_kib("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    import importlib

    import numpy  # noqa: F401 - a batch-API user has numpy loaded; keep its import out of the timings

    lg = importlib.import_module(spec["module"])
    api = spec["api"]
    marks = {"first": None, "last": None, "calls": 0, "samples": 0}

    def mark_first() -> None:
        if marks["first"] is None:
            marks["first"] = time.perf_counter()

    def issue_sut(qs):
        mark_first()
        lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in qs])
        marks["calls"] += 1
        marks["samples"] += len(qs)
        marks["last"] = time.perf_counter()

    def issue_fast(ids, indices):
        mark_first()
        lg.QuerySamplesComplete([lg.QuerySampleResponse(i, 0, 0) for i in ids])
        marks["calls"] += 1
        marks["samples"] += len(ids)
        marks["last"] = time.perf_counter()

    def issue_batch(ids, indices):
        mark_first()
        lg.QuerySamplesCompleteBatch(ids)
        marks["calls"] += 1
        marks["samples"] += len(ids)
        marks["last"] = time.perf_counter()

    def flush():
        pass

    construct, destroy, issue = {
        "sut": (lg.ConstructSUT, lg.DestroySUT, issue_sut),
        "fast": (lg.ConstructFastSUT, lg.DestroyFastSUT, issue_fast),
        "batch": (getattr(lg, "ConstructBatchSUT", None), getattr(lg, "DestroyBatchSUT", None), issue_batch),
    }[api]
    sut = construct(issue, flush)
    qsl = lg.ConstructQSL(1024, 1024, lambda s: None, lambda s: None)
    ts = lg.TestSettings()
    for key, value in spec["settings"].items():
        if key == "scenario":
            value = getattr(lg.TestScenario, value)
        setattr(ts, key, value)
    ts.mode = lg.TestMode.PerformanceOnly
    with tempfile.TemporaryDirectory() as outdir:
        ls = lg.LogSettings()
        ls.log_output.outdir = outdir
        ls.enable_trace = bool(spec.get("trace", False))
        rss_before_kib = _rss_baseline_kib()
        t0 = time.perf_counter()
        lg.StartTestWithLogSettings(sut, qsl, ts, ls)
        t1 = time.perf_counter()
        rss_after_kib = _rss_peak_kib()
        summary = open(os.path.join(outdir, "mlperf_log_summary.txt")).read()
    destroy(sut)
    lg.DestroyQSL(qsl)
    fields = {}
    for line in summary.splitlines():
        if ":" in line:
            key, _, value = line.partition(":")
            fields.setdefault(" ".join(key.split()), value.strip())
    first = marks["first"] or t1
    last = marks["last"] or t1
    return {
        "wall_s": t1 - t0,
        "startup_s": first - t0,
        "teardown_s": t1 - last,
        "issue_calls": marks["calls"],
        "samples": marks["samples"],
        "valid": fields.get("Result is") == "VALID",
        "summary": fields,
        "rss_before_kib": rss_before_kib,
        "rss_peak_kib": rss_after_kib,
    }


def run_once(
    module: str, api: str, settings: dict[str, Any], timeout: float, trace: bool = False
) -> dict[str, Any]:
    spec = {"module": module, "api": api, "settings": settings, "trace": trace}
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--worker"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        return {"failed": f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"}
    return json.loads(proc.stdout)


# ---- measurements ---------------------------------------------------------------------------


def _stats(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def repeated(module, api, settings, repeat, timeout, metric) -> dict[str, Any]:
    runs = [run_once(module, api, settings, timeout) for _ in range(repeat)]
    ok = [r for r in runs if "failed" not in r]
    out: dict[str, Any] = {"runs": len(runs), "failed": [r["failed"] for r in runs if "failed" in r]}
    if ok:
        out["metric"] = _stats([metric(r) for r in ok])
        out["overhead_s"] = _stats([r["startup_s"] + r["teardown_s"] for r in ok])
        out["startup_s"] = _stats([r["startup_s"] for r in ok])
        out["teardown_s"] = _stats([r["teardown_s"] for r in ok])
        out["wall_s"] = _stats([r["wall_s"] for r in ok])
        out["validity"] = "".join("V" if r["valid"] else "I" for r in ok)
        out["wall_rate"] = _stats([r["samples"] / r["wall_s"] for r in ok])
    return out


def server_search(module, min_duration_ms, start_qps, max_steps, timeout) -> dict[str, Any]:
    """Double target_qps while VALID, then bisect between the last VALID and the first INVALID."""
    tried: list[tuple[float, bool, float]] = []

    def attempt(qps: float) -> bool:
        settings = {
            "scenario": "Server",
            "server_target_qps": qps,
            "server_target_latency_ns": 100_000_000,
            "min_duration_ms": min_duration_ms,
            "min_query_count": 1,
        }
        result = run_once(module, "sut", settings, timeout)
        valid = "failed" not in result and result["valid"]
        p99 = float(result.get("summary", {}).get("99.00 percentile latency (ns)", "nan"))
        tried.append((qps, valid, p99))
        return valid

    good, bad, qps = 0.0, None, float(start_qps)
    for _ in range(max_steps):
        if bad is None:
            if attempt(qps):
                good, qps = qps, qps * 2
            else:
                bad = qps
        else:
            if bad - good <= 0.1 * good:
                break
            mid = round((good + bad) / 2)
            if attempt(mid):
                good = mid
            else:
                bad = mid
    return {"max_valid_qps": good, "tried": tried}


def rss_per_sample(module: str, duration_ms: int, trace: bool, timeout: float) -> dict[str, Any]:
    """Peak RSS growth per issued sample of one SingleStream run with a calibrated expected latency."""
    calib = run_once(
        module,
        "sut",
        {
            "scenario": "SingleStream",
            "min_duration_ms": 1000,
            "min_query_count": 1,
            "single_stream_expected_latency_ns": 2000.0,
        },
        timeout,
    )
    if "failed" in calib:
        return {"failed": calib["failed"]}
    # The issue rate while issuing (pre-generation and tear-down excluded).
    latency_ns = max(100.0, 1e9 / float(calib["summary"]["QPS w/ loadgen overhead"]))
    settings = {
        "scenario": "SingleStream",
        "min_duration_ms": duration_ms,
        "min_query_count": 1,
        "single_stream_expected_latency_ns": latency_ns,
    }
    r = run_once(module, "sut", settings, timeout, trace=trace)
    if "failed" in r:
        return {"failed": r["failed"]}
    grown = (r["rss_peak_kib"] - r["rss_before_kib"]) * 1024
    return {
        "expected_latency_ns": latency_ns,
        "samples": r["samples"],
        "rss_before_mib": r["rss_before_kib"] / 1024,
        "rss_peak_mib": r["rss_peak_kib"] / 1024,
        "bytes_per_sample": grown / max(r["samples"], 1),
        "valid": r["valid"],
        "trace": trace,
    }


def measure_rss(args) -> dict[str, Any]:
    out: dict[str, Any] = {"duration_ms": args.rss_duration_ms, "trace": args.rss_trace}
    for name, module in (("ours", OURS), ("official", OFFICIAL)):
        _log(f"{name}: peak RSS per sample (SingleStream {args.rss_duration_ms} ms)")
        out[name] = rss_per_sample(module, args.rss_duration_ms, args.rss_trace, timeout=600)
    ours, theirs = out["ours"].get("bytes_per_sample"), out["official"].get("bytes_per_sample")
    out["ratio"] = _ratio(ours, theirs) if ours is not None and theirs is not None else float("nan")
    return out


def render_rss(rss: dict[str, Any]) -> str:
    lines = [
        f"Peak RSS per sample, SingleStream null SUT, {rss['duration_ms'] / 1000:g} s, trace "
        f"{'on' if rss['trace'] else 'off'} (peak RSS growth over StartTest / samples issued, fresh process each)",
        f"{'':10} {'samples':>12} {'expected ns':>12} {'RSS before MiB':>15} {'peak MiB':>10} {'bytes/sample':>13}"
        f" {'result':>8}",
    ]
    for name in ("ours", "official"):
        row = rss[name]
        if "failed" in row:
            lines.append(f"{name:10} failed: {row['failed']}")
            continue
        lines.append(
            f"{name:10} {row['samples']:>12,} {row['expected_latency_ns']:>12,.0f} {row['rss_before_mib']:>15.1f}"
            f" {row['rss_peak_mib']:>10.1f} {row['bytes_per_sample']:>13.1f}"
            f" {'VALID' if row['valid'] else 'INVALID':>8}"
        )
    lines.append(f"{'ratio ours/official bytes per sample':40} {rss['ratio']:8.3f}")
    return "\n".join(lines)


def measure(args) -> dict[str, Any]:
    quick = args.quick
    rep = 1 if quick else args.repeat
    timeout = 300
    results: dict[str, Any] = {"quick": quick, "repeat": rep, "loadavg_start": os.getloadavg()}
    ss_settings = {
        "scenario": "SingleStream",
        "min_duration_ms": 500 if quick else 3000,
        "min_query_count": 1,
        "single_stream_expected_latency_ns": float(args.ss_expected_latency_ns),
    }
    fixed_settings = {"scenario": "SingleStream", "min_duration_ms": 0, "min_query_count": 100}
    offline_n = 100_000 if quick else 1_000_000
    off_settings = {"scenario": "Offline", "min_duration_ms": 0, "min_query_count": offline_n}

    def qps(r):
        return float(r["summary"]["QPS w/ loadgen overhead"])

    def sps(r):
        return float(r["summary"]["Samples per second"])

    rows = {}
    for name, module in (("ours", OURS), ("official", OFFICIAL)):
        _log(f"{name}: SingleStream")
        rows[(name, "ss")] = repeated(module, "sut", ss_settings, rep, timeout, qps)
        _log(f"{name}: fixed cost")
        rows[(name, "fixed")] = repeated(module, "sut", fixed_settings, rep, timeout, lambda r: r["wall_s"])
        _log(f"{name}: Offline")
        rows[(name, "off_sut")] = repeated(module, "sut", off_settings, rep, timeout, sps)
    _log("official: Offline FastSUT")
    rows[("official", "off_fast")] = repeated(OFFICIAL, "fast", off_settings, rep, timeout, sps)
    _log("ours: Offline batch API")
    rows[("ours", "off_batch")] = repeated(OURS, "batch", off_settings, rep, timeout, sps)
    for name, module in (("ours", OURS), ("official", OFFICIAL)):
        _log(f"{name}: Server search")
        rows[(name, "server")] = server_search(
            module, 500 if quick else args.server_duration_ms, args.server_start_qps, 4 if quick else 9, timeout
        )
    results["rows"] = {f"{k[0]}/{k[1]}": v for k, v in rows.items()}

    def med(key):
        row = rows[key]
        return row["metric"]["median"] if "metric" in row else float("nan")

    def overhead(key):
        row = rows[key]
        return row["overhead_s"]["median"] if "overhead_s" in row else float("nan")

    ratios = {
        "SingleStream QPS": _ratio(med(("ours", "ss")), med(("official", "ss"))),
        "Server max VALID QPS": _ratio(
            rows[("ours", "server")]["max_valid_qps"], rows[("official", "server")]["max_valid_qps"]
        ),
        "Offline samples/s (compatible API)": _ratio(med(("ours", "off_sut")), med(("official", "off_sut"))),
        "Offline samples/s (batch API)": _ratio(med(("ours", "off_batch")), med(("official", "off_sut"))),
        "start-up + tear-down": _ratio(
            sum(overhead(("ours", k)) for k in ("fixed", "ss", "off_sut")),
            sum(overhead(("official", k)) for k in ("fixed", "ss", "off_sut")),
        ),
    }
    results["ratios"] = {
        k: {"ratio": v, "target": TARGETS[k][0], "met": _met(v, *TARGETS[k])} for k, v in ratios.items()
    }
    results["extra_ratios"] = {
        "Offline batch API vs official FastSUT": _ratio(med(("ours", "off_batch")), med(("official", "off_fast"))),
    }
    results["rss"] = measure_rss(args)
    results["loadavg_end"] = os.getloadavg()
    return results


def _ratio(a: float, b: float) -> float:
    return a / b if b and b == b and a == a else float("nan")


def _met(value: float, goal: float, higher: bool) -> bool:
    return value >= goal if higher else value <= goal


def _log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _fmt(stats: dict[str, float] | None, scale: float = 1.0, digits: int = 0) -> str:
    if not stats:
        return "-"
    return f"{stats['min'] * scale:,.{digits}f} / {stats['median'] * scale:,.{digits}f}"


def render(results: dict[str, Any]) -> str:
    rows = results["rows"]
    lines = [
        f"LoadGen overhead, null SUT, trace off; min / median of {results['repeat']} fresh-process runs"
        f" (load average at start {results['loadavg_start'][0]:.2f})",
        "",
        f"{'measurement':44} {'metric':>26} {'wall rate/s':>24} {'start-up+tear-down s':>22} {'runs':>5}",
    ]
    labels = {
        "ss": "SingleStream QPS w/ loadgen overhead",
        "fixed": "fixed cost (SS, 100 queries): wall s",
        "off_sut": "Offline samples/s, ConstructSUT",
        "off_fast": "Offline samples/s, ConstructFastSUT",
        "off_batch": "Offline samples/s, batch API",
    }
    for key, label in labels.items():
        for name in ("ours", "official"):
            row = rows.get(f"{name}/{key}")
            if row is None:
                continue
            digits = 3 if key == "fixed" else 0
            status = row.get("validity", "") + (f" {len(row['failed'])} failed" if row["failed"] else "")
            lines.append(
                f"{name + ': ' + label:44} {_fmt(row.get('metric'), digits=digits):>26} "
                f"{_fmt(row.get('wall_rate')):>24} {_fmt(row.get('overhead_s'), digits=3):>22} {status:>5}"
            )
    lines.append("")
    for name in ("ours", "official"):
        row = rows[f"{name}/server"]
        tried = ", ".join(f"{q:,.0f}{'V' if v else 'I'}" for q, v, _ in row["tried"])
        lines.append(f"{name}: Server highest VALID target_qps {row['max_valid_qps']:,.0f}  (tried: {tried})")
    lines.append("")
    lines.append(f"{'ratio ours/official':40} {'value':>8} {'target':>10}  met")
    for key, r in results["ratios"].items():
        op = ">=" if TARGETS[key][1] else "<="
        lines.append(f"{key:40} {r['ratio']:8.2f} {op + ' ' + str(r['target']):>10}  {'yes' if r['met'] else 'NO'}")
    for key, v in results["extra_ratios"].items():
        lines.append(f"{key:40} {v:8.2f}")
    lines.append("")
    lines.append(render_rss(results["rss"]))
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(_worker(json.loads(sys.stdin.read()))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: short durations, one repetition")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (default 3)")
    parser.add_argument(
        "--ss-expected-latency-ns",
        type=float,
        default=700.0,
        help="SingleStream expected latency: sizes the pre-generated query list (2 x duration / latency queries);"
        " a run faster than this runs out of queries and is INVALID (default 700, so that a ~1 M q/s null SUT"
        " stays VALID)",
    )
    parser.add_argument("--server-duration-ms", type=int, default=2000, help="min_duration of each Server run")
    parser.add_argument("--server-start-qps", type=float, default=20000.0, help="first target_qps tried")
    parser.add_argument("--rss-only", action="store_true", help="only the peak-RSS-per-sample comparison")
    parser.add_argument("--rss-duration-ms", type=int, default=10000, help="min_duration of the RSS runs")
    parser.add_argument("--rss-trace", action="store_true", help="RSS runs with the trace log enabled")
    args = parser.parse_args()
    if args.rss_only:
        rss = measure_rss(args)
        print(json.dumps(rss, indent=2) if args.json else render_rss(rss))
        return
    started = time.perf_counter()
    results = measure(args)
    results["bench_wall_s"] = time.perf_counter() - started
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(render(results))
        print(f"\n(bench wall time {results['bench_wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
