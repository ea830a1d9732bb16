"""Test modes and sample-selection knobs: AccuracyOnly covers every sample exactly once (with the
loadable-set chunks, Offline one query per chunk, MultiStream contiguous padded queries),
SubmissionRun = accuracy pass + performance pass, FindPeakPerformance on Server, and the
performance_issue_* / *_count_override knobs (docs/decisions.md, "LoadGen: same seeds, same samples" and
"LoadGen: scenarios, modes and sample selection")."""

from __future__ import annotations

import re

import pytest
from helpers.loadgen import detail_errors, detail_values, parse_summary

QSL = [50, 16]  # 4 loadable sets: 16, 16, 16 and a remainder of 2

_RECORD = re.compile(r'\{ "seq_id" : (\d+), "qsl_idx" : (\d+), "data" : "([0-9A-F]*)" \}')


def accuracy_records(text: str) -> list[tuple[int, int, str]]:
    return [(int(a), int(b), c) for a, b, c in _RECORD.findall(text)]


def _accuracy_run(lg_run, scenario, **settings):
    return lg_run(
        {
            "settings": {
                "scenario": scenario,
                "mode": "AccuracyOnly",
                "min_duration_ms": 0,
                "min_query_count": 1,
                "server_target_qps": 5000,
                **settings,
            },
            "qsl": QSL,
            "respond": "index",
        }
    )


def _check_chunks(result, sizes):
    assert [len(s) for s in result["loads"]] == sizes
    assert result["unloads"] == result["loads"]  # each set unloaded before the next is loaded
    assert result["flushes"] == len(sizes)


@pytest.mark.parametrize("scenario", ["SingleStream", "Server"])
def test_accuracy_issues_every_sample_once_one_per_query(lg_run, scenario):
    result = _accuracy_run(lg_run, scenario)
    assert result["error"] is None
    _check_chunks(result, [16, 16, 16, 2])
    assert sorted(i for s in result["loads"] for i in s) == list(range(50))
    assert all(len(q) == 1 for q in result["issued"])
    assert sorted(q[0] for q in result["issued"]) == list(range(50))
    records = accuracy_records(result["accuracy"])
    assert sorted(r[1] for r in records) == list(range(50))
    # the response bytes (index, 4 bytes little-endian) are hex-dumped in upper case
    assert all(data == idx.to_bytes(4, "little").hex().upper() for _, idx, data in records)
    assert sorted(r[0] for r in records) == list(range(50))


def test_offline_accuracy_is_one_query_per_loadable_set(lg_run):
    result = _accuracy_run(lg_run, "Offline")
    _check_chunks(result, [16, 16, 16, 2])
    assert len(result["issued"]) == 4
    for query, chunk in zip(result["issued"], result["loads"], strict=True):
        assert sorted(query) == sorted(chunk)
    assert sorted(i for q in result["issued"] for i in q) == list(range(50))
    assert len(accuracy_records(result["accuracy"])) == 50


def test_multistream_accuracy_queries_are_contiguous_in_padded_sets(lg_run):
    spq = 4
    result = _accuracy_run(lg_run, "MultiStream", multi_stream_samples_per_query=spq)
    # each set is padded with copies of its first spq-1 entries
    assert [len(s) for s in result["loads"]] == [19, 19, 19, 5]
    queries = list(result["issued"])
    covered = set()
    for chunk in result["loads"]:
        unpadded = len(chunk) - (spq - 1)
        assert chunk[unpadded:] == (chunk * spq)[: spq - 1]
        # queries start at multiples of spq (in shuffled order) and run on into the padding
        expected = [chunk[start : start + spq] for start in range(0, unpadded, spq)]
        got, queries = queries[: len(expected)], queries[len(expected) :]
        assert sorted(got) == sorted(expected)
        covered.update(i for q in got for i in q)
    assert queries == []
    assert covered == set(range(50))


def test_accuracy_sample_count_override_uses_the_first_n_samples(lg_run):
    result = _accuracy_run(lg_run, "SingleStream", accuracy_sample_count_override=20)
    assert sorted(q[0] for q in result["issued"]) == list(range(20))
    _check_chunks(result, [16, 4])


def test_submission_run_is_accuracy_then_performance(lg_run):
    result = lg_run(
        {
            "settings": {
                "scenario": "SingleStream",
                "mode": "SubmissionRun",
                "min_duration_ms": 0,
                "min_query_count": 30,
            },
            "qsl": QSL,
            "respond": "index",
        }
    )
    assert result["error"] is None
    issued = [q[0] for q in result["issued"]]
    assert sorted(issued[:50]) == list(range(50))  # the accuracy pass comes first
    assert len(issued) == 50 + 30
    assert set(issued[50:]) <= set(result["loads"][-1])
    assert [len(s) for s in result["loads"]] == [16, 16, 16, 2, 16]
    assert len(accuracy_records(result["accuracy"])) == 50
    summary = parse_summary(result["summary"])
    assert summary["Mode"] == "SubmissionRun"
    assert "90.0th percentile latency (ns)" in summary
    assert detail_values(result["detail"])["result_query_count"] == 30


def test_find_peak_performance_searches_server_qps(lg_run):
    # one FIFO server at 1 ms per sample: capacity ~1000 QPS; short runs let a little more through
    result = lg_run(
        {
            "settings": {
                "scenario": "Server",
                "mode": "FindPeakPerformance",
                "min_duration_ms": 100,
                "min_query_count": 1,
                "server_target_qps": 500,
                "server_target_latency_ns": 20_000_000,
                "server_find_peak_qps_decimals_of_precision": 0,
            },
            "sut": "serial",
            "per_sample_s": 0.001,
            "qsl": [64, 32],
        },
        timeout=120,
    )
    assert result["error"] is None
    summary = parse_summary(result["summary"])
    assert summary["Mode"] == "FindPeakPerformance"
    peak = float(summary["target_qps"])
    assert 600 <= peak <= 2500
    assert summary["Performance constraints satisfied"] == "Yes"  # the summary of the last passing run
    # base run + at least two boundary runs + a binary search, each a full performance run
    assert result["flushes"] >= 5
    assert float(summary["Completed samples per second"]) > 500


def test_find_peak_performance_is_server_only(lg_run):
    result = lg_run({"settings": {"scenario": "SingleStream", "mode": "FindPeakPerformance"}})
    assert result["issued"] == []
    assert [r["key"] for r in detail_errors(result["detail"])] == ["error_invalid_config"]
    assert "1 ERROR encountered" in result["summary"]


def test_performance_issue_unique_issues_each_loaded_sample_once(lg_run):
    ss = lg_run(
        {
            "settings": {
                "scenario": "SingleStream",
                "performance_issue_unique": True,
                "min_duration_ms": 0,
                "min_query_count": 16,
            },
            "qsl": QSL,
        }
    )
    assert len(ss["issued"]) == 16
    assert sorted(q[0] for q in ss["issued"]) == sorted(ss["loads"][0])
    off = lg_run(
        {
            "settings": {
                "scenario": "Offline",
                "performance_issue_unique": True,
                "min_duration_ms": 0,
                "min_query_count": 37,
            },
            "qsl": QSL,
        }
    )
    assert len(off["issued"]) == 1 and sorted(off["issued"][0]) == sorted(off["loads"][0])


def test_performance_issue_same_repeats_one_loaded_sample(lg_run):
    result = lg_run(
        {
            "settings": {
                "scenario": "SingleStream",
                "performance_issue_same": True,
                "performance_issue_same_index": 3,
                "min_duration_ms": 0,
                "min_query_count": 20,
            },
            "qsl": QSL,
        }
    )
    assert len(result["issued"]) == 20
    assert {q[0] for q in result["issued"]} == {result["loads"][0][3]}


def test_performance_sample_count_override_sizes_the_loaded_set(lg_run):
    result = lg_run(
        {
            "settings": {
                "scenario": "SingleStream",
                "performance_sample_count_override": 8,
                "min_duration_ms": 0,
                "min_query_count": 40,
            },
            "qsl": QSL,
        }
    )
    assert [len(s) for s in result["loads"]] == [8]
    assert {q[0] for q in result["issued"]} <= set(result["loads"][0])
    assert "performance_sample_count : 8" in result["summary"]


def test_accuracy_log_sampling_in_performance_mode(lg_run):
    base = {"scenario": "SingleStream", "min_duration_ms": 0, "min_query_count": 400, "accuracy_log_rng_seed": 11}
    none = lg_run({"settings": base, "qsl": QSL, "respond": "index"})
    assert none["accuracy"] == "[\n]\n"
    some = lg_run({"settings": {**base, "accuracy_log_probability": 0.25}, "qsl": QSL, "respond": "index"})
    records = accuracy_records(some["accuracy"])
    assert 50 <= len(records) <= 150  # ~ 0.25 x 400
    issued = [q[0] for q in some["issued"]]
    # seq_id numbers samples in issue order: each record names the sample issued at that position
    assert all(issued[seq] == idx for seq, idx, _ in records)


def test_multistream_performance_queries_are_contiguous_runs_of_the_padded_set(lg_run):
    spq = 3
    result = lg_run(
        {
            "settings": {
                "scenario": "MultiStream",
                "multi_stream_samples_per_query": spq,
                "min_duration_ms": 0,
                "min_query_count": 200,
                "sample_index_rng_seed": 9,
            },
            "qsl": QSL,
        }
    )
    padded = result["loads"][0]
    assert len(padded) == 16 + spq - 1 and padded[16:] == padded[: spq - 1]
    runs = {tuple(padded[i : i + spq]) for i in range(16)}
    assert len(result["issued"]) == 200
    assert all(tuple(q) in runs for q in result["issued"])
    assert len({tuple(q) for q in result["issued"]}) > 8  # random starts, not one fixed query
