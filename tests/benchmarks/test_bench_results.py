"""results.json through dataclasses, the scenario objects, and the LoadGen facade, without LoadGen runs.

``benchmarks/results_v1.json`` is a results.json written before results had a typed schema (trimmed to two
backends); ``benchmarks/report_v1.md`` is the report the code of that time rendered from it.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from modelport.benchmarks import lg
from modelport.benchmarks.cellsettings import CellSettings
from modelport.benchmarks.loadgen_run import loadgen_config
from modelport.benchmarks.metrics import all_metrics
from modelport.benchmarks.regression import compare
from modelport.benchmarks.report import render
from modelport.benchmarks.results import BenchResults, Cell
from modelport.benchmarks.scenarios import ALL, SCENARIOS, get_scenario
from modelport.benchmarks.schema import SchemaError
from modelport.benchmarks.store import carry_earlier_cells, read_results

DATA = Path(__file__).parent
PACKAGE = Path(__file__).resolve().parents[2] / "modelport" / "benchmarks"


def test_a_version_1_file_reads_and_writes_back_as_version_2_with_nothing_lost():
    text = (DATA / "results_v1.json").read_text()
    results = read_results(DATA / "results_v1.json")
    assert results.schema_version == 1 and list(results.cells) == ["eager", "onnx-opset17"]
    offline = results.cells["onnx-opset17"]["Offline"]
    assert offline.metric("samples_per_second") == pytest.approx(10142.8)
    assert offline.batch_sizes == {3: 1, 4: 701} and offline.accuracy is not None
    assert results.cells["eager"]["Server"].search is not None
    # a version 1 cell is one run: its metrics are that run's
    assert offline.run_values("samples_per_second") == [pytest.approx(10142.8)] and offline.runs == []
    expected = json.loads(text)
    expected["schema_version"] = 2
    expected["options"].update(repeat=None, cpus=None)  # new fields, unknown in version 1
    written = results.to_json()
    old_cmp, new_cmp = expected.pop("baseline_comparison"), written.pop("baseline_comparison")
    assert written == expected
    # the comparison gains the test's fields; everything it had is kept
    for old, new in zip(old_cmp["compared"], new_cmp["compared"], strict=True):
        assert {k: new[k] for k in old} == old and "p_value" in new
    assert {k: new_cmp[k] for k in old_cmp if k != "compared"} == {k: v for k, v in old_cmp.items() if k != "compared"}
    again = BenchResults.from_json(results.to_json()).to_json()
    assert again == {**written, "baseline_comparison": new_cmp}


def test_a_version_1_file_renders_the_report_it_rendered_before():
    assert render(read_results(DATA / "results_v1.json")) == (DATA / "report_v1.md").read_text()


def test_a_partial_document_reads_with_defaults():
    results = BenchResults.from_json({"cells": {"onnx": {"Server": {"metrics": {"max_valid_qps": None},
                                                                    "search": {}}}}})
    cell = results.cells["onnx"]["Server"]
    assert cell.search is not None and cell.search.trials == [] and cell.accuracy is None
    # Server with a search but no passing QPS counts as 0 QPS
    assert all_metrics(results)["onnx/Server/max_valid_qps"].value == 0.0
    assert results.options is None and results.to_json()["cells"]["onnx"]["Server"]["search"]["trials"] == []


@pytest.mark.parametrize("doc, where", [
    ({"cells": {"a": {"Offline": {"metrics": {"samples_per_second": "1"}}}}}, "cells.a.Offline.metrics"),
    ({"cells": {"a": {"Offline": {"errors": [1]}}}}, "cells.a.Offline.errors[0] is a number"),
    ({"cells": {"a": {"Offline": {"batch_sizes": {"x": 1}}}}}, "batch size 'x'"),
    ({"cells": {"a": []}}, "cells.a is a list"),
    ({"cells": {}, "options": {"workers": "2"}}, "options.workers is a string, expected an integer"),
    ([], "the document is a list"),
])
def test_wrong_types_name_the_field(doc, where):
    with pytest.raises(SchemaError, match=None) as e:
        BenchResults.from_json(doc)
    assert where in str(e.value)


def test_compare_reads_documents_and_results_alike():
    results = read_results(DATA / "results_v1.json")
    same = compare(results, results.to_json(), 0.0)
    assert same.regressions == [] and len(same.changes) == len(all_metrics(results))


def test_carrying_earlier_cells_keeps_comparable_ones_and_the_server_bound():
    old = read_results(DATA / "results_v1.json")
    new = read_results(DATA / "results_v1.json")
    new.cells = {"onnx-opset17": {"Offline": new.cells["onnx-opset17"]["Offline"]}}
    new.options.server_latency_ms, new.options.server_latency_source = None, None
    new.carried_cells = None
    carry_earlier_cells(old, new)
    assert sorted(new.cells["eager"]) == sorted(SCENARIOS) and "onnx-opset17/Server" in new.carried_cells.cells
    assert new.options.server_latency_ms == old.options.server_latency_ms  # the carried Server cells' bound
    other = read_results(DATA / "results_v1.json")
    other.cells, other.carried_cells = {}, None
    other.options.workers = 3  # measured differently: nothing is carried
    carry_earlier_cells(old, other)
    assert other.cells == {} and other.carried_cells is None


def test_each_scenario_sets_its_own_loadgen_fields():
    base = {"min_duration_ms": 100, "min_query_count": 1}
    expected = {
        "SingleStream": ({"expected_latency_ns": 5e5, "percentile": 0.9},
                         {"single_stream_expected_latency_ns": 5e5, "single_stream_target_latency_percentile": 0.9}),
        "MultiStream": ({"expected_latency_ns": 4e6, "percentile": 0.99, "samples_per_query": 4},
                        {"multi_stream_samples_per_query": 4, "multi_stream_expected_latency_ns": 4e6}),
        "Offline": ({"offline_expected_qps": 250.0}, {"offline_expected_qps": 250.0}),
        "Server": ({"server_target_qps": 50.0, "server_latency_ns": 10**7, "server_max_async_queries": 64},
                   {"server_target_qps": 50.0, "server_target_latency_ns": 10**7, "server_max_async_queries": 64}),
    }
    for name, (given, fields) in expected.items():
        config = loadgen_config(CellSettings(name, "PerformanceOnly", **base, **given))
        assert isinstance(config, lg.TestConfig) and config.scenario == name
        assert {k: config.fields[k] for k in fields} == fields
        assert config.fields["min_duration_ms"] == 100 and config.fields["completion_timeout_s"] >= 120
        others = {k for s in SCENARIOS if s != name for k in expected[s][1]}
        assert not others & set(config.fields), name
    acc = loadgen_config(CellSettings("Offline", "AccuracyOnly", 100, 1, accuracy_samples=8))
    assert acc.fields["accuracy_sample_count_override"] == 8


def test_scenario_objects_carry_what_callers_ask():
    assert [s.name for s in ALL] == list(SCENARIOS) == ["SingleStream", "MultiStream", "Offline", "Server"]
    assert [s.batching for s in ALL] == [False, False, True, True]
    assert [s.plot_file for s in ALL] == ["latency_cdf_SingleStream.png", "latency_cdf_MultiStream.png",
                                          "throughput_Offline.png", "throughput_Server.png"]
    assert get_scenario("Server").searches_qps and get_scenario("Server").bound_dependent
    assert get_scenario("MultiStream").query_batches
    offline = Cell(validity="VALID", metrics={"samples_per_second": 12.5}, batch_sizes={1: 2, 4: 3})
    assert get_scenario("Offline").one_line(offline) == "12.5 samples/s (VALID)"
    assert get_scenario("Offline").row(offline) == (["12.5"], ["4"])


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text())) for p in sorted(PACKAGE.glob("*.py"))]


def test_only_the_facade_touches_a_loadgen():
    for path, tree in _modules():
        if path.name == "lg.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(m.startswith(("modelport.loadgen", "mlperf_loadgen")) for m in modules), path.name
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "lg":
                assert not node.attr.startswith("_") and node.attr != "lg", f"{path.name}: lg.{node.attr}"


def test_benchmark_modules_stay_small():
    for path, tree in _modules():
        assert len(path.read_text().splitlines()) <= 400, path.name
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno < 60, f"{path.name}: {node.name}"


def test_torch_thread_settings_are_recorded_and_reported_only_when_set(monkeypatch):
    """OMP_WAIT_POLICY and friends change every torch backend's figures on a busy machine: a results file says
    when they were set, and one written without them stays comparable with older ones (no new key)."""
    from modelport.environment import THREAD_ENV, machine_info

    for name in THREAD_ENV:
        monkeypatch.delenv(name, raising=False)
    assert "thread_env" not in machine_info()
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    assert machine_info()["thread_env"] == {"OMP_WAIT_POLICY": "PASSIVE"}
    results = read_results(DATA / "results_v1.json")
    results.machine = {**(results.machine or {}), "thread_env": {"OMP_WAIT_POLICY": "PASSIVE"}}
    assert "1 worker(s); OMP_WAIT_POLICY=PASSIVE." in render(results)
