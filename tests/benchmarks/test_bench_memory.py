"""Memory-bounded batches (docs/decisions.md, "Zoo: 3D-UNet memory"): the warm-up measures how much memory a
call takes and never runs a batch predicted to exceed what the machine has to spare; the cap it sets is the
largest batch every SUT forms (a MultiStream query above it runs in parts); runs that only check outputs open
onnxruntime without its memory arena."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelport.benchmarks import backends, memory
from modelport.benchmarks.backends import Backend
from modelport.benchmarks.sut import InlineSUT
from modelport.runners.base import Runner
from modelport.spec import InputSpec
from modelport.validators.options import CHECKING, ValidationOptions

MB = 2**20
PER_SAMPLE = 48 * MB


def _measurable() -> bool:
    return memory.rss_bytes() is not None and memory.reset_peak() and memory.peak_bytes() is not None


linux_proc = pytest.mark.skipif(not _measurable(), reason="needs /proc/self/clear_refs and VmHWM (Linux)")


class _Hungry(Runner):
    """Touches PER_SAMPLE bytes per sample of the batch (a model's activations) and frees them."""

    kind = "onnx"

    def __init__(self) -> None:
        self.input_names, self.output_names = ["x"], ["y"]
        self.batches: list[int] = []

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = len(feed["x"])
        self.batches.append(n)
        work = np.ones(n * PER_SAMPLE // 8)  # written, so resident
        del work
        return {"y": feed["x"]}


def _backend(runner: Runner) -> Backend:
    return Backend("onnx", "onnx", runner, [InputSpec("x", (2, 3), "float32", dynamic_axes={0: "batch"})],
                   batchable=True)


@linux_proc
def test_a_call_growth_is_measured_from_the_peak_not_what_is_left():
    with memory.GrowthProbe() as probe:
        block = np.ones(64 * MB // 8)
        del block  # freed before the probe reads: only the peak says it was there
    assert probe.growth is not None
    assert 60 * MB <= probe.growth < 200 * MB


@linux_proc
def test_warm_up_stops_below_a_batch_the_memory_cannot_hold(monkeypatch):
    # 16 samples' worth spare: MEMORY_FRACTION (0.3) of it holds batch 4, not 8
    monkeypatch.setattr(memory, "available_bytes", lambda: 16 * PER_SAMPLE)
    runner = _Hungry()
    b = _backend(runner)
    warm = b.warm_up(backends.batch_buckets(32))
    assert max(runner.batches) == 4  # batch 8 and above never ran
    assert sorted(warm) == [1, 2, 4]
    assert b.batch_cap == 4 and b.max_batch(32) == 4 and b.max_batch(3) == 3
    assert PER_SAMPLE * 0.9 <= b.memory_growth[1] < PER_SAMPLE * 3
    described = b.describe()
    assert described["batch_cap"] == 4 and set(described["warm_up_memory_growth_mb"]) == {"1", "2", "4"}
    assert any(n.startswith("max batch 4: a batch of 8 would take") for n in described["notes"])


@linux_proc
def test_plenty_of_memory_caps_nothing(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 1000 * PER_SAMPLE)
    runner = _Hungry()
    b = _backend(runner)
    b.warm_up(backends.batch_buckets(8))
    assert max(runner.batches) == 8 and b.batch_cap is None and b.max_batch(8) == 8


def test_fits_scales_the_worst_measured_bytes_per_sample():
    measured = {1: 100, 2: 300}  # 150 per sample at batch 2
    assert memory.predicted_growth(4, measured) == 600
    assert memory.fits(4, measured, 1200, fraction=0.5) == (True, "")
    ok, why = memory.fits(4, measured, 1199, fraction=0.5)
    assert not ok and "a batch of 4" in why
    assert memory.fits(4, {}, 1)[0]  # nothing measured (not Linux): nothing capped
    assert memory.fits(4, measured, None)[0]


def test_a_query_above_the_cap_runs_in_parts():
    b = _backend(_Hungry())
    b.batch_cap = 3
    sut = InlineSUT.__new__(InlineSUT)  # only _run_samples: no LoadGen handle
    sut.backend = b
    ran: list[int] = []
    sut._run = lambda ids, indices, pad_to=None: ran.append(len(ids))
    sut._run_samples(np.arange(8, dtype=np.uint64), np.arange(8, dtype=np.uint64))
    assert ran == [3, 3, 2]
    ran.clear()
    sut._run_samples(np.arange(3, dtype=np.uint64), np.arange(3, dtype=np.uint64))
    assert ran == [3]


def test_checking_runs_open_onnxruntime_without_its_arena(tmp_path: Path):
    import onnx
    from onnx import TensorProto, helper

    from modelport.runners.ort_runner import OrtRunner

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])])
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    assert ValidationOptions().runner.ort_mem_arena is False
    checking = OrtRunner(path, CHECKING)
    assert checking.describe()["cpu_mem_arena"] is False
    assert OrtRunner(path).describe()["cpu_mem_arena"] is True  # a bench keeps onnxruntime's default


class _Arena(_Hungry):
    """Grows only on its first call (an arena that keeps its blocks): later calls of any batch up to that first
    one's size take nothing new."""

    def __init__(self) -> None:
        super().__init__()
        self.kept: list[np.ndarray] = []

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.batches.append(len(feed["x"]))
        if not self.kept:
            self.kept.append(np.ones(PER_SAMPLE // 8))
        return {"y": feed["x"]}


@linux_proc
def test_the_first_call_counts_as_batch_one(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 16 * PER_SAMPLE)
    b = _backend(_Arena())
    b.first_call({"x": np.zeros((1, 3), np.float32)})
    b.warm_up([1])  # the arena is already grown: these calls take nothing
    assert b.memory_growth[1] >= PER_SAMPLE * 0.9
