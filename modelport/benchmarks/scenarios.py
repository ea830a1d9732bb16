"""The four MLPerf scenarios as objects: one definition each, asked instead of comparing scenario names.

A scenario knows the SUT that serves it (the query runs inside the issue callback, or a batching queue with
worker threads), how its performance run is sized from a warm-up estimate and which LoadGen TestSettings
fields it sets, its headline metric(s) read from the detail log, its one-line progress summary, its
``report.md`` table and its plot. Scenario names stay the keys of ``results.json`` and of the profiles.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from modelport.benchmarks.cellsettings import CellSettings
from modelport.benchmarks.charts import latency_cdf, load_latencies, throughput_bars
from modelport.benchmarks.sut import BaseSUT, BatchingSUT, InlineSUT
from modelport.errors import InputError

if TYPE_CHECKING:
    from modelport.benchmarks.backends import Backend, Estimate
    from modelport.benchmarks.mlperf_logs import DetailLog
    from modelport.benchmarks.qsl import SampleLibrary
    from modelport.benchmarks.responses import ResponseLayout
    from modelport.benchmarks.results import BenchResults, Cell
    from modelport.benchmarks.settings import Profile


class Headline(NamedTuple):
    """The metric a person compares for a scenario (report ratio, regression check, summary line)."""

    key: str  # in the cell's metrics
    unit: str
    higher_is_better: bool


def fmt(v: Any, digits: int = 4) -> str:
    """A table value: floats to ``digits`` significant digits, missing values as a dash."""
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def _ms(ns: Any) -> float | None:
    return None if ns is None else float(ns) / 1e6


class Scenario:
    """What every scenario has; the four subclasses below fill it in."""

    name: ClassVar[str]
    headline: ClassVar[Headline]
    #: the SUT: False = the query runs inside the issue callback (InlineSUT), True = a queue and workers
    batching: ClassVar[bool]
    #: Server: the headline comes from a search over several runs, not from one performance run
    searches_qps: ClassVar[bool] = False
    #: Server: cells depend on the latency bound, so they compare only under the same bound
    bound_dependent: ClassVar[bool] = False
    #: MultiStream: a query is one batch of ``samples_per_query``, so its settings need that batch's estimate
    query_batches: ClassVar[bool] = False
    #: report.md: the table's columns before the speed-up column and between it and validity
    columns_before: ClassVar[tuple[str, ...]]
    columns_after: ClassVar[tuple[str, ...]] = ()
    #: the detail-log field MLPerf publishes and its submission checker reads for this scenario, and its unit
    #: there (docs/decisions.md, "Benchmarks: MLPerf's headline fields"); kept in results.json under that name
    mlperf_field: ClassVar[tuple[str, str]]

    def __repr__(self) -> str:
        return f"<scenario {self.name}>"

    # -- running ------------------------------------------------------------------------------------------
    def make_sut(self, backend: Backend, qsl: SampleLibrary, layout: ResponseLayout, max_batch: int,
                 batch_timeout_ms: float, workers: int) -> BaseSUT:
        if not self.batching:
            return InlineSUT(backend, qsl, layout)
        return BatchingSUT(backend, qsl, layout, max_batch, self.batch_wait_s(batch_timeout_ms), workers)

    def batch_wait_s(self, batch_timeout_ms: float) -> float:
        """How long a batch waits to fill after its first sample (only Server's samples trickle in)."""
        return 0.0

    def base_settings(self, profile: Profile, mode: str, seeds: dict[str, int], user_conf: str | None,
                      duration_ms: int | None = None) -> CellSettings:
        return CellSettings(self.name, mode, duration_ms or profile.duration_ms[self.name],
                            profile.min_query_count[self.name], seeds=dict(seeds), user_conf=user_conf)

    def perf_settings(self, profile: Profile, est: Estimate, query_est: Estimate | None, seeds: dict[str, int],
                      user_conf: str | None) -> CellSettings:
        """The performance run's settings, sized from the warm-up estimate."""
        raise NotImplementedError

    def loadgen_fields(self, s: CellSettings) -> dict[str, int | float]:
        """This scenario's TestSettings fields (the shared ones come from ``CellSettings.common_fields``)."""
        raise NotImplementedError

    def metrics(self, detail: DetailLog, s: CellSettings) -> dict[str, Any]:
        """The scenario's headline metrics from a detail log (ms and samples/s): MLPerf's percentiles per
        scenario (SingleStream p90, MultiStream and Server p99), whatever target percentile a user.conf sets."""
        raise NotImplementedError

    def mlperf_result(self, cell: Cell) -> str:
        """The MLPerf field in words: ``name = value unit`` (latencies also in ms), or why there is none."""
        key, unit = self.mlperf_field
        value = cell.metric(key)
        if value is None:
            return f"{key}: none"
        if unit == "ns":
            met = cell.loadgen_results.get("early_stopping_met")
            # LoadGen logs 0 when too few queries ran for the early-stopping estimate
            return f"{key} = {value:.0f} ns ({value / 1e6:.4g} ms)" + (" (early stopping not met)" if met is False
                                                                       or value == 0 else "")
        return f"{key} = {value:.6g} {unit}"

    def throughput_hint(self, detail: DetailLog) -> float | None:
        """A measured samples/s that may seed the Server search (Offline's)."""
        return None

    # -- reading results ----------------------------------------------------------------------------------
    def headline_value(self, cell: Cell) -> float | None:
        return cell.metric(self.headline.key)

    def summary(self, cell: Cell) -> str:
        """The headline in words, for the progress line."""
        raise NotImplementedError

    def one_line(self, cell: Cell) -> str:
        acc = cell.accuracy.agreement if cell.accuracy is not None else None
        tail = f", agreement {acc:.3f}" if acc is not None else ""
        return f"{self.summary(cell)} ({cell.validity}){tail}"

    def row(self, cell: Cell) -> tuple[list[str], list[str]]:
        """The cell's values for ``columns_before`` and ``columns_after``."""
        raise NotImplementedError

    def describe(self, results: BenchResults) -> str:
        """The line under the report's heading: how the scenario runs, and its headline."""
        raise NotImplementedError

    @property
    def plot_file(self) -> str:
        return f"{'throughput' if self.batching else 'latency_cdf'}_{self.name}.png"

    def plot(self, run_dir: Path, results: BenchResults, out: Path) -> Path | None:
        raise NotImplementedError


class _Stream(Scenario):
    """SingleStream and MultiStream: one query at a time, each run inside the issue callback."""

    batching = False
    per_query: ClassVar[bool] = False  # latencies are per query (MultiStream), not per sample

    def plot(self, run_dir: Path, results: BenchResults, out: Path) -> Path | None:
        series = {b: lat for b, cell in results.cells_of(self.name).items()
                  if (lat := load_latencies(run_dir, cell.log_dir)) is not None}
        return latency_cdf(series, f"{self.name}: latency CDF ({results.model or ''})",
                           "latency (ms, log scale)" + (", per query" if self.per_query else ""),
                           "fraction of " + ("queries" if self.per_query else "samples"), out)


class _SingleStream(_Stream):
    name = "SingleStream"
    headline = Headline("latency_p90_ms", "ms", False)
    mlperf_field = ("early_stopping_latency_ss", "ns")
    # the query count shows how much a percentile rests on (a p90 over a handful of queries is noise)
    columns_before = ("p90 latency (ms)", "mean (ms)", "QPS", "queries")

    def perf_settings(self, profile: Profile, est: Estimate, query_est: Estimate | None, seeds: dict[str, int],
                      user_conf: str | None) -> CellSettings:
        s = self.base_settings(profile, "PerformanceOnly", seeds, user_conf)
        s.percentile = profile.percentiles[self.name]
        # an optimistic estimate only pre-generates more queries; a pessimistic one would run out (INVALID)
        s.expected_latency_ns = 0.5 * est.latency_s * 1e9
        return s

    def loadgen_fields(self, s: CellSettings) -> dict[str, int | float]:
        return {"single_stream_expected_latency_ns": float(s.expected_latency_ns or 1e6),
                "single_stream_target_latency_percentile": float(s.percentile or 0.9)}

    def metrics(self, detail: DetailLog, s: CellSettings) -> dict[str, Any]:
        return {"latency_p90_ms": _ms(detail.get("result_90.00_percentile_latency_ns")),
                "latency_mean_ms": _ms(detail.get("result_mean_latency_ns")),
                "qps": detail.get("result_qps_with_loadgen_overhead"),
                "early_stopping_latency_ss": detail.get("early_stopping_latency_ss")}

    def summary(self, cell: Cell) -> str:
        return f"p90 {cell.metric('latency_p90_ms') or 0:.3f} ms"

    def row(self, cell: Cell) -> tuple[list[str], list[str]]:
        m = cell.metrics
        return [fmt(m.get("latency_p90_ms")), fmt(m.get("latency_mean_ms")), fmt(m.get("qps")),
                fmt(m.get("query_count"))], []

    def describe(self, results: BenchResults) -> str:
        return "One sample per query, each issued when the previous one completes. Headline: p90 latency."


class _MultiStream(_Stream):
    name = "MultiStream"
    headline = Headline("query_latency_p99_ms", "ms", False)
    mlperf_field = ("early_stopping_latency_ms", "ns")
    query_batches = True
    per_query = True
    columns_before = ("p99 query latency (ms)", "mean (ms)", "samples/s", "queries")

    def perf_settings(self, profile: Profile, est: Estimate, query_est: Estimate | None, seeds: dict[str, int],
                      user_conf: str | None) -> CellSettings:
        s = self.base_settings(profile, "PerformanceOnly", seeds, user_conf)
        s.percentile = profile.percentiles[self.name]
        s.samples_per_query = profile.samples_per_query
        per_query = query_est.batch_latency_s if query_est else profile.samples_per_query * est.latency_s
        s.expected_latency_ns = 0.5 * per_query * 1e9
        return s

    def loadgen_fields(self, s: CellSettings) -> dict[str, int | float]:
        return {"multi_stream_expected_latency_ns": float(s.expected_latency_ns or 8e6),
                "multi_stream_target_latency_percentile": float(s.percentile or 0.99),
                "multi_stream_samples_per_query": int(s.samples_per_query or 8)}

    def metrics(self, detail: DetailLog, s: CellSettings) -> dict[str, Any]:
        spq = detail.get("effective_samples_per_query") or s.samples_per_query or 8
        mean = detail.get("result_mean_query_latency_ns")
        return {"query_latency_p99_ms": _ms(detail.get("result_99.00_percentile_per_query_latency_ns")),
                "query_latency_mean_ms": _ms(mean), "samples_per_second": spq * 1e9 / mean if mean else None,
                "early_stopping_latency_ms": detail.get("early_stopping_latency_ms")}

    def summary(self, cell: Cell) -> str:
        return f"p99 {cell.metric('query_latency_p99_ms') or 0:.3f} ms per query"

    def row(self, cell: Cell) -> tuple[list[str], list[str]]:
        m = cell.metrics
        return [fmt(m.get("query_latency_p99_ms")), fmt(m.get("query_latency_mean_ms")),
                fmt(m.get("samples_per_second")), fmt(m.get("query_count"))], []

    def describe(self, results: BenchResults) -> str:
        spq = (results.profile or {}).get("samples_per_query")
        return f"Queries of {spq} samples run as one batch. Headline: p99 per-query latency."


class _Batching(Scenario):
    """Offline and Server: a queue of issued samples that worker threads take in batches."""

    batching = True
    bar_ylabel: ClassVar[str]

    def bar_title(self, results: BenchResults) -> str:
        raise NotImplementedError

    def plot(self, run_dir: Path, results: BenchResults, out: Path) -> Path | None:
        values = {b: cell.metric(self.headline.key) or 0.0 for b, cell in results.cells_of(self.name).items()}
        return throughput_bars(values, self.bar_title(results), self.bar_ylabel, out)


class _Offline(_Batching):
    name = "Offline"
    headline = Headline("samples_per_second", "samples/s", True)
    mlperf_field = ("result_samples_per_second", "samples/s")
    columns_before = ("samples/s",)
    columns_after = ("max batch",)
    bar_ylabel = "samples / s"

    def perf_settings(self, profile: Profile, est: Estimate, query_est: Estimate | None, seeds: dict[str, int],
                      user_conf: str | None) -> CellSettings:
        s = self.base_settings(profile, "PerformanceOnly", seeds, user_conf)
        # LoadGen sizes the query as 1.1 x duration x expected QPS; a run that beats the estimate ends before
        # the min duration (INVALID), so aim high: a pessimistic run just lasts longer
        s.offline_expected_qps = 1.5 * est.throughput
        return s

    def loadgen_fields(self, s: CellSettings) -> dict[str, int | float]:
        return {"offline_expected_qps": float(s.offline_expected_qps or 1.0)}

    def metrics(self, detail: DetailLog, s: CellSettings) -> dict[str, Any]:
        return {"samples_per_second": detail.get("result_samples_per_second"),
                "result_samples_per_second": detail.get("result_samples_per_second")}

    def throughput_hint(self, detail: DetailLog) -> float | None:
        return detail.get("result_samples_per_second")

    def summary(self, cell: Cell) -> str:
        return f"{cell.metric('samples_per_second') or 0:.1f} samples/s"

    def row(self, cell: Cell) -> tuple[list[str], list[str]]:
        batch = max(cell.batch_sizes or {}, default=None)
        return [fmt(cell.metrics.get("samples_per_second"))], [fmt(batch)]

    def describe(self, results: BenchResults) -> str:
        return "All samples in one query, run in batches. Headline: samples per second."

    def bar_title(self, results: BenchResults) -> str:
        return f"Offline throughput ({results.model or ''})"


class _Server(_Batching):
    name = "Server"
    headline = Headline("max_valid_qps", "QPS", True)
    mlperf_field = ("result_completed_samples_per_sec", "samples/s")
    searches_qps = True
    bound_dependent = True
    columns_before = ("max passing QPS", "p99 at that QPS (ms)")
    columns_after = ("tried QPS",)
    bar_ylabel = "highest passing target QPS"

    def batch_wait_s(self, batch_timeout_ms: float) -> float:
        return batch_timeout_ms / 1e3

    def perf_settings(self, profile: Profile, est: Estimate, query_est: Estimate | None, seeds: dict[str, int],
                      user_conf: str | None) -> CellSettings:
        raise TypeError("Server runs are sized per search trial: use trial_settings")

    def trial_settings(self, profile: Profile, qps: float, bound_ms: float, duration_ms: int,
                       max_async: int | None, mode: str, seeds: dict[str, int], user_conf: str | None) -> CellSettings:
        """One run of the QPS search at ``qps`` (or the accuracy pass at the chosen QPS)."""
        s = self.base_settings(profile, mode, seeds, user_conf, duration_ms)
        s.percentile = profile.percentiles[self.name]
        s.server_target_qps = qps
        s.server_latency_ns = int(bound_ms * 1e6)
        s.server_max_async_queries = max_async
        return s

    def loadgen_fields(self, s: CellSettings) -> dict[str, int | float]:
        fields: dict[str, int | float] = {"server_target_qps": float(s.server_target_qps or 1.0),
                                          "server_target_latency_ns": int(s.server_latency_ns or 100_000_000),
                                          "server_target_latency_percentile": float(s.percentile or 0.99)}
        if s.server_max_async_queries:
            fields["server_max_async_queries"] = int(s.server_max_async_queries)
        return fields

    def metrics(self, detail: DetailLog, s: CellSettings) -> dict[str, Any]:
        return {"completed_samples_per_second": detail.get("result_completed_samples_per_sec"),
                "scheduled_samples_per_second": detail.get("result_scheduled_samples_per_sec"),
                "latency_p99_ms": _ms(detail.get("result_99.00_percentile_latency_ns")),
                "perf_constraints_met": detail.get("result_perf_constraints_met"),
                "result_completed_samples_per_sec": detail.get("result_completed_samples_per_sec")}

    def headline_value(self, cell: Cell) -> float | None:
        value = cell.metric(self.headline.key)
        # no passing QPS: 0 QPS is the honest throughput (and a regression from any positive)
        return 0.0 if value is None and cell.search is not None else value

    def summary(self, cell: Cell) -> str:
        best = cell.metric("max_valid_qps")
        return f"max {best:g} QPS under {cell.metric('latency_bound_ms') or 0:g} ms" if best else "no QPS met the bound"

    def row(self, cell: Cell) -> tuple[list[str], list[str]]:
        best = cell.metrics.get("max_valid_qps")
        trials = cell.search.trials if cell.search else []
        tried = ", ".join(f"{t.target_qps:g}{'✓' if t.passed else '✗'} (p99 {fmt(t.latency_p99_ms, 3)} ms)"
                          for t in trials)
        return [fmt(best) if best else "none passed", fmt(cell.metrics.get("latency_p99_ms"))], [tried]

    def describe(self, results: BenchResults) -> str:
        opts = results.options
        bound, source = (opts.server_latency_ms, opts.server_latency_source or "") if opts else (None, "")
        return (f"Poisson arrivals, dynamic batching. Headline: the highest target QPS whose p99 latency stays "
                f"under {fmt(bound)} ms ({source}); each tried QPS is one LoadGen run.")

    def bar_title(self, results: BenchResults) -> str:
        bound = results.options.server_latency_ms if results.options else None
        return f"Server: max QPS with p99 <= {bound:g} ms ({results.model or ''})" if bound else "Server"


SINGLE_STREAM, MULTI_STREAM, OFFLINE, SERVER = _SingleStream(), _MultiStream(), _Offline(), _Server()
#: every scenario, in the canonical order (Offline before Server: its throughput seeds the Server search)
ALL: tuple[Scenario, ...] = (SINGLE_STREAM, MULTI_STREAM, OFFLINE, SERVER)
SCENARIOS: tuple[str, ...] = tuple(s.name for s in ALL)
_BY_NAME = {s.name: s for s in ALL}


def get_scenario(name: str) -> Scenario:
    """The scenario object of a name as results.json and the profiles spell it."""
    return _BY_NAME[name]


def parse_scenarios(values: tuple[str, ...] | list[str]) -> list[str]:
    """``--scenario all``, repeated, or comma-separated; returned in the canonical order."""
    wanted: set[str] = set()
    by_lower = {s.lower(): s for s in SCENARIOS}
    for value in values or ("all",):
        for part in value.split(","):
            key = part.strip().lower()
            if not key:
                continue
            if key == "all":
                wanted.update(SCENARIOS)
            elif key in by_lower:
                wanted.add(by_lower[key])
            else:
                raise InputError(f"unknown scenario {part.strip()!r}", f"use all or {', '.join(SCENARIOS)}")
    if not wanted:
        raise InputError("no scenario chosen", f"use all or {', '.join(SCENARIOS)}")
    return [s for s in SCENARIOS if s in wanted]

