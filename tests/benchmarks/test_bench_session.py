"""Session settings of a bench (docs/decisions.md, "Benchmarks: session settings per cell", "TorchScript: a
warm-up until the profiling executor settles"): ``--ort-graph-opt-level`` sets onnxruntime's level for ONNX
artifacts that store none and is recorded per cell; a re-bench never keeps a cell measured under another
session; TorchScript backends warm up until their calls settle, other backends as before."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.bench_cli import invoke

from modelport.benchmarks import backends
from modelport.benchmarks.backends import TS_MAX_CALLS, TS_MIN_CALLS, Backend
from modelport.benchmarks.results import BenchResults, Cell
from modelport.benchmarks.store import carry_earlier_cells
from modelport.runners.base import Runner
from modelport.spec import InputSpec

TINY = ["--profile", "tiny", "--duration-ms", "100", "--total-samples", "8", "--accuracy-samples", "4",
        "--threads", "1", "--quiet"]


@pytest.fixture(scope="module")
def onnx_run(tmp_path_factory):
    """tiny-cnn as a plain ONNX export (no stored level) and an O1 artifact (stores basic)."""
    out = tmp_path_factory.mktemp("session") / "cnn"
    res = invoke("convert", "zoo:tiny-cnn", "--to", "onnx", "--optimize", "O1", "--dynamic-batch", "--no-validate",
                 "--out", str(out), "--quiet")
    assert res.exit_code == 0, res.output
    return out


def _results(run):
    return json.loads((run / "results.json").read_text())


def test_ort_level_applies_to_unstored_artifacts_is_recorded_per_cell_and_splits_rebenches(onnx_run):
    res = invoke("bench", str(onnx_run), "--scenario", "Offline", "--ort-graph-opt-level", "disable", *TINY)
    assert res.exit_code == 0, res.output
    r = _results(onnx_run)
    assert r["backends"]["onnx-opset17"]["runner"]["graph_optimization_level"] == "disabled"
    assert r["backends"]["onnx-opset17-O1"]["runner"]["graph_optimization_level"] == "basic"  # keeps its own
    session = r["cells"]["onnx-opset17"]["Offline"]["settings"]["session"]
    assert session["graph_optimization_level"] == "disabled" and session["intra_op_threads"] == 1
    assert r["cells"]["eager"]["Offline"]["settings"]["session"]["intra_op_threads"] == 1
    # a partial re-bench at onnxruntime's default level: the Offline cell measured at 'disabled' is not carried
    res = invoke("bench", str(onnx_run), "--scenario", "SingleStream", *TINY)
    assert res.exit_code == 0, res.output
    r = _results(onnx_run)
    assert set(r["cells"]["onnx-opset17"]) == {"SingleStream"}
    assert set(r["cells"]["onnx-opset17-O1"]) == set(r["cells"]["eager"]) == {"Offline", "SingleStream"}


def test_no_ort_spinning_reaches_the_session_and_is_recorded(onnx_run, tmp_path):
    res = invoke("bench", str(onnx_run), "--scenario", "Offline", "--artifact", "onnx-opset17", "--no-ort-spinning",
                 *TINY)
    assert res.exit_code == 0, res.output
    r = _results(onnx_run)
    assert r["cells"]["onnx-opset17"]["Offline"]["settings"]["session"]["allow_spinning"] is False
    assert r["backends"]["onnx-opset17"]["session"]["allow_spinning"] is False


@pytest.mark.parametrize(("args", "needle"), [
    (["--ort-graph-opt-level", "fast"], "'fast' is not one of"),
    (["--with-compiled-eager", "--sut-url", "grpc://127.0.0.1:1", "--model", "m"],
     "--with-compiled-eager not supported with --sut-url"),
])
def test_session_flags_are_refused_in_one_line(onnx_run, args, needle):
    res = invoke("bench", str(onnx_run), *args, *TINY)
    assert res.exit_code == 2 and needle in res.stderr, res.output
    assert "Traceback" not in res.stderr


def _cell(level: str | None) -> Cell:
    return Cell(validity="VALID", settings={"session": {"graph_optimization_level": level}} if level else {})


def _bench(cells: dict[str, dict[str, Cell]]) -> BenchResults:
    return BenchResults(cells=cells, created="t0", backends={b: {} for b in cells})


def test_a_rebench_keeps_only_cells_of_the_same_session():
    old = _bench({"onnx": {"Offline": _cell("all"), "SingleStream": _cell("all")}, "eager": {"Offline": _cell(None)}})
    same = _bench({"onnx": {"Offline": _cell("all")}})
    carry_earlier_cells(old, same)
    assert set(same.cells["onnx"]) == {"Offline", "SingleStream"} and "eager" in same.cells
    other = _bench({"onnx": {"Offline": _cell("basic")}})
    carry_earlier_cells(old, other)
    assert set(other.cells["onnx"]) == {"Offline"} and set(other.cells["eager"]) == {"Offline"}


class _SlowCalls(Runner):
    """Calls numbered in ``slow`` take 30 ms (a profiling executor profiling and compiling), others 1 ms, on a
    fake clock the warm-up reads (a busy machine must not change what is asserted)."""

    def __init__(self, kind: str, slow: set[int]) -> None:
        self.kind, self.slow, self.calls, self.now = kind, slow, 0, 0.0
        self.input_names, self.output_names = ["x"], ["y"]

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.calls += 1
        self.now += 0.03 if self.calls in self.slow else 0.001
        return {"y": feed["x"]}


def _backend(kind: str, slow: set[int], monkeypatch: pytest.MonkeyPatch) -> Backend:
    runner = _SlowCalls(kind, slow)
    monkeypatch.setattr(backends.time, "perf_counter", lambda: runner.now)
    spec = InputSpec("x", (2, 3), "float32", dynamic_axes={0: "batch"})
    return Backend(kind, kind, runner, [spec], batchable=True)


def test_torchscript_warm_up_lasts_until_its_calls_settle(monkeypatch):
    # batch 1: calls 1-2 profile and compile, call 4 bails out and recompiles; batch 4 starts at call 8
    ts = _backend("torchscript", {1, 2, 4, 8, 9}, monkeypatch)
    ts.warm_up([1, 4])
    assert ts.warm_calls[1] == 7  # three settled calls after the last slow one
    assert ts.warm_calls[4] == 5  # its two slow calls, then three settled ones
    assert ts.describe()["warm_up_calls"] == {"1": 7, "4": 5}
    steady = _backend("torchscript", set(), monkeypatch)
    steady.warm_up([2])
    assert steady.warm_calls[2] == TS_MIN_CALLS
    never = _backend("torchscript", set(range(1, 200, 2)), monkeypatch)  # never settles: the cap ends it
    never.warm_up([1])
    assert never.warm_calls[1] == TS_MAX_CALLS


def test_other_backends_keep_their_short_warm_up(monkeypatch):
    onnx = _backend("onnx", {1, 2, 4}, monkeypatch)
    onnx.warm_up([1, 4])
    assert onnx.warm_calls == {1: 2, 4: 1}
