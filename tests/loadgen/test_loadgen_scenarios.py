"""Each scenario in performance mode on SUTs with known service times: the headline metric lands
within tolerance of the known value and validity follows the rules in docs/decisions.md, "LoadGen: metrics,
validity and early stopping".

Tolerances are wide on purpose (2 shared cores, Python SUT threads); the metric is still pinned
from both sides, so a wrong clock, unit or definition fails.
"""

from __future__ import annotations

from helpers.loadgen import detail_values, parse_summary


def _metrics(result):
    assert result["error"] is None, result["error"]
    return parse_summary(result["summary"]), detail_values(result["detail"])


def test_single_stream_p90_is_the_service_time(lg_run):
    service = 0.002
    result = lg_run(
        {
            "settings": {
                "scenario": "SingleStream",
                "min_duration_ms": 200,
                "min_query_count": 64,
                "single_stream_expected_latency_ns": service * 1e9,
            },
            "sut": "delay",
            "service_s": service,
            "qsl": [64, 32],
        }
    )
    summary, detail = _metrics(result)
    p90 = int(summary["90.0th percentile latency (ns)"])
    assert service * 1e9 <= p90 <= service * 1e9 + 4e6
    assert detail["result_90.00_percentile_latency_ns"] == p90
    # one query at a time: throughput is 1 / (service + overhead)
    qps = float(summary["QPS w/ loadgen overhead"])
    assert 200 <= qps <= 1 / service
    assert all(len(q) == 1 for q in result["issued"])
    assert len(result["issued"]) == detail["result_query_count"]
    assert summary["Result is"] == "VALID"
    assert detail["result_validity"] == "VALID"
    assert result["flushes"] == 1
    assert result["loads"] == result["unloads"] and len(result["loads"]) == 1


def test_multi_stream_query_latency_is_the_slowest_sample(lg_run):
    delays = [0.001, 0.002, 0.003, 0.004]  # sample i of each query completes after (i+1) ms
    result = lg_run(
        {
            "settings": {
                "scenario": "MultiStream",
                "multi_stream_samples_per_query": 4,
                "multi_stream_expected_latency_ns": 4e6,
                "min_duration_ms": 100,
                "min_query_count": 10,
            },
            "sut": "delay",
            "service_s": delays,
            "qsl": [64, 32],
        }
    )
    summary, detail = _metrics(result)
    # per query, the slowest sample (4 ms), not the sum of the four (10 ms): the median says which, and unlike
    # p99 (the max of ~20 queries) one scheduling stall on a busy machine cannot move it
    p50 = int(summary["50.00 percentile latency (ns)"])
    assert 4e6 <= p50 <= 4e6 + 3e6
    assert int(summary["Min latency (ns)"]) >= 4e6  # per-query: never below the slowest sample
    assert all(len(q) == 4 for q in result["issued"])
    assert detail["result_min_duration_met"] is True
    # fewer than 662 queries cannot satisfy early stopping at p99
    assert detail["early_stopping_met"] is False
    assert summary["Result is"] == "INVALID"


def test_server_completed_rate_tracks_target_qps_and_is_valid(lg_run):
    qps = 2000.0
    result = lg_run(
        {
            "settings": {
                "scenario": "Server",
                "server_target_qps": qps,
                "server_target_latency_ns": 50_000_000,
                "min_duration_ms": 300,
                "min_query_count": 100,
                "schedule_rng_seed": 7,
            },
            "sut": "delay",
            "service_s": 0.001,
            "qsl": [64, 32],
        }
    )
    summary, detail = _metrics(result)
    completed = float(summary["Completed samples per second"])
    scheduled = float(summary["Scheduled samples per second"])
    assert 0.8 * qps <= completed <= 1.2 * qps
    assert 0.8 * qps <= scheduled <= 1.2 * qps
    p99 = detail["result_99.00_percentile_latency_ns"]
    assert 1e6 <= p99 <= 50e6
    assert detail["result_query_count"] == len(result["issued"]) >= 459  # early stopping at t=0
    assert summary["Performance constraints satisfied"] == "Yes"
    assert summary["Result is"] == "VALID"


def test_server_latency_over_bound_fails_perf_constraints(lg_run):
    result = lg_run(
        {
            "settings": {
                "scenario": "Server",
                "server_target_qps": 500,
                "server_target_latency_ns": 2_000_000,
                "min_duration_ms": 100,
                "min_query_count": 10,
            },
            "sut": "delay",
            "service_s": 0.005,
            "qsl": [64, 32],
        }
    )
    summary, detail = _metrics(result)
    assert summary["Performance constraints satisfied"] == "NO"
    assert detail["result_perf_constraints_met"] is False
    assert detail["result_overlatency_query_count"] == detail["result_query_count"]
    assert summary["Result is"] == "INVALID"


def test_offline_samples_per_second_is_the_sut_throughput(lg_run):
    rate = 50_000.0  # one FIFO server, 20 us per sample
    result = lg_run(
        {
            "settings": {
                "scenario": "Offline",
                "offline_expected_qps": rate,
                "min_duration_ms": 100,
                "min_query_count": 1,
            },
            "sut": "serial",
            "per_sample_s": 1 / rate,
            "qsl": [256, 128],
        }
    )
    summary, detail = _metrics(result)
    assert len(result["issued"]) == 1
    assert len(result["issued"][0]) == int(1.1 * 0.1 * rate)  # 1.1 x min_duration x expected qps
    sps = float(summary["Samples per second"])
    assert 0.6 * rate <= sps <= 1.05 * rate
    assert detail["result_samples_per_second"] == sps or abs(detail["result_samples_per_second"] - sps) / sps < 1e-5
    assert summary["Result is"] == "VALID"


def test_offline_query_repeats_the_loaded_set_then_a_prefix(lg_run):
    result = lg_run(
        {
            "settings": {"scenario": "Offline", "min_duration_ms": 0, "min_query_count": 37},
            "qsl": [50, 16],
        }
    )
    loaded = result["loads"][0]
    assert sorted(loaded) == sorted(set(loaded)) and len(loaded) == 16
    assert result["issued"] == [loaded * 2 + loaded[:5]]


def test_min_duration_not_met_when_queries_run_out(lg_run):
    # a too-pessimistic expected latency pre-generates too few queries for the min duration
    result = lg_run(
        {
            "settings": {
                "scenario": "SingleStream",
                "min_duration_ms": 200,
                "min_query_count": 1,
                "single_stream_expected_latency_ns": 20e6,  # pre-generates 2 x 0.2 s x 50 = 21
            },
            "sut": "delay",
            "service_s": 0.001,
            "qsl": [64, 32],
        }
    )
    summary, detail = _metrics(result)
    assert len(result["issued"]) == 21
    assert detail["result_min_duration_met"] is False
    assert summary["Min duration satisfied"] == "NO"
    assert summary["Result is"] == "INVALID"
    assert any("Ran out of generated queries" in r for r in _error_values(result))


def _error_values(result):
    from helpers.loadgen import detail_errors

    return [str(r["value"]) for r in detail_errors(result["detail"])]


def test_max_query_count_and_max_duration_end_early(lg_run):
    capped = lg_run(
        {"settings": {"scenario": "SingleStream", "min_duration_ms": 0, "min_query_count": 100, "max_query_count": 30}}
    )
    assert len(capped["issued"]) == 30
    assert any("Max query count" in v for v in _error_values(capped))
    timed = lg_run(
        {
            "settings": {
                "scenario": "SingleStream",
                "min_duration_ms": 2000,
                "min_query_count": 100000,
                "max_duration_ms": 50,
                "single_stream_expected_latency_ns": 1e6,
            },
            "sut": "delay",
            "service_s": 0.001,
        }
    )
    assert timed["wall_s"] < 1.5
    assert 10 <= len(timed["issued"]) <= 60
    assert any("Max test duration" in v for v in _error_values(timed))
    assert detail_values(timed["detail"])["result_validity"] == "INVALID"


def test_server_max_async_queries_stops_a_backlogged_run(lg_run):
    result = lg_run(
        {
            "settings": {
                "scenario": "Server",
                "min_duration_ms": 0,
                "min_query_count": 100,
                "server_target_qps": 2000,
                "server_max_async_queries": 3,
            },
            "sut": "delay",
            "service_s": 0.05,
        }
    )
    assert len(result["issued"]) == 4
    assert any("Too many outstanding queries" in v for v in _error_values(result))


def test_server_coalescing_merges_due_queries_but_keeps_every_sample(lg_run):
    settings = {
        "scenario": "Server",
        "min_duration_ms": 0,
        "min_query_count": 300,
        "server_target_qps": 20000,
        "schedule_rng_seed": 3,
    }
    plain = lg_run({"settings": settings, "sut": "delay", "service_s": 0.001})
    merged = lg_run(
        {
            "settings": {**settings, "server_coalesce_queries": True},
            "sut": "delay",
            "service_s": 0.001,
            "slow_issue_s": 0.002,
        }
    )
    assert len(plain["issued"]) == 300
    assert sum(map(len, merged["issued"])) == 300
    assert len(merged["issued"]) < 300
    # the index sequence does not depend on how queries were grouped into calls
    assert [i for q in merged["issued"] for i in q] == [i for q in plain["issued"] for i in q]
