"""The Python surface of `mlperf_loadgen` 6.0.17 (docs/decisions.md, "LoadGen: C++ core, drop-in API"): every
public name of the official module (listed from the module itself), defaults, enum values and argument checking,
compared with the official module; plus our extensions and the extension module's stub."""

from __future__ import annotations

import ast
import inspect
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from helpers.loadgen import OFFICIAL, OURS, UNDER_TEST, load_module, make_log_settings, make_settings


@pytest.fixture(scope="module")
def official():
    return load_module(OFFICIAL)


def _fields(obj):
    return {n: getattr(obj, n) for n in dir(obj) if not n.startswith("_") and not callable(getattr(obj, n))}


def _public_names(module) -> list[str]:
    return sorted(n for n in dir(module) if not n.startswith("_"))


def test_every_public_official_name_exists(lg, official):
    """The list comes from the official module itself, so a name it gains is a failure here."""
    theirs = _public_names(official)
    assert {"StartTest", "QuerySamplesComplete", "TestSettings", "VectorQuerySample"} <= set(theirs)
    missing = [n for n in theirs if not hasattr(lg, n)]
    assert not missing, f"missing from {lg.__name__}: {missing}"
    for name in theirs:
        mine, official_obj = getattr(lg, name), getattr(official, name)
        assert isinstance(mine, type) == isinstance(official_obj, type), name  # classes stay classes
        assert callable(mine) == callable(official_obj), name


@pytest.mark.skipif(UNDER_TEST != OURS, reason="the official 6.0.17 vectors raise RecursionError on every method")
def test_vector_types_are_typed_lists(lg):
    samples = lg.VectorQuerySample([lg.QuerySample(1, 2)])
    samples.append(lg.QuerySample(3, 4))
    samples.insert(0, lg.QuerySample(5, 6))
    samples.extend([lg.QuerySample(7, 8)])
    assert [q.id for q in samples] == [5, 1, 3, 7] and len(samples) == 4 and samples
    assert isinstance(samples[1:3], lg.VectorQuerySample) and [q.index for q in samples[1:3]] == [2, 4]
    assert samples.pop().id == 7 and samples.pop(0).id == 5
    samples[0] = lg.QuerySample(9, 9)
    assert samples[0].id == 9
    for bad in (lambda: samples.append(1), lambda: samples.extend([None]), lambda: lg.VectorQuerySample([1])):
        with pytest.raises(TypeError):
            bad()
    with pytest.raises(TypeError):
        samples[0] = lg.QuerySampleResponse(1, 2, 3)
    samples.clear()
    assert not samples and len(lg.VectorQuerySample()) == 0
    responses = lg.VectorQuerySampleResponse()
    responses.append(lg.QuerySampleResponse(1, 2, 3))
    with pytest.raises(TypeError):
        responses.append(lg.QuerySample(1, 2))
    assert responses[0].size == 3


@pytest.mark.skipif(UNDER_TEST != OURS, reason="the official 6.0.17 vectors raise RecursionError on every method")
def test_query_samples_complete_takes_a_vector_of_responses(lg, tmp_path):
    def issue(qs):
        lg.QuerySamplesComplete(lg.VectorQuerySampleResponse(lg.QuerySampleResponse(q.id, 0, 0) for q in qs))

    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(8, 8, lambda s: None, lambda s: None)
    try:
        ts = make_settings(lg, {"scenario": "Offline", "min_query_count": 20})
        lg.StartTestWithLogSettings(sut, qsl, ts, make_log_settings(lg, tmp_path))
    finally:
        lg.DestroySUT(sut)
        lg.DestroyQSL(qsl)
    assert "No errors encountered during test." in (tmp_path / "mlperf_log_summary.txt").read_text()


def test_test_settings_fields_and_defaults_match_official(lg, official):
    ours = _fields(lg.TestSettings())
    theirs = _fields(official.TestSettings())
    missing = sorted(set(theirs) - set(ours))
    assert not missing
    for name, value in theirs.items():
        got = ours[name]
        if name in ("scenario", "mode"):
            assert got.name == value.name and int(got) == int(value), name
        else:
            assert got == value and type(got) is type(value), (name, got, value)


def test_enum_values(lg):
    assert [int(getattr(lg.TestScenario, n)) for n in ("SingleStream", "MultiStream", "Server", "Offline")] == [
        0,
        1,
        2,
        3,
    ]
    assert [
        int(getattr(lg.TestMode, n))
        for n in ("SubmissionRun", "AccuracyOnly", "PerformanceOnly", "FindPeakPerformance")
    ] == [0, 1, 2, 3]
    assert [int(getattr(lg.LoggingMode, n)) for n in ("AsyncPoll", "EndOfTestOnly", "Synchronous")] == [0, 1, 2]
    assert str(lg.TestScenario.Server) == "TestScenario.Server"
    assert lg.TestScenario.Server.name == "Server"


def test_log_settings_defaults_and_reference_semantics(lg):
    out = lg.LogOutputSettings()
    assert (out.outdir, out.prefix, out.suffix) == (".", "mlperf_log_", "")
    assert (out.prefix_with_datetime, out.copy_detail_to_stdout, out.copy_summary_to_stdout) == (False,) * 3
    ls = lg.LogSettings()
    assert int(ls.log_mode) == int(lg.LoggingMode.AsyncPoll)
    assert ls.log_mode_async_poll_interval_ms == 1000
    assert ls.enable_trace is True
    ls.log_output.outdir = "elsewhere"  # attribute access returns a reference, as in the official binding
    assert ls.log_output.outdir == "elsewhere"


def test_test_settings_argument_checks(lg):
    ts = lg.TestSettings()
    with pytest.raises(AttributeError):
        ts.not_a_field = 1
    with pytest.raises(TypeError):
        ts.min_query_count = -1
    with pytest.raises(TypeError):
        ts.scenario = 1
    ts.server_target_qps = 5
    assert ts.server_target_qps == 5.0
    ts.scenario = lg.TestScenario.Offline
    assert ts.scenario == lg.TestScenario.Offline


def test_query_sample_and_response(lg):
    q = lg.QuerySample(3, 4)
    assert (q.id, q.index) == (3, 4)
    assert (lg.QuerySample().id, lg.QuerySample().index) == (0, 0)
    again = pickle.loads(pickle.dumps(q))
    assert (again.id, again.index) == (3, 4)
    r = lg.QuerySampleResponse(1, 2, 3)
    assert (r.id, r.data, r.size, r.n_tokens) == (1, 2, 3, 0)
    assert lg.QuerySampleResponse(1, 2, 3, 4).n_tokens == 4
    assert lg.QuerySampleResponse(np.uint64(5), 0, 0).id == 5
    for bad in [(-1, 0, 0), (1.5, 0, 0)]:
        with pytest.raises(TypeError):
            lg.QuerySampleResponse(*bad)
    r.size = 9
    assert r.size == 9


def test_sut_qsl_handles_are_ints_and_destroyable(lg):
    sut = lg.ConstructSUT(lambda qs: None, lambda: None)
    fast = lg.ConstructFastSUT(lambda ids, idx: None, lambda: None)
    qdl = lg.ConstructQDL(lambda qs: None, lambda: None, lambda: "qdl")
    qsl = lg.ConstructQSL(10, 5, lambda s: None, lambda s: None)
    for handle in (sut, fast, qdl, qsl):
        assert isinstance(handle, int) and handle != 0
    lg.DestroySUT(sut)
    lg.DestroyFastSUT(fast)
    lg.DestroyQDL(qdl)
    lg.DestroyQSL(qsl)


def test_start_test_signature(lg):
    doc = lg.StartTestWithLogSettings.__doc__ or ""
    try:
        params = list(inspect.signature(lg.StartTestWithLogSettings).parameters)
    except (TypeError, ValueError):
        params = []
    assert "audit_config_filename" in doc or "audit_config_filename" in params


@pytest.mark.skipif(UNDER_TEST != OURS, reason="our extensions")
def test_our_extensions(lg):
    assert issubclass(lg.LoadGenError, RuntimeError)
    assert lg.TestSettings().completion_timeout_s == 300.0
    for name in ("ConstructBatchSUT", "DestroyBatchSUT", "QuerySamplesCompleteBatch"):
        assert callable(getattr(lg, name)), name


_RESPONSE_CB = """
import numpy as np
payload = np.arange(16, dtype='<u4')
seen = []
def cb(response):
    seen.append((response.id in ids, response.size))
ids = set()
def issue(qs):
    ids.update(q.id for q in qs)
    lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, payload.ctypes.data + 4 * q.index, 4) for q in qs], cb)
sut = lg.ConstructSUT(issue, lambda: None)
qsl = lg.ConstructQSL(16, 16, lambda s: None, lambda s: None)
ls = lg.LogSettings()
ls.enable_trace = False
counts = []
for mode in (lg.TestMode.AccuracyOnly, lg.TestMode.PerformanceOnly):
    seen.clear()
    ts = lg.TestSettings()
    ts.mode = mode
    ts.min_duration_ms = 0
    ts.min_query_count = 40
    lg.StartTestWithLogSettings(sut, qsl, ts, ls)
    counts.append([len(seen), all(ok and size == 4 for ok, size in seen)])
result = counts
"""


@pytest.mark.parametrize("module", sorted({UNDER_TEST, OFFICIAL}))
def test_response_callback_runs_only_for_accuracy_logged_samples(module, tmp_path):
    from helpers.loadgen import run_snippet

    accuracy, performance = run_snippet(module, _RESPONSE_CB, tmp_path)
    assert accuracy == [16, True]  # every sample is logged in accuracy mode
    assert performance == [0, True]  # accuracy_log_probability 0: none in performance mode


def _stub() -> ast.Module:
    import modelport.loadgen

    path = Path(modelport.loadgen.__file__).with_name("_core.pyi")
    assert path.is_file(), "the extension's stub ships in the package"
    return ast.parse(path.read_text())


def _doc_params(fn) -> list[str]:
    """Parameter names from the first line of a builtin's docstring: 'Name(a: int, b=None) -> None'."""
    head = (fn.__doc__ or "").splitlines()[0]
    inner = head[head.index("(") + 1 : head.rindex(")")]
    return [re.split(r"[:=]", p)[0].strip() for p in re.split(r",\s*(?![^\[]*\])", inner) if p.strip()]


@pytest.mark.skipif(UNDER_TEST != OURS, reason="our stub")
def test_stub_covers_the_extension_module():
    from modelport.loadgen import _core

    tree = _stub()
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef) and n.name != "_Enum"}
    variables = {n.target.id for n in tree.body if isinstance(n, ast.AnnAssign)}
    exported = {n for n in dir(_core) if not n.startswith("__")}
    assert set(functions) | set(classes) | variables == exported
    for name, node in functions.items():
        params = [a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]
        assert params == _doc_params(getattr(_core, name)), name
    for name, node in classes.items():
        declared = {t.target.id for t in node.body if isinstance(t, ast.AnnAssign)}
        runtime = getattr(_core, name)
        if issubclass(runtime, BaseException):
            continue
        if hasattr(runtime, "__members__"):  # pybind11 enums: the members
            assert declared == set(runtime.__members__), name
            continue
        fields = {n for n in dir(runtime()) if not n.startswith("_") and not callable(getattr(runtime(), n))}
        assert declared == fields, name
