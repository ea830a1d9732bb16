"""``--loadgen modelport|official``: the same fields and layout from either LoadGen, the MLPerf result fields
beside modelport's headlines, and a stray ./audit.config reported but never read."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from helpers.bench_cli import invoke

from modelport.benchmarks.mlperf_logs import read_detail

pytest.importorskip("mlperf_loadgen")

SHORT = ["--profile", "tiny", "--duration-ms", "100", "--server-trials", "2", "--total-samples", "8",
         "--accuracy-samples", "4", "--threads", "1"]
#: what a stray audit.config could do to a benchmark: a query count no tiny run would otherwise reach
STRAY = "*.*.min_query_count = 4321\n"
MLPERF_FIELDS = {"SingleStream": "early_stopping_latency_ss", "MultiStream": "early_stopping_latency_ms",
                 "Offline": "result_samples_per_second", "Server": "result_completed_samples_per_sec"}


@pytest.fixture(scope="module")
def onnx_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("choice") / "run"
    res = invoke("convert", "zoo:tiny-cnn", "--to", "onnx", "--out", str(out), "--no-validate", "--quiet")
    assert res.exit_code == 0, res.output
    return out


def _layout(run: Path) -> list[str]:
    """The files a bench wrote, by path (the Server search's QPS folders named by measured values: qps_N)."""
    return sorted({re.sub(r"qps_[0-9.]+", "qps_N", str(p.relative_to(run)))
                   for p in (run / "bench").rglob("*") if p.is_file()})


@pytest.fixture(scope="module")
def both(onnx_run, tmp_path_factory):
    """The same artifact benched by each LoadGen, from a directory holding a stray audit.config."""
    out = {}
    for choice in ("modelport", "official"):
        base = tmp_path_factory.mktemp(choice)
        run = base / "run"
        shutil.copytree(onnx_run, run)
        (base / "audit.config").write_text(STRAY)
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(base)
            res = invoke("bench", "run", "--loadgen", choice, "--json", *SHORT)
        assert res.exit_code == 0, res.output
        out[choice] = (run, res, json.loads(res.stdout)["results"])
    return out


def test_each_loadgen_is_recorded_with_whether_mlperf_accepts_its_logs(both):
    for choice, (run, _, results) in both.items():
        lg = results["loadgen"]
        assert lg["choice"] == choice
        assert lg["module"] == {"modelport": "modelport.loadgen", "official": "mlperf_loadgen"}[choice]
        assert lg["submittable"] is (choice == "official")
        assert f"LoadGen: **{choice}**" in (run / "report.md").read_text()
        assert json.loads((run / "results.json").read_text())["loadgen"]["choice"] == choice


def test_both_loadgens_give_the_same_fields_and_layout(both):
    (run_a, _, a), (run_b, _, b) = both["modelport"], both["official"]
    assert _layout(run_a) == _layout(run_b)
    assert a["cells"].keys() == b["cells"].keys()
    for backend, cells in a["cells"].items():
        for scenario, cell in cells.items():
            other = b["cells"][backend][scenario]
            assert cell.keys() == other.keys(), (backend, scenario)
            assert cell["metrics"].keys() == other["metrics"].keys(), (backend, scenario)


def test_mlperf_result_fields_are_in_results_report_and_json(both):
    for run, _, results in both.values():
        report = (run / "report.md").read_text()
        assert "## MLPerf result fields" in report
        for scenario, key in MLPERF_FIELDS.items():
            cell = results["cells"]["onnx-opset17"][scenario]
            assert isinstance(cell["metrics"][key], (int, float)), (scenario, cell["metrics"])
            assert f"{key} = " in report
        # the detail log's own value, not a recomputation
        offline = results["cells"]["onnx-opset17"]["Offline"]
        detail = read_detail(run / offline["log_dir"])
        assert offline["metrics"]["result_samples_per_second"] == detail.get("result_samples_per_second")


def test_a_stray_audit_config_is_reported_and_not_read(both):
    for run, res, results in both.values():
        stray = results["loadgen"]["ignored_audit_config"]
        assert stray == str(run.parent / "audit.config")
        assert "audit.config is ignored" in res.stderr
        assert "Ignored" in (run / "report.md").read_text()
        for _, _, cell in ((b, s, c) for b, cells in results["cells"].items() for s, c in cells.items()):
            assert cell["effective_settings"]["min_query_count"] != 4321
        assert not list((run / "bench").rglob("audit.config"))


def test_an_audit_config_given_to_the_facade_is_the_one_read(tmp_path):
    """The compliance path: audit settings reach LoadGen only through the run's own folder."""
    from modelport.benchmarks import lg

    sut = lg.construct_sut(lambda ids, idx: lg.complete(ids, idx * 0, idx * 0), lambda: None)
    qsl = lg.construct_qsl(4, 4, lambda idx: None, lambda idx: None)
    try:
        config = lg.TestConfig("SingleStream", "PerformanceOnly", {"min_duration_ms": 10, "min_query_count": 5},
                               audit_config=STRAY)
        lg.run_test(sut, qsl, config, tmp_path)
    finally:
        lg.destroy_qsl(qsl)
        lg.destroy_sut(sut)
    assert read_detail(tmp_path).effective()["min_query_count"] == 4321


def test_a_loadgen_that_is_not_installed_is_an_input_error():
    from modelport.benchmarks import lg
    from modelport.errors import InputError

    before = lg.NAME
    with pytest.raises(InputError, match="is not installed"):
        lg.use("no_such_loadgen_module")
    assert lg.NAME == before  # the working module is kept
