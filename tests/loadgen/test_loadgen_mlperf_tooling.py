"""What MLPerf's own log tooling reads from a LoadGen's logs, checked on ours.

The submission checker (its `MLPerfLog`/`LoadgenParser` readers and the performance, accuracy and
power checks), the compliance scripts (TEST01 verify_performance/verify_accuracy, TEST04
verify_performance, TEST06 run_verification) and the accuracy scripts were run on logs from the
official module and from ours and extracted the same things (see the LoadGen section of the README).
These tests pin down the contract they rely on, with readers of our own written to the documented
format, none of their code:

- detail log: the first line starts with ":::MLLOG" and every line is that marker plus one JSON
  object; the checker looks keys up by name (first record wins) and compares values as numbers,
  strings and booleans, so each key it reads must be present once with the right JSON type;
- the per-scenario result fields it turns into the reported metric with float();
- `power_begin`/`power_end` parse with "%m-%d-%Y %H:%M:%S.%f" as UTC, also when found by a
  line search for the key and the first date-shaped substring (the power checker);
- summary: "Result is : VALID" at the start of a line, "Scenario : X", the lines TEST04 matches at the
  start of a line (early-stopping estimates, "Completed samples per second", "Samples per second"),
  which must agree with the detail log's numbers, and the "Test Parameters Used" key : value lines;
- accuracy JSON: a JSON array of {seq_id, qsl_idx, data} with uppercase hex data, one record per line
  between a "[" line and a "]" line (TEST01's unix mode greps, awks and md5sums single lines), plus
  token_data/token_count for token runs (TEST06).

Set LOADGEN_TEST_MODULE=mlperf_loadgen to check these expectations against the official module."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime

import numpy as np
import pytest
from helpers.loadgen import OURS, UNDER_TEST, load_module, run_lg, run_subprocess

MARKER = ":::MLLOG"
POWER_FORMAT = "%m-%d-%Y %H:%M:%S.%f"

# The field each scenario's reported metric is read from (submission checker, v5.0 onwards).
RESULT_FIELD = {
    "SingleStream": "early_stopping_latency_ss",
    "MultiStream": "early_stopping_latency_ms",
    "Server": "result_completed_samples_per_sec",
    "Offline": "result_samples_per_second",
}

# Keys the performance/accuracy checks read from every run's detail log, with their JSON types.
CHECKER_KEYS: dict[str, type | tuple[type, ...]] = {
    "effective_scenario": str,
    "effective_test_mode": str,
    "effective_performance_sample_count": int,
    "effective_accuracy_sample_count": int,
    "effective_qsl_rng_seed": int,
    "effective_sample_index_rng_seed": int,
    "effective_schedule_rng_seed": int,
    "effective_min_query_count": int,
    "effective_samples_per_query": int,
    "effective_min_duration_ms": int,
    "effective_target_latency_ns": int,
    "effective_sample_concatenate_permutation": bool,
    "qsl_reported_total_count": int,
    "sut_name": str,
}
# Logged once per loaded sample set: an accuracy run over several sets repeats them (first one wins).
REPEATED_KEYS = {"power_begin": str, "power_end": str}
# ... and from performance runs only (latency-constraint, inference and power-per-query checks).
PERF_KEYS: dict[str, type | tuple[type, ...]] = {
    "result_validity": str,
    "num_errors": int,
    "early_stopping_met": bool,
    "result_query_count": int,
    "result_mean_latency_ns": int,
    "result_99.00_percentile_latency_ns": int,
}
SCENARIO_PERF_KEYS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "SingleStream": {
        "early_stopping_result": str,
        "early_stopping_latency_ss": int,
        "early_stopping_latency_ms": int,
        "result_qps_without_loadgen_overhead": (int, float),
    },
    "MultiStream": {
        "early_stopping_result": str,
        "early_stopping_latency_ms": int,
        "result_mean_query_latency_ns": int,
        "result_99.00_percentile_per_query_latency_ns": int,
    },
    "Server": {
        "early_stopping_result": str,
        "result_completed_samples_per_sec": (int, float),
        "result_scheduled_samples_per_sec": (int, float),
    },
    "Offline": {"result_samples_per_second": (int, float)},
}

DELAY = {"sut": "delay", "service_s": 0.0005, "respond": "index"}
QSL = [512, 128]
RUNS = {
    # expected latency == service time, so the pre-generated queries outlast the min duration
    "SingleStream": {
        "settings": {
            "scenario": "SingleStream",
            "min_duration_ms": 100,
            "min_query_count": 100,
            "single_stream_expected_latency_ns": 500000,
        },
        **DELAY,
    },
    # 662 queries are the fewest for a MultiStream early-stopping estimate
    "MultiStream": {
        "settings": {
            "scenario": "MultiStream",
            "min_duration_ms": 100,
            "min_query_count": 700,
            "multi_stream_samples_per_query": 4,
            "multi_stream_expected_latency_ns": 500000,
        },
        **DELAY,
    },
    "Server": {
        "settings": {
            "scenario": "Server",
            "min_duration_ms": 100,
            "min_query_count": 700,
            "server_target_qps": 3000,
            "server_target_latency_ns": 50000000,
        },
        **DELAY,
    },
    "Offline": {
        "settings": {"scenario": "Offline", "min_duration_ms": 50, "offline_expected_qps": 40000},
        "sut": "serial",
        "per_sample_s": 0.00002,
        "respond": "index",
    },
    # a min duration no run reaches before its max duration: INVALID, with an error record
    "invalid": {
        "settings": {"scenario": "SingleStream", "min_duration_ms": 60000, "max_duration_ms": 50},
        "respond": "index",
    },
    "accuracy": {"settings": {"scenario": "SingleStream", "mode": "AccuracyOnly"}, "respond": "index"},
    # TEST01's audit settings: a performance run that logs a random tenth of its responses
    "sampled": {
        "settings": {
            "scenario": "Offline",
            "min_duration_ms": 20,
            "offline_expected_qps": 20000,
            "accuracy_log_probability": 0.1,
            "accuracy_log_rng_seed": 720381539243781796,
        },
        "respond": "index",
    },
    "tokens_accuracy": {
        "settings": {"scenario": "SingleStream", "mode": "AccuracyOnly", "use_token_latencies": True},
        "respond": "index",
        "tokens": 4,
    },
    "tokens_offline": {
        "settings": {
            "scenario": "Offline",
            "use_token_latencies": True,
            "min_duration_ms": 20,
            "offline_expected_qps": 20000,
        },
        "respond": "index",
        "tokens": 4,
    },
    "tokens_server": {
        "settings": {
            "scenario": "Server",
            "use_token_latencies": True,
            "min_duration_ms": 50,
            "min_query_count": 100,
            "server_target_qps": 2000,
        },
        "sut": "delay",
        "service_s": 0.001,
        "first_token_s": 0.0003,
        "respond": "index",
        "tokens": 4,
    },
}
SCENARIOS = list(RESULT_FIELD)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = {}
    for name, spec in RUNS.items():
        spec = {"qsl": QSL, **spec}
        outdir = tmp_path_factory.mktemp(name)
        if UNDER_TEST == OURS:
            result = run_lg(load_module(), spec, outdir)
        else:
            result = run_subprocess(UNDER_TEST, spec, outdir)
        assert result["error"] is None, result["error"]
        result["outdir"] = outdir
        out[name] = result
    return out


# ---- our own readers, written to the documented format -------------------------------------------


def read_records(text: str) -> list[dict]:
    lines = text.splitlines()
    assert lines and lines[0].startswith(MARKER), "a detail log must open with a :::MLLOG line"
    records = []
    for line in lines:
        assert line.startswith(MARKER), line
        records.append(json.loads(line[len(MARKER) :]))
    return records


def first_values(records: list[dict]) -> dict:
    values: dict = {}
    for record in records:
        values.setdefault(record["key"], record["value"])
    return values


def summary_value(summary: str, line_start: str) -> str:
    """The text after the first ': ' on the first line starting with `line_start`."""
    for line in summary.splitlines():
        if line.startswith(line_start):
            return line.split(": ", 1)[1].strip()
    raise AssertionError(f"no summary line starts with {line_start!r}")


def _is(value, kind) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # JSON true/false are bools, and Python's bool is an int: a count must not be a bool
    return isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool))


# ---- detail log ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(RUNS))
def test_every_key_the_checker_reads_is_there_once_with_its_type(runs, name):
    records = read_records(runs[name]["detail"])
    values = first_values(records)
    wanted = dict(CHECKER_KEYS)
    scenario = values["effective_scenario"]
    if values["effective_test_mode"] == "PerformanceOnly":
        wanted.update(PERF_KEYS)
        wanted.update(SCENARIO_PERF_KEYS[scenario])
        if "tokens" in RUNS[name]:
            wanted.pop("early_stopping_result", None)  # token runs log the TTFT/TPOT results instead
    for key, kind in {**wanted, **REPEATED_KEYS}.items():
        found = [r for r in records if r["key"] == key]
        assert len(found) == 1 or (key in REPEATED_KEYS and found), f"{key}: {len(found)} records"
        assert _is(found[0]["value"], kind), f"{key} = {found[0]['value']!r}"
    assert scenario in SCENARIOS
    # read as "is this an LLM run": logged (true) only when requested, a missing key reads as None
    assert values.get("requested_use_token_latencies") is ("tokens" in RUNS[name] or None)
    # the checker counts errors from num_errors (performance runs only), else from the is_error flags
    if values["effective_test_mode"] == "PerformanceOnly":
        assert values["result_validity"] in ("VALID", "INVALID")
        assert values["num_errors"] == sum(r["metadata"]["is_error"] for r in records)
    else:
        assert "result_validity" not in values and "num_errors" not in values
    for record in records:
        assert isinstance(record["metadata"]["is_error"], bool)
        assert isinstance(record["metadata"]["is_warning"], bool)
        assert isinstance(record["time_ms"], float)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_reported_metric_reads_as_a_positive_number(runs, scenario):
    values = first_values(read_records(runs[scenario]["detail"]))
    assert values["effective_scenario"] == scenario
    metric = float(values[RESULT_FIELD[scenario]])
    assert metric > 0
    if scenario in ("SingleStream", "MultiStream"):
        # an early-stopping latency estimate is an observed latency, never below the median
        assert metric >= values["result_50.00_percentile_latency_ns"] > 0


def test_settings_the_checker_compares_are_the_ones_requested(runs, lg):
    defaults = lg.TestSettings()
    values = first_values(read_records(runs["SingleStream"]["detail"]))
    assert values["effective_min_duration_ms"] == 100
    assert values["effective_min_query_count"] == 100
    assert values["effective_samples_per_query"] == 1
    assert values["effective_performance_sample_count"] == QSL[1]
    assert values["qsl_reported_total_count"] == QSL[0]
    for seed in ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed"):
        assert values[f"effective_{seed}"] == getattr(defaults, seed)
    multi = first_values(read_records(runs["MultiStream"]["detail"]))
    assert multi["effective_samples_per_query"] == 4
    server = first_values(read_records(runs["Server"]["detail"]))
    assert server["effective_target_latency_ns"] == 50000000


def test_an_invalid_run_says_so_and_carries_its_error(runs):
    values = first_values(read_records(runs["invalid"]["detail"]))
    assert values["result_validity"] == "INVALID"
    assert values["num_errors"] >= 1
    summary = runs["invalid"]["summary"]
    assert not re.search(r"^Result\s+is\s*:\s+VALID", summary, re.M)
    assert summary_value(summary, "Result is") == "INVALID"
    assert re.search(r"^\d+ ERRORS? encountered\. See detailed log\.$", summary, re.M)


def test_token_runs_have_the_llm_metric_and_latency_keys(runs):
    values = first_values(read_records(runs["tokens_server"]["detail"]))
    assert values["requested_use_token_latencies"] is True
    # LLM benchmarks report tokens/s instead of samples/s; Server ones are held to TTFT/TPOT limits
    for key in (
        "result_completed_tokens_per_second",
        "result_first_token_99.00_percentile_latency_ns",
        "result_time_per_output_token_99.00_percentile_ns",
    ):
        assert _is(values[key], (int, float)) and values[key] > 0, key
    assert isinstance(values["early_stopping_ttft_result"], str)
    assert isinstance(values["early_stopping_tpot_result"], str)
    offline = first_values(read_records(runs["tokens_offline"]["detail"]))
    assert _is(offline["result_tokens_per_second"], (int, float))
    assert offline["result_tokens_per_second"] == pytest.approx(4 * offline["result_samples_per_second"], rel=1e-4)


@pytest.mark.parametrize("name", ["SingleStream", "Offline", "accuracy"])
def test_power_window_parses_as_utc_and_by_line_search(runs, name):
    detail = runs[name]["detail"]
    values = first_values(read_records(detail))
    begin = datetime.strptime(values["power_begin"], POWER_FORMAT).replace(tzinfo=UTC)
    end = datetime.strptime(values["power_end"], POWER_FORMAT).replace(tzinfo=UTC)
    assert begin <= end
    # written at the end of this module's runs, in UTC (the power checker adds no offset)
    assert abs(end.timestamp() - time.time()) < 600
    # the power checker takes the first line mentioning each key and its first date-shaped text
    date = re.compile(r"\d+-\d+-\d+ \d+:\d+:\d+\.\d+")
    for key, expected in (("power_begin", begin), ("power_end", end)):
        line = next(ln for ln in detail.splitlines() if key in ln.lower())
        found = datetime.strptime(date.search(line).group(0), POWER_FORMAT).replace(tzinfo=UTC)
        assert found == expected


# ---- summary -------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_summary_agrees_with_the_detail_log(runs, scenario):
    summary = runs[scenario]["summary"]
    values = first_values(read_records(runs[scenario]["detail"]))
    assert summary_value(summary, "Scenario") == scenario
    validity = summary_value(summary, "Result is")
    assert validity == values["result_validity"]
    assert bool(re.search(r"^Result\s+is\s*:\s+VALID", summary, re.M)) == (validity == "VALID")
    if scenario == "SingleStream":
        estimate = summary_value(summary, " * Early stopping 90.0th percentile estimate")
        assert int(estimate) == values["early_stopping_latency_ss"]
    elif scenario == "MultiStream":
        estimate = summary_value(summary, " * Early stopping 99.0th percentile estimate")
        assert int(estimate) == values["early_stopping_latency_ms"]
    elif scenario == "Server":
        rate = summary_value(summary, "Completed samples per second")
        # fixed 2 decimals in the summary, 6 significant digits in the detail log
        assert float(rate) == pytest.approx(values["result_completed_samples_per_sec"], rel=1e-5, abs=0.006)
    else:
        rate = summary_value(summary, "Samples per second")
        assert float(rate) == pytest.approx(values["result_samples_per_second"], rel=1e-5)
    assert summary_value(summary, "target_latency (ns)") == str(values["effective_target_latency_ns"])
    errors = "No errors encountered during test." if values["num_errors"] == 0 else f"{values['num_errors']} ERROR"
    assert errors in summary


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_summary_test_parameters_read_back_as_the_effective_settings(runs, scenario):
    summary = runs[scenario]["summary"]
    values = first_values(read_records(runs[scenario]["detail"]))
    params = {}
    for line in summary.split("Test Parameters Used", 1)[1].splitlines():
        m = re.fullmatch(r"([\w ()]+?)\s*: ([\w.+-]+)", line)
        if m:
            params[m.group(1)] = m.group(2)
    for name, key in (
        ("samples_per_query", "effective_samples_per_query"),
        ("min_duration (ms)", "effective_min_duration_ms"),
        ("min_query_count", "effective_min_query_count"),
        ("qsl_rng_seed", "effective_qsl_rng_seed"),
        ("sample_index_rng_seed", "effective_sample_index_rng_seed"),
        ("schedule_rng_seed", "effective_schedule_rng_seed"),
        ("performance_sample_count", "effective_performance_sample_count"),
    ):
        assert int(params[name]) == values[key], name
    for name in ("99.00 percentile latency (ns)", "Mean latency (ns)"):
        assert re.search(rf"^{re.escape(name)}\s*: \d+$", summary, re.M), name


# ---- accuracy JSON -------------------------------------------------------------------------------

_RECORD = re.compile(r'\{ "seq_id" : (\d+), "qsl_idx" : (\d+), "data" : "([0-9A-F]*)" \},?')


def accuracy_lines(text: str) -> list[str]:
    """The record lines; the layout TEST01's unix mode relies on: '[' line, one record a line, ']' line."""
    lines = text.split("\n")
    assert lines[0] == "[" and lines[-2:] == ["]", ""], text[:200]
    assert text.count("\n") == len(json.loads(text)) + 2
    return lines[1:-2]


@pytest.mark.parametrize("name", ["accuracy", "sampled"])
def test_accuracy_log_layout_and_values(runs, name):
    text = runs[name]["accuracy"]
    entries = json.loads(text)
    assert entries, "expected logged samples"
    lines = accuracy_lines(text)
    assert len(lines) == len(entries)
    for line, entry in zip(lines, entries, strict=True):
        assert list(entry) == ["seq_id", "qsl_idx", "data"]
        m = _RECORD.fullmatch(line)
        assert m, line
        assert (int(m.group(1)), int(m.group(2)), m.group(3)) == (entry["seq_id"], entry["qsl_idx"], entry["data"])
        # the accuracy scripts decode with bytes.fromhex + np.frombuffer; our SUT answers its index
        assert np.frombuffer(bytes.fromhex(entry["data"]), dtype=np.int32)[0] == entry["qsl_idx"]
    if name == "accuracy":
        assert sorted(e["qsl_idx"] for e in entries) == list(range(QSL[0]))


def test_sampled_performance_log_matches_the_accuracy_run_line_by_line(runs):
    """TEST01: each sampled response equals the accuracy run's for that index, also as a text line once
    the seq_id and commas are dropped (what the unix mode compares by md5sum)."""

    def key_line(line: str) -> str:
        return re.sub(r'"seq_id" : \S+', "", line.replace(",", ""))

    by_index = {}
    for line in accuracy_lines(runs["accuracy"]["accuracy"]):
        by_index[int(_RECORD.fullmatch(line).group(2))] = key_line(line)
    sampled = accuracy_lines(runs["sampled"]["accuracy"])
    assert len(sampled) >= 5
    for line in sampled:
        # the unix mode takes the index as awk's 4th field split on ': ' or ',', then greps for it
        qsl_idx = re.split(r": |,", line)[3]
        assert key_line(line) == by_index[int(qsl_idx)], line
        assert runs["accuracy"]["accuracy"].count(f'"qsl_idx" : {qsl_idx},') == 1


def test_token_accuracy_log_has_token_data_for_the_first_token_check(runs):
    text = runs["tokens_accuracy"]["accuracy"]
    entries = json.loads(text)
    assert entries
    for line, entry in zip(accuracy_lines(text), entries, strict=True):
        assert list(entry) == ["seq_id", "qsl_idx", "data", "token_data", "token_count"]
        assert re.fullmatch(r"[0-9A-F]+", entry["token_data"]), line
        assert entry["token_count"] == 4
        data = np.frombuffer(bytes.fromhex(entry["data"]), dtype=np.int32)
        first = np.frombuffer(bytes.fromhex(entry["token_data"]), dtype=np.int32)
        assert (data[: len(first)] == first).all()


@pytest.mark.parametrize("name", ["SingleStream", "accuracy"])
def test_log_dir_holds_the_files_the_checker_requires(runs, name):
    names = {p.name for p in runs[name]["outdir"].iterdir()}
    # the checker wants exactly these, tolerating a trace file
    assert names - {"mlperf_log_trace.json"} == {
        "mlperf_log_summary.txt",
        "mlperf_log_detail.txt",
        "mlperf_log_accuracy.json",
    }
