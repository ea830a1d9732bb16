"""The generative SUT: each sample is a prompt, answered by greedy generation with a backend's components.

As in MLPerf's LLM benchmarks, the SUT reports each sample's first token through LoadGen's token API as soon
as it exists (``lg.first_token``: time to first token), and the whole answer with its token count at the end
(``lg.complete_tokens``: tokens per second and time per output token). Issued samples go to a queue served
by ``workers`` threads; a worker takes what is queued, up to ``max_batch`` samples, and generates for them
as one batch (Offline gets the whole query at once, Server's samples batch as they pile up). The SUT keeps
its own record of every sample (first-token time, total time, tokens) for the report and for checking the
tokens against the eager model's.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from modelport.benchmarks import lg

#: generate(sample indices, on_first) -> each sample's new tokens (1-D, up to its end-of-sequence token);
#: ``on_first`` gets the first token of every sample, in order, as soon as they exist
GenerateFn = Callable[[list[int], Callable[[np.ndarray], None]], list[np.ndarray]]


@dataclass
class SampleRecord:
    index: int
    ttft_s: float
    latency_s: float
    tokens: list[int]


@dataclass
class GenerativeSUT:
    generate: GenerateFn
    workers: int = 1
    max_batch: int = 1  # samples generated together (prompts of one length: no padding, the same tokens)
    records: list[SampleRecord] = field(default_factory=list)
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self._queue: queue.Queue[tuple[int, int, int] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._work, name=f"modelport-gen-{i}", daemon=True)
                         for i in range(max(1, self.workers))]
        for t in self._threads:
            t.start()
        self.handle = lg.construct_sut(self.issue, self.flush)

    def issue(self, ids: np.ndarray, indices: np.ndarray) -> None:
        now = time.perf_counter_ns()
        for i, idx in zip(ids.tolist(), indices.tolist(), strict=True):
            self._queue.put((int(i), int(idx), now))

    def flush(self) -> None:
        pass

    def reset(self) -> None:
        with self._lock:
            self.records = []
        self.error = None

    def _batch(self, items: list[tuple[int, int, int]]) -> None:
        """Generate for every queued sample at once; each gets its first token and its answer reported."""
        ids = np.array([i for i, _, _ in items], dtype=np.uint64)
        first_ns = [0]
        keep: list[np.ndarray] = []  # response bytes must live until LoadGen has copied them

        def on_first(tokens: np.ndarray) -> None:
            first_ns[0] = time.perf_counter_ns()
            data = np.ascontiguousarray(tokens, dtype=np.int64)
            keep.append(data)
            lg.first_token(ids, np.uint64(data.ctypes.data) + np.uint64(8) * np.arange(len(ids), dtype=np.uint64),
                           np.full(len(ids), 8, dtype=np.uint64))

        try:
            rows = self.generate([idx for _, idx, _ in items], on_first)
        except Exception as e:  # noqa: BLE001 - reported after the run; LoadGen must not wait for these samples
            if self.error is None:
                self.error = e
            rows = [np.zeros(0, dtype=np.int64) for _ in items]
        done_ns = time.perf_counter_ns()
        flat = np.ascontiguousarray(np.concatenate([np.zeros(0, np.int64), *rows]), dtype=np.int64)
        counts = np.array([len(r) for r in rows], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.uint64) * 8
        lg.complete_tokens(ids, np.uint64(flat.ctypes.data) + offsets, (counts * 8).astype(np.uint64), counts)
        with self._lock:
            for (_, idx, issued), row in zip(items, rows, strict=True):
                ttft = (first_ns[0] - issued) / 1e9 if first_ns[0] else 0.0
                self.records.append(SampleRecord(idx, ttft, (done_ns - issued) / 1e9, [int(t) for t in row]))

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            items = [item]
            while len(items) < self.max_batch:  # whatever else is already queued joins the batch
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # another worker's stop signal, or ours after this batch
                    break
                items.append(more)
            self._batch(items)

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join()
        lg.destroy_sut(self.handle)
