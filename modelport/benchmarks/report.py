"""``report.md``: one table per scenario, artifacts side by side, each with its ratio to the eager model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelport.benchmarks.metrics import HEADLINE, speedup
from modelport.fsutil import atomic_path

REPORT_NAME = "report.md"


def _f(v: Any, digits: int = 4) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def _ratio(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}x"


def _validity(cell: dict[str, Any]) -> str:
    v = cell.get("validity") or "–"
    if v == "INVALID":
        reasons = []
        r = cell.get("loadgen_results", {})
        if r.get("result_min_duration_met") is False:
            reasons.append("min duration")
        if r.get("result_min_queries_met") is False:
            reasons.append("min queries")
        if r.get("early_stopping_met") is False:
            reasons.append("early stopping")
        if r.get("result_perf_constraints_met") is False:
            reasons.append("latency bound")
        if reasons:
            v += f" ({', '.join(reasons)})"
    return v


def _accuracy(cell: dict[str, Any]) -> str:
    acc = cell.get("accuracy")
    if not acc:
        return "–"
    return f"{acc['agreement']:.3f} ({acc['method']}, n={acc['samples']})"


def _table(rows: list[list[str]], header: list[str]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _scenario_section(results: dict[str, Any], scenario: str) -> list[str]:
    cells = {b: c[scenario] for b, c in results.get("cells", {}).items() if scenario in c}
    if not cells:
        return []
    ref_id = results.get("reference", "eager")
    key, unit, higher = HEADLINE[scenario]
    ref_value = cells.get(ref_id, {}).get("metrics", {}).get(key)
    lines = [f"## {scenario}", ""]
    rows = []
    for backend, cell in cells.items():
        m = cell.get("metrics", {})
        ratio = _ratio(speedup(m.get(key), ref_value, higher))
        if scenario == "SingleStream":
            rows.append([backend, _f(m.get("latency_p90_ms")), _f(m.get("latency_mean_ms")), _f(m.get("qps")),
                         _f(m.get("query_count")), ratio, _validity(cell), _accuracy(cell)])
        elif scenario == "MultiStream":
            rows.append([backend, _f(m.get("query_latency_p99_ms")), _f(m.get("query_latency_mean_ms")),
                         _f(m.get("samples_per_second")), _f(m.get("query_count")), ratio, _validity(cell),
                         _accuracy(cell)])
        elif scenario == "Offline":
            sizes = cell.get("batch_sizes") or {}
            batch = max((int(k) for k in sizes), default=None)
            rows.append([backend, _f(m.get("samples_per_second")), ratio, _f(batch), _validity(cell), _accuracy(cell)])
        else:
            trials = cell.get("search", {}).get("trials", [])
            tried = ", ".join(f"{t['target_qps']:g}{'✓' if t['passed'] else '✗'}"
                              f" (p99 {_f(t['latency_p99_ms'], 3)} ms)" for t in trials)
            rows.append([backend, _f(m.get("max_valid_qps")) if m.get("max_valid_qps") else "none passed",
                         _f(m.get("latency_p99_ms")), ratio, tried, _validity(cell), _accuracy(cell)])
    if scenario == "SingleStream":
        # the query count shows how much a percentile rests on (a p90 over a handful of queries is noise)
        header = ["backend", "p90 latency (ms)", "mean (ms)", "QPS", "queries", "speed-up vs eager", "validity",
                  "accuracy"]
        lines.append("One sample per query, each issued when the previous one completes. Headline: p90 latency.")
    elif scenario == "MultiStream":
        spq = results.get("profile", {}).get("samples_per_query")
        header = ["backend", "p99 query latency (ms)", "mean (ms)", "samples/s", "queries", "speed-up vs eager",
                  "validity", "accuracy"]
        lines.append(f"Queries of {spq} samples run as one batch. Headline: p99 per-query latency.")
    elif scenario == "Offline":
        header = ["backend", "samples/s", "speed-up vs eager", "max batch", "validity", "accuracy"]
        lines.append("All samples in one query, run in batches. Headline: samples per second.")
    else:
        bound = results.get("options", {}).get("server_latency_ms")
        source = results.get("options", {}).get("server_latency_source", "")
        header = ["backend", "max passing QPS", "p99 at that QPS (ms)", "speed-up vs eager", "tried QPS",
                  "validity", "accuracy"]
        lines.append(f"Poisson arrivals, dynamic batching. Headline: the highest target QPS whose p99 latency stays "
                     f"under {_f(bound)} ms ({source}); each tried QPS is one LoadGen run.")
    lines.append("")
    lines += _table(rows, header)
    lines.append("")
    plot = ("latency_cdf_" if scenario in ("SingleStream", "MultiStream") else "throughput_") + scenario + ".png"
    lines += [f"![{scenario}](plots/{plot})", ""]
    return lines


def render(results: dict[str, Any]) -> str:
    machine = results.get("machine", {})
    versions = results.get("versions", {})
    opts = results.get("options", {})
    prof = results.get("profile", {})
    samples = results.get("samples", {})
    lines = [f"# Benchmark: {results.get('model')}", ""]
    lines += [
        f"- Profile **{prof.get('name')}**: min duration {prof.get('duration_ms')} ms per scenario "
        f"(Server: per search trial), accuracy on {samples.get('accuracy_count')} samples per scenario.",
        f"- Machine: {machine.get('cpu_model')}, {machine.get('usable_cores')} usable cores; "
        f"intra-op threads {opts.get('intra_op_threads')}, inter-op {opts.get('inter_op_threads')}, "
        f"device {opts.get('device')}; max batch {opts.get('max_batch')}, Server batch timeout "
        f"{opts.get('batch_timeout_ms')} ms, {opts.get('workers')} worker(s).",
        f"- Samples: {samples.get('total')} ({samples.get('source')}), shapes {samples.get('sample_shapes')}.",
        f"- Versions: torch {versions.get('torch')}, onnxruntime {versions.get('onnxruntime')}, "
        f"modelport {versions.get('modelport')}; LoadGen `{results.get('loadgen', {}).get('module')}`.",
        f"- Created {results.get('created')}; benchmark wall time {results.get('wall_s')} s.",
    ]
    carried = results.get("carried_cells")
    if carried:
        lines.append(f"- Kept from the bench of {carried.get('from')} (same settings, not re-run this time): "
                     f"{', '.join(carried.get('cells', []))}.")
    lines.append("")
    if prof.get("name") != "submission":
        lines += ["> Runs shorter than MLPerf's minimums: LoadGen marks cells INVALID when its early-stopping or "
                  "query-count checks cannot pass in that time. Use `--profile submission` for VALID MLPerf runs.", ""]
    lines += ["Speed-up vs eager: > 1 is faster than the eager PyTorch model (latency: eager / backend; "
              "throughput: backend / eager). Accuracy: LoadGen AccuracyOnly responses decoded and compared with "
              "the eager outputs (agreement = fraction of samples whose prediction matches).", ""]
    backends = results.get("backends", {})
    rows = [[b, d.get("kind", ""), "yes" if d.get("batchable") else "no", _f(d.get("estimate", {}).get(
        "batch1_latency_ms")), "; ".join(d.get("notes", [])) or ""] for b, d in backends.items()]
    lines += ["## Backends", ""]
    lines += _table(rows, ["backend", "kind", "batches", "batch-1 latency at warm-up (ms)", "notes"])
    lines.append("")
    for scenario in results.get("scenarios", []):
        lines += _scenario_section(results, scenario)
    comparison = results.get("baseline_comparison")
    if comparison:
        lines += ["## Against the baseline", "", f"Tolerance {comparison['tolerance']:.1%}.", ""]
        rows = [[c["metric"], _f(c["baseline"]), _f(c["current"]),
                 "–" if c["change"] is None else f"{c['change']:+.1%}", "REGRESSED" if c["regressed"] else "ok"]
                for c in comparison["compared"]]
        lines += _table(rows, ["metric", "baseline", "current", "change", ""])
        lines.append("")
    return "\n".join(lines)


def write_report(run_dir: str | Path, results: dict[str, Any]) -> Path:
    path = Path(run_dir) / REPORT_NAME
    with atomic_path(path) as tmp:
        tmp.write_text(render(results))
    return path
