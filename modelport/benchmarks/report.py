"""``report.md``: one table per scenario, artifacts side by side, each with its ratio to the eager model.

Each scenario object gives its table's own columns, the line that explains it and its plot; this module
lays them out around the columns every table shares (speed-up, validity, accuracy).
"""

from __future__ import annotations

from pathlib import Path

from modelport.benchmarks.metrics import speedup
from modelport.benchmarks.plots import PLOTS_DIR
from modelport.benchmarks.results import BenchResults, Cell, RecordedOptions, SamplesRecord
from modelport.benchmarks.scenarios import Scenario, fmt, get_scenario
from modelport.fsutil import atomic_path

REPORT_NAME = "report.md"


def _ratio(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}x"


#: LoadGen's result flags, and the words the validity column gives for each that failed
_INVALID_BECAUSE = (("result_min_duration_met", "min duration"), ("result_min_queries_met", "min queries"),
                    ("early_stopping_met", "early stopping"), ("result_perf_constraints_met", "latency bound"))


def _validity(cell: Cell) -> str:
    v = cell.validity or "–"
    if v == "INVALID":
        reasons = [why for key, why in _INVALID_BECAUSE if cell.loadgen_results.get(key) is False]
        if reasons:
            v += f" ({', '.join(reasons)})"
    return v


def _accuracy(cell: Cell) -> str:
    acc = cell.accuracy
    if acc is None:
        return "–"
    return f"{acc.agreement:.3f} ({acc.method}, n={acc.samples})"


def _table(rows: list[list[str]], header: list[str]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _scenario_section(results: BenchResults, sc: Scenario) -> list[str]:
    cells = results.cells_of(sc.name)
    if not cells:
        return []
    ref = cells.get(results.reference)
    ref_value = ref.metric(sc.headline.key) if ref is not None else None
    rows = []
    for backend, cell in cells.items():
        ratio = _ratio(speedup(cell.metric(sc.headline.key), ref_value, sc.headline.higher_is_better))
        before, after = sc.row(cell)
        rows.append([backend, *before, ratio, *after, _validity(cell), _accuracy(cell)])
    header = ["backend", *sc.columns_before, "speed-up vs eager", *sc.columns_after, "validity", "accuracy"]
    lines = [f"## {sc.name}", "", sc.describe(results), ""]
    lines += _table(rows, header)
    lines += ["", f"![{sc.name}]({PLOTS_DIR}/{sc.plot_file})", ""]
    return lines


def render(results: BenchResults) -> str:
    """report.md: the conditions, the backends, one table per scenario, and the baseline comparison."""
    lines = [f"# Benchmark: {results.model}", ""]
    lines += _conditions(results)
    lines += ["Speed-up vs eager: > 1 is faster than the eager PyTorch model (latency: eager / backend; "
              "throughput: backend / eager). Accuracy: LoadGen AccuracyOnly responses decoded and compared with "
              "the eager outputs (agreement = fraction of samples whose prediction matches).", ""]
    rows = [[b, d.get("kind", ""), "yes" if d.get("batchable") else "no",
             fmt(d.get("estimate", {}).get("batch1_latency_ms")), "; ".join(d.get("notes", [])) or ""]
            for b, d in results.backends.items()]
    lines += ["## Backends", ""]
    lines += _table(rows, ["backend", "kind", "batches", "batch-1 latency at warm-up (ms)", "notes"])
    lines.append("")
    for name in results.scenarios:
        lines += _scenario_section(results, get_scenario(name))
    comparison = results.baseline_comparison
    if comparison is not None:
        lines += ["## Against the baseline", "", f"Tolerance {comparison.tolerance:.1%}.", ""]
        rows = [[c.key, fmt(c.old), fmt(c.new), "–" if c.change is None else f"{c.change:+.1%}",
                 "REGRESSED" if c.regressed else "ok"] for c in comparison.changes]
        lines += _table(rows, ["metric", "baseline", "current", "change", ""])
        lines.append("")
    return "\n".join(lines)


def _conditions(results: BenchResults) -> list[str]:
    """The bullet list under the title: what was measured, on what, with which versions."""
    machine, versions = results.machine or {}, results.versions or {}
    opts, prof = results.options or RecordedOptions(), results.profile or {}
    samples = results.samples or SamplesRecord()
    lines = [
        f"- Profile **{prof.get('name')}**: min duration {prof.get('duration_ms')} ms per scenario "
        f"(Server: per search trial), accuracy on {samples.accuracy_count} samples per scenario.",
        f"- Machine: {machine.get('cpu_model')}, {machine.get('usable_cores')} usable cores; "
        f"intra-op threads {opts.intra_op_threads}, inter-op {opts.inter_op_threads}, "
        f"device {opts.device}; max batch {opts.max_batch}, Server batch timeout "
        f"{opts.batch_timeout_ms} ms, {opts.workers} worker(s).",
        f"- Samples: {samples.total} ({samples.source}), shapes {samples.sample_shapes}.",
        f"- Versions: torch {versions.get('torch')}, onnxruntime {versions.get('onnxruntime')}, "
        f"modelport {versions.get('modelport')}; LoadGen `{results.loadgen.get('module')}`.",
        f"- Created {results.created}; benchmark wall time {results.wall_s} s.",
    ]
    carried = results.carried_cells
    if carried is not None:
        lines.append(f"- Kept from the bench of {carried.created} (same settings, not re-run this time): "
                     f"{', '.join(carried.cells)}.")
    lines.append("")
    if prof.get("name") != "submission":
        lines += ["> Runs shorter than MLPerf's minimums: LoadGen marks cells INVALID when its early-stopping or "
                  "query-count checks cannot pass in that time. Use `--profile submission` for VALID MLPerf runs.", ""]
    return lines


def write_report(run_dir: str | Path, results: BenchResults) -> Path:
    path = Path(run_dir) / REPORT_NAME
    with atomic_path(path) as tmp:
        tmp.write_text(render(results))
    return path
