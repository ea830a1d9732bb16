"""mlperf.conf / user.conf parsing and precedence (TestSettings.FromConfig); docs/decisions.md, "LoadGen: conf files".

Every check runs against ours and the official module: the expectations were read in the official
source and confirmed against it. conf_type=1 has process-wide state (only the first call loads the
built-in mlperf.conf), so those checks run in a fresh interpreter each.
"""

from __future__ import annotations

import textwrap
from types import SimpleNamespace

import pytest
from helpers.loadgen import OFFICIAL, UNDER_TEST, detail_errors, run_snippet

MODULES = [UNDER_TEST, OFFICIAL] if UNDER_TEST != OFFICIAL else [OFFICIAL]

# Built-in mlperf.conf values (mlperf.conf of 6.0.17).
SEEDS = {
    "qsl_rng_seed": 2085463073848966840,
    "sample_index_rng_seed": 2747215439041700203,
    "schedule_rng_seed": 16159082839903944936,
}

PRECEDENCE_CONF = textwrap.dedent(
    """\
    # a comment line
    *.*.min_duration = 1111
    resnet50.*.min_duration = 2222
    *.Server.min_duration = 3333
    resnet50.Server.min_duration = 4444
    *.*.max_query_count = 0x10
    *.*.performance_sample_count_override = 15.7
    *.Server.target_latency = 12
    *.Server.target_qps = 250.5
    *.Offline.target_qps = 1234
    *.SingleStream.target_latency_percentile = 95
    *.MultiStream.samples_per_query = 4
    *.*.min_query_count=77
    *.*.qsl_rng_seed = 42
    *.*.sample_index_rng_seed = 43
    *.*.accuracy_log_probability = 50
    *.*.mode = 1
    """
)


_DUMP = """
ts = lg.TestSettings()
rc = ts.FromConfig(PATH, MODEL, SCENARIO, CONF_TYPE)
result = {'rc': rc}
for name in dir(ts):
    value = getattr(ts, name)
    if not name.startswith('_') and not callable(value):
        result[name] = value.name if hasattr(value, 'name') else value
"""


def _settings(module: str, conf_text: str | None, tmp_path, model: str, scenario: str, conf_type: int = 2):
    """FromConfig in a fresh interpreter (errors it logs would otherwise land in the next StartTest's
    detail log of this process); returns (rc, settings as a namespace)."""
    path = tmp_path / "user.conf"
    if conf_text is not None:
        path.write_text(conf_text)
    code = _DUMP.replace("PATH", repr(str(path))).replace("MODEL", repr(model))
    code = code.replace("SCENARIO", repr(scenario)).replace("CONF_TYPE", str(conf_type))
    got = run_snippet(module, code, tmp_path)
    return got.pop("rc"), SimpleNamespace(**got)


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize(
    ("model", "scenario", "min_duration"),
    [
        ("resnet50", "Server", 4444),  # exact key
        ("bert", "Server", 3333),  # *.scenario beats *.*
        ("resnet50", "Offline", 2222),  # model.* beats *.*
        ("bert", "Offline", 1111),  # *.*
    ],
)
def test_lookup_order_exact_then_star_scenario_then_model_star(module, model, scenario, min_duration, tmp_path):
    rc, ts = _settings(module, PRECEDENCE_CONF, tmp_path, model, scenario)
    assert rc == 0
    assert ts.min_duration_ms == min_duration


@pytest.mark.parametrize("module", MODULES)
def test_values_units_and_integer_parsing(module, tmp_path):
    rc, ts = _settings(module, PRECEDENCE_CONF, tmp_path, "resnet50", "Server")
    assert rc == 0
    assert ts.max_query_count == 16  # base-0 strtoul: hex accepted
    assert ts.performance_sample_count_override == 15  # integer keys truncate "15.7"
    assert ts.server_target_latency_ns == 12_000_000  # ms -> ns
    assert ts.server_target_qps == 250.5
    # target_qps is looked up under the Offline name whatever the scenario asked for
    assert ts.offline_expected_qps == 1234.0
    # percentiles are given in % and looked up under every scenario name
    assert ts.single_stream_target_latency_percentile == pytest.approx(0.95, rel=1e-12)
    assert ts.multi_stream_samples_per_query == 4
    assert ts.mode == "AccuracyOnly"
    # "key=value" without spaces is silently ignored
    assert ts.min_query_count == 100


@pytest.mark.parametrize("module", MODULES)
def test_seeds_and_log_probability_only_from_mlperf_conf(module, tmp_path):
    rc, ts = _settings(module, PRECEDENCE_CONF, tmp_path, "resnet50", "Server")
    assert rc == 0
    assert ts.qsl_rng_seed == 0
    assert ts.sample_index_rng_seed == 0
    assert ts.accuracy_log_probability == 0.0


@pytest.mark.parametrize("module", MODULES)
def test_missing_file_is_enoent(module, tmp_path):
    rc, ts = _settings(module, None, tmp_path, "resnet50", "Server")
    assert rc == -2
    assert ts.min_duration_ms == 10000


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize(
    "bad",
    [
        "*.*.min_query_count = 7\n*.*.min_duration = 5 # trailing comment\n",
        "*.*.min_query_count = 7\n*.*.min_duration = abc\n",
        "*.*.min_query_count = 7\n*.*.min_duration = 12ms\n",
    ],
)
def test_invalid_value_is_einval_and_applies_nothing(module, bad, tmp_path):
    rc, ts = _settings(module, bad, tmp_path, "resnet50", "Server")
    assert rc == -22
    assert ts.min_duration_ms == 10000
    assert ts.min_query_count == 100


@pytest.mark.parametrize("module", MODULES)
def test_comment_lines_are_skipped(module, tmp_path):
    conf = "# whole-line comment\n#tight = 3\n\n*.*.min_duration = 5\n"
    rc, ts = _settings(module, conf, tmp_path, "resnet50", "Server")
    assert rc == 0
    assert ts.min_duration_ms == 5


_SHOW = "result = {k: getattr(ts, k) for k in %r}\nresult['rc'] = rc\n"
_KEYS = [
    "min_duration_ms",
    "min_query_count",
    "server_target_latency_ns",
    "server_target_qps",
    "performance_sample_count_override",
    "single_stream_target_latency_percentile",
    *SEEDS,
]


@pytest.mark.parametrize("module", MODULES)
def test_first_user_conf_call_loads_builtin_mlperf_conf_once(module, tmp_path):
    (tmp_path / "user.conf").write_text("*.*.min_query_count = 77\n*.Server.target_qps = 33\n*.*.qsl_rng_seed = 42\n")
    code = (
        "ts = lg.TestSettings()\nrc = ts.FromConfig('user.conf', 'resnet50', 'Server')\n"
        + _SHOW % _KEYS
        + "first = result\n"
        + "ts = lg.TestSettings()\nrc = ts.FromConfig('user.conf', 'resnet50', 'Server')\n"
        + _SHOW % _KEYS
        + "result = [first, result]\n"
    )
    first, second = run_snippet(module, code, tmp_path)
    assert first["rc"] == 0
    assert first["min_duration_ms"] == 600000  # built-in
    assert first["server_target_latency_ns"] == 15_000_000  # resnet50.Server.target_latency = 15
    assert first["performance_sample_count_override"] == 1024
    assert first["min_query_count"] == 77  # user.conf applied after mlperf.conf
    assert first["server_target_qps"] == 33.0
    for key, value in SEEDS.items():
        assert first[key] == value  # the user.conf seed is ignored
    # the second call in the same process does not reload mlperf.conf
    assert second["rc"] == 0
    assert second["min_duration_ms"] == 10000
    assert second["qsl_rng_seed"] == 0
    assert second["min_query_count"] == 77


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize(
    ("model", "scenario", "expect"),
    [
        ("bert", "Server", {"server_target_latency_ns": 130_000_000, "performance_sample_count_override": 10833}),
        ("resnet50", "MultiStream", {"min_query_count": 662, "performance_sample_count_override": 1024}),
        ("pointpainting", "SingleStream", {"single_stream_target_latency_percentile": 0.999}),
    ],
)
def test_conf_type_0_reads_only_builtin_mlperf_conf(module, model, scenario, expect, tmp_path):
    code = f"ts = lg.TestSettings()\nrc = ts.FromConfig('does-not-exist.conf', {model!r}, {scenario!r}, 0)\n"
    got = run_snippet(module, code + _SHOW % _KEYS, tmp_path)
    assert got["rc"] == 0
    assert got["min_duration_ms"] == 600000
    for key, value in SEEDS.items():
        assert got[key] == value
    for key, value in expect.items():
        assert got[key] == pytest.approx(value, rel=1e-12), key


@pytest.mark.parametrize("module", MODULES)
def test_conf_type_2_does_not_load_builtin(module, tmp_path):
    (tmp_path / "audit.config").write_text("*.Server.min_query_count = 5\n")
    code = "ts = lg.TestSettings()\nrc = ts.FromConfig('audit.config', '*', 'Server', 2)\n"
    got = run_snippet(module, code + _SHOW % _KEYS, tmp_path)
    assert got["rc"] == 0
    assert got["min_query_count"] == 5
    assert got["min_duration_ms"] == 10000
    assert got["qsl_rng_seed"] == 0


@pytest.mark.parametrize("module", MODULES)
def test_config_errors_are_logged_in_the_next_test(module, tmp_path):
    (tmp_path / "bad.conf").write_text("*.*.min_query_count = abc\n")
    code = """
ts = lg.TestSettings()
codes = [ts.FromConfig('bad.conf', 'm', 'SingleStream', 2), ts.FromConfig('none.conf', 'm', 'SingleStream', 2)]
sut = lg.ConstructSUT(lambda qs: lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in qs]),
                      lambda: None)
qsl = lg.ConstructQSL(8, 8, lambda s: None, lambda s: None)
ls = lg.LogSettings()
ls.enable_trace = False
details = []
for run in ('first', 'second'):
    ts = lg.TestSettings()
    ts.min_duration_ms = 0
    ts.min_query_count = 5
    ls.log_output.prefix = run + '_'
    lg.StartTestWithLogSettings(sut, qsl, ts, ls)
    details.append(open(run + '_detail.txt').read())
result = [codes, details]
"""
    codes, (first, second) = run_snippet(module, code, tmp_path)
    assert codes == [-22, -2]
    errors = [(e["key"], e["value"]) for e in detail_errors(first)]
    assert errors == [
        ("error_invalid_config", "value needs to be integer or double, line=1"),
        ("error_invalid_config", "can't open file none.conf"),
    ]
    assert detail_errors(second) == []
