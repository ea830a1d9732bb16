"""Our batch API (no Python object per sample): ConstructBatchSUT hands the issue callback numpy
uint64 arrays (ids, indices); QuerySamplesCompleteBatch(ids, data=None, sizes=None) completes them.
Same sample sequence as the classic API and the official module; bad input raises, never crashes."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.loadgen import OFFICIAL, OURS, UNDER_TEST, detail_errors, detail_values, run_subprocess

pytestmark = pytest.mark.skipif(UNDER_TEST != OURS, reason="our extension")

SEEDS = {"qsl_rng_seed": 5, "sample_index_rng_seed": 6, "schedule_rng_seed": 7}


def _spec(scenario, api, mode="PerformanceOnly", **settings):
    return {
        "settings": {
            "scenario": scenario,
            "mode": mode,
            "min_duration_ms": 0,
            "min_query_count": 200,
            "server_target_qps": 20000,
            **SEEDS,
            **settings,
        },
        "qsl": [60, 25],
        "api": api,
        "respond": "index",
    }


def test_issue_callback_gets_uint64_arrays(lg, tmp_path):
    seen = []

    def issue(ids, indices):
        seen.append((type(ids), ids.dtype, type(indices), indices.dtype, len(ids), len(indices)))
        lg.QuerySamplesCompleteBatch(ids)

    sut = lg.ConstructBatchSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(30, 30, lambda s: None, lambda s: None)
    from helpers.loadgen import make_log_settings, make_settings

    ts = make_settings(lg, {"scenario": "Offline", "min_duration_ms": 0, "min_query_count": 100})
    lg.StartTestWithLogSettings(sut, qsl, ts, make_log_settings(lg, tmp_path))
    lg.DestroyBatchSUT(sut)
    lg.DestroyQSL(qsl)
    assert seen == [(np.ndarray, np.dtype(np.uint64), np.ndarray, np.dtype(np.uint64), 100, 100)]
    values = detail_values((tmp_path / "mlperf_log_detail.txt").read_text())
    assert values["result_validity"] == "VALID"
    assert values["result_query_count"] == 1


@pytest.mark.parametrize("scenario", ["SingleStream", "MultiStream", "Server", "Offline"])
def test_batch_api_gives_the_same_run_as_the_classic_api(lg_run, scenario):
    batch = lg_run(_spec(scenario, "batch"))
    classic = lg_run(_spec(scenario, "sut"))
    assert batch["error"] is None and classic["error"] is None
    assert batch["issued"] == classic["issued"]
    assert batch["loads"] == classic["loads"]
    for key in ("result_validity", "result_query_count", "generated_query_count"):
        assert detail_values(batch["detail"])[key] == detail_values(classic["detail"])[key]


@pytest.mark.parametrize("scenario", ["Offline", "MultiStream"])
def test_batch_accuracy_log_matches_the_official_module(lg_run, tmp_path, scenario):
    ours = lg_run(_spec(scenario, "batch", "AccuracyOnly"))
    theirs = run_subprocess(OFFICIAL, _spec(scenario, "sut", "AccuracyOnly"), tmp_path / "official")
    assert ours["issued"] == theirs["issued"]
    assert ours["accuracy"] == theirs["accuracy"]  # data pointers and sizes from the arrays


def test_batch_completions_from_a_worker_thread(lg_run):
    result = lg_run(
        {
            "settings": {
                "scenario": "Server",
                "min_duration_ms": 100,
                "min_query_count": 50,
                "server_target_qps": 1000,
            },
            "api": "batch",
            "sut": "delay",
            "service_s": 0.002,
        }
    )
    assert result["error"] is None
    values = detail_values(result["detail"])
    assert values["result_query_count"] == len(result["issued"])
    assert 2e6 <= values["result_50.00_percentile_latency_ns"] <= 50e6


def test_batch_unknown_id_raises_but_records_the_rest(lg, tmp_path):
    from helpers.loadgen import make_log_settings, make_settings

    raised = []

    def issue(ids, indices):
        try:
            lg.QuerySamplesCompleteBatch(np.concatenate([np.array([777], dtype=np.uint64), ids]))
        except lg.LoadGenError as exc:
            raised.append(str(exc))

    sut = lg.ConstructBatchSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(10, 10, lambda s: None, lambda s: None)
    ts = make_settings(
        lg, {"scenario": "SingleStream", "min_duration_ms": 0, "min_query_count": 3, "completion_timeout_s": 5}
    )
    lg.StartTestWithLogSettings(sut, qsl, ts, make_log_settings(lg, tmp_path))
    lg.DestroyBatchSUT(sut)
    lg.DestroyQSL(qsl)
    assert len(raised) == 3 and all("777" in r for r in raised)
    detail = (tmp_path / "mlperf_log_detail.txt").read_text()
    assert detail_values(detail)["result_query_count"] == 3
    assert [e["key"] for e in detail_errors(detail)] == ["error_runtime"] * 3


def test_batch_mismatched_arrays_raise(lg):
    ids = np.array([1, 2, 3], dtype=np.uint64)
    with pytest.raises((ValueError, TypeError, lg.LoadGenError)):
        lg.QuerySamplesCompleteBatch(ids, np.zeros(2, dtype=np.uint64), np.zeros(3, dtype=np.uint64))
    with pytest.raises((ValueError, TypeError, lg.LoadGenError)):
        lg.QuerySamplesCompleteBatch(ids, np.zeros(3, dtype=np.uint64), np.zeros(4, dtype=np.uint64))
