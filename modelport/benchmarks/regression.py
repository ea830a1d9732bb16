"""Comparing a benchmark with a baseline: every metric, in its own direction, against the tolerance and the noise.

A metric regresses when the median of its runs is worse than the baseline's by more than the tolerance
(relative; throughput and accuracy lower, latency higher) AND the runs differ significantly (``comparison.judge``:
a one-sided Mann-Whitney U test on the repeated runs). Metrics present in only one of the two are listed,
not failed (a run may choose fewer scenarios); a baseline metric that became unmeasurable (e.g. no Server
QPS passes) fails.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from modelport.benchmarks.comparison import ALPHA, judge
from modelport.benchmarks.metrics import Metric, all_metrics
from modelport.benchmarks.results import BenchResults, Change, Comparison
from modelport.benchmarks.schema import SchemaError
from modelport.benchmarks.store import RESULTS_NAME, write_results
from modelport.errors import InputError

__all__ = ["Change", "Comparison", "check_save_target", "compare", "load_baseline", "parse_tolerance",
           "save_baseline"]


def parse_tolerance(text: str, flag: str = "--tolerance") -> float:
    """``5%`` or ``0.05`` -> 0.05."""
    t = text.strip()
    try:
        value = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise InputError(f"{flag} {text!r} is not a number", "use e.g. 5% or 0.05") from None
    if not 0 <= value < 1:
        raise InputError(f"{flag} {text!r} must be between 0% and 100%")
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


def change_of(old: Metric, new: Metric, tolerance: float, alpha: float = ALPHA) -> Change:
    """One metric of two benches, judged (``comparison.judge``)."""
    v = judge(old.runs or (old.value,), new.runs or (new.value,), new.higher_is_better, tolerance, alpha)
    words = v.words(new.higher_is_better, new.unit)
    return Change(old.key, old.value, new.value, new.higher_is_better, new.unit, v.regressed, words, v.test,
                  v.p_value, list(old.runs), list(new.runs))


def compare(baseline: BenchResults | dict[str, Any], current: BenchResults | dict[str, Any],
            tolerance: float, alpha: float = ALPHA) -> Comparison:
    """Every metric both have, judged in its own direction (dicts are read as results.json documents)."""
    old, new = all_metrics(BenchResults.coerce(baseline)), all_metrics(BenchResults.coerce(current))
    changes = [change_of(old[k], new[k], tolerance, alpha) for k in old if k in new]
    return Comparison(tolerance, changes, sorted(set(old) - set(new)), sorted(set(new) - set(old)), alpha=alpha)
