"""One LoadGen test: settings in, log folder and parsed results out."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelport.benchmarks import lg
from modelport.benchmarks.audit import audit_config
from modelport.benchmarks.cellsettings import CellSettings
from modelport.benchmarks.mlperf_logs import SUT_LATENCIES, DetailLog, read_detail, read_summary
from modelport.benchmarks.scenarios import get_scenario
from modelport.benchmarks.sut import BaseSUT, QSLHandle
from modelport.errors import InputError, ModelportError


@dataclass
class LoadGenRun:
    folder: Path
    settings: CellSettings
    detail: DetailLog
    summary: dict[str, str]
    latencies_ns: np.ndarray  # the SUT's own issue -> completion times (per sample; MultiStream per query)
    wall_s: float
    batches: int
    samples: int

    @property
    def valid(self) -> bool:
        return self.detail.get("result_validity") == "VALID"


def loadgen_config(settings: CellSettings) -> lg.TestConfig:
    """The LoadGen test of a cell's settings: the shared fields, then the scenario's own."""
    fields = {**settings.common_fields(), **get_scenario(settings.scenario).loadgen_fields(settings)}
    audit = audit_config(settings.compliance, settings.conf_model) if settings.compliance else None
    return lg.TestConfig(settings.scenario, settings.mode, fields, settings.user_conf, settings.conf_model, audit)


def _ticker(sut: BaseSUT, status: Callable[[str], None], label: str, stop: threading.Event) -> None:
    t0 = time.perf_counter()
    while not stop.wait(0.5):
        status(f"{label} · {sut.samples_run} samples done · {time.perf_counter() - t0:.0f} s")


def run_loadgen(sut: BaseSUT, qsl: QSLHandle, settings: CellSettings, folder: Path,
                status: Callable[[str], None] | None = None, label: str = "") -> LoadGenRun:
    """One StartTest into ``folder``; ``status`` (a progress line) is updated twice a second while it runs."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("mlperf_log_*"):
        stale.unlink()
    config = loadgen_config(settings)
    sut.reset()
    stop = threading.Event()
    ticker = None
    if status is not None:
        status(label)
        ticker = threading.Thread(target=_ticker, args=(sut, status, label, stop), daemon=True)
        ticker.start()
    t0 = time.perf_counter()
    try:
        lg.run_test(sut.handle, qsl.handle, config, folder)
    except lg.ConfError as e:
        raise InputError(f"--user-conf {e.path!r} could not be applied (LoadGen returned {e.rc})",
                         "lines are 'model.Scenario.key = value' with spaces around '='") from None
    except Exception as e:
        if isinstance(e, ModelportError):
            raise
        raise ModelportError(f"LoadGen failed in {settings.scenario} {settings.mode}: {e}") from None
    finally:
        stop.set()
        if ticker is not None:
            ticker.join()
    wall = time.perf_counter() - t0
    if sut.error is not None:
        err = sut.error
        raise ModelportError(f"{sut.backend.id}: inference failed during {settings.scenario}: "
                             f"{type(err).__name__}: {' '.join(str(err).split())[:300]}")
    detail = read_detail(folder)
    summary = read_summary(folder) if settings.mode == "PerformanceOnly" else {}
    lat = sut.latencies_ns()
    if settings.mode == "PerformanceOnly" and len(lat):
        np.save(folder / SUT_LATENCIES, lat)
    return LoadGenRun(folder, settings, detail, summary, lat, wall, sut.batches_run, sut.samples_run)


def headline(run: LoadGenRun) -> dict[str, Any]:
    """The metrics a person compares: validity and query count, then the scenario's own (ms, samples/s)."""
    d = run.detail
    out: dict[str, Any] = {"validity": d.get("result_validity"), "query_count": d.get("result_query_count")}
    out.update(get_scenario(run.settings.scenario).metrics(d, run.settings))
    return out
