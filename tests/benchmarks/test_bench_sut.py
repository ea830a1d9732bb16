"""The Server SUT's dynamic batching, driven by the LoadGen, on a stand-in backend with a known cost."""

from __future__ import annotations

import time

import numpy as np

from modelport.benchmarks.backends import Backend
from modelport.benchmarks.loadgen_run import run_loadgen
from modelport.benchmarks.qsl import SampleLibrary
from modelport.benchmarks.responses import ResponseLayout
from modelport.benchmarks.settings import CellSettings
from modelport.benchmarks.sut import BatchingSUT, QSLHandle
from modelport.runners import Runner
from modelport.spec import InputSpec

SPECS = [InputSpec("x", (1, 4), "float32", -1, 1, {0: "batch"})]


class SlowSum(Runner):
    """10 ms per batch whatever its size: batching pays, so a busy SUT should batch."""

    kind = "fake"
    input_names = ["x"]
    output_names = ["y"]

    def __init__(self) -> None:
        self.batches: list[int] = []

    def infer(self, feed):
        self.batches.append(len(feed["x"]))
        time.sleep(0.01)
        return {"y": feed["x"].sum(axis=1, keepdims=True)}


def _server(tmp_path, qps: float, timeout_s: float, max_batch: int = 8):
    runner = SlowSum()
    backend = Backend("fake", "fake", runner, SPECS, batchable=True, output_names=["y"])
    qsl = SampleLibrary(SPECS, 16, 16, seed=0)
    handle = QSLHandle(qsl)
    layout = ResponseLayout.from_sample_outputs({"y": np.zeros((1, 1), np.float32)})
    sut = BatchingSUT(backend, qsl, layout, max_batch=max_batch, timeout_s=timeout_s)
    try:
        settings = CellSettings("Server", "PerformanceOnly", 500, 1, percentile=0.99, server_target_qps=qps,
                                server_latency_ns=int(1e9))
        run = run_loadgen(sut, handle, settings, tmp_path / f"qps{qps:g}")
        return run, dict(sut.batch_sizes), runner.batches
    finally:
        sut.close()
        handle.close()


def test_a_busy_server_sut_forms_batches_up_to_the_maximum(tmp_path):
    # 1000 QPS against 10 ms per batch: ~10 samples arrive per inference, batches fill to max_batch
    run, sizes, runner_batches = _server(tmp_path, qps=1000, timeout_s=0.002, max_batch=8)
    assert run.samples == sum(n * c for n, c in sizes.items()) >= 400
    assert max(sizes) == 8 and sizes[8] > len(sizes)
    # partial batches are padded to a warmed-up bucket (1, 2, 4, 8): the runner sees no other sizes
    assert set(runner_batches) <= {1, 2, 4, 8}


def test_a_quiet_server_sut_does_not_wait_past_the_timeout(tmp_path):
    # 20 QPS: a sample waits at most the 2 ms timeout for company, so nearly every batch is one sample
    # (a SUT that waited for full batches would run batches of 8 here)
    run, sizes, _ = _server(tmp_path, qps=20, timeout_s=0.002)
    assert run.samples >= 5 and sizes.get(1, 0) >= 0.8 * sum(sizes.values())
