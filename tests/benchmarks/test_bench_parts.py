"""The benchmark's parts without LoadGen runs: QSL, response bytes, QPS search, regression rules, options."""

from __future__ import annotations

import numpy as np
import pytest

from modelport.benchmarks.backends import batch_buckets, bucket_for
from modelport.benchmarks.metrics import speedup
from modelport.benchmarks.qsl import SampleLibrary
from modelport.benchmarks.regression import compare, parse_tolerance
from modelport.benchmarks.responses import ResponseLayout, addresses
from modelport.benchmarks.server_search import Trial, search
from modelport.benchmarks.settings import get_profile, parse_scenarios
from modelport.benchmarks.sut import _Pending
from modelport.errors import InputError
from modelport.spec import InputSpec

SPECS = [InputSpec("x", (2, 3, 4), "float32", -1, 1, {0: "batch"}),
         InputSpec("ids", (2, 5), "int64", 0, 50, {0: "batch"})]


def test_qsl_loads_into_memory_and_unload_deletes():
    qsl = SampleLibrary(SPECS, total=10, performance_count=4, seed=3)
    assert qsl.samples == {} and qsl.performance_count == 4
    qsl.load([1, 7])
    assert sorted(qsl.samples) == [1, 7]
    assert qsl.sample(1)["x"].shape == (1, 3, 4) and qsl.sample(1)["ids"].dtype == np.int64
    qsl.unload([1])
    assert sorted(qsl.samples) == [7]
    with pytest.raises(RuntimeError, match="not loaded"):
        qsl.sample(1)


def test_generated_samples_depend_on_seed_and_index_not_on_load_order():
    a = SampleLibrary(SPECS, 10, 10, seed=3)
    b = SampleLibrary(SPECS, 10, 10, seed=3)
    a.load([2, 5])
    b.load([5])
    b.load([2])
    for i in (2, 5):
        for name in ("x", "ids"):
            np.testing.assert_array_equal(a.sample(i)[name], b.sample(i)[name])
    assert not np.array_equal(a.sample(2)["x"], a.sample(5)["x"])
    c = SampleLibrary(SPECS, 10, 10, seed=4)
    c.load([2])
    assert not np.array_equal(a.sample(2)["x"], c.sample(2)["x"])


def test_batch_stacks_samples_and_pads_with_the_last():
    qsl = SampleLibrary(SPECS, 10, 10, seed=0)
    qsl.load([0, 1, 2])
    feed = qsl.batch([2, 0, 1], pad_to=4)
    assert feed["x"].shape == (4, 3, 4)
    np.testing.assert_array_equal(feed["x"][0], qsl.sample(2)["x"][0])
    np.testing.assert_array_equal(feed["x"][3], qsl.sample(1)["x"][0])


def test_samples_from_npz(tmp_path):
    path = tmp_path / "s.npz"
    x = np.arange(6 * 3 * 4, dtype=np.float32).reshape(6, 3, 4)
    ids = np.arange(30).reshape(6, 5)
    np.savez(path, x=x, ids=ids)
    qsl = SampleLibrary(SPECS, total=99, performance_count=99, npz_path=path)
    assert qsl.total == 6 and qsl.performance_count == 6
    qsl.load([4])
    np.testing.assert_array_equal(qsl.sample(4)["x"], x[4:5])
    np.testing.assert_array_equal(qsl.sample(4)["ids"], ids[4:5])


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((3, 3, 4), np.float32)}, "no array 'ids'"),
    ({"x": np.zeros((3, 3, 5), np.float32), "ids": np.zeros((3, 5), np.int64)}, "has shape"),
    ({"x": np.zeros((3, 3, 4), np.float32), "ids": np.zeros((4, 5), np.int64)}, "different numbers"),
    # integers or bools into a float input are data not prepared for the model (uint8 pixels), not a cast
    ({"x": np.zeros((3, 3, 4), np.uint8), "ids": np.zeros((3, 5), np.int64)}, "is uint8, the model takes float32"),
    ({"x": np.zeros((3, 3, 4), bool), "ids": np.zeros((3, 5), np.int64)}, "is bool, the model takes float32"),
])
def test_bad_npz_samples_are_input_errors(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(InputError, match=message):
        SampleLibrary(SPECS, 10, 10, npz_path=path)
    with pytest.raises(InputError, match="does not exist"):
        SampleLibrary(SPECS, 10, 10, npz_path=tmp_path / "missing.npz")


def test_responses_round_trip_through_bytes_for_several_outputs():
    start = np.random.default_rng(0).normal(size=(3, 7)).astype(np.float32)
    end = np.arange(3 * 2, dtype=np.int64).reshape(3, 2)
    layout = ResponseLayout.from_sample_outputs({"start": start[:1], "end": end[:1]})
    assert layout.sample_bytes == 7 * 4 + 2 * 8
    block = layout.encode({"start": start, "end": end}, 3)
    ptrs, sizes = addresses(block)
    assert list(sizes) == [layout.sample_bytes] * 3 and ptrs[1] - ptrs[0] == layout.sample_bytes
    for i in range(3):
        got = layout.decode(block[i].tobytes())
        np.testing.assert_array_equal(got["start"], start[i])
        np.testing.assert_array_equal(got["end"], end[i])
    # a padded batch (4 rows for 3 samples) encodes only the real samples
    padded = layout.encode({"start": np.concatenate([start, start[-1:]]), "end": np.concatenate([end, end[-1:]])}, 3)
    assert padded.shape == (3, layout.sample_bytes)
    assert ResponseLayout.from_json(layout.to_json()).sample_bytes == layout.sample_bytes
    with pytest.raises(ValueError, match="bytes"):
        layout.decode(b"\x00" * 3)


def _fake_trial(capacity: float):
    def run(q: float) -> Trial:
        return Trial(q, q <= capacity, "VALID" if q <= capacity else "INVALID", 1.0, q, f"qps_{q:g}")
    return run


@pytest.mark.parametrize("start", [10.0, 100.0, 400.0])
def test_server_search_brackets_and_bisects_towards_capacity(start):
    result = search(_fake_trial(120.0), start, max_trials=10)
    assert result.best is not None and result.best.passed
    assert 0.9 * 120 <= result.best_qps <= 120
    assert [t.target_qps for t in result.trials] == sorted(set(t.target_qps for t in result.trials),
                                                          key=[t.target_qps for t in result.trials].index)
    assert any(not t.passed for t in result.trials), "the search must find a failing QPS above the best"


def test_server_search_respects_the_trial_budget_and_may_find_nothing():
    result = search(_fake_trial(0.0), 100.0, max_trials=3)
    assert len(result.trials) == 3 and result.best is None
    assert [t.target_qps for t in result.trials] == [100.0, 50.0, 25.0]


def test_pending_queue_pops_across_chunks_in_order():
    q = _Pending()
    q.push(np.array([1, 2, 3], np.uint64), np.array([10, 20, 30], np.uint64), 5)
    q.push(np.array([4], np.uint64), np.array([40], np.uint64), 6)
    ids, idx, ts = q.pop(2)
    assert list(ids) == [1, 2] and list(idx) == [10, 20] and list(ts) == [5, 5]
    ids, idx, ts = q.pop(5)
    assert list(ids) == [3, 4] and list(ts) == [5, 6] and q.size == 0


def test_batch_buckets_cover_every_size_up_to_max():
    assert batch_buckets(1) == [1]
    assert batch_buckets(32) == [1, 2, 4, 8, 16, 32]
    assert batch_buckets(12) == [1, 2, 4, 8, 12]
    assert [bucket_for(n, batch_buckets(12)) for n in (1, 3, 5, 9, 12)] == [1, 4, 8, 12, 12]


def _results(**cells):
    return {"cells": {"onnx": cells}}


def test_regressions_are_judged_in_each_metric_direction():
    base = _results(SingleStream={"metrics": {"latency_p90_ms": 10.0}, "accuracy": {"agreement": 1.0}},
                    Offline={"metrics": {"samples_per_second": 100.0}},
                    Server={"metrics": {"max_valid_qps": 50.0}, "search": {}})
    ok = _results(SingleStream={"metrics": {"latency_p90_ms": 10.4}, "accuracy": {"agreement": 1.0}},
                  Offline={"metrics": {"samples_per_second": 96.0}},
                  Server={"metrics": {"max_valid_qps": 80.0}, "search": {}})
    assert compare(base, ok, 0.05).regressions == []
    bad = _results(SingleStream={"metrics": {"latency_p90_ms": 11.0}, "accuracy": {"agreement": 0.5}},
                   Offline={"metrics": {"samples_per_second": 94.0}},
                   Server={"metrics": {"max_valid_qps": None}, "search": {}})
    names = sorted(c.key for c in compare(base, bad, 0.05).regressions)
    assert names == ["onnx/Offline/samples_per_second", "onnx/Server/max_valid_qps",
                     "onnx/SingleStream/accuracy_agreement", "onnx/SingleStream/latency_p90_ms"]
    fewer = compare(base, _results(Offline={"metrics": {"samples_per_second": 100.0}}), 0.05)
    assert fewer.regressions == [] and "onnx/SingleStream/latency_p90_ms" in fewer.only_in_baseline


def test_options_parsing():
    assert parse_tolerance("5%") == pytest.approx(0.05) and parse_tolerance("0.1") == pytest.approx(0.1)
    for bad in ("fast", "150%", "-1"):
        with pytest.raises(InputError):
            parse_tolerance(bad)
    assert parse_scenarios(["all"]) == ["SingleStream", "MultiStream", "Offline", "Server"]
    assert parse_scenarios(["server,singlestream", "Offline"]) == ["SingleStream", "Offline", "Server"]
    with pytest.raises(InputError, match="unknown scenario 'Interactive'"):
        parse_scenarios(["Interactive"])
    p = get_profile("quick", duration_ms=50, accuracy_samples=1000)
    assert set(p.duration_ms.values()) == {50} and p.accuracy_samples == p.total_samples
    sub = get_profile("submission")
    assert sub.duration_ms["Offline"] == 600_000 and sub.min_query_count["MultiStream"] == 662
    r50 = sub.for_model("resnet50")
    assert r50.min_query_count["Offline"] == 24576 and r50.total_samples == r50.accuracy_samples == 1024
    assert sub.for_model("tiny-cnn") == sub and get_profile("quick").for_model("resnet50") == get_profile("quick")
    with pytest.raises(InputError, match="unknown profile"):
        get_profile("fast")
    assert speedup(2.0, 4.0, higher_is_better=False) == 2.0 and speedup(2.0, 4.0, higher_is_better=True) == 0.5
