"""``modelport compare RUN_A RUN_B [...]``: two or more benched run directories side by side.

The first run is the reference. Every headline metric of every cell is shown per run as the median of its
repeats with min–max, and each later run is judged against the first with the rule ``bench --baseline``
uses (``comparison.judge``: tolerance AND a one-sided Mann-Whitney U on the runs). A backend is matched
across runs by id, else by kind when each run has exactly one backend of that kind (``onnx-opset13`` in one
run and ``onnx-opset17`` in the other: the question "opset 13 vs 17"). The validation results stand side by
side. Writes ``compare.md``, ``compare.json`` and ``plots/`` (latency CDFs overlaid, throughput bars with
min–max error bars) into a directory that appears whole or not at all.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelport.benchmarks.compare_plots import write_compare_plots
from modelport.benchmarks.comparison import ALPHA, judge
from modelport.benchmarks.metrics import Metric, all_metrics
from modelport.benchmarks.results import BenchResults
from modelport.benchmarks.scenarios import fmt
from modelport.benchmarks.schema import SchemaError
from modelport.benchmarks.stats import spread
from modelport.benchmarks.store import RESULTS_NAME, read_results
from modelport.errors import InputError
from modelport.fsutil import write_json_atomic

REPORT = "compare.md"
JSON = "compare.json"


@dataclass
class Run:
    label: str
    path: Path
    results: BenchResults
    validation: dict[str, Any] | None


def load_run(path: Path) -> Run:
    """A benched run directory; a missing or unreadable results.json is a one-line ``InputError``."""
    f = path / RESULTS_NAME
    if not f.is_file():
        raise InputError(f"{str(path)!r} has no {RESULTS_NAME}", "run modelport bench on it first")
    try:
        results = read_results(f)
    except (OSError, ValueError, SchemaError) as e:
        raise InputError(f"{str(f)!r} is not a readable modelport results.json: {e}") from None
    validation = None
    vf = path / "validation.json"
    if vf.is_file():
        try:
            validation = json.loads(vf.read_text())
        except (OSError, ValueError):
            validation = None
    return Run(path.name, path, results, validation if isinstance(validation, dict) else None)


def _labels(runs: list[Run]) -> None:
    seen: dict[str, int] = {}
    for r in runs:
        n = seen.get(r.label, 0)
        seen[r.label] = n + 1
        if n:
            r.label = f"{r.label}#{n + 1}"


def match_backend(backend: str, first: BenchResults, other: BenchResults) -> str | None:
    """The backend of ``other`` that stands for ``backend`` of ``first``: same id, else the one of that kind."""
    if backend in other.cells:
        return backend
    kind = first.backends.get(backend, {}).get("kind")
    mine = [b for b, d in first.backends.items() if d.get("kind") == kind]
    theirs = [b for b, d in other.backends.items() if d.get("kind") == kind]
    return theirs[0] if kind and len(mine) == 1 and len(theirs) == 1 else None


def _other_key(m: Metric, first: BenchResults, other: BenchResults) -> str | None:
    b = match_backend(m.backend, first, other)
    return None if b is None else f"{b}/{m.scenario}/{m.name}"


def _cell(m: Metric | None) -> dict[str, Any] | None:
    if m is None:
        return None
    s = spread(list(m.runs or (m.value,)))  # type: ignore[arg-type]
    return {"backend": m.backend, "runs": list(m.runs), **(s.to_json() if s else {"median": None})}


def build(runs: list[Run], tolerance: float, alpha: float = ALPHA) -> dict[str, Any]:
    """The comparison as one JSON-able document."""
    first = runs[0].results
    per_run = [all_metrics(r.results) for r in runs]
    rows = []
    for key, m in per_run[0].items():
        row: dict[str, Any] = {"metric": key, "higher_is_better": m.higher_is_better, "unit": m.unit,
                               "values": [_cell(m)], "verdicts": [None]}
        for run, metrics in zip(runs[1:], per_run[1:], strict=True):
            k = _other_key(m, first, run.results)
            other = metrics.get(k) if k else None
            row["values"].append(_cell(other))
            if other is None:
                row["verdicts"].append(None)
                continue
            v = judge(m.runs or (m.value,), other.runs or (other.value,), m.higher_is_better, tolerance, alpha)
            row["verdicts"].append({"verdict": v.words(m.higher_is_better, m.unit), "regressed": v.regressed,
                                    "improved": v.improved, "change": v.change, "p_value": v.p_value,
                                    "test": v.test})
        rows.append(row)
    return {"runs": [{"label": r.label, "path": str(r.path.resolve()), "model": r.results.model,
                      "created": r.results.created, "repeat": r.results.options.repeat if r.results.options else None,
                      "validation": validation_summary(r.validation)} for r in runs],
            "reference": runs[0].label, "tolerance": tolerance, "alpha": alpha, "metrics": rows}


def validation_summary(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """Per artifact: passed, and the worst max abs error over its input sets and outputs."""
    if doc is None:
        return None
    out: dict[str, Any] = {}
    for art in doc.get("artifacts") or []:
        if not isinstance(art, dict):
            continue
        errs = [o.get("max_abs") for s in art.get("input_sets") or [] for o in s.get("outputs") or []
                if isinstance(o, dict) and isinstance(o.get("max_abs"), (int, float))]
        out[str(art.get("id"))] = {"passed": art.get("passed"), "max_abs": max(errs) if errs else None}
    return {"passed": doc.get("passed"), "artifacts": out}


def _value(v: dict[str, Any] | None) -> str:
    if v is None or v.get("median") is None:
        return "–"
    if v.get("runs", 1) == 1 or v.get("min") is None:
        return fmt(v["median"])
    return f"{fmt(v['median'])} [{fmt(v['min'])}–{fmt(v['max'])}] n={v['runs']}"


def render(doc: dict[str, Any], plots: list[str]) -> str:
    labels = [r["label"] for r in doc["runs"]]
    lines = [f"# Compare: {' vs '.join(labels)}", ""]
    lines += [f"- **{r['label']}**: `{r['path']}`, {r['model']}, created {r['created']}, repeat {r['repeat']}"
              for r in doc["runs"]]
    lines += ["", f"Values: median [min–max] of the repeats. Each run is judged against **{doc['reference']}**: "
              f"a change counts when it exceeds the tolerance ({doc['tolerance']:.1%}) AND a one-sided "
              f"Mann-Whitney U test on the runs gives p <= {doc['alpha']:g} (too few runs: tolerance only).", ""]
    header = ["metric", *labels, *[f"{lab} vs {labels[0]}" for lab in labels[1:]]]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in doc["metrics"]:
        verdicts = [v["verdict"] if v else "–" for v in row["verdicts"][1:]]
        lines.append("| " + " | ".join([row["metric"], *map(_value, row["values"]), *verdicts]) + " |")
    lines += ["", "## Validation", ""]
    for r in doc["runs"]:
        val = r["validation"]
        if val is None:
            lines.append(f"- **{r['label']}**: no validation.json")
            continue
        arts = ", ".join(f"{a} {'passed' if d['passed'] else 'FAILED'} (max abs {fmt(d['max_abs'], 3)})"
                         for a, d in val["artifacts"].items())
        lines.append(f"- **{r['label']}**: {'passed' if val['passed'] else 'FAILED'}; {arts}")
    lines += ["", "## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or out.is_symlink() or any(out.iterdir())):
        raise InputError(f"--out {str(out)!r} exists and is not an empty directory", "choose a new path")
    parent = out.resolve().parent
    if not os.access(parent if parent.exists() else Path.cwd(), os.W_OK):
        raise InputError(f"--out {str(out)!r} cannot be written", "choose a writable path")


def compare_runs(paths: list[Path], out: Path, tolerance: float) -> tuple[dict[str, Any], Path]:
    """Read every run, then build the whole output in a temporary sibling and rename it onto ``out``."""
    if len(paths) < 2:
        raise InputError("compare needs at least two run directories")
    check_out(out)
    runs = [load_run(p) for p in paths]
    _labels(runs)
    doc = build(runs, tolerance)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        plots = write_compare_plots([(r.label, r.path, r.results) for r in runs], staging / "plots")
        doc["plots"] = [str(Path("plots") / p.name) for p in plots]
        write_json_atomic(staging / JSON, doc)
        (staging / REPORT).write_text(render(doc, doc["plots"]))
        if out.exists():
            out.rmdir()  # checked empty above
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return doc, out
