"""The generative SUT: each sample is a prompt, answered by greedy generation with a backend's components.

As in MLPerf's LLM benchmarks, the SUT reports each sample's first token through LoadGen's token API as soon
as it exists (``lg.first_token``: time to first token), and the whole answer with its token count at the end
(``lg.complete_tokens``: tokens per second and time per output token). Issued samples go to a queue served
by ``workers`` threads, one sample at a time (Offline gets the whole query at once, Server one sample per
query). The SUT keeps its own record of every sample (first-token time, total time, tokens) for the report
and for checking the tokens against the eager model's.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from modelport.benchmarks import lg

#: generate(sample index, on_first) -> the sample's new tokens, 1-D; ``on_first`` gets the first token
GenerateFn = Callable[[int, Callable[[np.ndarray], None]], np.ndarray]


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

    def _one(self, rid: int, index: int, issued_ns: int) -> None:
        first_ns = [0]
        ids = np.array([rid], dtype=np.uint64)

        def on_first(token: np.ndarray) -> None:
            first_ns[0] = time.perf_counter_ns()
            data = np.ascontiguousarray(token, dtype=np.int64)
            lg.first_token(ids, np.array([data.ctypes.data], dtype=np.uint64), np.array([data.nbytes], np.uint64))

        try:
            tokens = np.ascontiguousarray(self.generate(index, on_first), dtype=np.int64)
        except Exception as e:  # noqa: BLE001 - reported after the run; LoadGen must not wait for this sample
            if self.error is None:
                self.error = e
            tokens = np.zeros(0, dtype=np.int64)
        done_ns = time.perf_counter_ns()
        lg.complete_tokens(ids, np.array([tokens.ctypes.data], dtype=np.uint64),
                           np.array([tokens.nbytes], dtype=np.uint64), np.array([len(tokens)], dtype=np.int64))
        with self._lock:
            self.records.append(SampleRecord(index, (first_ns[0] - issued_ns) / 1e9 if first_ns[0] else 0.0,
                                             (done_ns - issued_ns) / 1e9, tokens.tolist()))

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._one(*item)

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join()
        lg.destroy_sut(self.handle)
