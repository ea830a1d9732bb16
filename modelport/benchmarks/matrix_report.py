"""The merged record of a matrix run: ``RUN_DIR/results.json`` (schema ``modelport-matrix/1``) and
``RUN_DIR/report.md``, built from the records the cells returned. Each cell's own ``results.json``,
``report.md``, plots and MLPerf logs stay in ``cells/<cell>/``, where ``bench``, ``compare`` and ``--baseline``
read them like any run directory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelport.benchmarks.backends import EAGER_ID
from modelport.benchmarks.matrix import Matrix
from modelport.benchmarks.metrics import speedup
from modelport.benchmarks.scenarios import fmt, get_scenario
from modelport.benchmarks.store import RESULTS_NAME
from modelport.environment import machine_info, package_versions
from modelport.errors import ModelportError
from modelport.fsutil import atomic_path, write_json_atomic

SCHEMA = "modelport-matrix/1"
REPORT_NAME = "report.md"


@dataclass
class MatrixOutcome:
    run_dir: Path
    results: dict[str, Any]  # what results.json holds
    report: Path

    @property
    def failures(self) -> list[tuple[str, int, str]]:
        """(cell id, exit code, message) of every failed cell, in matrix order."""
        out = []
        for cid, rec in self.results["cells"].items():
            phase = rec["bench"] if rec["convert"]["ok"] else rec["convert"]
            if phase is not None and not phase["ok"]:
                out.append((cid, phase["exit_code"], phase["error"]))
        return out

    def error(self) -> ModelportError | None:
        """The run's failure, carrying the first failed cell's exit code (2 input, 3 export, 4 not the same
        model or accuracy, 70 a crash); None when every cell passed."""
        failed = self.failures
        if not failed:
            return None
        cid, code, msg = failed[0]
        err = ModelportError(f"{len(failed)} of {len(self.results['cells'])} matrix cells failed; first: {cid}: "
                             f"{msg}", f"see {self.report}")
        err.exit_code = code
        return err


def write_matrix(run_dir: Path, matrix: Matrix, records: dict[str, dict[str, Any]], executor: dict[str, Any],
                 wall_s: float) -> MatrixOutcome:
    phases = [p for rec in records.values() for p in (rec["convert"], rec["bench"]) if p]
    results = {
        "schema": SCHEMA, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "run_dir": str(run_dir.resolve()),
        "executor": executor, "hosts": sorted({p["host"] for p in phases if "host" in p}),
        "matrix": matrix.to_json(), "cells": records, "wall_s": wall_s,
        "versions": package_versions(), "machine": machine_info()}
    write_json_atomic(run_dir / RESULTS_NAME, results)
    report = run_dir / REPORT_NAME
    with atomic_path(report) as tmp:
        tmp.write_text("\n".join(_report_lines(results)) + "\n")
    return MatrixOutcome(run_dir, results, report)


def _report_lines(results: dict[str, Any]) -> list[str]:
    ex, cells = results["executor"], results["cells"]
    lines = ["# modelport matrix", "",
             f"{len(cells)} cells on the {ex['name']} executor ({ex['jobs']} job(s)"
             + (f", Ray {ex['ray_version']}" if ex.get("ray_version") else "")
             + f"), hosts: {', '.join(results['hosts']) or '–'}; wall {results['wall_s']:.1f} s. Benchmark cells "
             "ran one per machine at a time; each cell's own report is in its folder.", "",
             "| cell | convert + validate | bench | host | artifacts |", "|---|---|---|---|---|"]
    for cid, rec in cells.items():
        conv, bench = rec["convert"], rec["bench"]
        lines.append(f"| [{cid}]({rec['dir']}/) | {_status(conv)} | {_status(bench)} | "
                     f"{(bench or conv).get('host', '–')} | {', '.join(conv.get('artifacts', [])) or '–'} |")
    for scenario in results["matrix"]["scenarios"]:
        lines += _scenario_table(cells, scenario)
    return lines


def _status(phase: dict[str, Any] | None) -> str:
    if phase is None:
        return "–"
    if not phase["ok"]:
        return f"FAILED (exit {phase['exit_code']}): {phase['error']}".replace("|", "/")
    return f"ok, {phase['wall_s']:.1f} s"


def _eager_values(cells: dict[str, Any], scenario: str) -> dict[str, float | None]:
    """model -> the eager headline its lead cell measured."""
    out: dict[str, float | None] = {}
    for rec in cells.values():
        row = ((rec["bench"] or {}).get("backends") or {}).get(EAGER_ID, {}).get(scenario)
        if row is not None:
            out.setdefault(rec["model"], row["value"])
    return out


def _scenario_table(cells: dict[str, Any], scenario: str) -> list[str]:
    sc = get_scenario(scenario)
    eager = _eager_values(cells, scenario)
    # the unit is per row: a generative cell reports tokens/s where the others report the scenario's headline
    rows = [row for rec in cells.values() for by in ((rec["bench"] or {}).get("backends") or {}).values()
            for row in [by.get(scenario)] if row is not None]
    others = sorted({f"{r['metric']} ({r['unit']})" for r in rows if r["metric"] != sc.headline.key})
    lines = ["", f"## {scenario}", "", f"Headline: {sc.headline.key} ({sc.headline.unit})"
             + (f"; generative cells: {', '.join(others)}" if others else "") + ".", "",
             "| cell | backend | headline | speed-up vs eager | validity | accuracy |",
             "|---|---|---|---|---|---|"]
    for cid, rec in cells.items():
        for backend, by_scenario in ((rec["bench"] or {}).get("backends") or {}).items():
            row = by_scenario.get(scenario)
            if row is None:
                continue
            ratio = speedup(row["value"], eager.get(rec["model"]), sc.headline.higher_is_better)
            acc = row["accuracy"]
            lines.append(f"| {cid} | {backend} | {fmt(row['value'])} {row['unit']} | "
                         f"{'–' if ratio is None else f'{ratio:.2f}x'} | {row['validity'] or '–'} | "
                         f"{'–' if acc is None else f'{acc:.3f}'} |")
    return lines
