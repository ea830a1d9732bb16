"""Systems under test: a backend wrapped in the LoadGen SUT protocol, one behaviour per scenario.

* ``InlineSUT`` (SingleStream, MultiStream): runs each query inside the issue callback, the whole query as one
  batch (one sample in SingleStream, N samples in MultiStream) when the backend takes batches.
* ``BatchingSUT`` (Offline, Server): the issue callback only queues samples; a pool of worker threads takes
  batches off the queue. A batch closes when it is full (``max_batch``) or ``timeout_s`` after its first sample
  was issued (Server dynamic batching; Offline uses no wait since the whole query arrives at once), or when
  LoadGen flushes. Partial batches are padded to a warmed-up bucket size.

Every response carries the sample's real output bytes. The SUT records each sample's (or MultiStream
query's) latency from issue to completion itself, for the latency plots. A failing inference never leaves
LoadGen waiting: the samples are completed empty and the error is raised after the run.
"""

from __future__ import annotations

import collections
import threading
import time

import numpy as np

from modelport.benchmarks import lg
from modelport.benchmarks.backends import Backend, batch_buckets, bucket_for
from modelport.benchmarks.qsl import SampleLibrary
from modelport.benchmarks.responses import ResponseLayout, addresses


class BaseSUT:
    def __init__(self, backend: Backend, qsl: SampleLibrary, layout: ResponseLayout) -> None:
        self.backend = backend
        self.qsl = qsl
        self.layout = layout
        self.error: BaseException | None = None
        self._lat_lock = threading.Lock()
        self._latencies: list[np.ndarray] = []
        self.batches_run = 0
        self.samples_run = 0
        self.handle = lg.construct_sut(self.issue, self.flush)

    # -- LoadGen callbacks -------------------------------------------------------------------------------
    def issue(self, ids: np.ndarray, indices: np.ndarray) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        pass

    # -- shared work -------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the latencies and counters of the previous run."""
        with self._lat_lock:
            self._latencies = []
        self.batches_run = self.samples_run = 0
        self.error = None

    def latencies_ns(self) -> np.ndarray:
        with self._lat_lock:
            return np.concatenate(self._latencies) if self._latencies else np.zeros(0, dtype=np.int64)

    def _record(self, lat_ns: np.ndarray) -> None:
        with self._lat_lock:
            self._latencies.append(lat_ns)

    def _run(self, ids: np.ndarray, indices: np.ndarray, pad_to: int | None = None) -> None:
        """Infer one batch and complete its samples; on failure complete them empty and keep the error."""
        n = len(ids)
        try:
            outputs = self.backend.infer(self.qsl.batch(indices, pad_to=pad_to))
            block = self.layout.encode(outputs, n)
            ptrs, sizes = addresses(block)
        except Exception as e:  # noqa: BLE001 - reported after StartTest returns; LoadGen must not hang
            if self.error is None:
                self.error = e
            block = None
            ptrs = np.zeros(n, dtype=np.uint64)
            sizes = np.zeros(n, dtype=np.uint64)
        lg.complete(ids, ptrs, sizes)
        del block  # the response bytes may be freed only after LoadGen has copied them
        self.batches_run += 1
        self.samples_run += n

    def _run_samples(self, ids: np.ndarray, indices: np.ndarray, pad_to: int | None = None) -> None:
        # a MultiStream query larger than the batch memory allows (Backend.batch_cap) runs in parts
        step = self.backend.max_batch(len(ids))
        if len(ids) <= step:
            self._run(ids, indices, pad_to)
        else:
            for i in range(0, len(ids), step):
                self._run(ids[i:i + step], indices[i:i + step])

    def batch_counts(self) -> dict[int, int] | None:
        """How many batches of each size the last run formed; None for a SUT that runs whole queries."""
        return None

    def close(self) -> None:
        lg.destroy_sut(self.handle)


class InlineSUT(BaseSUT):
    """SingleStream and MultiStream: each query runs to completion inside ``issue``."""

    def issue(self, ids: np.ndarray, indices: np.ndarray) -> None:
        t0 = time.perf_counter_ns()
        self._run_samples(ids, indices)
        self._record(np.array([time.perf_counter_ns() - t0], dtype=np.int64))


class _Pending:
    """A FIFO of issued samples kept as array chunks (Offline issues thousands at once, Server one by one)."""

    def __init__(self) -> None:
        self.chunks: collections.deque[list[np.ndarray]] = collections.deque()
        self.size = 0

    def push(self, ids: np.ndarray, indices: np.ndarray, t_ns: int) -> None:
        self.chunks.append([ids, indices, np.full(len(ids), t_ns, dtype=np.int64)])
        self.size += len(ids)

    def first_time(self) -> int:
        return int(self.chunks[0][2][0])

    def pop(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        parts: list[list[np.ndarray]] = []
        while n > 0 and self.chunks:
            ids, idx, ts = self.chunks[0]
            if len(ids) <= n:
                parts.append(self.chunks.popleft())
                n -= len(ids)
            else:
                parts.append([ids[:n], idx[:n], ts[:n]])
                self.chunks[0] = [ids[n:], idx[n:], ts[n:]]
                n = 0
        got = [np.concatenate(col) if len(parts) > 1 else parts[0][k] for k, col in enumerate(zip(*parts, strict=True))]
        self.size -= len(got[0])
        return got[0], got[1], got[2]


class BatchingSUT(BaseSUT):
    """Offline and Server: a queue and a pool of workers that form batches (dynamic batching)."""

    def __init__(self, backend: Backend, qsl: SampleLibrary, layout: ResponseLayout, max_batch: int,
                 timeout_s: float, workers: int = 1) -> None:
        super().__init__(backend, qsl, layout)
        self.max_batch = backend.max_batch(max_batch)
        self.buckets = batch_buckets(self.max_batch)
        self.timeout_ns = int(timeout_s * 1e9)
        self._pending = _Pending()
        self._cond = threading.Condition()
        self._flushed = False
        self._stopping = False
        self.batch_sizes: collections.Counter[int] = collections.Counter()
        self._workers = [threading.Thread(target=self._work, name=f"modelport-sut-{i}", daemon=True)
                         for i in range(max(1, workers))]
        for w in self._workers:
            w.start()

    def reset(self) -> None:
        super().reset()
        with self._cond:
            self._flushed = False
        self.batch_sizes = collections.Counter()

    def batch_counts(self) -> dict[int, int] | None:
        return dict(sorted(self.batch_sizes.items()))

    def issue(self, ids: np.ndarray, indices: np.ndarray) -> None:
        t = time.perf_counter_ns()
        with self._cond:
            self._pending.push(np.asarray(ids, dtype=np.uint64), np.asarray(indices, dtype=np.uint64), t)
            self._cond.notify()

    def flush(self) -> None:
        with self._cond:
            self._flushed = True
            self._cond.notify_all()

    def _take(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        with self._cond:
            while True:
                while not self._pending.size and not self._stopping:
                    self._cond.wait()
                if self._stopping and not self._pending.size:
                    return None
                deadline = self._pending.first_time() + self.timeout_ns
                while self._pending.size < self.max_batch and not self._flushed and not self._stopping:
                    left = deadline - time.perf_counter_ns()
                    if left <= 0:
                        break
                    self._cond.wait(left / 1e9)
                if self._pending.size:  # another worker may have taken it while we waited
                    return self._pending.pop(self.max_batch)

    def _work(self) -> None:
        while True:
            got = self._take()
            if got is None:
                return
            ids, indices, issued = got
            n = len(ids)
            self.batch_sizes[n] += 1
            try:
                self._run_samples(ids, indices, pad_to=bucket_for(n, self.buckets) if n > 1 else None)
            except Exception as e:  # noqa: BLE001 - a worker thread must not die printing a traceback
                # only completing can fail here (inference errors are kept by _run): after an interrupted
                # run LoadGen refuses ids of the finished test; otherwise the run reports it
                if self.error is None and not self._stopping:
                    self.error = e
            self._record(time.perf_counter_ns() - issued)

    def close(self) -> None:
        with self._cond:
            self._stopping = True
            # samples still queued belong to a run that ended early (an interrupt or an error): drop them
            self._pending = _Pending()
            self._cond.notify_all()
        for w in self._workers:
            w.join()
        super().close()


class QSLHandle:
    """The LoadGen QSL over a ``SampleLibrary``."""

    def __init__(self, qsl: SampleLibrary) -> None:
        self.qsl = qsl
        self.handle = lg.construct_qsl(qsl.total, qsl.performance_count, qsl.load, qsl.unload)

    def close(self) -> None:
        lg.destroy_qsl(self.handle)
