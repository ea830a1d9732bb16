"""The Server cell: the highest target QPS under the latency bound, found by a search over LoadGen runs.

Every trial is a LoadGen run in ``search/qps_<Q>/``; the run at the chosen QPS is copied to ``performance/``
so a Server cell reads like the others, and accuracy mode follows the same Poisson schedule at that QPS.
See docs/decisions.md, "Benchmarks: Server QPS by search".
"""

from __future__ import annotations

import shutil

from modelport.benchmarks.backends import Backend, Estimate
from modelport.benchmarks.cells import CellContext, CellDir, accuracy_pass, cell_from_run, run_once
from modelport.benchmarks.cellsettings import CellSettings
from modelport.benchmarks.compliance import run_compliance
from modelport.benchmarks.loadgen_run import LoadGenRun, headline
from modelport.benchmarks.responses import ResponseLayout
from modelport.benchmarks.results import Cell, ServerSearch
from modelport.benchmarks.scenarios import SERVER
from modelport.benchmarks.server_search import Trial, search
from modelport.benchmarks.sut import BaseSUT

#: a Server trial lasts at least this many latency bounds
TRIAL_BOUNDS = 5
#: the bound when none was derived (never in a bench: the eager backend derives one first)
FALLBACK_BOUND_MS = 100.0
#: the search starts a little below the measured (or estimated) throughput
START_FRACTION = 0.8


class _Trials:
    """Runs the trials of one search and keeps each run, to pick the chosen one's logs afterwards."""

    def __init__(self, ctx: CellContext, backend: Backend, sut: BaseSUT, cdir: CellDir, bound_ms: float,
                 sub: str = "") -> None:
        self.ctx, self.backend, self.sut, self.cdir, self.bound_ms = ctx, backend, sut, cdir, bound_ms
        self.sub = sub  # a repeat's folder under the cell ("" for the first run)
        p = ctx.options.profile
        # A run much shorter than the bound cannot fail it: the backlog of an overloaded SUT has no time to grow
        # past the bound. So a trial lasts at least TRIAL_BOUNDS bounds (within a cap for the short profiles).
        self.trial_ms = p.duration_ms[SERVER.name]
        if self.trial_ms < TRIAL_BOUNDS * bound_ms:
            self.trial_ms = int(min(TRIAL_BOUNDS * bound_ms, max(self.trial_ms, p.server_trial_cap_ms)))
        self.runs: dict[float, LoadGenRun] = {}

    def settings(self, qps: float, mode: str = "PerformanceOnly") -> CellSettings:
        opts = self.ctx.options
        max_async = None
        if mode == "PerformanceOnly":
            # Little's law: far more outstanding queries than qps x bound means the bound is already lost, so
            # LoadGen may stop such a run early instead of draining a long backlog
            max_async = int(4 * qps * self.bound_ms / 1e3) + 2 * self.backend.max_batch(opts.max_batch) + 16
        return SERVER.trial_settings(opts.profile, qps, self.bound_ms, self.trial_ms, max_async, mode,
                                     self.ctx.seeds, opts.user_conf)

    def __call__(self, qps: float) -> Trial:
        folder = self.cdir.staging / self.sub / "search" / f"qps_{qps:g}"
        run = run_once(self.ctx, self.sut, self.settings(qps), folder,
                       f"{self.backend.id} Server: trying {qps:g} QPS (bound {self.bound_ms:g} ms)")
        self.runs[qps] = run
        m = headline(run)
        passed = bool(m.get("perf_constraints_met")) and bool(run.detail.get("result_min_duration_met", True))
        if self.ctx.options.profile.search_requires_valid:
            passed = passed and run.valid
        if run.detail.errors:
            passed = False
        return Trial(qps, passed, m.get("validity"), m.get("latency_p99_ms"), m.get("completed_samples_per_second"),
                     self.cdir.rel(run.folder), run.detail.errors[:5])


def server_cell(ctx: CellContext, backend: Backend, sut: BaseSUT, layout: ResponseLayout, cdir: CellDir,
                est: Estimate, throughput_hint: float | None, sub: str = "", accuracy: bool = True) -> Cell:
    """Search, then record the chosen QPS's run (or the lowest tried, when none passed) as the cell; a repeat
    searches afresh under ``sub``."""
    p = ctx.options.profile
    bound_ms = ctx.server_latency_ms or FALLBACK_BOUND_MS
    trials = _Trials(ctx, backend, sut, cdir, bound_ms, sub)
    start = START_FRACTION * (throughput_hint or est.throughput)
    result = search(trials, start, p.server_trials)
    chosen = result.best or min(result.trials, key=lambda t: t.target_qps)
    best_run = trials.runs[chosen.target_qps]
    perf_dir = cdir.staging / sub / "performance"
    shutil.copytree(best_run.folder, perf_dir)
    best_run.folder = perf_dir
    cell = cell_from_run(cdir, best_run)
    cell.metrics["max_valid_qps"] = result.best_qps
    cell.metrics["latency_bound_ms"] = bound_ms
    rule = "latency percentile <= bound" + (" and VALID" if p.search_requires_valid else "")
    cell.search = ServerSearch(round(start, 3), trials.trial_ms, result.trials, result.best_qps, rule)
    cell.batch_sizes = sut.batch_counts()
    if ctx.options.accuracy and accuracy:
        # the accuracy pass follows the same Poisson schedule at the chosen QPS
        settings = trials.settings(chosen.target_qps, "AccuracyOnly")
        settings.accuracy_samples = min(p.accuracy_samples, ctx.qsl.total)
        cell.accuracy = accuracy_pass(ctx, sut, layout, settings, cdir,
                                      f"{backend.id} Server: accuracy at {chosen.target_qps:g} QPS")
    if accuracy and ctx.options.compliance:  # at the chosen QPS, against the run copied to performance/
        cell.compliance = run_compliance(ctx, sut, trials.settings(chosen.target_qps), cdir, f"{backend.id} Server")
    return cell
