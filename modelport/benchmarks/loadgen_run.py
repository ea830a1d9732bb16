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
from modelport.benchmarks.mlperf_logs import DetailLog, read_detail, read_summary
from modelport.benchmarks.settings import CellSettings
from modelport.benchmarks.sut import BaseSUT, QSLHandle
from modelport.errors import ModelportError


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
    log = lg.lg.LogSettings()
    log.log_output.outdir = str(folder)
    log.log_output.copy_summary_to_stdout = False
    log.enable_trace = False
    test_settings = settings.to_test_settings()
    sut.reset()
    stop = threading.Event()
    ticker = None
    if status is not None:
        status(label)
        ticker = threading.Thread(target=_ticker, args=(sut, status, label, stop), daemon=True)
        ticker.start()
    t0 = time.perf_counter()
    try:
        lg.lg.StartTestWithLogSettings(sut.handle, qsl.handle, test_settings, log)
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
        e = sut.error
        raise ModelportError(f"{sut.backend.id}: inference failed during {settings.scenario}: "
                             f"{type(e).__name__}: {' '.join(str(e).split())[:300]}")
    detail = read_detail(folder)
    summary = read_summary(folder) if settings.mode == "PerformanceOnly" else {}
    lat = sut.latencies_ns()
    if settings.mode == "PerformanceOnly" and len(lat):
        np.save(folder / "sut_latencies_ns.npy", lat)
    return LoadGenRun(folder, settings, detail, summary, lat, wall, sut.batches_run, sut.samples_run)


def headline(run: LoadGenRun) -> dict[str, Any]:
    """The metrics a person compares, by scenario, from the detail log (units: ms and samples/s).

    The percentiles are MLPerf's per scenario (SingleStream p90, MultiStream and Server p99); LoadGen reports
    them whatever target percentile a user.conf sets."""
    d = run.detail
    s = run.settings.scenario
    out: dict[str, Any] = {"validity": d.get("result_validity"), "query_count": d.get("result_query_count")}
    if s == "SingleStream":
        out["latency_p90_ms"] = _ms(d.get("result_90.00_percentile_latency_ns"))
        out["latency_mean_ms"] = _ms(d.get("result_mean_latency_ns"))
        out["qps"] = d.get("result_qps_with_loadgen_overhead")
    elif s == "MultiStream":
        out["query_latency_p99_ms"] = _ms(d.get("result_99.00_percentile_per_query_latency_ns"))
        out["query_latency_mean_ms"] = _ms(d.get("result_mean_query_latency_ns"))
        spq = d.get("effective_samples_per_query") or run.settings.samples_per_query or 8
        mean = d.get("result_mean_query_latency_ns")
        out["samples_per_second"] = spq * 1e9 / mean if mean else None
    elif s == "Offline":
        out["samples_per_second"] = d.get("result_samples_per_second")
    else:
        out["completed_samples_per_second"] = d.get("result_completed_samples_per_sec")
        out["scheduled_samples_per_second"] = d.get("result_scheduled_samples_per_sec")
        out["latency_p99_ms"] = _ms(d.get("result_99.00_percentile_latency_ns"))
        out["perf_constraints_met"] = d.get("result_perf_constraints_met")
    return out


def _ms(ns: Any) -> float | None:
    return None if ns is None else float(ns) / 1e6
