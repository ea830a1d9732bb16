"""What every cell (one backend in one scenario) shares: its context, its staged log folder, one LoadGen run,
the accuracy pass, and the ``Cell`` record made from a run.

A cell's logs are written into a temporary folder inside the run directory and moved to
``bench/<backend>/<Scenario>/`` only when the cell completes. An interrupted or failed cell (Ctrl-C,
SIGTERM, an inference error) therefore leaves no folder behind, never truncated logs whose summary still
says "No errors encountered", and the earlier folder of that cell stays until it is replaced whole
(docs/architecture.md, "The run directory": files are written atomically, and bench replaces the folders of
the cells it re-runs).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from modelport.benchmarks.accuracy import Reference, check_accuracy
from modelport.benchmarks.cellsettings import CellSettings
from modelport.benchmarks.loadgen_run import LoadGenRun, headline, run_loadgen
from modelport.benchmarks.mlperf_logs import SUT_LATENCIES
from modelport.benchmarks.options import BenchOptions
from modelport.benchmarks.qsl import SampleLibrary
from modelport.benchmarks.responses import ResponseLayout
from modelport.benchmarks.results import AccuracyResult, Cell
from modelport.benchmarks.sut import BaseSUT, QSLHandle
from modelport.progress import Progress

BENCH_DIR = "bench"
#: staged cell folders are hidden siblings of the run's files, named after the cell
STAGING_PREFIX = ".bench-"


@dataclass
class CellContext:
    """What every cell of a bench reads."""

    run_dir: Path
    options: BenchOptions
    qsl: SampleLibrary
    qsl_handle: QSLHandle
    reference: Reference
    progress: Progress
    seeds: dict[str, int] = field(default_factory=dict)
    server_latency_ms: float | None = None
    bound_source: str = ""
    #: finished cells' (staging, final) folders, placed together just before results.json is written
    staged: list[tuple[Path, Path]] = field(default_factory=list)


@dataclass
class CellDir:
    """A cell's log folder: runs write under ``staging``; results.json records paths under ``final``."""

    run_dir: Path
    staging: Path
    final: Path

    def rel(self, path: Path) -> str:
        """Where ``path`` (under ``staging``) will be once the cell is in place, relative to the run directory."""
        return str((self.final / path.relative_to(self.staging)).relative_to(self.run_dir))


@contextlib.contextmanager
def staged_cell(run_dir: Path, backend_id: str, scenario: str,
                pending: list[tuple[Path, Path]] | None = None) -> Iterator[CellDir]:
    """A temporary folder for one cell, removed if the block does not complete (whatever the exception,
    KeyboardInterrupt and SIGTERM included). A completed cell is moved to ``bench/<backend>/<scenario>`` at
    once, or, given ``pending``, added to it for ``place_cells`` once the whole bench has run."""
    final = run_dir / BENCH_DIR / backend_id / scenario
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{backend_id}-{scenario}.", suffix=".tmp", dir=run_dir))
    try:
        yield CellDir(run_dir, staging, final)
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp made it 0700; the finished folder gets the usual mode
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if pending is None:
        place_cells([(staging, final)])
    else:
        pending.append((staging, final))


@contextlib.contextmanager
def held_cells(pending: list[tuple[Path, Path]]) -> Iterator[None]:
    """Finished cells stay staged while the bench runs: a bench that is interrupted or fails removes them, so
    an earlier bench's cell folders and its results.json are left as they were and still agree (cells placed
    one by one would replace folders the old results.json names, with other figures)."""
    try:
        yield
    except BaseException:
        for staging, _ in pending:
            shutil.rmtree(staging, ignore_errors=True)
        pending.clear()
        raise


def place_cells(pending: list[tuple[Path, Path]]) -> None:
    """Every finished cell moved into ``bench/<backend>/<scenario>``, replacing an earlier bench's."""
    for staging, final in pending:
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    pending.clear()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def run_once(ctx: CellContext, sut: BaseSUT, settings: CellSettings, folder: Path, label: str) -> LoadGenRun:
    """One LoadGen run, with a progress line naming it on a terminal."""
    status = ctx.progress.status if ctx.progress.enabled else None
    settings = replace(settings, conf_model=ctx.options.conf_model)
    return run_loadgen(sut, ctx.qsl_handle, settings, folder, status, label)


def accuracy_settings(ctx: CellContext, perf: CellSettings) -> CellSettings:
    """The accuracy pass of a performance run: the same settings, over the first accuracy samples."""
    return replace(perf, mode="AccuracyOnly",
                   accuracy_samples=min(ctx.options.profile.accuracy_samples, ctx.qsl.total))


def accuracy_pass(ctx: CellContext, sut: BaseSUT, layout: ResponseLayout, settings: CellSettings, cdir: CellDir,
                  label: str) -> AccuracyResult:
    """An AccuracyOnly run into ``accuracy/`` whose logged responses are checked against the eager model."""
    run = run_once(ctx, sut, settings, cdir.staging / "accuracy", label)
    result = check_accuracy(run.folder, layout, ctx.reference)
    result.log_dir = cdir.rel(run.folder)
    return result


def cell_from_run(cdir: CellDir, run: LoadGenRun) -> Cell:
    """The cell record of its performance run."""
    return Cell(
        validity=run.detail.get("result_validity"), metrics=headline(run), settings=run.settings.to_json(),
        effective_settings=run.detail.effective(), loadgen_results=run.detail.results(),
        summary_result=run.summary.get("Result is"), errors=list(run.detail.errors),
        warnings=list(run.detail.warnings), log_dir=cdir.rel(run.folder),
        sut={"batches": run.batches, "samples": run.samples, "latencies": SUT_LATENCIES},
        loadgen_wall_s=round(run.wall_s, 3))

