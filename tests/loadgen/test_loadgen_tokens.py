"""Token latencies (use_token_latencies; docs/decisions.md, "LoadGen: token latencies"): TTFT from
FirstTokenComplete, TPOT from
the completion's n_tokens, the Server TTFT/TPOT constraints, the token lines of the summary and the
token fields of the accuracy log (the latter compared byte for byte with the official module)."""

from __future__ import annotations

import pytest
from helpers.loadgen import OFFICIAL, detail_keys, detail_values, parse_summary, run_subprocess, summary_shape

FIRST, SERVICE, TOKENS = 0.002, 0.005, 11  # TTFT 2 ms, latency 5 ms -> TPOT (5-2)/10 = 0.3 ms


def _token_run(lg_run, scenario, **settings):
    result = lg_run(
        {
            "settings": {
                "scenario": scenario,
                "min_duration_ms": 100,
                "min_query_count": 20,
                "use_token_latencies": True,
                "server_target_qps": 300,
                "single_stream_expected_latency_ns": 5e6,
                "offline_expected_qps": 200,
                **settings,
            },
            "qsl": [64, 32],
            "sut": "delay",
            "service_s": SERVICE,
            "first_token_s": FIRST,
            "tokens": TOKENS,
        }
    )
    assert result["error"] is None, result["error"]
    return result, parse_summary(result["summary"]), detail_values(result["detail"])


def test_single_stream_ttft_and_tpot(lg_run):
    _, summary, detail = _token_run(lg_run, "SingleStream")
    ttft = int(summary["90.0th first token percentile latency (ns)"])
    assert FIRST * 1e9 <= ttft <= FIRST * 1e9 + 3e6
    assert detail["result_first_token_90.00_percentile_latency_ns"] == ttft
    tpot = detail["result_time_per_output_token_50.00_percentile_ns"]
    assert 0.2e6 <= tpot <= 0.6e6
    qps = float(summary["QPS w/ loadgen overhead"])
    tps = float(summary["TPS w/ loadgen overhead"])
    n = detail["result_query_count"]
    # QPS counts n - 1 intervals, TPS every token over the same time
    assert tps == pytest.approx(TOKENS * qps * n / (n - 1), rel=1e-3)


def test_server_token_constraints(lg_run):
    # generous bounds: the p99 of ~30 queries is their max, and the host is shared
    _, summary, detail = _token_run(lg_run, "Server", ttft_latency=50_000_000, tpot_latency=20_000_000)
    assert summary["Performance constraints satisfied"] == "Yes"
    completed = float(summary["Completed samples per second"])
    assert float(summary["Completed tokens per second"]) == pytest.approx(TOKENS * completed, rel=0.1)
    _, summary, _ = _token_run(lg_run, "Server", ttft_latency=1_000_000, tpot_latency=20_000_000)
    assert summary["Performance constraints satisfied"] == "NO"  # first tokens take 2 ms > 1 ms
    _, summary, _ = _token_run(lg_run, "Server", ttft_latency=50_000_000, tpot_latency=100_000)
    assert summary["Performance constraints satisfied"] == "NO"  # 0.3 ms per token > 0.1 ms


def test_offline_tokens_per_second(lg_run):
    result, summary, _ = _token_run(lg_run, "Offline")
    assert float(summary["Tokens per second"]) == pytest.approx(TOKENS * float(summary["Samples per second"]), rel=1e-4)
    assert "\nttft_latency (ns): 100000000\ntpot_latency (ns): 100000000\n" in result["summary"]  # defaults


@pytest.mark.parametrize("scenario", ["SingleStream", "Offline"])
def test_token_accuracy_log_matches_official(lg_run, tmp_path, scenario):
    spec = {
        "settings": {
            "scenario": scenario,
            "mode": "AccuracyOnly",
            "use_token_latencies": True,
            "qsl_rng_seed": 3,
            "sample_index_rng_seed": 4,
        },
        "qsl": [6, 6],
        "tokens": 5,
        "respond": "index",
    }
    ours = lg_run(spec)
    theirs = run_subprocess(OFFICIAL, spec, tmp_path / "official")
    assert ours["issued"] == theirs["issued"]
    assert ours["accuracy"] == theirs["accuracy"]
    assert '"token_count" : 5' in ours["accuracy"]
    assert ('"token_data"' in ours["accuracy"]) == (scenario != "Offline")


@pytest.mark.parametrize("scenario", ["SingleStream", "Server", "Offline"])
def test_token_summary_and_detail_shape_match_official(lg_run, tmp_path, scenario):
    spec = {
        "settings": {
            "scenario": scenario,
            "min_duration_ms": 50,
            "min_query_count": 10,
            "use_token_latencies": True,
            "server_target_qps": 300,
            "single_stream_expected_latency_ns": 5e6,
            "offline_expected_qps": 200,
        },
        "qsl": [64, 32],
        "sut": "delay",
        "service_s": SERVICE,
        "first_token_s": FIRST,
        "tokens": TOKENS,
    }
    ours = lg_run(spec)
    theirs = run_subprocess(OFFICIAL, spec, tmp_path / "official")
    assert summary_shape(ours["summary"]) == summary_shape(theirs["summary"])
    assert detail_keys(ours["detail"]) == detail_keys(theirs["detail"])
