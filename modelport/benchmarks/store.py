"""Results storage: ``RUN_DIR/results.json`` read back and written whole, and the earlier cells a partial
re-bench keeps (docs/decisions.md, "Benchmarks: never mix conditions")."""

from __future__ import annotations

import json
from pathlib import Path

from modelport.benchmarks.results import BenchResults, Carried
from modelport.benchmarks.scenarios import SCENARIOS, get_scenario
from modelport.benchmarks.schema import SchemaError
from modelport.fsutil import write_json_atomic

RESULTS_NAME = "results.json"


def read_results(path: str | Path) -> BenchResults:
    """A results.json; ``OSError``, ``ValueError`` (not JSON) or ``SchemaError`` (wrong fields) if it cannot be."""
    return BenchResults.from_json(json.loads(Path(path).read_text()))


def read_previous(run_dir: Path) -> BenchResults | None:
    """The run directory's results.json from an earlier bench; None when there is none or it is unreadable
    (its cells are then simply not carried over)."""
    try:
        return read_results(run_dir / RESULTS_NAME)
    except (OSError, ValueError, SchemaError):
        return None


def write_results(path: str | Path, results: BenchResults) -> None:
    write_json_atomic(path, results.to_json())


def _bound(results: BenchResults) -> tuple[float | None, str | None]:
    opts = results.options
    return (opts.server_latency_ms, opts.server_latency_source) if opts else (None, None)


def carry_earlier_cells(old: BenchResults | None, results: BenchResults) -> None:
    """Keep the cells of an earlier bench of this run directory that this one did not re-run, when they were
    measured the same way, so ``bench RUN_DIR --scenario Offline`` after ``modelport run`` updates the report
    instead of shrinking it. Cells measured differently (another profile, thread count, ...) are dropped: one
    report never mixes conditions."""
    if old is None or old.comparable() != results.comparable():
        return
    bound_now = any(get_scenario(s).bound_dependent for _, s, _ in results.cell_items())
    # Server cells are comparable only under the same latency bound (it is derived from a warm-up measurement)
    bound_ok = not bound_now or _bound(results) == _bound(old)
    carried: list[str] = []
    for backend, scenario, cell in old.cell_items():
        if get_scenario(scenario).bound_dependent and not bound_ok:
            continue
        mine = results.cells.setdefault(backend, {})
        if scenario not in mine:
            mine[scenario] = cell
            carried.append(f"{backend}/{scenario}")
            if backend not in results.backends and backend in old.backends:
                results.backends[backend] = old.backends[backend]
    results.cells = {b: c for b, c in results.cells.items() if c}
    carried_bound = any(get_scenario(c.rsplit("/", 1)[1]).bound_dependent for c in carried)
    if carried_bound and not bound_now and results.options is not None:
        results.options.server_latency_ms, results.options.server_latency_source = _bound(old)
    if carried:
        results.scenarios = [s for s in SCENARIOS if any(s in c for c in results.cells.values())]
        results.carried_cells = Carried(old.created, carried)
