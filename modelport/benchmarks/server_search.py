"""Server: the highest target QPS that keeps the latency percentile under the bound, found by several runs.

Each LoadGen run evaluates one target QPS. The search starts from a throughput estimate, widens while runs
pass (x1.25 first, since the estimate is usually close, then doubling) or halves while they fail until it has
a passing and a failing QPS, then bisects between them until the bracket is within 5% or the trial budget
is spent. Every tried QPS is reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelport.benchmarks.schema import Obj

GROW_FIRST = 1.25
GROW = 2.0
PRECISION = 0.05


@dataclass
class Trial:
    target_qps: float
    passed: bool
    validity: str | None
    latency_p99_ms: float | None
    completed_qps: float | None
    folder: str
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"target_qps": self.target_qps, "passed": self.passed, "validity": self.validity,
                "latency_p99_ms": self.latency_p99_ms, "completed_samples_per_second": self.completed_qps,
                "log_dir": self.folder, "errors": self.errors}

    @classmethod
    def from_json(cls, o: Obj) -> Trial:
        return cls(o.number("target_qps", 0.0) or 0.0, bool(o.flag("passed", False)), o.string("validity"),
                   o.number("latency_p99_ms"), o.number("completed_samples_per_second"), o.string("log_dir", "") or "",
                   o.strings("errors"))


@dataclass
class SearchResult:
    trials: list[Trial]
    best: Trial | None

    @property
    def best_qps(self) -> float | None:
        return self.best.target_qps if self.best else None


def _round_qps(q: float) -> float:
    return float(f"{q:.3g}")


def search(run_trial: Callable[[float], Trial], start_qps: float, max_trials: int) -> SearchResult:
    trials: list[Trial] = []
    lo: Trial | None = None  # highest passing
    hi: float | None = None  # lowest failing
    q = _round_qps(max(start_qps, 1e-3))
    tried: set[float] = set()
    while len(trials) < max_trials and q not in tried:
        tried.add(q)
        t = run_trial(q)
        trials.append(t)
        if t.passed:
            lo = t if lo is None or t.target_qps > lo.target_qps else lo
        else:
            hi = q if hi is None else min(hi, q)
        if hi is None:
            q = _round_qps(q * (GROW_FIRST if len(trials) == 1 else GROW))
        elif lo is None:
            q = _round_qps(q / 2)
        else:
            if (hi - lo.target_qps) / hi <= PRECISION:
                break
            q = _round_qps((lo.target_qps + hi) / 2)
    return SearchResult(trials, lo)
