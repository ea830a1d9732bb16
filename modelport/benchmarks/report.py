"""``report.md``: one table per scenario, artifacts side by side, each with its ratio to the eager model.

Each scenario object gives its table's own columns, the line that explains it and its plot; this module
lays them out around the columns every table shares (speed-up, validity, accuracy).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def _spread(cell: Cell, key: str) -> str:
    s = cell.spread.get(key)
    if not s:
        return "–"
    rel = s.get("relative_spread")
    text = f"n={s.get('runs')}: {fmt(s.get('median'))} [{fmt(s.get('min'))}–{fmt(s.get('max'))}]"
    text += f", {rel:.1%}" if rel is not None else ""
    return text + (" NOISY" if cell.noisy else "")


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
    # repeated runs add a column; a bench of single runs (and every version 1 file) renders as before
    repeated = any(len(c.runs) > 1 for c in cells.values())
    rows = []
    for backend, cell in cells.items():
        ratio = _ratio(speedup(cell.metric(sc.headline.key), ref_value, sc.headline.higher_is_better))
        before, after = sc.row(cell)
        spread = [_spread(cell, sc.headline.key)] if repeated else []
        rows.append([backend, *before, ratio, *after, *spread, _validity(cell), _accuracy(cell)])
    header = ["backend", *sc.columns_before, "speed-up vs eager", *sc.columns_after,
              *(["runs: median [min–max], spread"] if repeated else []), "validity", "accuracy"]
    lines = [f"## {sc.name}", "", sc.describe(results), ""]
    if repeated:
        lines += [f"Every number is the median of the repeats; a cell whose {sc.headline.key} spread "
                  "((max - min) / median) exceeds the noise threshold is marked NOISY.", ""]
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
    lines += _mlperf_section(results)
    lines += _baseline_section(results)
    lines += _busy_section(results)
    return "\n".join(lines)


def _mlperf_section(results: BenchResults) -> list[str]:
    """The fields MLPerf publishes (and its submission checker reads), per backend and scenario."""
    rows = [[b, s, get_scenario(s).mlperf_result(cell)] for b, s, cell in results.cell_items()
            if cell.metric(get_scenario(s).mlperf_field[0]) is not None]
    if not rows:  # results.json written before these fields were recorded
        return []
    return ["## MLPerf result fields", "",
            "As mlperf_log_detail.txt gives them (SingleStream `early_stopping_latency_ss`, MultiStream "
            "`early_stopping_latency_ms`, Offline `result_samples_per_second`, Server "
            "`result_completed_samples_per_sec` at the highest passing QPS).", "",
            *_table(rows, ["backend", "scenario", "MLPerf result"]), ""]


def _baseline_section(results: BenchResults) -> list[str]:
    comparison = results.baseline_comparison
    if comparison is None:
        return []
    if not any(c.verdict for c in comparison.changes):  # a version 1 comparison: tolerance alone decided
        lines = ["## Against the baseline", "", f"Tolerance {comparison.tolerance:.1%}.", ""]
        rows = [[c.key, fmt(c.old), fmt(c.new), "–" if c.change is None else f"{c.change:+.1%}",
                 "REGRESSED" if c.regressed else "ok"] for c in comparison.changes]
        return lines + _table(rows, ["metric", "baseline", "current", "change", ""]) + [""]
    lines = ["## Against the baseline", "",
             f"A metric regressed when its median moved beyond the tolerance ({comparison.tolerance:.1%}) in its "
             f"bad direction AND a one-sided Mann-Whitney U test on the repeated runs gives p <= "
             f"{comparison.alpha:g}; with too few runs for that test (fewer than 3 against 3) the tolerance "
             "alone decided. The test column says which decided each metric.", ""]
    rows = [[c.key, fmt(c.old), fmt(c.new), str(len(c.old_runs)), str(len(c.new_runs)), c.verdict, c.test,
             "REGRESSED" if c.regressed else "ok"] for c in comparison.changes]
    return lines + _table(rows, ["metric", "baseline (median)", "current (median)", "baseline runs", "runs",
                                 "verdict", "decided by", ""]) + [""]


def _busy_section(results: BenchResults) -> list[str]:
    busy = [(f"{b}/{s}", c.noise) for b, s, c in results.cell_items() if c.noise.get("busy")]
    if not busy:
        return []
    lines = ["## Machine load", "", "Other processes kept cores busy during these cells (from /proc/stat, this "
             "process's own CPU time excluded); their numbers may be slow and noisy:", ""]
    for name, noise in busy:
        start = noise.get("start", {})
        lines.append(f"- {name}: {noise.get('others_cpu_cores')} cores busy with other processes; load average "
                     f"at start {start.get('loadavg')}, affinity {start.get('affinity')}")
    return lines + [""]


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
        f"{opts.batch_timeout_ms} ms, {opts.workers} worker(s)"
        + "".join(f"; {k}={v}" for k, v in (machine.get("thread_env") or {}).items()) + ".",
        f"- Samples: {samples.total} ({samples.source}), shapes {samples.sample_shapes}.",
        f"- Versions: torch {versions.get('torch')}, onnxruntime {versions.get('onnxruntime')}, "
        f"modelport {versions.get('modelport')}.",
        _loadgen_line(results.loadgen, prof.get("name")),
        f"- Created {results.created}; benchmark wall time {results.wall_s} s.",
    ]
    if results.loadgen.get("ignored_audit_config"):
        lines.append(f"- Ignored `{results.loadgen['ignored_audit_config']}`: LoadGen ran in a directory of its "
                     "own, so the stray audit.config changed nothing.")
    carried = results.carried_cells
    if carried is not None:
        lines.append(f"- Kept from the bench of {carried.created} (same settings, not re-run this time): "
                     f"{', '.join(carried.cells)}.")
    lines.append("")
    if prof.get("name") != "submission":
        lines += ["> Runs shorter than MLPerf's minimums: LoadGen marks cells INVALID when its early-stopping or "
                  "query-count checks cannot pass in that time. Use `--profile submission` for VALID MLPerf runs.", ""]
    return lines


def _loadgen_line(loadgen: dict[str, Any], profile: str | None) -> str:
    """Which LoadGen produced the logs, and (submission profile) whether MLPerf accepts them."""
    version = f" {loadgen['version']}" if loadgen.get("version") else ""
    line = f"- LoadGen: **{loadgen.get('choice', 'modelport')}** (`{loadgen.get('module')}`{version})"
    if profile != "submission":
        return line + "."
    if loadgen.get("submittable"):
        return line + "; these logs come from the official LoadGen, as MLPerf requires."
    return line + ("; MLPerf accepts only logs of the official LoadGen: rerun with `--loadgen official` "
                   "for a submission.")


def write_report(run_dir: str | Path, results: BenchResults) -> Path:
    path = Path(run_dir) / REPORT_NAME
    with atomic_path(path) as tmp:
        tmp.write_text(render(results))
    return path
