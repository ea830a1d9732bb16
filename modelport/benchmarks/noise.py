"""Noise awareness (docs/decisions.md, "Benchmarks: recording how busy the machine was"): the machine's state
at the start and end of every cell, how much CPU other processes took meanwhile, and ``--cpus`` pinning.

The load average counts our own threads and decays over a minute, so it cannot say whether *others* were
busy during a cell. /proc/stat can: the CPU time every process spent on the machine during the cell, minus
our own process's CPU time, divided by the wall time, is how many cores other processes kept busy. A cell
during which others used more than ``BUSY_CORES`` cores is flagged. Where /proc/stat is missing (not Linux)
only the load average and affinity are recorded.
"""

from __future__ import annotations

import glob
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from modelport.errors import InputError

#: other processes using more than this many cores on average during a cell: the machine was busy
BUSY_CORES = 0.5


@dataclass
class MachineState:
    time_s: float
    loadavg: list[float] | None
    governors: dict[str, int]  # scaling governor -> number of CPUs using it ({} where unreadable)
    affinity: list[int]
    busy_s: float | None  # CPU time spent on the whole machine since boot (every process), /proc/stat
    own_cpu_s: float  # this process's CPU time

    def to_json(self) -> dict[str, Any]:
        return {"loadavg": self.loadavg, "cpu_governor": self.governors, "affinity": self.affinity}


def _machine_busy_s() -> float | None:
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal ...: busy is everything but idle and iowait
    ticks = [int(x) for x in fields[:8]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _governors() -> dict[str, int]:
    found: Counter[str] = Counter()
    for path in glob.glob("/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor"):
        try:
            with open(path) as f:
                found[f.read().strip()] += 1
        except OSError:
            continue
    return dict(found)


def snapshot() -> MachineState:
    try:
        load: list[float] | None = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    t = os.times()
    return MachineState(time.monotonic(), load, _governors(), affinity, _machine_busy_s(), t.user + t.system)


def between(start: MachineState, end: MachineState) -> dict[str, Any]:
    """The record of one cell: both states, and the cores other processes kept busy in between."""
    wall = end.time_s - start.time_s
    others: float | None = None
    if start.busy_s is not None and end.busy_s is not None and wall > 0:
        others = max(0.0, (end.busy_s - start.busy_s) - (end.own_cpu_s - start.own_cpu_s)) / wall
    return {"start": start.to_json(), "end": end.to_json(),
            "others_cpu_cores": None if others is None else round(others, 3),
            "busy": others is not None and others > BUSY_CORES}


def busy_warning(noise: dict[str, Any]) -> str | None:
    if not noise.get("busy"):
        return None
    return (f"machine busy: other processes kept {noise['others_cpu_cores']:.2f} cores busy during this cell "
            f"(more than {BUSY_CORES:g}); its numbers may be slow and noisy (torch backends most: their OpenMP "
            f"threads spin-wait; OMP_WAIT_POLICY=PASSIVE or fewer --threads keeps them from stalling)")


def parse_cpus(text: str | None) -> list[int] | None:
    """``0,1`` or ``0-3`` or ``0,2-3`` -> sorted core ids, each one this process may run on."""
    if text is None:
        return None
    cpus: set[int] = set()
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            cpus.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise InputError(f"--cpus {text!r} is not a list of core ids", "e.g. --cpus 0,1 or --cpus 0-3") from None
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    if not cpus or not cpus <= allowed:
        bad = sorted(cpus - allowed) or ["none"]
        raise InputError(f"--cpus {text!r}: core(s) {', '.join(map(str, bad))} not available to this process",
                         f"choose among {sorted(allowed)}")
    return sorted(cpus)


def _threads() -> list[int]:
    try:
        return [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return [0]


@contextmanager
def pinned(cpus: list[int] | None) -> Iterator[None]:
    """Every thread of this process (and every thread started meanwhile) on ``cpus``; restored afterwards.
    Threads that already exist (torch's pool, LoadGen's) are pinned one by one: a new affinity applies only
    to the thread that sets it and the threads it starts later."""
    if not cpus:
        yield
        return
    before = os.sched_getaffinity(0)
    for tid in _threads():
        try:
            os.sched_setaffinity(tid, cpus)
        except OSError:
            continue  # a thread that ended meanwhile
    try:
        yield
    finally:
        for tid in _threads():
            try:
                os.sched_setaffinity(tid, before)
            except OSError:
                continue
