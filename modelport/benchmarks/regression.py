"""Comparing a benchmark with a baseline: every metric, in its own direction, against one tolerance.

A metric regresses when it is worse than the baseline by more than the tolerance (relative): throughput
and accuracy lower, latency higher. Metrics present in only one of the two are listed, not failed (a run
may choose fewer scenarios); a baseline metric that became unmeasurable (e.g. no Server QPS passes) fails.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelport.benchmarks.metrics import Metric, all_metrics
from modelport.errors import InputError, RegressionError
from modelport.fsutil import write_json_atomic


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


def load_baseline(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"--baseline {str(path)!r} does not exist", "write one with --save-baseline")
    try:
        data = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"--baseline {str(path)!r} is not valid JSON: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), dict):
        raise InputError(f"--baseline {str(path)!r} is not a modelport results.json (no 'cells')")
    return data


def save_baseline(results: dict[str, Any], path: str | Path) -> Path:
    """A baseline is a results.json: any earlier run's results.json can serve as one."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(p, results)
    return p


@dataclass
class Change:
    key: str
    old: float | None
    new: float | None
    higher_is_better: bool
    unit: str
    regressed: bool

    @property
    def change(self) -> float | None:
        if self.old is None or self.new is None or self.old == 0:
            return None
        return (self.new - self.old) / abs(self.old)

    def describe(self) -> str:
        def fmt(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.4g}"

        rel = "" if self.change is None else f" ({self.change:+.1%})"
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.key}: {fmt(self.old)} -> {fmt(self.new)}{unit}{rel}"

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.key, "baseline": self.old, "current": self.new, "change": self.change,
                "higher_is_better": self.higher_is_better, "regressed": self.regressed}


@dataclass
class Comparison:
    tolerance: float
    changes: list[Change]
    only_in_baseline: list[str]
    only_in_current: list[str]

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.regressed]

    def to_json(self) -> dict[str, Any]:
        return {"tolerance": self.tolerance, "regressions": [c.to_json() for c in self.regressions],
                "compared": [c.to_json() for c in self.changes], "only_in_baseline": self.only_in_baseline,
                "only_in_current": self.only_in_current}

    def raise_for_regressions(self) -> None:
        bad = self.regressions
        if bad:
            names = "; ".join(c.describe() for c in bad)
            raise RegressionError(f"{len(bad)} metric(s) regressed beyond {self.tolerance:.1%}: {names}")


def _regressed(old: Metric, new: Metric, tol: float) -> bool:
    if old.value is None:
        return False
    if new.value is None:
        return True
    if old.higher_is_better:
        return new.value < old.value * (1 - tol)
    return new.value > old.value * (1 + tol)


def compare(baseline: dict[str, Any], current: dict[str, Any], tolerance: float) -> Comparison:
    old, new = all_metrics(baseline), all_metrics(current)
    changes = [Change(k, old[k].value, new[k].value, new[k].higher_is_better, new[k].unit,
                      _regressed(old[k], new[k], tolerance)) for k in old if k in new]
    return Comparison(tolerance, changes, sorted(set(old) - set(new)), sorted(set(new) - set(old)))
