"""Repeated runs of a cell (``--repeat N``, docs/decisions.md, "Benchmarks: repeats, spread and noisy cells").

Each repeat is a fresh LoadGen run of the cell (Server: a fresh QPS search). Every run is kept
(``RunRecord``); the cell's metrics become the median of the runs, with min, max and the relative spread
((max - min) / median) of every numeric metric, and the cell is flagged noisy when its headline metric's
relative spread exceeds the threshold. A cell's validity is the worst of its runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelport.benchmarks.schema import MetricValue, Obj
from modelport.benchmarks.stats import spread

if TYPE_CHECKING:
    from modelport.benchmarks.results import Cell

#: default --noise-threshold: a headline that moves more than this between repeats is flagged noisy
NOISE_THRESHOLD = 0.10
#: metrics that are counts or settings, not measurements: no spread
_NOT_MEASURED = ("query_count", "latency_bound_ms")


@dataclass
class RunRecord:
    """One repeat of a cell: its metrics, validity, logs and how long LoadGen ran."""

    metrics: dict[str, MetricValue]
    validity: str | None
    log_dir: str
    loadgen_wall_s: float | None = None

    def metric(self, name: str) -> float | None:
        v = self.metrics.get(name)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    def to_json(self) -> dict[str, Any]:
        return {"metrics": dict(self.metrics), "validity": self.validity, "log_dir": self.log_dir,
                "loadgen_wall_s": self.loadgen_wall_s}

    @classmethod
    def from_json(cls, o: Obj) -> RunRecord:
        return cls(o.metrics("metrics"), o.string("validity"), o.string("log_dir", "") or "",
                   o.number("loadgen_wall_s"))

    @classmethod
    def of(cls, cell: Cell) -> RunRecord:
        return cls(dict(cell.metrics), cell.validity, cell.log_dir, cell.loadgen_wall_s)


def _numeric(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def combine(cells: list[Cell], headline: str, threshold: float = NOISE_THRESHOLD, none_is_zero: bool = False) -> Cell:
    """The first repeat's cell (its logs, settings and accuracy pass) holding every run, the medians, the
    spread and the noisy flag. ``none_is_zero``: a run without a headline counts as 0 (Server: no target QPS
    passed is 0 QPS, as the regression check reads it)."""
    first = cells[0]
    first.runs = [RunRecord.of(c) for c in cells]
    names = [k for k, v in first.metrics.items() if _numeric(v) or v is None]
    for name in names:
        if name in _NOT_MEASURED:
            continue
        values = [r.metric(name) for r in first.runs]
        if none_is_zero and name == headline and any(v is not None for v in values):
            values = [0.0 if v is None else v for v in values]
        s = spread(values)  # type: ignore[arg-type]
        if s is None:
            continue
        first.spread[name] = s.to_json()
        first.metrics[name] = s.median
    valid = [c.validity for c in cells]
    first.validity = "INVALID" if "INVALID" in valid else first.validity
    head = first.spread.get(headline, {})
    rel = head.get("relative_spread")
    first.noisy = len(cells) > 1 and (rel is None or rel > threshold) and head.get("runs", 0) > 0
    if first.noisy:
        first.warnings.append(f"noisy: {headline} moved {rel or 0:.1%} between {len(cells)} runs "
                              f"(threshold {threshold:.0%})")
    return first
