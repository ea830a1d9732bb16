"""The statistics a regression call rests on: the spread of repeated runs and a one-sided Mann-Whitney U test.

scipy is not a dependency of modelport (docs/decisions.md, "Benchmarks: Mann-Whitney U without scipy"), and
the test needs only a few lines: with the handful of runs a bench repeats, the exact permutation
distribution of U is enumerated (ties included, so it stays exact); beyond ``EXACT_LIMIT`` arrangements the
normal approximation with tie and continuity corrections is used, as scipy's ``method="asymptotic"`` does.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: enumerate every arrangement up to this many (C(n1 + n2, n1)); 10 vs 10 runs is 184,756
EXACT_LIMIT = 200_000


@dataclass(frozen=True)
class Spread:
    """Repeated runs of one metric: their median, range and relative spread ((max - min) / median)."""

    median: float
    low: float
    high: float
    runs: int

    @property
    def relative(self) -> float | None:
        return (self.high - self.low) / abs(self.median) if self.median else None

    def to_json(self) -> dict[str, Any]:
        return {"median": self.median, "min": self.low, "max": self.high, "runs": self.runs,
                "relative_spread": self.relative}


def median(values: Sequence[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def spread(values: Sequence[float]) -> Spread | None:
    """The spread of the runs that measured something; None when none did."""
    vals = [float(v) for v in values if v is not None]
    return Spread(median(vals), min(vals), max(vals), len(vals)) if vals else None


def _ranks(values: Sequence[float]) -> list[float]:
    """Average ranks (1-based), ties sharing the mean of their positions."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def min_p_value(n1: int, n2: int) -> float:
    """The smallest one-sided p an exact test of n1 vs n2 distinct values can give (every value of one side
    above every value of the other): 1 / C(n1 + n2, n1). 3 vs 3 runs: 0.05."""
    return 1.0 / math.comb(n1 + n2, n1) if n1 and n2 else 1.0


def mann_whitney_greater(x: Sequence[float], y: Sequence[float]) -> float:
    """One-sided p-value that ``x`` tends to be greater than ``y`` (H1: P(X > Y) > 1/2)."""
    n1, n2 = len(x), len(y)
    if not n1 or not n2:
        return 1.0
    ranks = _ranks([*x, *y])
    u = sum(ranks[:n1]) - n1 * (n1 + 1) / 2
    if math.comb(n1 + n2, n1) <= EXACT_LIMIT:
        return _exact_greater(ranks, n1, u)
    return _normal_greater(ranks, n1, n2, u)


def _exact_greater(ranks: list[float], n1: int, u: float) -> float:
    """P(U >= u) over every way of choosing which n1 of the pooled values are x's."""
    offset = n1 * (n1 + 1) / 2
    hits = total = 0
    for chosen in itertools.combinations(ranks, n1):
        total += 1
        if sum(chosen) - offset >= u - 1e-9:
            hits += 1
    return hits / total


def _normal_greater(ranks: list[float], n1: int, n2: int, u: float) -> float:
    n = n1 + n2
    counts: dict[float, int] = {}
    for r in ranks:
        counts[r] = counts.get(r, 0) + 1
    ties = sum(t**3 - t for t in counts.values())
    var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:
        return 1.0
    z = (u - n1 * n2 / 2 - 0.5) / math.sqrt(var)
    return 0.5 * math.erfc(z / math.sqrt(2))
