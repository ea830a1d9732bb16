"""The comparable numbers of a results.json: one headline metric per scenario, plus accuracy.

Shared by the report (ratio to eager) and the regression check (ratio to a baseline), so both compare the
same things in the same direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: scenario -> (metric key in the cell's "metrics", unit, higher is better)
HEADLINE: dict[str, tuple[str, str, bool]] = {
    "SingleStream": ("latency_p90_ms", "ms", False),
    "MultiStream": ("query_latency_p99_ms", "ms", False),
    "Offline": ("samples_per_second", "samples/s", True),
    "Server": ("max_valid_qps", "QPS", True),
}


@dataclass(frozen=True)
class Metric:
    backend: str
    scenario: str
    name: str
    value: float | None
    higher_is_better: bool
    unit: str

    @property
    def key(self) -> str:
        return f"{self.backend}/{self.scenario}/{self.name}"


def cell_metrics(backend: str, scenario: str, cell: dict[str, Any]) -> list[Metric]:
    out: list[Metric] = []
    if scenario in HEADLINE:
        name, unit, higher = HEADLINE[scenario]
        value = cell.get("metrics", {}).get(name)
        # Server with no passing QPS: 0 QPS is the honest throughput (and a regression from any positive)
        if scenario == "Server" and value is None and "search" in cell:
            value = 0.0
        out.append(Metric(backend, scenario, name, None if value is None else float(value), higher, unit))
    acc = cell.get("accuracy")
    if acc is not None:
        out.append(Metric(backend, scenario, "accuracy_agreement", float(acc.get("agreement", 0.0)), True, ""))
    return out


def all_metrics(results: dict[str, Any]) -> dict[str, Metric]:
    out: dict[str, Metric] = {}
    for backend, cells in results.get("cells", {}).items():
        for scenario, cell in cells.items():
            for m in cell_metrics(backend, scenario, cell):
                out[m.key] = m
    return out


def speedup(value: float | None, reference: float | None, higher_is_better: bool) -> float | None:
    """How many times better than ``reference`` (>1 is better, whatever the direction of the metric)."""
    if value is None or reference is None or value <= 0 or reference <= 0:
        return None
    return value / reference if higher_is_better else reference / value
