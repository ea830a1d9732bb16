"""Results storage: ``RUN_DIR/results.json`` read back and written whole, and the earlier cells a partial
re-bench keeps (docs/decisions.md, "Benchmarks: never mix conditions")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelport.benchmarks.cellsettings import same_session
from modelport.benchmarks.results import BenchResults, Carried
from modelport.benchmarks.scenarios import SCENARIOS, get_scenario
from modelport.benchmarks.schema import SchemaError
from modelport.errors import InputError
from modelport.fsutil import write_json_atomic
from modelport.manifest import inside

RESULTS_NAME = "results.json"
NETWORK_KEY = "network"  # results.json: backends[<id>]["network"], the served model's endpoints and client settings
#: what a served backend's cells were measured over (not what they found: served outputs, failed samples)
_NETWORK_RUN_KEYS = ("endpoints", "protocol", "wire", "model", "max_in_flight", "server_profile",
                     "request_timeout_s", "max_consecutive_failures")


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


def log_folder(run_dir: str | Path, rel: str) -> Path:
    """A cell's log folder as results.json names it, which must lie inside the run directory: results.json is
    data anyone can edit, and the folder is read (submission trees) and written to (accuracy.txt)."""
    try:
        return inside(run_dir, rel)
    except ValueError:
        raise InputError(f"results.json in {run_dir} names the log folder {rel!r}, which is not inside the run "
                         "directory", "re-run modelport bench on it") from None


def write_results(path: str | Path, results: BenchResults) -> None:
    write_json_atomic(path, results.to_json())


def _bound(results: BenchResults) -> tuple[float | None, str | None]:
    opts = results.options
    return (opts.server_latency_ms, opts.server_latency_source) if opts else (None, None)


def network_settings(results: BenchResults, backend: str) -> dict[str, Any] | None:
    """How ``backend`` was reached: its network settings when served (endpoints, protocol, in-flight cap,
    server profile, ...), None when it ran in this process."""
    net = (results.backends.get(backend) or {}).get(NETWORK_KEY)
    return {k: net.get(k) for k in _NETWORK_RUN_KEYS} if isinstance(net, dict) else None


def same_transport(old: BenchResults, new: BenchResults, backend: str) -> bool:
    """Whether ``backend``'s earlier cells were measured over the same transport as this bench's: a re-bench
    over another URL, protocol, in-flight cap or server profile (or in-process instead of over the network)
    is another condition. A backend this bench did not run keeps its own record, so its cells may stay."""
    if backend not in new.backends:
        return True
    return network_settings(old, backend) == network_settings(new, backend)


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
        if (get_scenario(scenario).bound_dependent and not bound_ok) or not same_transport(old, results, backend):
            continue
        if not same_session(cell.settings, [c.settings for c in results.cells.get(backend, {}).values()]):
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
