"""Log files in the official formats (docs/decisions.md, "LoadGen: log files"): summary lines and number formatting, the
`:::MLLOG` detail log (line format, key order, value types), the accuracy JSON byte-for-byte,
the trace JSON when enabled, and the file names."""

from __future__ import annotations

import json
import re

import pytest
from helpers.loadgen import OFFICIAL, UNDER_TEST, detail_errors, detail_values, parse_detail, run_snippet

BAR = "=" * 48

# Keys every performance run logs, in this relative order (other keys may sit between them).
ORDER = [
    "loadgen_version",
    "test_datetime",
    "sut_name",
    "get_sut_name_duration_ns",
    "qsl_name",
    "qsl_reported_total_count",
    "qsl_reported_performance_count",
    "requested_scenario",
    "requested_test_mode",
    "effective_scenario",
    "effective_test_mode",
    "effective_samples_per_query",
    "effective_target_qps",
    "effective_target_latency_ns",
    "effective_target_latency_percentile",
    "effective_max_async_queries",
    "effective_target_duration_ms",
    "effective_min_duration_ms",
    "effective_max_duration_ms",
    "effective_min_query_count",
    "effective_max_query_count",
    "effective_min_sample_count",
    "effective_qsl_rng_seed",
    "effective_sample_index_rng_seed",
    "effective_schedule_rng_seed",
    "effective_accuracy_log_rng_seed",
    "effective_accuracy_log_probability",
    "effective_accuracy_log_sampling_target",
    "effective_print_timestamps",
    "effective_performance_issue_unique",
    "effective_performance_issue_same",
    "effective_performance_issue_same_index",
    "effective_performance_sample_count",
    "effective_accuracy_sample_count",
    "effective_sample_concatenate_permutation",
    "loaded_qsl_set",
    "generated_query_count",
    "generated_samples_per_query",
    "generated_query_duration",
    "power_begin",
    "power_end",
    "result_validity",
    "result_min_duration_met",
    "result_min_queries_met",
    "early_stopping_met",
    "result_query_count",
    "result_min_latency_ns",
    "result_max_latency_ns",
    "result_mean_latency_ns",
    "result_50.00_percentile_latency_ns",
    "result_90.00_percentile_latency_ns",
    "result_95.00_percentile_latency_ns",
    "result_97.00_percentile_latency_ns",
    "result_99.00_percentile_latency_ns",
    "result_99.90_percentile_latency_ns",
    "num_errors",
]
SCENARIO_KEYS = {
    "SingleStream": [
        "result_qps_with_loadgen_overhead",
        "result_qps_without_loadgen_overhead",
        "early_stopping_latency_ss",
        "early_stopping_latency_ms",
    ],
    "MultiStream": [
        "result_min_query_latency_ns",
        "result_max_query_latency_ns",
        "result_mean_query_latency_ns",
        "result_99.00_percentile_per_query_latency_ns",
        "early_stopping_latency_ms",
    ],
    "Server": [
        "result_perf_constraints_met",
        "result_overlatency_query_count",
        "result_scheduled_samples_per_sec",
        "result_completed_samples_per_sec",
    ],
    "Offline": ["result_samples_per_second"],
}
SETTINGS = {
    "min_duration_ms": 20,
    "min_query_count": 64,
    "server_target_qps": 4000,
    "offline_expected_qps": 5000,
    "single_stream_expected_latency_ns": 1e5,
    "multi_stream_expected_latency_ns": 1e5,
    "multi_stream_samples_per_query": 2,
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One performance run per scenario, shared by the format checks."""
    from helpers.loadgen import OURS, load_module, run_lg, run_subprocess

    out = {}
    for scenario in SCENARIO_KEYS:
        outdir = tmp_path_factory.mktemp(scenario)
        spec = {"settings": {"scenario": scenario, **SETTINGS}, "qsl": [64, 32]}
        if scenario in ("SingleStream", "MultiStream"):
            # slow enough that the 400 pre-generated queries outlast the 20 ms min duration
            spec.update(sut="delay", service_s=0.0002)
        if UNDER_TEST == OURS:
            out[scenario] = run_lg(load_module(), spec, outdir)
        else:
            out[scenario] = run_subprocess(UNDER_TEST, spec, outdir)
        assert out[scenario]["error"] is None, out[scenario]["error"]
    return out


_LINE = re.compile(
    r'^:::MLLOG \{"key": "[^"]+", "value": .*, "time_ms": \d+\.\d{6}, "namespace": "mlperf::logging", '
    r'"event_type": "POINT_IN_TIME", "metadata": \{"is_error": (true|false), "is_warning": (true|false), '
    r'"file": "[^"]+", "line_no": \d+, "pid": \d+, "tid": \d+\}\}$'
)


@pytest.mark.parametrize("scenario", list(SCENARIO_KEYS))
def test_detail_lines_are_mllog_json(runs, scenario):
    text = runs[scenario]["detail"]
    lines = text.splitlines()
    assert lines
    for line in lines:
        assert _LINE.match(line), line
        record = json.loads(line[len(":::MLLOG ") :])
        assert list(record) == ["key", "value", "time_ms", "namespace", "event_type", "metadata"]
        assert list(record["metadata"]) == ["is_error", "is_warning", "file", "line_no", "pid", "tid"]
    times = [r["time_ms"] for r in parse_detail(text)]
    assert times[0] < 1000


@pytest.mark.parametrize("scenario", list(SCENARIO_KEYS))
def test_detail_keys_in_order(runs, scenario):
    keys = [r["key"] for r in parse_detail(runs[scenario]["detail"])]
    positions = [keys.index(k) if k in keys else -1 for k in ORDER]
    missing = [k for k, p in zip(ORDER, positions, strict=True) if p < 0]
    assert not missing
    assert positions == sorted(positions), "keys out of order"
    for key in SCENARIO_KEYS[scenario]:
        assert key in keys
    assert len([k for k in keys if k.startswith("effective_")]) == 26
    assert keys[0] == "loadgen_version"


def test_detail_value_types(runs):
    result = runs["SingleStream"]
    values = detail_values(result["detail"])
    assert values["loadgen_version"].startswith("6.0.17")
    assert values["sut_name"] == "PySUT"
    assert values["qsl_name"] == "PyQSL"
    assert values["qsl_reported_total_count"] == 64
    assert values["qsl_reported_performance_count"] == 32
    assert values["requested_scenario"] == values["effective_scenario"] == "SingleStream"
    assert values["effective_test_mode"] == "PerformanceOnly"
    assert values["loaded_qsl_set"] == result["loads"][0]
    assert values["generated_query_count"] >= len(result["issued"])
    assert values["result_validity"] in ("VALID", "INVALID")
    for key in (
        "result_min_duration_met",
        "result_min_queries_met",
        "early_stopping_met",
        "effective_performance_issue_unique",
    ):
        assert isinstance(values[key], bool), key
    for key in (
        "result_query_count",
        "result_min_latency_ns",
        "result_90.00_percentile_latency_ns",
        "num_errors",
        "effective_min_query_count",
    ):
        assert type(values[key]) is int, key
    assert values["result_query_count"] == len(result["issued"])
    assert values["effective_target_latency_percentile"] == pytest.approx(0.9)
    assert re.fullmatch(r"\d\d-\d\d-\d{4} \d\d:\d\d:\d\d\.\d{3}", values["power_begin"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", values["test_datetime"])
    server = detail_values(runs["Server"]["detail"])
    assert isinstance(server["result_scheduled_samples_per_sec"], float | int)
    assert server["effective_target_qps"] == 4000


def _lines(text):
    return text.split("\n")


def test_summary_single_stream_lines(runs):
    lines = _lines(runs["SingleStream"]["summary"])
    assert lines[:8] == [
        BAR,
        "MLPerf Results Summary",
        BAR,
        "SUT name : PySUT",
        "Scenario : SingleStream",
        "Mode     : PerformanceOnly",
        lines[6],
        lines[7],
    ]
    assert re.fullmatch(r"90\.0th percentile latency \(ns\) : \d+", lines[6])
    assert re.fullmatch(r"Result is : (VALID|INVALID)", lines[7])
    assert lines[8:11] == [
        "  Min duration satisfied : Yes",
        "  Min queries satisfied : Yes",
        "  Early stopping satisfied: Yes",
    ]
    i = lines.index("Early Stopping Result:")
    assert re.fullmatch(r" \* Processed at least 64 queries \(\d+\)\.", lines[i + 1])
    assert re.fullmatch(r" \* Would discard \d+ highest latency queries\.", lines[i + 2])
    assert re.fullmatch(r" \* Early stopping 90\.0th percentile estimate: \d+", lines[i + 3])
    # the 99th percentile estimate needs 662 queries
    assert re.fullmatch(
        r" \* Early stopping 99\.0th percentile estimate: \d+|"
        r" \* Not enough queries processed for 99\.0th percentile",
        lines[i + 4],
    )
    j = lines.index("Additional Stats")
    assert lines[j - 1] == lines[j + 1] == BAR
    assert re.fullmatch(r"QPS w/ loadgen overhead         : \d+\.\d\d", lines[j + 2])
    assert re.fullmatch(r"QPS w/o loadgen overhead        : \d+\.\d\d", lines[j + 3])
    assert lines[j + 4] == ""
    stats = ["Min latency (ns)", "Max latency (ns)", "Mean latency (ns)"] + [
        f"{p} percentile latency (ns)" for p in ("50.00", "90.00", "95.00", "97.00", "99.00", "99.90")
    ]
    for k, name in enumerate(stats):
        assert re.fullmatch(re.escape(name.ljust(32)) + r": \d+", lines[j + 5 + k]), lines[j + 5 + k]
    _check_parameters(lines, samples_per_query="1", target_qps="10000", target_latency="0", max_async="1")


def _check_parameters(lines, samples_per_query, target_qps, target_latency, max_async):
    k = lines.index("Test Parameters Used")
    assert lines[k - 1] == lines[k + 1] == BAR
    expected = [
        f"samples_per_query : {samples_per_query}",
        f"target_qps : {target_qps}",
        f"target_latency (ns): {target_latency}",
        f"max_async_queries : {max_async}",
        "min_duration (ms): 20",
        "max_duration (ms): 0",
        f"min_query_count : {lines[k + 8].split(' : ')[1]}",
        "max_query_count : 0",
        "qsl_rng_seed : 0",
        "sample_index_rng_seed : 0",
        "schedule_rng_seed : 0",
        "accuracy_log_rng_seed : 0",
        "accuracy_log_probability : 0",
        "accuracy_log_sampling_target : 0",
        "print_timestamps : 0",
        "performance_issue_unique : 0",
        "performance_issue_same : 0",
        "performance_issue_same_index : 0",
        "performance_sample_count : 32",
        "accuracy_sample_count : 64",
        "",
    ]
    assert lines[k + 2 : k + 2 + len(expected)] == expected
    tail = lines[k + 2 + len(expected) :]
    assert re.fullmatch(
        r"No warnings encountered during test\.|1 warning encountered\. See detailed log\.|"
        r"\d+ warnings encountered\. See detailed log\.",
        tail[0],
    )
    assert tail[1:] == ["", "No errors encountered during test.", ""]


def test_summary_server_lines(runs):
    lines = _lines(runs["Server"]["summary"])
    assert lines[4] == "Scenario : Server"
    assert re.fullmatch(r"Completed samples per second    : \d+\.\d\d", lines[6])
    assert lines[8] in ("  Performance constraints satisfied : Yes", "  Performance constraints satisfied : NO")
    assert lines[9].startswith("  Min duration satisfied : ")
    j = lines.index("Additional Stats")
    assert re.fullmatch(r"Scheduled samples per second : \d+\.\d\d", lines[j + 2])
    _check_parameters(lines, samples_per_query="1", target_qps="4000", target_latency="100000000", max_async="0")


def test_summary_offline_and_multistream_headlines(runs):
    off = _lines(runs["Offline"]["summary"])
    assert off[4] == "Scenario : Offline"
    assert re.fullmatch(r"Samples per second: \d+(\.\d+)?(e\+\d\d)?", off[6])
    assert "Early Stopping Result:" not in off
    _check_parameters(off, samples_per_query="110", target_qps="5000", target_latency="0", max_async="1")
    ms = _lines(runs["MultiStream"]["summary"])
    assert ms[4] == "Scenario : MultiStream"
    assert re.fullmatch(r"99\.0th percentile latency \(ns\) : \d+", ms[6])
    j = ms.index("Additional Stats")
    assert ms[j + 2] == "Per-query latency:  "
    assert re.fullmatch(r"Min latency \(ns\)                : \d+", ms[j + 3])
    _check_parameters(ms, samples_per_query="2", target_qps="10000", target_latency="0", max_async="1")


def test_summary_number_formatting(lg_run):
    # ostream << double: 6 significant digits, scientific when large, no trailing zeros
    off = lg_run(
        {
            "settings": {
                "scenario": "Offline",
                "min_duration_ms": 0,
                "min_query_count": 8,
                "offline_expected_qps": 44510123.0,
            },
            "qsl": [3, 3],
        }
    )
    assert "\ntarget_qps : 4.45101e+07\n" in off["summary"]
    srv = lg_run(
        {
            "settings": {
                "scenario": "Server",
                "min_duration_ms": 0,
                "min_query_count": 8,
                "server_target_qps": 123.456,
            },
            "qsl": [3, 3],
        }
    )
    assert "\ntarget_qps : 123.456\n" in srv["summary"]
    assert detail_values(srv["detail"])["effective_target_qps"] == 123.456


def test_summary_counts_errors(lg_run):
    result = lg_run(
        {
            "settings": {
                "scenario": "SingleStream",
                "min_duration_ms": 10,
                "min_query_count": 1,
                "single_stream_expected_latency_ns": 1e7,
            },
            "qsl": [3, 3],
        }
    )
    errors = detail_errors(result["detail"])
    assert [e["key"] for e in errors] == ["error_runtime"]
    assert result["summary"].endswith("\n1 ERROR encountered. See detailed log.\n")
    assert " * Decrease the expected latency so the loadgen pre-generates more queries." in result["summary"]
    assert "\nResult is : INVALID\n" in result["summary"]


def test_accuracy_json_exact_bytes(lg_run):
    result = lg_run(
        {
            "settings": {"scenario": "SingleStream", "mode": "AccuracyOnly", "min_query_count": 1},
            "qsl": [5, 5],
            "respond": "index",
        }
    )
    order = [q[0] for q in result["issued"]]  # a synchronous SUT completes in issue order
    body = ",\n".join(
        f'{{ "seq_id" : {seq}, "qsl_idx" : {idx}, "data" : "{idx.to_bytes(4, "little").hex().upper()}" }}'
        for seq, idx in enumerate(order)
    )
    assert result["accuracy"] == "[\n" + body + "\n]\n"
    empty = lg_run(
        {"settings": {"scenario": "SingleStream", "mode": "AccuracyOnly", "min_query_count": 1}, "qsl": [2, 2]}
    )
    order = [q[0] for q in empty["issued"]]
    assert empty["accuracy"] == (
        f'[\n{{ "seq_id" : 0, "qsl_idx" : {order[0]}, "data" : "" }},\n'
        f'{{ "seq_id" : 1, "qsl_idx" : {order[1]}, "data" : "" }}\n]\n'
    )


def test_accuracy_summary_has_only_the_counts(lg_run):
    result = lg_run({"settings": {"scenario": "Offline", "mode": "AccuracyOnly"}, "qsl": [5, 5]})
    assert result["summary"] == "\nNo warnings encountered during test.\n\nNo errors encountered during test.\n"


def test_file_names_prefix_suffix_datetime(lg_run, tmp_path):
    result = lg_run(
        {
            "settings": {"scenario": "SingleStream", "mode": "AccuracyOnly"},
            "qsl": [3, 3],
            "log": {"prefix": "pre_", "suffix": "_suf", "prefix_with_datetime": True},
        }
    )
    assert result["error"] is None
    names = sorted(p.name for p in tmp_path.rglob("pre_*"))
    stamp = r"pre_\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ_"
    for kind in ("accuracy_suf.json", "detail_suf.txt", "summary_suf.txt"):
        assert any(re.fullmatch(stamp + re.escape(kind), n) for n in names), (kind, names)


def test_trace_is_valid_chrome_json_when_enabled(lg_run):
    if UNDER_TEST == OFFICIAL:
        pytest.skip('the official trace is not valid JSON ("args":{"key":""loadgen_version""})')
    result = lg_run(
        {
            "settings": {"scenario": "SingleStream", "min_duration_ms": 0, "min_query_count": 20},
            "qsl": [8, 8],
            "log": {"enable_trace": True},
        }
    )
    trace = json.loads(result["trace"])
    assert trace["displayTimeUnit"] == "ns"
    events = trace["traceEvents"]
    assert len(events) > 20
    assert {"ph", "name"} <= set(events[0])
    assert any(e.get("ph") == "X" for e in events)


def test_large_trace_is_valid_json(lg_run):
    if UNDER_TEST == OFFICIAL:
        pytest.skip("the official trace is not valid JSON")
    result = lg_run(
        {
            "settings": {"scenario": "Offline", "min_duration_ms": 0, "min_query_count": 20000},
            "qsl": [64, 64],
            "log": {"enable_trace": True},
        }
    )
    assert len(result["trace"]) > 1 << 20  # large enough to be written in several pieces
    events = json.loads(result["trace"])["traceEvents"]
    assert len(events) >= 20000  # at least one event per sample


def test_no_trace_events_by_request(lg_run):
    result = lg_run(
        {
            "settings": {"scenario": "SingleStream", "min_duration_ms": 0, "min_query_count": 20},
            "qsl": [8, 8],
            "log": {"enable_trace": False},
        }
    )
    assert not result["trace"]  # absent or empty


def test_start_test_writes_default_logs_with_trace_into_the_cwd(tmp_path):
    code = """
import json, os
sut = lg.ConstructSUT(lambda qs: lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in qs]),
                      lambda: None)
qsl = lg.ConstructQSL(8, 8, lambda s: None, lambda s: None)
ts = lg.TestSettings()
ts.min_duration_ms = 0
ts.min_query_count = 10
lg.StartTest(sut, qsl, ts)
result = {n: os.path.getsize(n) for n in os.listdir('.')}
"""
    sizes = run_snippet(UNDER_TEST, code, tmp_path)
    assert set(sizes) == {f"mlperf_log_{k}" for k in ("summary.txt", "detail.txt", "accuracy.json", "trace.json")}
    assert sizes["mlperf_log_trace.json"] > 0  # the trace is on by default
    assert sizes["mlperf_log_summary.txt"] > 0
