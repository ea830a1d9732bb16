"""Benchmark a run directory: every artifact and the eager reference, in every chosen scenario.

Every input is checked first (``preflight``). Backends are then loaded one at a time (eager first: it
provides the accuracy reference and the Server latency bound). Per backend and scenario, a cell: a
performance run, then an accuracy run whose logged responses are checked against the eager outputs; Server
first searches for the highest passing QPS (``server_cell``). Each cell's logs land in
``RUN_DIR/bench/<backend>/<Scenario>/`` when it completes (``cells``); ``RUN_DIR/results.json`` is written
at the end (``store``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelport.benchmarks import lg
from modelport.benchmarks.backends import EAGER_ID, Backend, Estimate, artifact_backend, batch_buckets, eager_backend
from modelport.benchmarks.cells import (
    CellContext,
    CellDir,
    accuracy_pass,
    accuracy_settings,
    cell_from_run,
    held_cells,
    place_cells,
    run_once,
    staged_cell,
)
from modelport.benchmarks.cellsettings import SESSION_KEY
from modelport.benchmarks.compliance import run_compliance
from modelport.benchmarks.noise import between, busy_warning, pinned, snapshot
from modelport.benchmarks.options import BenchOptions, usable_cores
from modelport.benchmarks.preflight import BenchPlan, plan_bench
from modelport.benchmarks.repeats import combine
from modelport.benchmarks.responses import ResponseLayout
from modelport.benchmarks.results import BenchResults, Cell, RecordedOptions, SamplesRecord
from modelport.benchmarks.scenarios import Scenario, get_scenario
from modelport.benchmarks.server_cell import server_cell
from modelport.benchmarks.settings import MLPERF_SEEDS, nice_ceiling
from modelport.benchmarks.store import RESULTS_NAME, carry_earlier_cells, read_previous, write_results
from modelport.benchmarks.sut import BaseSUT, QSLHandle
from modelport.environment import machine_info, package_versions
from modelport.progress import Progress, warn

__all__ = ["BOUND_FACTOR", "MIN_BOUND_MS", "RESULTS_NAME", "BenchOptions", "run_bench", "usable_cores"]

#: default Server latency bound: this many times the median eager batch-1 latency, at least MIN_BOUND_MS
#: (MLPerf's bounds are ~10x a good batch-1 latency: ResNet-50 15 ms, BERT 130 ms)
BOUND_FACTOR = 10.0
MIN_BOUND_MS = 10.0
#: the bound rests on the median of this many eager batch-1 runs (docs/decisions.md, "Benchmarks: a Server
#: bound from a robust estimate"): one slow run on a busy machine must not move it
BOUND_RUNS = 15


@dataclass
class Prepared:
    """A loaded backend, warmed up, with what sizes its cells."""

    layout: ResponseLayout
    est: Estimate  # batch 1, and the largest batch
    query_est: Estimate | None  # a MultiStream query's batch, when a chosen scenario batches queries
    record: dict[str, Any]  # results.json "backends" entry


def run_bench(run_dir: str | Path, options: BenchOptions, progress: Progress | None = None) -> BenchResults:
    """Benchmark ``run_dir``; write ``results.json`` and return it (report and plots are separate steps)."""
    t_start = time.perf_counter()
    progress = progress or Progress(enabled=False)
    plan = plan_bench(Path(run_dir), options)  # every check before any work
    opts = plan.options
    reference = plan.reference()
    seeds = dict(MLPERF_SEEDS) if opts.profile.mlperf_seeds else {}
    ctx = CellContext(plan.run_dir, opts, plan.qsl, QSLHandle(plan.qsl), reference, progress, seeds,
                      plan.server_latency_ms, plan.bound_source)
    backends: dict[str, dict[str, Any]] = {}
    cells: dict[str, dict[str, Cell]] = {}
    stray = stray_audit_config()
    if stray:
        warn(f"{stray} is ignored: every LoadGen run has a working directory of its own "
             "(compliance tests: --compliance)")
    with held_cells(ctx.staged):
        with pinned(opts.cpus):
            _bench_all(plan, ctx, backends, cells)
        results = bench_results(plan, ctx, backends, cells, round(time.perf_counter() - t_start, 2))
        if stray:
            results.loadgen["ignored_audit_config"] = stray
        carry_earlier_cells(read_previous(plan.run_dir), results)
        place_cells(ctx.staged)
        write_results(plan.run_dir / RESULTS_NAME, results)
    return results


def stray_audit_config() -> str | None:
    """./audit.config in the user's directory, which both LoadGens would read and which changes a benchmark
    silently; modelport runs LoadGen elsewhere, so it is only reported (docs/decisions.md, "Benchmarks:
    choosing the LoadGen")."""
    path = Path.cwd() / lg.AUDIT_CONFIG
    return str(path) if path.is_file() else None


def _bench_all(plan: BenchPlan, ctx: CellContext, backends: dict[str, dict[str, Any]],
               cells: dict[str, dict[str, Cell]]) -> None:
    opts, progress = plan.options, ctx.progress
    try:
        progress.step(f"eager reference ({plan.manifest.source.spec})")
        eager = eager_backend(plan.manifest, opts.runner_options(), trust_pickle=opts.trust_pickle,
                              trust_remote_code=opts.trust_remote_code)
        reference_outputs(ctx, eager)
        if opts.eager_cells or ctx.server_latency_ms is None:  # the eager warm-up derives a missing bound
            _bench_backend(ctx, eager, backends, cells)
        else:  # a submission measures only its artifact (docs/decisions.md, "Submission: the tree and --dry-run")
            eager.close()
        if opts.with_compiled_eager:  # a second reference, next to eager (benchmarks/compiled_eager.py)
            from modelport.benchmarks.compiled_eager import compiled_eager_backend

            progress.step("eager-compiled: torch.compile of the eager model")
            _bench_backend(ctx, compiled_eager_backend(plan.manifest, opts.runner_options(), opts.trust_pickle,
                                                       opts.trust_remote_code), backends, cells)
        for art in plan.artifacts:
            progress.step(f"{art.id}: loading {art.path}")
            backend = artifact_backend(plan.run_dir, plan.manifest, art, opts.runner_options(),
                                       opts.ort_graph_opt_level)
            _bench_backend(ctx, backend, backends, cells)
    finally:
        progress.done()
        ctx.qsl_handle.close()


def bench_results(plan: BenchPlan, ctx: CellContext, backends: dict[str, dict[str, Any]],
             cells: dict[str, dict[str, Cell]], wall_s: float) -> BenchResults:
    opts, profile, qsl = plan.options, plan.options.profile, plan.qsl
    return BenchResults(
        cells=cells, created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), run_dir=str(plan.run_dir.resolve()),
        model=plan.manifest.source.spec, task=plan.task, reference=EAGER_ID, scenarios=list(opts.scenarios),
        profile=profile.to_json(),
        options=RecordedOptions(opts.device, opts.runner_options().threads, opts.inter_op_threads, opts.max_batch,
                                opts.batch_timeout_ms, opts.workers, ctx.server_latency_ms, ctx.bound_source,
                                opts.user_conf, opts.accuracy, opts.repeat, opts.cpus),
        samples=SamplesRecord(qsl.source, plan.seed, qsl.total, qsl.performance_count, profile.accuracy_samples,
                              {s.name: [1, *s.shape[1:]] if s.batch_dynamic else list(s.shape)
                               for s in plan.manifest.inputs}),
        loadgen=lg.describe(), versions=package_versions(),
        machine=machine_info(), backends=backends, wall_s=wall_s)


def reference_outputs(ctx: CellContext, eager: Backend) -> None:
    """Eager outputs for every sample accuracy mode will issue (batch 1, like the validators' reference)."""
    if not ctx.options.accuracy:
        return
    total = min(ctx.options.profile.accuracy_samples, ctx.qsl.total)
    # in chunks of the performance sample count, as LoadGen's accuracy mode loads them: a data set larger than
    # memory is never loaded whole (docs/decisions.md, "Data sets: streamed to disk, memory-mapped by the QSL")
    step = ctx.qsl.performance_count
    for start in range(0, total, step):
        indices = list(range(start, min(start + step, total)))
        ctx.qsl.load(indices)
        try:
            for i in indices:
                ctx.reference.add(i, eager.infer(ctx.qsl.sample(i)))
        finally:
            ctx.qsl.unload(indices)


def prepare_backend(ctx: CellContext, backend: Backend, scenarios: list[Scenario]) -> Prepared:
    """The response layout, a warm-up at every batch size the cells use, and the estimates that size them;
    the eager backend also derives the Server latency bound when none was given."""
    opts, profile = ctx.options, ctx.options.profile
    ctx.qsl.load([0])
    # the backend's first call: where a runtime's arena grows (onnxruntime), later batch-1 calls grow nothing
    layout = ResponseLayout.from_sample_outputs(backend.first_call(ctx.qsl.sample(0)))
    ctx.qsl.unload([0])
    spq = profile.samples_per_query
    batches_queries = backend.batchable and any(sc.query_batches for sc in scenarios)
    ctx.progress.status(f"{backend.id}: warming up")
    # only the shapes the cells run: a MultiStream query's batch when MultiStream is one of them
    warm = backend.warm_up(batch_buckets(backend.max_batch(opts.max_batch)) + ([spq] if batches_queries else []))
    est = backend.estimate(backend.max_batch(opts.max_batch), warm)  # the warm-up may have capped it (memory)
    query_est = backend.estimate(spq, warm) if batches_queries else None
    if backend.id == EAGER_ID and ctx.server_latency_ms is None:
        derive_bound(ctx, backend)
    record = {**backend.describe(), "layout": layout.to_json(), "estimate": {
        "batch1_latency_ms": est.latency_s * 1e3, "batch": est.batch,
        "batch_latency_ms": est.batch_latency_s * 1e3, "throughput": est.throughput}}
    return Prepared(layout, est, query_est, record)


def derive_bound(ctx: CellContext, eager: Backend) -> None:
    """The Server bound when neither MLPerf nor the user gave one: a multiple of the median of BOUND_RUNS
    eager batch-1 latencies (the warm-up is over, so none of them is a first run)."""
    feed = eager.dummy(1)
    times = []
    for _ in range(BOUND_RUNS):
        t = time.perf_counter()
        eager.infer(feed)
        times.append(time.perf_counter() - t)
    med_ms = float(np.median(times)) * 1e3
    ctx.server_latency_ms = nice_ceiling(max(MIN_BOUND_MS, BOUND_FACTOR * med_ms))
    ctx.bound_source = (f"{BOUND_FACTOR:g} x the median of {BOUND_RUNS} eager batch-1 latencies "
                        f"({med_ms:.3g} ms), min {MIN_BOUND_MS:g}")


def _bench_backend(ctx: CellContext, backend: Backend, backends: dict[str, dict[str, Any]],
                   cells: dict[str, dict[str, Cell]]) -> None:
    """Every chosen scenario on one backend, in the canonical order (Offline's throughput seeds Server's
    search); the backend is closed whatever happens."""
    try:
        scenarios = [get_scenario(name) for name in ctx.options.scenarios]
        prep = prepare_backend(ctx, backend, scenarios)
        backends[backend.id] = prep.record
        mine: dict[str, Cell] = {}
        cells[backend.id] = mine
        hint: float | None = None
        for sc in scenarios:
            t0 = time.perf_counter()
            cell, measured = _bench_cell(ctx, backend, prep, sc, hint)
            hint = measured if measured is not None else hint
            cell.wall_s = round(time.perf_counter() - t0, 2)
            mine[sc.name] = cell
            ctx.progress.step(f"{backend.id} {sc.name}: {sc.one_line(cell)}")
    finally:
        backend.close()


def _bench_cell(ctx: CellContext, backend: Backend, prep: Prepared, sc: Scenario,
                hint: float | None) -> tuple[Cell, float | None]:
    """One cell in its staged folder, run ``--repeat`` times (each a fresh LoadGen run, the first with the
    accuracy pass) with the machine's state recorded around them; returns it and the throughput its first
    run measured for a later Server search."""
    opts = ctx.options
    with staged_cell(ctx.run_dir, backend.id, sc.name, ctx.staged) as cdir:
        sut = sc.make_sut(backend, ctx.qsl, prep.layout, opts.max_batch, opts.batch_timeout_ms, opts.workers)
        try:
            start = snapshot()
            runs: list[Cell] = []
            measured: float | None = None
            for k in range(opts.repeat):
                # the first run's logs keep their usual place; later repeats go to repeat_<k>/
                sub = "" if k == 0 else f"repeat_{k + 1}"
                cell, m = one_run(ctx, backend, prep, sc, hint, sut, cdir, sub, opts.accuracy and k == 0)
                measured = m if measured is None else measured
                runs.append(cell)
            cell = combine(runs, sc.headline.key, opts.noise_threshold, none_is_zero=sc.searches_qps)
            cell.settings[SESSION_KEY] = backend.session()  # a cell under other session settings is not comparable
            cell.noise = between(start, snapshot())
            busy = busy_warning(cell.noise)
            if busy:
                cell.warnings.append(busy)
                ctx.progress.warn(f"{backend.id} {sc.name}: {busy}")
            return cell, measured
        finally:
            sut.close()


def one_run(ctx: CellContext, backend: Backend, prep: Prepared, sc: Scenario, hint: float | None, sut: BaseSUT,
             cdir: CellDir, sub: str, accuracy: bool) -> tuple[Cell, float | None]:
    opts = ctx.options
    if sc.searches_qps:
        return server_cell(ctx, backend, sut, prep.layout, cdir, prep.est, hint, sub, accuracy), None
    settings = sc.perf_settings(opts.profile, prep.est, prep.query_est, ctx.seeds, opts.user_conf)
    label = f"{backend.id} {sc.name}: running" + (f" ({sub})" if sub else "")
    run = run_once(ctx, sut, settings, cdir.staging / sub / "performance", label)
    cell = cell_from_run(cdir, run)
    cell.batch_sizes = sut.batch_counts()
    if accuracy:
        cell.accuracy = accuracy_pass(ctx, sut, prep.layout, accuracy_settings(ctx, settings), cdir,
                                      f"{backend.id} {sc.name}: accuracy")
    if not sub and opts.compliance:  # the first repeat only, after its accuracy run (TEST01 compares with it)
        cell.compliance = run_compliance(ctx, sut, settings, cdir, f"{backend.id} {sc.name}")
    return cell, sc.throughput_hint(run.detail)
