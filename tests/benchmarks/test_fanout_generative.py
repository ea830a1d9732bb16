"""A matrix cell of a generative model (artifacts made of components) is benchmarked like ``modelport bench``
does it: greedy tokens per second, not the single-graph bench (which crashed on the components); and a
crashing cell keeps its traceback under MODELPORT_DEBUG=1."""

from __future__ import annotations

import json

from helpers.bench_cli import invoke
from helpers.hf_generative_models import save

from modelport.benchmarks.matrix_run import _recorded


def test_generative_cell_runs_the_generative_bench(tmp_path):
    model = save("gpt2", tmp_path / "gpt2")
    matrix = tmp_path / "m.json"
    matrix.write_text(json.dumps({"models": [str(model)], "targets": ["onnx"], "scenarios": ["Offline"]}))
    out = tmp_path / "r"
    res = invoke("run", "--matrix", str(matrix), "--executor", "serial", "--out", str(out), "--profile", "tiny",
                  "--total-samples", "2", "--threads", "1", "--json")
    assert res.exit_code == 0, res.output
    (cell,) = json.loads((out / "results.json").read_text())["cells"].values()
    assert cell["bench"]["ok"], cell["bench"]
    rows = cell["bench"]["backends"]
    assert set(rows) >= {"eager"} and len(rows) >= 2  # eager and the ONNX components
    for by_scenario in rows.values():
        row = by_scenario["Offline"]
        assert row["unit"] == "tokens/s" and row["value"] > 0 and row["accuracy"] is not None
    report = (out / "report.md").read_text()
    assert "generative cells: tokens_per_s (tokens/s)" in report and " tokens/s | " in report


def test_a_generative_cell_refuses_options_it_would_ignore(tmp_path):
    """--repeat on a matrix whose model turns out generative fails that cell in one line, not silently once."""
    model = save("gpt2", tmp_path / "gpt2")
    out = tmp_path / "r"
    res = invoke("run", str(model), "--to", "onnx", "--executor", "serial", "--out", str(out), "--profile", "tiny",
                 "--scenario", "Offline", "--total-samples", "2", "--threads", "1", "--repeat", "2")
    assert res.exit_code == 2, res.output
    assert "--repeat not supported for generative runs yet" in res.stderr


def test_a_crashing_cell_keeps_its_traceback_only_under_debug(monkeypatch):
    for debug, kept in (("", False), ("1", True)):
        monkeypatch.setenv("MODELPORT_DEBUG", debug)
        with _recorded() as rec:
            raise AttributeError("boom")
        assert rec["exit_code"] == 70 and ("traceback" in rec) is kept
        if kept:
            assert "AttributeError: boom" in rec["traceback"]
