"""Benchmark a run directory: every artifact and the eager reference, in every chosen scenario.

Backends are loaded one at a time (eager first: it provides the accuracy reference and the Server latency
bound). Per backend and scenario: a performance run, then an accuracy run whose logged responses are
checked against the eager outputs; Server first searches for the highest passing QPS. Everything lands in
``RUN_DIR/bench/<backend>/<Scenario>/`` and ``RUN_DIR/results.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from modelport.benchmarks import lg
from modelport.benchmarks.accuracy import Reference, check_accuracy
from modelport.benchmarks.backends import (
    EAGER_ID,
    Backend,
    Estimate,
    artifact_backend,
    batch_buckets,
    check_device,
    eager_backend,
)
from modelport.benchmarks.loadgen_run import LoadGenRun, headline, run_loadgen
from modelport.benchmarks.qsl import SampleLibrary
from modelport.benchmarks.responses import ResponseLayout
from modelport.benchmarks.server_search import Trial, search
from modelport.benchmarks.settings import (
    MLPERF_SEEDS,
    MLPERF_SERVER_LATENCY_MS,
    SCENARIOS,
    CellSettings,
    Profile,
    nice_ceiling,
)
from modelport.benchmarks.sut import BaseSUT, BatchingSUT, InlineSUT, QSLHandle
from modelport.environment import machine_info, package_versions
from modelport.errors import InputError
from modelport.fsutil import write_json_atomic
from modelport.manifest import RunManifest, load_manifest
from modelport.progress import Progress
from modelport.runners import RunnerOptions
from modelport.validators.comparator import zoo_defaults
from modelport.validators.tolerances import MODEL_ATOL, Tolerances

RESULTS_NAME = "results.json"
BENCH_DIR = "bench"
SCHEMA_VERSION = 1
#: default Server latency bound: this many times the eager model's batch-1 latency, at least MIN_BOUND_MS
#: (MLPerf's bounds are ~10x a good batch-1 latency: ResNet-50 15 ms, BERT 130 ms)
BOUND_FACTOR = 10.0
MIN_BOUND_MS = 10.0
#: a Server trial lasts at least this many latency bounds
TRIAL_BOUNDS = 5


@dataclass
class BenchOptions:
    scenarios: list[str]
    profile: Profile
    artifact_ids: list[str] | None = None  # None = every artifact
    device: str = "cpu"
    threads: int | None = None  # intra-op threads; None = every usable core
    inter_op_threads: int = 1
    max_batch: int = 32  # Offline and Server batches
    batch_timeout_ms: float = 2.0  # Server: how long a batch waits to fill after its first sample
    workers: int = 1  # Offline/Server worker threads sharing the backend
    server_latency_ms: float | None = None  # None = derived (see BOUND_FACTOR) or MLPerf's for submission
    user_conf: str | None = None
    samples_file: str | None = None  # .npz of samples instead of generated ones
    seed: int | None = None  # sample seed; None = the run's seed
    accuracy: bool = True
    trust_pickle: bool = False

    def runner_options(self) -> RunnerOptions:
        return RunnerOptions(self.device, self.threads or usable_cores(), self.inter_op_threads)


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass
class _Context:
    run_dir: Path
    manifest: RunManifest
    options: BenchOptions
    qsl: SampleLibrary
    qsl_handle: QSLHandle
    reference: Reference
    progress: Progress
    server_latency_ms: float | None = None
    bound_source: str = ""
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)
    backends: dict[str, Any] = field(default_factory=dict)


def run_bench(run_dir: str | Path, options: BenchOptions, progress: Progress | None = None) -> dict[str, Any]:
    """Benchmark ``run_dir``; write ``results.json`` and return it (report and plots are separate steps)."""
    t_start = time.perf_counter()
    run_dir = Path(run_dir)
    progress = progress or Progress(enabled=False)
    manifest = load_manifest(run_dir)
    check_device(options.device)
    artifacts = ([manifest.artifact(i) for i in options.artifact_ids if i != EAGER_ID] if options.artifact_ids
                 else list(manifest.artifacts))
    task, zoo_name = zoo_defaults(manifest.source.spec if manifest.source.kind == "zoo" else None)
    tolerances = Tolerances(model_atol=MODEL_ATOL.get(zoo_name or ""), model_name=zoo_name)
    seed = manifest.seed if options.seed is None else options.seed
    options = replace(options, profile=options.profile.for_model(zoo_name))
    profile = options.profile
    qsl = SampleLibrary(manifest.inputs, profile.total_samples, profile.total_samples, seed, options.samples_file)
    ctx = _Context(run_dir, manifest, options, qsl, QSLHandle(qsl), Reference(task, tolerances), progress)
    if options.server_latency_ms is not None:
        if options.server_latency_ms <= 0:
            raise InputError("--server-latency-ms must be positive")
        ctx.server_latency_ms, ctx.bound_source = options.server_latency_ms, "--server-latency-ms"
    elif profile.mlperf_model_rules and zoo_name in MLPERF_SERVER_LATENCY_MS:
        ctx.server_latency_ms, ctx.bound_source = MLPERF_SERVER_LATENCY_MS[zoo_name], f"mlperf.conf ({zoo_name})"
    bench_dir = run_dir / BENCH_DIR
    bench_dir.mkdir(exist_ok=True)
    try:
        progress.step(f"eager reference ({manifest.source.spec})")
        eager = eager_backend(manifest, options.runner_options(), trust_pickle=options.trust_pickle)
        _reference_outputs(ctx, eager)
        _bench_backend(ctx, eager)
        for art in artifacts:
            progress.step(f"{art.id}: loading {art.path}")
            _bench_backend(ctx, artifact_backend(run_dir, manifest, art, options.runner_options()))
    finally:
        progress.done()
        ctx.qsl_handle.close()
    results = {
        "schema_version": SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "run_dir": str(run_dir.resolve()),
        "model": manifest.source.spec,
        "task": task,
        "reference": EAGER_ID,
        "scenarios": list(options.scenarios),
        "profile": profile.to_json(),
        "options": {
            "device": options.device, "intra_op_threads": options.runner_options().threads,
            "inter_op_threads": options.inter_op_threads, "max_batch": options.max_batch,
            "batch_timeout_ms": options.batch_timeout_ms, "workers": options.workers,
            "server_latency_ms": ctx.server_latency_ms, "server_latency_source": ctx.bound_source,
            "user_conf": options.user_conf, "accuracy": options.accuracy,
        },
        "samples": {"source": qsl.source, "seed": seed, "total": qsl.total,
                    "performance_count": qsl.performance_count, "accuracy_count": profile.accuracy_samples,
                    "sample_shapes": {s.name: [1, *s.shape[1:]] if s.batch_dynamic else list(s.shape)
                                      for s in manifest.inputs}},
        "loadgen": {"module": lg.NAME, "batch_api": lg.HAS_BATCH_API},
        "versions": package_versions(),
        "machine": machine_info(),
        "backends": ctx.backends,
        "cells": ctx.cells,
        "wall_s": round(time.perf_counter() - t_start, 2),
    }
    _carry_earlier_cells(run_dir / RESULTS_NAME, results)
    write_json_atomic(run_dir / RESULTS_NAME, results)
    return results


#: what must be equal for cells of an earlier ``bench`` to stand in the same report as this one's
_COMPARABLE = ("model", "profile", "options", "samples", "versions", "machine")


_BOUND_KEYS = ("server_latency_ms", "server_latency_source")


def _without_bound(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in _BOUND_KEYS}
    return value


def _carry_earlier_cells(path: Path, results: dict[str, Any]) -> None:
    """Keep the cells of an earlier ``bench`` of this run directory that this one did not re-run, when they
    were measured the same way, so ``bench RUN_DIR --scenario Offline`` after ``modelport run`` updates the
    report instead of shrinking it. Cells measured differently (another profile, thread count, ...) are
    dropped: one report never mixes conditions."""
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if any(_without_bound(old.get(k)) != _without_bound(results.get(k)) for k in _COMPARABLE):
        return
    old_bound = {k: old["options"].get(k) for k in _BOUND_KEYS}
    server_now = any("Server" in c for c in results["cells"].values())
    # Server cells are comparable only under the same latency bound (it is derived from a warm-up measurement)
    server_ok = not server_now or all(results["options"].get(k) == v for k, v in old_bound.items())
    carried = []
    for backend, cells in old.get("cells", {}).items():
        for scenario, cell in cells.items():
            if scenario == "Server" and not server_ok:
                continue
            if scenario not in results["cells"].setdefault(backend, {}):
                results["cells"][backend][scenario] = cell
                carried.append(f"{backend}/{scenario}")
                if backend not in results["backends"] and backend in old.get("backends", {}):
                    results["backends"][backend] = old["backends"][backend]
    results["cells"] = {b: c for b, c in results["cells"].items() if c}
    if any(c.endswith("/Server") for c in carried) and not server_now:
        results["options"].update(old_bound)
    if carried:
        results["scenarios"] = [s for s in SCENARIOS if any(s in c for c in results["cells"].values())]
        results["carried_cells"] = {"from": old.get("created"), "cells": carried}


def _reference_outputs(ctx: _Context, eager: Backend) -> None:
    """Eager outputs for every sample accuracy mode will issue (batch 1, like the validators' reference)."""
    if not ctx.options.accuracy:
        return
    indices = list(range(min(ctx.options.profile.accuracy_samples, ctx.qsl.total)))
    ctx.qsl.load(indices)
    try:
        for i in indices:
            ctx.reference.add(i, eager.infer(ctx.qsl.sample(i)))
    finally:
        ctx.qsl.unload(indices)


def _bench_backend(ctx: _Context, backend: Backend) -> None:
    opts, profile = ctx.options, ctx.options.profile
    try:
        ctx.qsl.load([0])
        layout = ResponseLayout.from_sample_outputs(backend.infer(ctx.qsl.sample(0)))
        ctx.qsl.unload([0])
        max_batch = backend.max_batch(opts.max_batch)
        spq = profile.samples_per_query
        ctx.progress.status(f"{backend.id}: warming up")
        warm = backend.warm_up(batch_buckets(max_batch) + ([spq] if backend.batchable else []))
        est = backend.estimate(max_batch, warm)
        ms_est = backend.estimate(spq, warm) if backend.batchable and "MultiStream" in opts.scenarios else None
        if backend.id == EAGER_ID and ctx.server_latency_ms is None:
            ctx.server_latency_ms = nice_ceiling(max(MIN_BOUND_MS, BOUND_FACTOR * est.latency_s * 1e3))
            ctx.bound_source = (f"{BOUND_FACTOR:g} x eager batch-1 latency ({est.latency_s * 1e3:.3g} ms), "
                                f"min {MIN_BOUND_MS:g}")
        ctx.backends[backend.id] = {**backend.describe(), "layout": layout.to_json(), "estimate": {
            "batch1_latency_ms": est.latency_s * 1e3, "batch": est.batch,
            "batch_latency_ms": est.batch_latency_s * 1e3, "throughput": est.throughput}}
        cells: dict[str, Any] = {}
        ctx.cells[backend.id] = cells
        offline_qps: float | None = None
        for scenario in opts.scenarios:
            t0 = time.perf_counter()
            folder = ctx.run_dir / BENCH_DIR / backend.id / scenario
            if folder.exists():
                shutil.rmtree(folder)
            if scenario in ("SingleStream", "MultiStream"):
                sut: BaseSUT = InlineSUT(backend, ctx.qsl, layout)
            else:
                timeout = opts.batch_timeout_ms / 1e3 if scenario == "Server" else 0.0
                sut = BatchingSUT(backend, ctx.qsl, layout, max_batch, timeout, opts.workers)
            try:
                if scenario == "Server":
                    cell = _server_cell(ctx, backend, sut, layout, folder, est, offline_qps)
                else:
                    settings = _perf_settings(ctx, scenario, est, ms_est)
                    run = _run(ctx, sut, settings, folder / "performance", f"{backend.id} {scenario}: running")
                    cell = _cell_json(ctx, run)
                    if scenario == "Offline":
                        offline_qps = run.detail.get("result_samples_per_second")
                        cell["batch_sizes"] = dict(sorted(getattr(sut, "batch_sizes", {}).items()))
                    if opts.accuracy:
                        acc_settings = _accuracy_settings(ctx, settings)
                        acc = _run(ctx, sut, acc_settings, folder / "accuracy", f"{backend.id} {scenario}: accuracy")
                        cell["accuracy"] = {**check_accuracy(acc.folder, layout, ctx.reference).to_json(),
                                            "log_dir": _rel(ctx, acc.folder)}
            finally:
                sut.close()
            cell["wall_s"] = round(time.perf_counter() - t0, 2)
            cells[scenario] = cell
            ctx.progress.step(f"{backend.id} {scenario}: {_one_line(scenario, cell)}")
    finally:
        backend.close()


def _run(ctx: _Context, sut: BaseSUT, settings: CellSettings, folder: Path, label: str) -> LoadGenRun:
    status = ctx.progress.status if ctx.progress.enabled else None
    return run_loadgen(sut, ctx.qsl_handle, settings, folder, status, label)


def _seeds(ctx: _Context) -> dict[str, int]:
    return dict(MLPERF_SEEDS) if ctx.options.profile.mlperf_seeds else {}


def _perf_settings(ctx: _Context, scenario: str, est: Estimate, ms_est: Estimate | None) -> CellSettings:
    p = ctx.options.profile
    s = CellSettings(scenario, "PerformanceOnly", p.duration_ms[scenario], p.min_query_count[scenario],
                     seeds=_seeds(ctx), user_conf=ctx.options.user_conf)
    if scenario == "SingleStream":
        s.percentile = p.percentiles["SingleStream"]
        # an optimistic estimate only pre-generates more queries; a pessimistic one would run out (INVALID)
        s.expected_latency_ns = 0.5 * est.latency_s * 1e9
    elif scenario == "MultiStream":
        s.percentile = p.percentiles["MultiStream"]
        s.samples_per_query = p.samples_per_query
        per_query = ms_est.batch_latency_s if ms_est else p.samples_per_query * est.latency_s
        s.expected_latency_ns = 0.5 * per_query * 1e9
    elif scenario == "Offline":
        # LoadGen sizes the query as 1.1 x duration x expected QPS; a run that beats the estimate ends before
        # the min duration (INVALID), so aim high: a pessimistic run just lasts longer
        s.offline_expected_qps = 1.5 * est.throughput
    return s


def _accuracy_settings(ctx: _Context, perf: CellSettings) -> CellSettings:
    acc = CellSettings(**{**perf.__dict__, "mode": "AccuracyOnly"})
    acc.accuracy_samples = min(ctx.options.profile.accuracy_samples, ctx.qsl.total)
    return acc


def _server_cell(ctx: _Context, backend: Backend, sut: BaseSUT, layout: ResponseLayout, folder: Path,
                 est: Estimate, offline_qps: float | None) -> dict[str, Any]:
    p, opts = ctx.options.profile, ctx.options
    bound_ms = ctx.server_latency_ms or 100.0
    # A run much shorter than the bound cannot fail it: the backlog of an overloaded SUT has no time to grow
    # past the bound. So a trial lasts at least TRIAL_BOUNDS bounds (within a cap for the short profiles).
    trial_ms = p.duration_ms["Server"]
    if trial_ms < TRIAL_BOUNDS * bound_ms:
        trial_ms = int(min(TRIAL_BOUNDS * bound_ms, max(trial_ms, p.server_trial_cap_ms)))
    runs: dict[float, LoadGenRun] = {}

    def settings_for(qps: float, mode: str = "PerformanceOnly") -> CellSettings:
        # Little's law: far more outstanding queries than qps x bound means the bound is already lost, so
        # LoadGen may stop such a run early instead of draining a long backlog
        max_async = int(4 * qps * bound_ms / 1e3) + 2 * backend.max_batch(opts.max_batch) + 16
        return CellSettings("Server", mode, trial_ms, p.min_query_count["Server"],
                            percentile=p.percentiles["Server"], server_target_qps=qps,
                            server_latency_ns=int(bound_ms * 1e6), server_max_async_queries=max_async,
                            seeds=_seeds(ctx), user_conf=opts.user_conf)

    def trial(qps: float) -> Trial:
        run = _run(ctx, sut, settings_for(qps), folder / "search" / f"qps_{qps:g}",
                   f"{backend.id} Server: trying {qps:g} QPS (bound {bound_ms:g} ms)")
        runs[qps] = run
        m = headline(run)
        passed = bool(m.get("perf_constraints_met")) and bool(run.detail.get("result_min_duration_met", True))
        if p.search_requires_valid:
            passed = passed and run.valid
        if run.detail.errors:
            passed = False
        return Trial(qps, passed, m.get("validity"), m.get("latency_p99_ms"), m.get("completed_samples_per_second"),
                     _rel(ctx, run.folder), run.detail.errors[:5])

    start = 0.8 * (offline_qps or est.throughput)
    result = search(trial, start, p.server_trials)
    chosen = result.best or min(result.trials, key=lambda t: t.target_qps)
    best_run = runs[chosen.target_qps]
    perf_dir = folder / "performance"
    shutil.copytree(best_run.folder, perf_dir)
    best_run.folder = perf_dir
    cell = _cell_json(ctx, best_run)
    cell["metrics"]["max_valid_qps"] = result.best_qps
    cell["metrics"]["latency_bound_ms"] = bound_ms
    cell["search"] = {"start_qps": round(start, 3), "trial_duration_ms": trial_ms,
                      "trials": [t.to_json() for t in result.trials],
                      "best_qps": result.best_qps,
                      "rule": "latency percentile <= bound" + (" and VALID" if p.search_requires_valid else "")}
    cell["batch_sizes"] = dict(sorted(getattr(sut, "batch_sizes", {}).items()))
    if opts.accuracy:
        # the accuracy pass follows the same Poisson schedule at the chosen QPS
        acc_settings = settings_for(chosen.target_qps, "AccuracyOnly")
        acc_settings.accuracy_samples = min(p.accuracy_samples, ctx.qsl.total)
        acc_settings.server_max_async_queries = None
        acc = _run(ctx, sut, acc_settings, folder / "accuracy",
                   f"{backend.id} Server: accuracy at {chosen.target_qps:g} QPS")
        cell["accuracy"] = {**check_accuracy(acc.folder, layout, ctx.reference).to_json(),
                            "log_dir": _rel(ctx, acc.folder)}
    return cell


def _cell_json(ctx: _Context, run: LoadGenRun) -> dict[str, Any]:
    return {
        "validity": run.detail.get("result_validity"),
        "metrics": headline(run),
        "settings": run.settings.to_json(),
        "effective_settings": run.detail.effective(),
        "loadgen_results": run.detail.results(),
        "summary_result": run.summary.get("Result is"),
        "errors": run.detail.errors,
        "warnings": run.detail.warnings,
        "log_dir": _rel(ctx, run.folder),
        "sut": {"batches": run.batches, "samples": run.samples, "latencies": "sut_latencies_ns.npy"},
        "loadgen_wall_s": round(run.wall_s, 3),
    }


def _rel(ctx: _Context, path: Path) -> str:
    try:
        return str(path.relative_to(ctx.run_dir))
    except ValueError:
        return str(path)


def _one_line(scenario: str, cell: dict[str, Any]) -> str:
    m = cell.get("metrics", {})
    acc = cell.get("accuracy", {}).get("agreement")
    tail = f", agreement {acc:.3f}" if acc is not None else ""
    if scenario == "SingleStream":
        head = f"p90 {m.get('latency_p90_ms') or 0:.3f} ms"
    elif scenario == "MultiStream":
        head = f"p99 {m.get('query_latency_p99_ms') or 0:.3f} ms per query"
    elif scenario == "Offline":
        head = f"{m.get('samples_per_second') or 0:.1f} samples/s"
    else:
        best = m.get("max_valid_qps")
        head = f"max {best:g} QPS under {m.get('latency_bound_ms'):g} ms" if best else "no QPS met the bound"
    return f"{head} ({cell.get('validity')}){tail}"
