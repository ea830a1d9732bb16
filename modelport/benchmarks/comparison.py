"""One metric of two benches judged with the tolerance AND the noise (docs/decisions.md, "Benchmarks:
regression calls that survive noise").

A change is a regression only when the medians differ by more than the tolerance in the metric's bad
direction AND a one-sided Mann-Whitney U test on the repeated runs says the new runs are worse with
p <= ``ALPHA``. When the runs are too few for the test ever to reach ``ALPHA`` (1 vs 1, 2 vs 2: the smallest
attainable p is 0.5 and 0.17), the tolerance alone decides, as before repeats existed, and the verdict says
so. ``bench --baseline`` and ``modelport compare`` both judge through ``judge``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from modelport.benchmarks.schema import Obj
from modelport.benchmarks.stats import mann_whitney_greater, median, min_p_value
from modelport.errors import RegressionError

#: significance level of the rank test
ALPHA = 0.05
RANK_TEST = "Mann-Whitney U (one-sided, on the runs)"
TOLERANCE_ONLY = "tolerance only"


@dataclass
class Verdict:
    """How one metric moved: the relative change of the medians, the test that decided, and its p."""

    change: float | None
    regressed: bool
    improved: bool
    test: str
    p_value: float | None

    def words(self, higher_is_better: bool, unit: str) -> str:
        """'slower by 12.0% (p=0.05)', 'within noise (+3.1%, p=0.35)', 'faster by 20.0% (p=0.05)'."""
        if self.change is None:
            return "not measured" if self.regressed else "n/a"
        speed = unit != ""  # accuracy agreement has no unit: it gets worse or better, not slower
        bad, good = ("slower", "faster") if speed else ("worse", "better")
        p = f"p={self.p_value:.3g}" if self.p_value is not None else self.test
        if self.regressed:
            return f"{bad} by {abs(self.change):.1%} ({p})"
        if self.improved:
            return f"{good} by {abs(self.change):.1%} ({p})"
        if self.change == 0 and self.p_value is None:
            return "unchanged"
        return f"within noise ({self.change:+.1%}, {p})"


def judge(old: Sequence[float | None], new: Sequence[float | None], higher_is_better: bool, tolerance: float,
          alpha: float = ALPHA) -> Verdict:
    """The verdict on one metric from the baseline's runs and the current runs (None = not measured)."""
    a = [float(v) for v in old if v is not None]
    b = [float(v) for v in new if v is not None]
    if not a:
        return Verdict(None, False, False, TOLERANCE_ONLY, None)
    if not b:  # measured before, unmeasurable now (no Server QPS passes): a regression
        return Verdict(None, True, False, TOLERANCE_ONLY, None)
    m_old, m_new = median(a), median(b)
    change = (m_new - m_old) / abs(m_old) if m_old else None
    sign = 1.0 if higher_is_better else -1.0
    worse = change is not None and sign * change < -tolerance
    better = change is not None and sign * change > tolerance
    if min_p_value(len(a), len(b)) > alpha:
        return Verdict(change, worse, better, f"{TOLERANCE_ONLY} ({len(a)} vs {len(b)} runs)", None)
    # worse = lower for throughput, higher for latency: test in that direction, and the other for "faster"
    p_worse = mann_whitney_greater(a, b) if higher_is_better else mann_whitney_greater(b, a)
    p_better = mann_whitney_greater(b, a) if higher_is_better else mann_whitney_greater(a, b)
    test = f"{RANK_TEST}, {len(a)} vs {len(b)} runs"
    if worse:
        return Verdict(change, p_worse <= alpha, False, test, p_worse)
    if better:
        return Verdict(change, False, p_better <= alpha, test, p_better)
    return Verdict(change, False, False, test, min(p_worse, p_better))


@dataclass
class Change:
    """One metric against the baseline (values are the medians of the runs)."""

    key: str  # backend/Scenario/metric
    old: float | None
    new: float | None
    higher_is_better: bool
    unit: str
    regressed: bool
    verdict: str = ""
    test: str = ""
    p_value: float | None = None
    old_runs: list[float | None] = field(default_factory=list)
    new_runs: list[float | None] = field(default_factory=list)

    @property
    def change(self) -> float | None:
        if self.old is None or self.new is None or self.old == 0:
            return None
        return (self.new - self.old) / abs(self.old)

    def describe(self) -> str:
        def fmt(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.4g}"

        unit = f" {self.unit}" if self.unit else ""
        tail = f": {self.verdict}" if self.verdict else ("" if self.change is None else f" ({self.change:+.1%})")
        return f"{self.key}: {fmt(self.old)} -> {fmt(self.new)}{unit}{tail}"

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.key, "baseline": self.old, "current": self.new, "change": self.change,
                "higher_is_better": self.higher_is_better, "regressed": self.regressed, "verdict": self.verdict,
                "test": self.test, "p_value": self.p_value, "baseline_runs": list(self.old_runs),
                "current_runs": list(self.new_runs)}

    @classmethod
    def from_json(cls, o: Obj) -> Change:
        # the unit is not recorded; it only decorates messages
        return cls(o.string("metric", "") or "", o.number("baseline"), o.number("current"),
                   bool(o.flag("higher_is_better", True)), "", bool(o.flag("regressed", False)),
                   o.string("verdict", "") or "", o.string("test", "") or "", o.number("p_value"),
                   _runs(o, "baseline_runs"), _runs(o, "current_runs"))


def _runs(o: Obj, key: str) -> list[float | None]:
    return [v if isinstance(v, (int, float)) and not isinstance(v, bool) else None for v in o.items(key)]


@dataclass
class Comparison:
    """A bench against a baseline: every shared metric, and those only one of the two has."""

    tolerance: float
    changes: list[Change]
    only_in_baseline: list[str]
    only_in_current: list[str]
    baseline: str | None = None  # the baseline's path, as given
    alpha: float = ALPHA

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.regressed]

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"tolerance": self.tolerance, "alpha": self.alpha,
                             "rule": f"regressed = change beyond the tolerance AND {RANK_TEST} p <= {self.alpha:g} "
                                     f"(tolerance alone when the runs are too few for the test)",
                             "regressions": [c.to_json() for c in self.regressions],
                             "compared": [c.to_json() for c in self.changes],
                             "only_in_baseline": self.only_in_baseline, "only_in_current": self.only_in_current}
        if self.baseline is not None:
            d["baseline"] = self.baseline
        return d

    @classmethod
    def from_json(cls, o: Obj) -> Comparison:
        return cls(float(o.number("tolerance", 0.0) or 0.0), [Change.from_json(c) for c in o.objects("compared")],
                   o.strings("only_in_baseline"), o.strings("only_in_current"), o.string("baseline"),
                   float(o.number("alpha", ALPHA) or ALPHA))

    def raise_for_regressions(self) -> None:
        bad = self.regressions
        if bad:
            names = "; ".join(c.describe() for c in bad)
            raise RegressionError(f"{len(bad)} metric(s) regressed beyond {self.tolerance:.1%} and the noise: "
                                  f"{names}")
