"""``results.json`` as dataclasses: what a bench measured, read and written through one versioned schema.

Schema version 2 adds the repeated runs of every cell; ``BenchResults.from_json`` reads it and version 1 (and
the partial documents a baseline may be: only ``cells`` is required) and refuses a newer version. Every
field is type-checked while reading, so a hand-edited file fails with one message naming the field
(``SchemaError``) instead of a ``TypeError`` in the report or the regression check. ``to_json`` writes the
same layout, key order included.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from modelport.benchmarks.comparison import Change, Comparison
from modelport.benchmarks.repeats import RunRecord
from modelport.benchmarks.scenarios import SCENARIOS, get_scenario
from modelport.benchmarks.schema import MetricValue, Obj, SchemaError, is_number, kind
from modelport.benchmarks.server_search import Trial

__all__ = ["SCHEMA_VERSION", "AccuracyResult", "BenchResults", "Carried", "Cell", "Change", "Comparison",
           "RecordedOptions", "RunRecord", "SamplesRecord", "ServerSearch"]

#: 2: cells keep every repeated run (``runs``), their spread, the noisy flag and the machine's load;
#: options record --repeat and --cpus; baseline comparisons record the test and p of each metric.
#: Version 1 files are still read: a cell without ``runs`` is one run.
SCHEMA_VERSION = 2


@dataclass
class AccuracyResult:
    """Accuracy mode of one cell: how many logged responses agree with the eager reference."""

    samples: int
    agreement: float
    method: str  # "top-1", "tolerance", or "none" when nothing was logged
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    empty_responses: int = 0
    log_dir: str | None = None  # the accuracy run's logs, relative to the run directory
    task_metric: dict[str, Any] | None = None  # validators.task_metrics.TaskScore.to_json(), for zoo models

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for optional in ("log_dir", "task_metric"):  # absent rather than null: older readers see the same file
            if d[optional] is None:
                del d[optional]
        return d

    @classmethod
    def from_json(cls, o: Obj) -> AccuracyResult:
        return cls(o.integer("samples", 0) or 0, float(o.number("agreement", 0.0) or 0.0), o.string("method", "") or "",
                   o.mapping("outputs"), o.integer("empty_responses", 0) or 0, o.string("log_dir"),
                   o.mapping("task_metric") or None)


@dataclass
class ServerSearch:
    """How the Server cell's QPS was found: every trial, in the order run."""

    start_qps: float | None = None
    trial_duration_ms: int | None = None
    trials: list[Trial] = field(default_factory=list)
    best_qps: float | None = None
    rule: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"start_qps": self.start_qps, "trial_duration_ms": self.trial_duration_ms,
                "trials": [t.to_json() for t in self.trials], "best_qps": self.best_qps, "rule": self.rule}

    @classmethod
    def from_json(cls, o: Obj) -> ServerSearch:
        return cls(o.number("start_qps"), o.integer("trial_duration_ms"),
                   [Trial.from_json(t) for t in o.objects("trials")], o.number("best_qps"), o.string("rule", "") or "")


@dataclass
class Cell:
    """One backend in one scenario: the performance run's numbers, and accuracy mode's verdict."""

    validity: str | None = None
    metrics: dict[str, MetricValue] = field(default_factory=dict)  # the scenario's headline metrics
    settings: dict[str, Any] = field(default_factory=dict)  # CellSettings.to_json()
    effective_settings: dict[str, Any] = field(default_factory=dict)
    loadgen_results: dict[str, Any] = field(default_factory=dict)
    summary_result: str | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    log_dir: str = ""  # the performance run's logs, relative to the run directory
    sut: dict[str, Any] = field(default_factory=dict)
    loadgen_wall_s: float | None = None
    search: ServerSearch | None = None  # Server only
    batch_sizes: dict[int, int] | None = None  # batching SUTs: batch size -> count
    accuracy: AccuracyResult | None = None
    wall_s: float | None = None
    runs: list[RunRecord] = field(default_factory=list)  # every repeat, in order; [] in version 1 files
    spread: dict[str, dict[str, Any]] = field(default_factory=dict)  # metric -> Spread.to_json()
    noisy: bool = False  # the headline's relative spread exceeds the bench's noise threshold
    noise: dict[str, Any] = field(default_factory=dict)  # machine state at the start and end (noise.py)
    compliance: dict[str, Any] = field(default_factory=dict)  # test -> compliance.Verdict.to_json()

    def metric(self, name: str) -> float | None:
        """A numeric metric, None when absent, null or not a number."""
        v = self.metrics.get(name)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "validity": self.validity, "metrics": dict(self.metrics), "settings": self.settings,
            "effective_settings": self.effective_settings, "loadgen_results": self.loadgen_results,
            "summary_result": self.summary_result, "errors": list(self.errors), "warnings": list(self.warnings),
            "log_dir": self.log_dir, "sut": self.sut, "loadgen_wall_s": self.loadgen_wall_s,
        }
        if self.search is not None:
            d["search"] = self.search.to_json()
        if self.batch_sizes is not None:
            d["batch_sizes"] = {str(k): v for k, v in sorted(self.batch_sizes.items())}
        if self.accuracy is not None:
            d["accuracy"] = self.accuracy.to_json()
        if self.wall_s is not None:
            d["wall_s"] = self.wall_s
        if self.runs:
            d["runs"] = [r.to_json() for r in self.runs]
            d["spread"] = self.spread
            d["noisy"] = self.noisy
        if self.noise:
            d["noise"] = self.noise
        if self.compliance:
            d["compliance"] = self.compliance
        return d

    def run_values(self, name: str) -> list[float | None]:
        """``name`` in every repeated run (a version 1 cell is its one run)."""
        if not self.runs:
            return [self.metric(name)]
        return [r.metric(name) for r in self.runs]

    @classmethod
    def from_json(cls, o: Obj, scenario: str) -> Cell:
        metrics = o.metrics("metrics")
        headline = get_scenario(scenario).headline.key
        if metrics.get(headline) is not None and not is_number(metrics[headline]):
            raise SchemaError(f"{o.at('metrics')}.{headline} is {kind(metrics[headline])}, expected a number")
        search, accuracy, sizes = o.obj("search"), o.obj("accuracy"), o.obj("batch_sizes")
        return cls(
            o.string("validity"), metrics, o.mapping("settings"), o.mapping("effective_settings"),
            o.mapping("loadgen_results"), o.string("summary_result"), o.strings("errors"), o.strings("warnings"),
            o.string("log_dir", "") or "", o.mapping("sut"), o.number("loadgen_wall_s"),
            ServerSearch.from_json(search) if search is not None else None,
            _batch_sizes(sizes) if sizes is not None else None,
            AccuracyResult.from_json(accuracy) if accuracy is not None else None,
            o.number("wall_s"), [RunRecord.from_json(r) for r in o.objects("runs")], o.mapping("spread"),
            bool(o.flag("noisy", False)), o.mapping("noise"), o.mapping("compliance"))


def _batch_sizes(o: Obj) -> dict[int, int]:
    out: dict[int, int] = {}
    for key in o.data:
        count = o.integer(key, 0) or 0
        try:
            out[int(key)] = count
        except ValueError:
            raise SchemaError(f"{o.at(key)}: batch size {key!r} is not an integer") from None
    return out


@dataclass
class RecordedOptions:
    """The bench options that shape the measurements (two benches compare only when these are equal)."""

    device: str | None = None
    intra_op_threads: int | None = None
    inter_op_threads: int | None = None
    max_batch: int | None = None
    batch_timeout_ms: float | None = None
    workers: int | None = None
    server_latency_ms: float | None = None
    server_latency_source: str | None = None
    user_conf: str | None = None
    accuracy: bool | None = None
    repeat: int | None = None  # None in version 1 files: one run per cell
    cpus: list[int] | None = None  # --cpus: the cores the bench was pinned to

    #: the Server latency bound is derived from a warm-up measurement, so it is compared separately
    BOUND_FIELDS = ("server_latency_ms", "server_latency_source")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def without_bound(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in self.BOUND_FIELDS}

    @classmethod
    def from_json(cls, o: Obj) -> RecordedOptions:
        return cls(o.string("device"), o.integer("intra_op_threads"), o.integer("inter_op_threads"),
                   o.integer("max_batch"), o.number("batch_timeout_ms"), o.integer("workers"),
                   o.number("server_latency_ms"), o.string("server_latency_source"), o.string("user_conf"),
                   o.flag("accuracy"), o.integer("repeat"),
                   _ints(o, "cpus") if o.data.get("cpus") is not None else None)


def _ints(o: Obj, key: str) -> list[int]:
    items = o.items(key)
    for i, item in enumerate(items):
        if not isinstance(item, int) or isinstance(item, bool):
            raise SchemaError(f"{o.at(key)}[{i}] is {kind(item)}, expected an integer")
    return items


@dataclass
class SamplesRecord:
    source: str | None = None
    seed: int | None = None
    total: int | None = None
    performance_count: int | None = None
    accuracy_count: int | None = None
    sample_shapes: dict[str, list[int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, o: Obj) -> SamplesRecord:
        return cls(o.string("source"), o.integer("seed"), o.integer("total"), o.integer("performance_count"),
                   o.integer("accuracy_count"), o.mapping("sample_shapes"))


@dataclass
class Carried:
    """Cells kept from an earlier bench of the same run directory, measured the same way."""

    created: str | None
    cells: list[str]  # "backend/Scenario"

    def to_json(self) -> dict[str, Any]:
        return {"from": self.created, "cells": list(self.cells)}

    @classmethod
    def from_json(cls, o: Obj) -> Carried:
        return cls(o.string("from"), o.strings("cells"))


@dataclass
class BenchResults:
    """A whole ``results.json``. Fields other than ``cells`` are None/empty in a partial baseline."""

    cells: dict[str, dict[str, Cell]] = field(default_factory=dict)  # backend -> scenario name -> cell
    schema_version: int = SCHEMA_VERSION
    created: str | None = None
    run_dir: str | None = None
    model: str | None = None
    task: str | None = None
    reference: str = "eager"
    scenarios: list[str] = field(default_factory=list)
    profile: dict[str, Any] | None = None
    options: RecordedOptions | None = None
    samples: SamplesRecord | None = None
    loadgen: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] | None = None
    machine: dict[str, Any] | None = None
    backends: dict[str, dict[str, Any]] = field(default_factory=dict)
    wall_s: float | None = None
    carried_cells: Carried | None = None
    baseline_comparison: Comparison | None = None

    def cell_items(self) -> list[tuple[str, str, Cell]]:
        """(backend, scenario, cell) for every cell, backends in bench order."""
        return [(b, s, c) for b, cells in self.cells.items() for s, c in cells.items()]

    def cells_of(self, scenario: str) -> dict[str, Cell]:
        """backend -> cell of one scenario."""
        return {b: cells[scenario] for b, cells in self.cells.items() if scenario in cells}

    def comparable(self) -> dict[str, Any]:
        """What must be equal for another bench's cells to stand in the same report as these (the Server
        latency bound aside: only Server cells depend on it)."""
        return {"model": self.model, "profile": self.profile,
                "options": self.options.without_bound() if self.options else None,
                "samples": self.samples.to_json() if self.samples else None,
                "versions": self.versions, "machine": self.machine, "loadgen": self.loadgen.get("module")}

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION, "created": self.created, "run_dir": self.run_dir,
            "model": self.model, "task": self.task, "reference": self.reference, "scenarios": list(self.scenarios),
            "profile": self.profile, "options": self.options.to_json() if self.options else None,
            "samples": self.samples.to_json() if self.samples else None, "loadgen": self.loadgen,
            "versions": self.versions, "machine": self.machine, "backends": self.backends,
            "cells": {b: {s: c.to_json() for s, c in cells.items()} for b, cells in self.cells.items()},
            "wall_s": self.wall_s,
        }
        if self.carried_cells is not None:
            d["carried_cells"] = self.carried_cells.to_json()
        if self.baseline_comparison is not None:
            d["baseline_comparison"] = self.baseline_comparison.to_json()
        return d

    @classmethod
    def from_json(cls, data: Any) -> BenchResults:
        o = Obj(data)
        version = o.integer("schema_version", 1) or 1
        if version > SCHEMA_VERSION:
            raise SchemaError(f"schema_version {version} is newer than this modelport reads ({SCHEMA_VERSION})")
        if not o.has("cells"):
            raise SchemaError("no 'cells'")
        cells: dict[str, dict[str, Cell]] = {}
        for backend, by_scenario in Obj(o.data["cells"], "cells").members():
            cells[backend] = {}
            for scenario, cell in by_scenario.members():
                if scenario not in SCENARIOS:
                    raise SchemaError(f"{by_scenario.at(scenario)}: unknown scenario {scenario!r}")
                cells[backend][scenario] = Cell.from_json(cell, scenario)
        sub = {k: o.obj(k) for k in ("options", "samples", "carried_cells", "baseline_comparison")}
        backends = o.obj("backends")
        return cls(
            cells, version, o.string("created"), o.string("run_dir"), o.string("model"), o.string("task"),
            o.string("reference", "eager") or "eager", o.strings("scenarios"),
            o.mapping("profile") if o.has("profile") else None,
            RecordedOptions.from_json(sub["options"]) if sub["options"] else None,
            SamplesRecord.from_json(sub["samples"]) if sub["samples"] else None,
            o.mapping("loadgen"), o.mapping("versions") if o.has("versions") else None,
            o.mapping("machine") if o.has("machine") else None,
            {b: d.data for b, d in backends.members()} if backends else {}, o.number("wall_s"),
            Carried.from_json(sub["carried_cells"]) if sub["carried_cells"] else None,
            Comparison.from_json(sub["baseline_comparison"]) if sub["baseline_comparison"] else None)

    @classmethod
    def coerce(cls, value: BenchResults | dict[str, Any]) -> BenchResults:
        return value if isinstance(value, BenchResults) else cls.from_json(value)

