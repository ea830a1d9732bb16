"""Where the cells of a matrix run: in this process, in a stdlib process pool, or on Ray core.

Every executor hands back ``concurrent.futures.Future`` objects (Ray's ``ObjectRef.future()``), so the
driver (``matrix_run``) waits on all three the same way. Conversion and validation cells run freely;
benchmark cells run one per machine at a time: the process pool is one machine, so the driver keeps one
bench in flight (``bench_slots``); on Ray every bench task holds the custom resource ``BENCH_RESOURCE``, of
which every node has one, so Ray itself keeps two measurements off the same node (docs/decisions.md,
"Fan-out: Ray core, one benchmark per node").
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from modelport.benchmarks.options import usable_cores
from modelport.errors import InputError

EXECUTORS = ("serial", "process", "ray")
#: the Ray custom resource a bench cell holds; a node offers one, so one bench runs per node at a time
BENCH_RESOURCE = "modelport_bench_slot"
#: the object store of a Ray started here: cells return small dicts, the artifacts stay on disk
LOCAL_OBJECT_STORE_BYTES = 200 * 1024 * 1024
#: how long workers get to clean up (staged folders) after Ctrl-C before they are killed
STOP_GRACE_S = 10.0
#: how long --ray-address may take to accept a connection before the run is refused
PROBE_TIMEOUT_S = 5.0

CellFn = Callable[[Any], dict[str, Any]]


class Executor:
    """Runs cell functions; ``close(cancel=True)`` stops whatever is still running."""

    name = "serial"
    bench_slots: int | None = 1  # most bench cells the driver keeps in flight (None: the cluster decides)

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = jobs

    def submit(self, fn: CellFn, job: Any, bench: bool = False) -> cf.Future[dict[str, Any]]:
        fut: cf.Future[dict[str, Any]] = cf.Future()
        try:
            fut.set_result(fn(job))
        except Exception as e:  # noqa: BLE001 - cell functions return their failures; this is a crash
            fut.set_exception(e)
        return fut

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "jobs": self.jobs, "bench_slots": self.bench_slots}

    def close(self, cancel: bool = False) -> None:
        """Nothing to stop: serial cells run in the caller."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        self.close(cancel=exc_type is not None)


def _init_worker(threads: int) -> None:
    """A pool worker: SIGTERM unwinds like Ctrl-C (so a cell's staged folder is removed), and the cells that
    run side by side share the cores instead of each taking all of them."""

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    # unpickling this function imported the benchmarks package, and torch with it, before the line above:
    # torch has already sized its pool, so set it too (Ray does the same for a task of num_cpus=1)
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


class ProcessExecutor(Executor):
    """The stdlib process pool with the spawn start method (a forked torch is not safe to use)."""

    name = "process"

    def __init__(self, jobs: int) -> None:
        super().__init__(jobs)
        threads = max(1, usable_cores() // jobs)
        self._pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_init_worker, initargs=(threads,))

    def submit(self, fn: CellFn, job: Any, bench: bool = False) -> cf.Future[dict[str, Any]]:
        return self._pool.submit(fn, job)

    def close(self, cancel: bool = False) -> None:
        if not cancel:
            self._pool.shutdown(wait=True)
            return
        # ProcessPoolExecutor has no public way to stop running calls before Python 3.14 (terminate_workers):
        # signal its processes, give them time to remove their staged folders, then kill what is left.
        procs = list(getattr(self._pool, "_processes", {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            with contextlib.suppress(Exception):
                p.terminate()
        for p in procs:
            p.join(STOP_GRACE_S)
            if p.is_alive():
                p.kill()


class RayExecutor(Executor):
    """Ray core tasks: a cluster at ``address``, or a local Ray started here with ``jobs`` CPUs."""

    name = "ray"
    bench_slots = None

    def __init__(self, jobs: int, address: str | None = None) -> None:
        super().__init__(jobs)
        try:
            import ray
        except ImportError:
            raise InputError("--executor ray needs Ray core", "pip install 'modelport[ray]'") from None
        self._ray = ray
        self.address = address
        self._refs: list[Any] = []
        self._remotes: dict[tuple[CellFn, bool], Any] = {}
        self._started_here = not ray.is_initialized()
        self._temp_dir: str | None = None
        if self._started_here:
            if address:
                _probe(address)
            else:  # a local Ray keeps its session folder (logs, sockets) in a folder we remove at close
                self._temp_dir = ray_temp_dir()
            _init_ray(ray, jobs, address, self._temp_dir)
        self.slots = int(ray.cluster_resources().get(BENCH_RESOURCE, 0))
        if self.slots < 1:
            self.close()
            where = f"the Ray cluster at {address}" if address else "the Ray this process already runs"
            raise InputError(f"{where} offers no {BENCH_RESOURCE!r} resource, so no benchmark cell could be "
                             "placed", "start each node with ray start ... --resources="
                             f"'{{\"{BENCH_RESOURCE}\": 1}}'")

    def submit(self, fn: CellFn, job: Any, bench: bool = False) -> cf.Future[dict[str, Any]]:
        # max_retries=0: a cell whose worker died is reported as failed, not silently run again
        remote = self._remotes.get((fn, bench))
        if remote is None:
            opts: dict[str, Any] = {"num_cpus": 1, "max_retries": 0}
            if bench:
                opts["resources"] = {BENCH_RESOURCE: 1}
            remote = self._remotes[(fn, bench)] = self._ray.remote(**opts)(fn)
        ref = remote.remote(job)
        self._refs.append(ref)
        return ref.future()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "bench_slots": self.slots, "address": self.address,
                "ray_version": self._ray.__version__, "started_here": self._started_here,
                "resources": {k: v for k, v in self._ray.cluster_resources().items() if not k.startswith("node:")}}

    def close(self, cancel: bool = False) -> None:
        if cancel and self._refs:
            for ref in self._refs:
                with contextlib.suppress(Exception):
                    self._ray.cancel(ref, force=False)  # KeyboardInterrupt in the task: its cleanup runs
            with contextlib.suppress(Exception):  # let that cleanup finish before shutdown kills the workers
                self._ray.wait(self._refs, num_returns=len(self._refs), timeout=STOP_GRACE_S)
        if self._started_here and self._ray.is_initialized():
            self._ray.shutdown()
        if self._temp_dir:  # Ray leaves /tmp/ray/session_* behind otherwise, one per run
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None


def ray_temp_dir() -> str:
    return tempfile.mkdtemp(prefix="modelport-ray-")


def _init_ray(ray: Any, jobs: int, address: str | None, temp_dir: str | None) -> None:
    """ray.init, keeping this process's SIGTERM handler: Ray installs one that calls sys.exit (and leaves it
    after shutdown), which would bypass the CLI's own (Ctrl-C-like unwinding, exit 143)."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    try:
        ray.init(**_init_kwargs(jobs, address), **({"_temp_dir": temp_dir} if temp_dir else {}))
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"connect to the Ray cluster at {address}" if address else "start a local Ray"
        raise InputError(f"cannot {where}: {' '.join(str(e).split())[:300]}",
                         "check --ray-address (run on a node of the cluster)" if address else None) from None
    finally:
        if main and previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _probe(address: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Fail in seconds when nothing listens at a HOST:PORT address: ray.init would retry for many minutes,
    deaf to Ctrl-C. Other forms (auto, ray://...) go to Ray as they are."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise InputError(f"cannot connect to the Ray cluster at {address}: {e.strerror or e}",
                         "start it with ray start --head, or check --ray-address") from None


def _init_kwargs(jobs: int, address: str | None) -> dict[str, Any]:
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR, "configure_logging": True}
    if address:
        return {"address": address, **quiet}
    return {"num_cpus": jobs, "resources": {BENCH_RESOURCE: 1}, "include_dashboard": False,
            "object_store_memory": LOCAL_OBJECT_STORE_BYTES, **quiet}


def make_executor(name: str | None, jobs: int | None, ray_address: str | None) -> Executor:
    """The executor asked for; ``process`` when none is named and ``--jobs`` is above 1."""
    if ray_address and name not in (None, "ray"):
        raise InputError(f"--ray-address needs --executor ray, not {name}")
    name = name or ("ray" if ray_address else "process" if (jobs or 1) > 1 else "serial")
    if name not in EXECUTORS:
        raise InputError(f"unknown --executor {name!r}", f"use one of {', '.join(EXECUTORS)}")
    if jobs is not None and jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {jobs}")
    n = jobs or (1 if name == "serial" else usable_cores())
    if name == "process":
        return ProcessExecutor(n)
    if name == "ray":
        return RayExecutor(n, ray_address)
    return Executor(n)
