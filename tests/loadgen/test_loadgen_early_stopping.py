"""Early stopping (docs/decisions.md, "LoadGen: metrics, validity and early stopping"): the query counts it
needs, the number of queries it discards, the
percentile estimates and the Server "would need N more queries" figure, against an independent
binomial reference (confidence 0.99, tolerance 0)."""

from __future__ import annotations

import re
from functools import cache
from math import comb

import pytest
from helpers.loadgen import detail_values, parse_summary


def _odds(h: int, t: int, p: float) -> float:
    """P[at most t of h + t queries are over the percentile bound] when each is with prob 1 - p."""
    n = h + t
    return sum(comb(n, k) * (1 - p) ** k * p ** (n - k) for k in range(t + 1))


@cache
def min_passing(t: int, p: float) -> int:
    """Smallest h with _odds(h, t, p) < 1 - 0.99."""
    hi = 1
    while _odds(hi, t, p) >= 0.01:
        hi *= 2
    lo = 0
    while lo < hi:
        mid = (lo + hi) // 2
        if _odds(mid, t, p) < 0.01:
            hi = mid
        else:
            lo = mid + 1
    return lo


def discarded(n: int, p: float) -> int:
    """SS/MS: t = (first i >= 2 with n < f(i) + i) - 1; the summary reports t - 1 discarded queries."""
    i = 2
    while i < n + 1 and n >= min_passing(i, p) + i:
        i += 1
    return i - 2


def test_reference_figures():
    assert min_passing(0, 0.99) == 459
    assert min_passing(1, 0.9) + 1 == 64
    assert min_passing(1, 0.99) + 1 == 662


def _sync(lg_run, scenario, n, **settings):
    result = lg_run(
        {
            "settings": {
                "scenario": scenario,
                "min_duration_ms": 0,
                "min_query_count": n,
                "server_target_qps": 50000,
                **settings,
            },
            "qsl": [64, 32],
        }
    )
    assert result["error"] is None
    assert len(result["issued"]) == n
    return result, parse_summary(result["summary"]), detail_values(result["detail"])


@pytest.mark.parametrize(("n", "met"), [(63, False), (64, True)])
def test_single_stream_p90_needs_64_queries(lg_run, n, met):
    result, summary, detail = _sync(lg_run, "SingleStream", n)
    assert detail["early_stopping_met"] is met
    assert summary["Early stopping satisfied"] == ("Yes" if met else "NO")
    if met:
        assert " * Processed at least 64 queries (64).\n" in result["summary"]
        assert " * Would discard 0 highest latency queries.\n" in result["summary"]
    else:
        assert (
            " * Only processed 63 queries.\n * Need to process at least 64 queries for early stopping."
            in (result["summary"])
        )
        assert summary["Result is"] == "INVALID"


@pytest.mark.parametrize(("n", "met"), [(661, False), (662, True)])
def test_multi_stream_p99_needs_662_queries(lg_run, n, met):
    _, summary, detail = _sync(lg_run, "MultiStream", n, multi_stream_samples_per_query=2)
    assert detail["early_stopping_met"] is met
    assert summary["Early stopping satisfied"] == ("Yes" if met else "NO")


@pytest.mark.parametrize(("n", "met"), [(458, False), (459, True)])
def test_server_without_overlatency_needs_459_queries(lg_run, n, met):
    result, summary, detail = _sync(lg_run, "Server", n)
    assert detail["result_overlatency_query_count"] == 0
    assert detail["early_stopping_met"] is met
    if met:
        assert " * Run successful." in result["summary"]
    else:
        assert " * Would need to run at least 1 more queries,\n" in result["summary"]


@pytest.mark.parametrize("n", [100, 700, 2000])
def test_single_stream_discard_count_and_estimates(lg_run, n):
    result, summary, detail = _sync(lg_run, "SingleStream", n)
    text = result["summary"]
    assert f" * Would discard {discarded(n, 0.9)} highest latency queries.\n" in text
    estimate = int(re.search(r"Early stopping 90\.0th percentile estimate: (\d+)", text).group(1))
    assert detail["early_stopping_latency_ss"] == estimate
    # the estimate is an order statistic at or above the percentile itself
    assert estimate >= int(summary["90.0th percentile latency (ns)"])
    if n >= 662:
        estimate99 = int(re.search(r"Early stopping 99\.0th percentile estimate: (\d+)", text).group(1))
        assert detail["early_stopping_latency_ms"] == estimate99 >= estimate
    else:
        assert " * Not enough queries processed for 99.0th percentile\n" in text


def test_server_overlatency_count_sets_the_queries_needed(lg_run):
    # every 10th issued query takes 40 ms against a 20 ms bound; the rest complete at once
    result = lg_run(
        {
            "settings": {
                "scenario": "Server",
                "min_duration_ms": 0,
                "min_query_count": 200,
                "server_target_qps": 2000,
                "server_target_latency_ns": 20_000_000,
            },
            "sut": "delay",
            "service_cycle": [0.0] * 9 + [0.04],
            "qsl": [64, 32],
        }
    )
    assert result["error"] is None
    n = len(result["issued"])
    t = n // 10
    detail = detail_values(result["detail"])
    assert detail["result_overlatency_query_count"] == t
    assert detail["early_stopping_met"] is False
    more = min_passing(t, 0.99) + t - n
    assert f" * Processed {n} queries.\n * Would need to run at least {more} more queries,\n" in result["summary"]
