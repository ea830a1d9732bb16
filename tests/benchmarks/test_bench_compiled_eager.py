"""``--with-compiled-eager`` (docs/decisions.md, "Benchmarks: torch.compile'd eager as a second reference"): the
eager model under ``torch.compile`` is benched in every chosen scenario as ``eager-compiled``, next to eager,
with its compile time recorded; refused in one line where it cannot apply."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from helpers.bench_cli import invoke

from modelport.benchmarks import compiled_eager
from modelport.benchmarks.compiled_eager import COMPILED_ID, compiled_eager_backend
from modelport.benchmarks.options import BenchOptions
from modelport.benchmarks.settings import get_profile
from modelport.errors import InputError
from modelport.runners import RunnerOptions

TINY = ["--profile", "tiny", "--duration-ms", "100", "--total-samples", "8", "--accuracy-samples", "4",
        "--threads", "1", "--quiet"]


@pytest.mark.slow  # torch.compile of three shapes: 20-60 s on 2 shared cores
def test_compiled_eager_is_benched_next_to_eager_in_every_scenario(tmp_path):
    run = tmp_path / "cnn"
    res = invoke("convert", "zoo:tiny-cnn", "--to", "onnx", "--dynamic-batch", "--no-validate", "--out", str(run),
                 "--quiet")
    assert res.exit_code == 0, res.output
    res = invoke("bench", str(run), "--scenario", "SingleStream,Offline", "--with-compiled-eager", *TINY)
    assert res.exit_code == 0, res.output
    results = json.loads((run / "results.json").read_text())
    assert list(results["cells"])[:2] == ["eager", COMPILED_ID]  # the report's tables list it next to eager
    assert set(results["cells"][COMPILED_ID]) == {"SingleStream", "Offline"}
    record = results["backends"][COMPILED_ID]
    assert record["compile_time_s"] > 0 and record["kind"] == COMPILED_ID
    offline = results["cells"][COMPILED_ID]["Offline"]
    assert offline["validity"] == "VALID" and offline["accuracy"]["agreement"] == 1.0
    report = (run / "report.md").read_text()
    assert report.index(f"| {COMPILED_ID} ") < report.index("| onnx-opset17 ")


def _manifest(components: bool) -> SimpleNamespace:
    return SimpleNamespace(artifacts=[SimpleNamespace(components=["decoder_model"] if components else [])],
                           source=None, seed=0, inputs=[], output_names=[])


def test_a_generative_run_is_refused():
    with pytest.raises(InputError, match="single-graph models; this run is generative"):
        compiled_eager_backend(_manifest(True), RunnerOptions())


def test_a_torchscript_eager_model_is_refused(monkeypatch):
    scripted = torch.jit.script(torch.nn.Linear(2, 2))
    monkeypatch.setattr("modelport.sources.reload_source", lambda *a, **k: scripted)
    with pytest.raises(InputError, match="TorchScript archive, which torch.compile cannot compile"):
        compiled_eager_backend(_manifest(False), RunnerOptions())


def test_without_eager_cells_it_is_refused_before_any_work():
    opts = BenchOptions(["Offline"], get_profile("tiny"), with_compiled_eager=True, eager_cells=False)
    with pytest.raises(InputError, match="needs the eager model's cells"):
        opts.check()
    assert BenchOptions(["Offline"], get_profile("tiny"), with_compiled_eager=True).local_only_flags() == [
        "--with-compiled-eager"]


def test_the_compile_time_comes_from_dynamo(monkeypatch):
    monkeypatch.setattr("torch._dynamo.utils.compilation_time_metrics", {"_compile.compile_inner": [1.5, 2.0]})
    assert compiled_eager.dynamo_compile_seconds() == 3.5
