"""Run a matrix (``matrix``) on an executor (``executors``): every cell converted and validated in parallel,
then benchmarked one per machine at a time, each in its own folder ``RUN_DIR/cells/<cell>/``; then the
merged ``results.json`` and ``report.md`` (``matrix_report``).

The cell functions run in workers (another process, another node): they take a picklable ``CellJob``,
never raise for a failed cell, and return a small JSON-able record (where and when they ran, what they
made, the headline of every benchmark cell, or the error and its exit code). Each cell's folder is written
the way ``convert`` and ``bench`` write a run directory (staged and renamed), so an interrupted cell leaves
no half-written folder. Phases (docs/decisions.md, "Fan-out: Ray core, one benchmark per node"): all
conversions first, so no conversion competes with a measurement; then one bench per model that also
measures the eager model and fixes the Server latency bound; then the model's other cells with that bound.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import socket
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from modelport.benchmarks.executors import CellFn, Executor
from modelport.benchmarks.matrix import Matrix, MatrixCell, model_name
from modelport.benchmarks.matrix_report import MatrixOutcome, write_matrix
from modelport.benchmarks.options import BenchOptions
from modelport.benchmarks.results import BenchResults
from modelport.benchmarks.scenarios import get_scenario
from modelport.benchmarks.workflow import bench_and_report, raise_for_outcome
from modelport.converters.options import ConvertOptions
from modelport.converters.pipeline import convert
from modelport.converters.rundir import default_run_dir, prepare_out
from modelport.errors import InputError, ModelportError
from modelport.fsutil import check_new_dir, claim
from modelport.manifest import RunManifest, load_manifest
from modelport.progress import Progress

CELLS_DIR = "cells"


@dataclass(frozen=True)
class CellJob:
    """What a worker needs for one cell (pickled to it)."""

    cell: MatrixCell
    run_dir: str
    convert: ConvertOptions
    bench: BenchOptions

    @property
    def folder(self) -> Path:
        return Path(self.run_dir) / CELLS_DIR / self.cell.id


@contextlib.contextmanager
def _recorded() -> Iterator[dict[str, Any]]:
    """The record of one phase of a cell: where and when it ran, and its error if it failed (a failed cell
    is a result, not an exception: the other cells go on). Ctrl-C and SIGTERM still end it."""
    rec: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid(), "start": time.time(), "ok": True}
    try:
        yield rec
    except ModelportError as e:
        rec.update(ok=False, error=e.format_message(), exit_code=e.exit_code)
    except Exception as e:  # noqa: BLE001 - one cell's crash is reported with the others, in one line
        msg = " ".join(str(e).split()) or type(e).__name__
        rec.update(ok=False, error=f"internal error: {type(e).__name__}: {msg[:300]}", exit_code=70)
        if os.environ.get("MODELPORT_DEBUG", "") not in ("", "0"):  # the cell ran elsewhere: keep its trace
            rec["traceback"] = traceback.format_exc()
    finally:
        rec["end"] = time.time()
        rec["wall_s"] = round(rec["end"] - rec["start"], 3)


def _check_visible(job: CellJob) -> None:
    if not Path(job.run_dir).is_dir():  # a cluster without a shared file system
        raise InputError(f"the run directory {job.run_dir} is not visible on {socket.gethostname()}",
                         "a Ray cluster needs the run directory on a file system every node mounts")


def convert_cell(job: CellJob) -> dict[str, Any]:
    """Export and validate one cell into its folder (a worker function)."""
    with _recorded() as rec:
        _check_visible(job)
        result = convert(job.cell.model, job.convert, Progress(enabled=False, quiet=True))
        rec["artifacts"] = [a.id for a in result.manifest.artifacts]
        rec["validated"] = result.validation is not None
        rec["warnings"] = list(result.manifest.warnings)
    return rec


def bench_cell(job: CellJob) -> dict[str, Any]:
    """Benchmark one converted cell in every chosen scenario (a worker function holding the bench slot)."""
    with _recorded() as rec:
        _check_visible(job)
        rec["eager"] = job.bench.eager_cells
        manifest = load_manifest(job.folder)
        if any(a.components for a in manifest.artifacts):  # a generative task: what `modelport bench` runs
            rec["backends"] = _generative_cell(job, manifest)
            rec["results"] = str(Path(CELLS_DIR) / job.cell.id / "results.json")
            return rec
        outcome = bench_and_report(job.folder, job.bench, progress=Progress(enabled=False, quiet=True))
        opts = outcome.results.options
        rec["server_latency_ms"] = opts.server_latency_ms if opts else None
        rec["backends"] = headlines(outcome.results)
        rec["results"] = str(Path(CELLS_DIR) / job.cell.id / "results.json")
        raise_for_outcome(outcome)
    return rec


def _generative_cell(job: CellJob, manifest: RunManifest) -> dict[str, dict[str, dict[str, Any]]]:
    """Tokens per sample with LoadGen's token latencies (generative_bench, as ``modelport bench`` does);
    backend -> scenario -> tokens/s and the share of tokens equal to eager's."""
    from modelport.benchmarks.generative_bench import run_generative_bench, unsupported_flags  # generation code

    unsupported = unsupported_flags(job.bench)
    if unsupported:  # known only once the cell's task is: the cell fails in one line rather than ignore them
        raise InputError(f"{', '.join(unsupported)} not supported for generative runs yet", "drop them")
    results = run_generative_bench(job.folder, manifest, job.bench, Progress(enabled=False, quiet=True))
    return {backend: {sc: {"metric": "tokens_per_s", "value": c["tokens_per_s"], "unit": "tokens/s",
                           "validity": c.get("loadgen_result"), "accuracy": c["token_agreement"]}
                      for sc, c in cells.items()} for backend, cells in results["cells"].items()}


def headlines(results: BenchResults) -> dict[str, dict[str, dict[str, Any]]]:
    """backend -> scenario -> its headline metric, validity and accuracy agreement (the merged report's rows)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for backend, scenario, cell in results.cell_items():
        key, unit, _ = get_scenario(scenario).headline
        out.setdefault(backend, {})[scenario] = {
            "metric": key, "value": cell.metric(key), "unit": unit, "validity": cell.validity,
            "accuracy": cell.accuracy.agreement if cell.accuracy is not None else None}
    return out


def cell_jobs(matrix: Matrix, run_dir: Path, convert_opts: ConvertOptions, bench_opts: BenchOptions) -> list[CellJob]:
    """One job per cell, every cell's options checked before any work (one line on a bad one)."""
    whole = replace(convert_opts, targets=matrix.targets, opsets=matrix.opsets, precision=matrix.precisions)
    whole.check()  # the same refusals as a plain run (a precision no target builds, an opset out of range)
    bench_opts = replace(bench_opts, scenarios=list(matrix.scenarios))
    bench_opts.check()
    jobs = []
    for cell in matrix.cells:
        opts = replace(convert_opts, targets=(cell.target,), precision=cell.precisions, validate=True,
                       opsets=(cell.opset,) if cell.opset is not None else convert_opts.opsets,
                       out=run_dir / CELLS_DIR / cell.id)
        opts.check()
        jobs.append(CellJob(cell, str(run_dir), opts, bench_opts))
    return jobs


@dataclass
class MatrixPlan:
    """A matrix checked and laid out, before any worker starts."""

    matrix: Matrix
    run_dir: Path
    jobs: list[CellJob]


def plan_matrix(matrix: Matrix, convert_opts: ConvertOptions, bench_opts: BenchOptions,
                out: Path | None = None) -> MatrixPlan:
    """Every check before an executor starts (a local Ray takes seconds): options per cell, the run directory."""
    name = model_name(matrix.models[0]) if len(matrix.models) == 1 else "models"
    run_dir = Path(out) if out else default_run_dir(f"{name}-matrix")
    # absolute: workers (a Ray worker especially) need not share this process's working directory
    jobs = cell_jobs(matrix, run_dir.absolute(), replace(convert_opts, out=None), bench_opts)
    check_new_dir(run_dir)
    return MatrixPlan(matrix, run_dir, jobs)


def run_matrix(plan: MatrixPlan, executor: Executor, progress: Progress | None = None) -> MatrixOutcome:
    """Every cell of the plan on ``executor`` into one run directory; returns the merged outcome (failed
    cells included: the caller raises ``MatrixOutcome.error()``)."""
    progress = progress or Progress(enabled=False)
    t0 = time.perf_counter()
    run_dir, jobs = plan.run_dir, plan.jobs
    prepare_out(run_dir)
    with claim(run_dir):
        (run_dir / CELLS_DIR).mkdir(exist_ok=True)
        progress.step(f"{len(jobs)} cell(s) on the {executor.name} executor ({executor.jobs} job(s)): {run_dir}")
        converted = convert_cells(jobs, executor, progress)
        benched = _bench_phases(executor, [j for j in jobs if converted[j.cell.id]["ok"]], progress)
        records = {j.cell.id: {**j.cell.to_json(), "dir": str(Path(CELLS_DIR) / j.cell.id),
                               "convert": converted[j.cell.id], "bench": benched.get(j.cell.id)} for j in jobs}
        return write_matrix(run_dir, plan.matrix, records, executor.describe(),
                            round(time.perf_counter() - t0, 2))


def convert_cells(jobs: list[CellJob], executor: Executor, progress: Progress) -> dict[str, dict[str, Any]]:
    """The first phase: every cell exported and validated, as many at once as the executor runs."""
    return _phase(executor, convert_cell, jobs, None, progress, "converted")


def _bench_phases(executor: Executor, jobs: list[CellJob], progress: Progress) -> dict[str, dict[str, Any]]:
    """The first converted cell of each model benches the eager model too and fixes the Server bound; the
    model's other cells then run with that bound and without the eager cells."""
    leads: dict[str, CellJob] = {}
    for j in jobs:
        leads.setdefault(j.cell.model, j)
    lead_jobs = [replace(j, bench=replace(j.bench, eager_cells=True)) for j in leads.values()]
    done = _phase(executor, bench_cell, lead_jobs, executor.bench_slots, progress, "benchmarked")
    rest = []
    for j in jobs:
        if j.cell.id in done:
            continue
        bound = done[leads[j.cell.model].cell.id].get("server_latency_ms") or j.bench.server_latency_ms
        rest.append(replace(j, bench=replace(j.bench, eager_cells=False, server_latency_ms=bound)))
    done.update(_phase(executor, bench_cell, rest, executor.bench_slots, progress, "benchmarked"))
    return done


def _phase(executor: Executor, fn: CellFn, jobs: list[CellJob], limit: int | None, progress: Progress,
           verb: str) -> dict[str, dict[str, Any]]:
    """Run ``fn`` on every job, at most ``limit`` in flight (None: all; bench cells are placed by the
    executor's slots); a crashed worker becomes that cell's failure."""
    pending, running, out = list(jobs), {}, {}
    bench = fn is bench_cell
    while pending or running:
        while pending and (limit is None or len(running) < limit):
            job = pending.pop(0)
            running[executor.submit(fn, job, bench)] = job
        finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
        for fut in finished:
            job = running.pop(fut)
            try:
                rec = fut.result()
            except Exception as e:  # noqa: BLE001 - a worker that died (Ray task crash, broken pool)
                msg = " ".join(str(e).split())[:300] or type(e).__name__
                rec = {"ok": False, "error": f"worker failed: {type(e).__name__}: {msg}", "exit_code": 70}
            out[job.cell.id] = rec
            what = verb if rec["ok"] else f"FAILED ({rec['error']})"
            progress.step(f"{job.cell.id}: {what} on {rec.get('host', '?')} in {rec.get('wall_s', 0):.1f} s")
    return out
