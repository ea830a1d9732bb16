"""Differential tests: the same settings and seeds on the same deterministic SUT give, in ours and in
the official `mlperf_loadgen`, the same loadable sets, the same sample index sequence, the same
query counts and validity, the same accuracy log, the same detail-log keys and the same summary
shape. The official module runs in a fresh subprocess (it may abort the process on a later
StartTest), with the trace off and its logs in tmp_path."""

from __future__ import annotations

import pytest
from helpers.loadgen import (
    OFFICIAL,
    detail_keys,
    detail_values,
    parse_detail,
    parse_summary,
    run_subprocess,
    summary_shape,
)

SEEDS = {"qsl_rng_seed": 11, "sample_index_rng_seed": 22, "schedule_rng_seed": 33}
QSL = [100, 40]


@pytest.fixture
def both(lg_run, tmp_path):
    counter = [0]

    def run(spec):
        counter[0] += 1
        ours = lg_run(spec)
        theirs = run_subprocess(OFFICIAL, spec, tmp_path / f"official{counter[0]}", timeout=60)
        assert ours["error"] is None, ours["error"]
        assert theirs["error"] is None, theirs["error"]
        return ours, theirs

    return run


def _spec(scenario, mode="PerformanceOnly", **settings):
    return {
        "settings": {
            "scenario": scenario,
            "mode": mode,
            "min_duration_ms": 0,
            "min_query_count": 300,
            "multi_stream_samples_per_query": 3,
            **SEEDS,
            **settings,
        },
        "qsl": QSL,
        "respond": "index",
    }


def _same_run(ours, theirs):
    assert ours["loads"] == theirs["loads"]
    assert ours["unloads"] == theirs["unloads"]
    assert ours["issued"] == theirs["issued"]
    assert ours["flushes"] == theirs["flushes"]


RESULT_KEYS = [
    "result_validity",
    "result_min_duration_met",
    "result_min_queries_met",
    "early_stopping_met",
    "result_query_count",
    "result_perf_constraints_met",
    "generated_query_count",
    "generated_samples_per_query",
    "loaded_qsl_set",
    "effective_samples_per_query",
    "effective_min_query_count",
    "effective_target_qps",
    "effective_performance_sample_count",
]


@pytest.mark.parametrize("scenario", ["SingleStream", "MultiStream", "Offline"])
def test_performance_runs_match(both, scenario):
    ours, theirs = both(_spec(scenario))
    _same_run(ours, theirs)
    ov, tv = detail_values(ours["detail"]), detail_values(theirs["detail"])
    for key in RESULT_KEYS:
        assert ov.get(key) == tv.get(key), key
    assert detail_keys(ours["detail"]) == detail_keys(theirs["detail"])
    assert summary_shape(ours["summary"]) == summary_shape(theirs["summary"])
    assert parse_summary(ours["summary"])["Result is"] == parse_summary(theirs["summary"])["Result is"]


def test_server_runs_match(both):
    # Poisson schedule from the same seed: same number of queries, same indices, same scheduled rate
    ours, theirs = both(_spec("Server", min_duration_ms=30, min_query_count=100, server_target_qps=20000))
    _same_run(ours, theirs)
    assert len(ours["issued"]) > 459
    ov, tv = detail_values(ours["detail"]), detail_values(theirs["detail"])
    for key in RESULT_KEYS:
        assert ov.get(key) == tv.get(key), key
    assert ov["generated_query_duration"] == tv["generated_query_duration"]
    os_, ts_ = parse_summary(ours["summary"]), parse_summary(theirs["summary"])
    assert os_["Scheduled samples per second"] == ts_["Scheduled samples per second"]
    assert detail_keys(ours["detail"]) == detail_keys(theirs["detail"])
    assert summary_shape(ours["summary"]) == summary_shape(theirs["summary"])


@pytest.mark.parametrize("scenario", ["SingleStream", "MultiStream", "Server", "Offline"])
def test_accuracy_runs_match_including_the_accuracy_log(both, scenario):
    ours, theirs = both(_spec(scenario, "AccuracyOnly", server_target_qps=20000))
    _same_run(ours, theirs)
    # a synchronous SUT completes in issue order, so the files must be byte-identical
    assert ours["accuracy"] == theirs["accuracy"]
    assert ours["summary"] == theirs["summary"]
    assert detail_keys(ours["detail"]) == detail_keys(theirs["detail"])


def test_submission_run_matches(both):
    ours, theirs = both(_spec("SingleStream", "SubmissionRun", min_query_count=100))
    _same_run(ours, theirs)
    assert ours["accuracy"] == theirs["accuracy"]
    assert summary_shape(ours["summary"]) == summary_shape(theirs["summary"])


def test_accuracy_log_sampling_in_performance_mode_matches(both):
    ours, theirs = both(_spec("SingleStream", accuracy_log_probability=0.2, accuracy_log_rng_seed=5))
    _same_run(ours, theirs)
    assert ours["accuracy"] == theirs["accuracy"]
    assert ours["accuracy"].count("seq_id") > 20


def test_accuracy_log_sampling_target_matches(both):
    ours, theirs = both(_spec("Offline", accuracy_log_sampling_target=30, accuracy_log_rng_seed=9))
    _same_run(ours, theirs)
    assert ours["accuracy"] == theirs["accuracy"]


@pytest.mark.parametrize(
    ("scenario", "knobs"),
    [
        ("SingleStream", {"performance_issue_unique": True, "min_query_count": 40}),
        ("SingleStream", {"performance_issue_same": True, "performance_issue_same_index": 7}),
        ("SingleStream", {"sample_concatenate_permutation": True, "min_query_count": 90}),
        ("Offline", {"sample_concatenate_permutation": True, "min_query_count": 90}),
        ("Offline", {"performance_issue_unique": True}),
        ("MultiStream", {"performance_sample_count_override": 10}),
        ("SingleStream", {"mode": "AccuracyOnly", "accuracy_sample_count_override": 30}),
        ("MultiStream", {"mode": "AccuracyOnly", "accuracy_sample_count_override": 50}),
        # test05 turns any mode into a performance run with the test05 seeds
        (
            "SingleStream",
            {
                "mode": "AccuracyOnly",
                "test05": True,
                "test05_qsl_rng_seed": 101,
                "test05_sample_index_rng_seed": 102,
                "test05_schedule_rng_seed": 103,
            },
        ),
    ],
)
def test_selection_knobs_match(both, scenario, knobs):
    knobs = dict(knobs)
    mode = knobs.pop("mode", "PerformanceOnly")
    ours, theirs = both(_spec(scenario, mode, **knobs))
    _same_run(ours, theirs)
    ov, tv = detail_values(ours["detail"]), detail_values(theirs["detail"])
    for key in RESULT_KEYS:
        assert ov.get(key) == tv.get(key), key


@pytest.mark.parametrize(
    "seeds",
    [
        {"qsl_rng_seed": 0, "sample_index_rng_seed": 0},
        {"qsl_rng_seed": 2085463073848966840, "sample_index_rng_seed": 2747215439041700203},
    ],
)
def test_index_sequence_matches_for_default_and_mlperf_conf_seeds(both, seeds):
    spec = _spec("SingleStream", min_query_count=200)
    spec["settings"].update(seeds)
    ours, theirs = both(spec)
    _same_run(ours, theirs)


def test_fast_sut_matches(both):
    spec = _spec("MultiStream")
    spec["api"] = "fast"
    ours, theirs = both(spec)
    _same_run(ours, theirs)


def test_error_lines_match_when_queries_run_out(both):
    ours, theirs = both(
        _spec("SingleStream", min_duration_ms=50, min_query_count=1, single_stream_expected_latency_ns=1e7)
    )
    _same_run(ours, theirs)
    errors = [(r["key"], r["value"]) for r in parse_detail(ours["detail"]) if r["metadata"]["is_error"]]
    expected = [(r["key"], r["value"]) for r in parse_detail(theirs["detail"]) if r["metadata"]["is_error"]]
    assert errors == expected
    assert summary_shape(ours["summary"]) == summary_shape(theirs["summary"])


def test_qdl_matches(both):
    spec = _spec("SingleStream", min_query_count=50)
    spec["api"] = "qdl"
    ours, theirs = both(spec)
    _same_run(ours, theirs)
    assert detail_values(ours["detail"])["sut_name"] == "ModelportQDL"
    assert "\nSUT name : ModelportQDL\n" in ours["summary"]
    assert detail_keys(ours["detail"]) == detail_keys(theirs["detail"])


def test_audit_config_is_applied_at_start(both, tmp_path):
    # an audit.config (TEST01-style) is read with model "*" and overrides the settings
    audit = tmp_path / "audit.config"
    audit.write_text("*.SingleStream.performance_issue_same = 1\n*.*.min_query_count = 12\n")
    spec = _spec("SingleStream")
    spec["audit_config"] = str(audit)
    ours, theirs = both(spec)
    _same_run(ours, theirs)
    assert len(ours["issued"]) == 12
    assert len({q[0] for q in ours["issued"]}) == 1
    assert detail_keys(ours["detail"]) == detail_keys(theirs["detail"])
