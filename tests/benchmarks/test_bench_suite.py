"""``--suite datacenter|edge``: the scenarios an MLPerf suite requires of the model."""

from __future__ import annotations

import json

import pytest
from helpers.convert import run_cli

from modelport.benchmarks.suites import suite_scenarios
from modelport.errors import InputError


def test_mlperf_models_get_their_benchmarks_own_scenarios():
    assert suite_scenarios("datacenter", "zoo:resnet50-small") == ["Offline", "Server"]  # canonical order
    assert suite_scenarios("datacenter", "zoo:3d-unet-small") == ["Offline"]  # no Server for 3D-UNet
    assert "MultiStream" in suite_scenarios("edge", "zoo:ssd-mobilenet-small")
    assert "MultiStream" not in suite_scenarios("edge", "zoo:bert-small")
    with pytest.raises(InputError, match="zoo:dlrm-small has no edge scenarios in MLPerf"):
        suite_scenarios("edge", "zoo:dlrm-small")


def test_other_models_get_the_suites_general_set():
    assert set(suite_scenarios("datacenter", "model.pt")) == {"Server", "Offline"}
    assert set(suite_scenarios("edge", None)) == {"SingleStream", "MultiStream", "Offline"}


def test_bench_suite_runs_those_scenarios_and_refuses_a_scenario_beside_it(tmp_path, capsys):
    run = tmp_path / "run"
    assert run_cli(capsys, "convert", "zoo:tiny-cnn", "--to", "onnx", "--out", run, "--quiet")[0] == 0
    code, _, err = run_cli(capsys, "bench", run, "--suite", "edge", "--scenario", "Offline", "--profile", "tiny")
    assert code == 2 and "give --suite or --scenario, not both" in err and "Traceback" not in err
    code, stdout, err = run_cli(capsys, "bench", run, "--suite", "edge", "--profile", "tiny", "--no-accuracy",
                                "--json")
    assert code == 0, err
    assert set(json.loads((run / "results.json").read_text())["scenarios"]) == {"SingleStream", "MultiStream",
                                                                                 "Offline"}
