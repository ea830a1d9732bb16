"""The comparable numbers of a results.json: each scenario's headline metric, plus accuracy.

Shared by the report (ratio to eager) and the regression check (ratio to a baseline), so both compare the
same things in the same direction. Which metric heads a scenario, and in which direction it improves, is
the scenario object's ``headline``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modelport.benchmarks.scenarios import get_scenario

if TYPE_CHECKING:
    from modelport.benchmarks.results import BenchResults, Cell


@dataclass(frozen=True)
class Metric:
    backend: str
    scenario: str
    name: str
    value: float | None
    higher_is_better: bool
    unit: str
    runs: tuple[float | None, ...] = field(default=(), compare=False)  # every repeat's value

    @property
    def key(self) -> str:
        return f"{self.backend}/{self.scenario}/{self.name}"


def cell_metrics(backend: str, scenario: str, cell: Cell) -> list[Metric]:
    sc = get_scenario(scenario)
    name, unit, higher = sc.headline
    runs = cell.run_values(name)
    if sc.searches_qps and cell.search is not None:
        runs = [0.0 if v is None else v for v in runs]  # no passing QPS in a repeat: 0 QPS, as headline_value
    out = [Metric(backend, scenario, name, sc.headline_value(cell), higher, unit, tuple(runs))]
    if cell.accuracy is not None:
        agreement = float(cell.accuracy.agreement)  # one accuracy pass per cell, whatever --repeat
        out.append(Metric(backend, scenario, "accuracy_agreement", agreement, True, "", (agreement,)))
    return out


def all_metrics(results: BenchResults) -> dict[str, Metric]:
    return {m.key: m for backend, scenario, cell in results.cell_items()
            for m in cell_metrics(backend, scenario, cell)}


def speedup(value: float | None, reference: float | None, higher_is_better: bool) -> float | None:
    """How many times better than ``reference`` (>1 is better, whatever the direction of the metric)."""
    if value is None or reference is None or value <= 0 or reference <= 0:
        return None
    return value / reference if higher_is_better else reference / value
