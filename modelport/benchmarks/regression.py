"""Comparing a benchmark with a baseline: every metric, in its own direction, against one tolerance.

A metric regresses when it is worse than the baseline by more than the tolerance (relative): throughput
and accuracy lower, latency higher. Metrics present in only one of the two are listed, not failed (a run
may choose fewer scenarios); a baseline metric that became unmeasurable (e.g. no Server QPS passes) fails.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from modelport.benchmarks.metrics import Metric, all_metrics
from modelport.benchmarks.results import BenchResults, Change, Comparison
from modelport.benchmarks.schema import SchemaError
from modelport.benchmarks.store import RESULTS_NAME, write_results
from modelport.errors import InputError

__all__ = ["Change", "Comparison", "check_save_target", "compare", "load_baseline", "parse_tolerance",
           "save_baseline"]


def parse_tolerance(text: str) -> float:
    """``5%`` or ``0.05`` -> 0.05."""
    t = text.strip()
    try:
        value = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise InputError(f"--tolerance {text!r} is not a number", "use e.g. 5% or 0.05") from None
    if not 0 <= value < 1:
        raise InputError(f"--tolerance {text!r} must be between 0% and 100%")
    return value


def load_baseline(path: str | Path) -> BenchResults:
    """A baseline is a results.json (only its cells are needed); a missing, corrupt or wrongly typed one is
    an ``InputError`` naming the problem, raised before any benchmarking."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"--baseline {str(path)!r} does not exist", "write one with --save-baseline")
    try:
        data = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"--baseline {str(path)!r} is not valid JSON: {e}") from None
    except OSError as e:
        raise InputError(f"--baseline {str(path)!r} cannot be read: {e.strerror or e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), dict):
        raise InputError(f"--baseline {str(path)!r} is not a modelport results.json (no 'cells')")
    try:
        return BenchResults.from_json(data)
    except SchemaError as e:
        raise InputError(f"--baseline {str(path)!r} is not a modelport results.json: {e}") from None


def check_save_target(path: str | Path) -> Path:
    """Where ``--save-baseline`` will write (a directory gets results.json), checked writable before any work."""
    p = Path(path)
    if p.is_dir():
        p = p / RESULTS_NAME
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK) or (p.exists() and not p.is_file()):
        raise InputError(f"--save-baseline {str(path)!r} cannot be written", "choose a writable path")
    return p


def save_baseline(results: BenchResults, path: str | Path) -> Path:
    """A baseline is a results.json: any earlier run's results.json can serve as one."""
    p = check_save_target(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    write_results(p, results)
    return p


def _regressed(old: Metric, new: Metric, tol: float) -> bool:
    if old.value is None:
        return False
    if new.value is None:
        return True
    if old.higher_is_better:
        return new.value < old.value * (1 - tol)
    return new.value > old.value * (1 + tol)


def compare(baseline: BenchResults | dict[str, Any], current: BenchResults | dict[str, Any],
            tolerance: float) -> Comparison:
    """Every metric both have, judged in its own direction (dicts are read as results.json documents)."""
    old, new = all_metrics(BenchResults.coerce(baseline)), all_metrics(BenchResults.coerce(current))
    changes = [Change(k, old[k].value, new[k].value, new[k].higher_is_better, new[k].unit,
                      _regressed(old[k], new[k], tolerance)) for k in old if k in new]
    return Comparison(tolerance, changes, sorted(set(old) - set(new)), sorted(set(new) - set(old)))
