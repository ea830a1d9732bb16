"""The one place that imports a LoadGen: benchmarks call LoadGen only through the functions of this module.

Benchmarks drive ``modelport.loadgen`` (our drop-in for ``mlperf_loadgen``) or, with ``--loadgen official``
(``use``), the official module; ``MODELPORT_LOADGEN`` only sets the default. Callers never see a LoadGen
object: SUTs and QSLs are integer handles, a test is described by a ``TestConfig`` of plain numbers, and the
differences between the two modules (the batch API, the ``completion_timeout_s`` extension) stay in here.

The batch API hands the SUT numpy arrays of ids and sample indices and completes a whole batch in one call,
so no Python object is built per sample; ``construct_sut``/``complete`` fall back to the per-sample API of
the official module.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from modelport.errors import InputError

#: ``--loadgen`` choice -> module; only the official one's logs are accepted by MLPerf
MODULES: dict[str, str] = {"modelport": "modelport.loadgen", "official": "mlperf_loadgen"}
AUDIT_CONFIG = "audit.config"
NAME: str = os.environ.get("MODELPORT_LOADGEN", MODULES["modelport"])
# Typed as Any on purpose and kept private: the module is chosen at run time (it may be the official
# mlperf_loadgen, which ships no type information), so its surface is typed by the functions below instead.
_lg: Any = importlib.import_module(NAME)
HAS_BATCH_API: bool = hasattr(_lg, "ConstructBatchSUT") and hasattr(_lg, "QuerySamplesCompleteBatch")


def use(choice: str) -> None:
    """Switch every later call to the LoadGen ``choice`` names (a ``MODULES`` key, or a module name).

    Both modules survive many StartTests in one process (docs/decisions.md, "Benchmarks: choosing the
    LoadGen"), so no subprocess is needed; call this before any SUT or QSL is constructed."""
    global NAME, _lg, HAS_BATCH_API
    name = MODULES.get(choice, choice)
    try:
        module = importlib.import_module(name)
    except ImportError:
        raise InputError(f"--loadgen {choice}: module {name!r} is not installed",
                         "pip install mlcommons-loadgen==6.0.17 (the official wheel)") from None
    NAME, _lg = name, module
    HAS_BATCH_API = hasattr(_lg, "ConstructBatchSUT") and hasattr(_lg, "QuerySamplesCompleteBatch")


def choice() -> str:
    """``official`` or ``modelport`` (or the module name set through MODELPORT_LOADGEN)."""
    return next((k for k, v in MODULES.items() if v == NAME), NAME)


def describe() -> dict[str, Any]:
    """What results.json records about the LoadGen that produced the logs."""
    try:
        version = importlib.metadata.version("mlcommons-loadgen" if NAME == MODULES["official"] else "modelport")
    except importlib.metadata.PackageNotFoundError:
        version = None
    return {"module": NAME, "batch_api": HAS_BATCH_API, "choice": choice(), "version": version,
            "submittable": NAME == MODULES["official"]}

#: TestSettings fields only modelport's LoadGen has; they are skipped for the official module
_EXTENSION_FIELDS = frozenset({"completion_timeout_s"})
#: conf files are read as user.conf (mlperf_loadgen's conf_type 2): only user-settable keys are accepted
_USER_CONF = 2

IssueFn = Callable[[np.ndarray, np.ndarray], None]
IndicesFn = Callable[[np.ndarray], None]


class ConfError(Exception):
    """LoadGen's conf parser refused a file; ``rc`` is what ``TestSettings.FromConfig`` returned."""

    def __init__(self, path: str, rc: int) -> None:
        super().__init__(f"{path}: LoadGen returned {rc}")
        self.path = path
        self.rc = rc


@dataclass(frozen=True)
class TestConfig:
    """One LoadGen test: the scenario and mode by their LoadGen names, TestSettings fields, a user.conf."""

    __test__ = False  # not a pytest test class, whatever its name

    scenario: str  # a TestScenario member: SingleStream | MultiStream | Server | Offline
    mode: str  # a TestMode member: PerformanceOnly | AccuracyOnly
    fields: Mapping[str, int | float] = field(default_factory=dict)  # TestSettings attribute -> value
    user_conf: str | None = None  # applied last, with LoadGen's own parser
    conf_model: str = "*"
    audit_config: str | None = None  # a compliance test's audit.config text, written into the run's folder


def construct_sut(issue: IssueFn, flush: Callable[[], None]) -> int:
    """A SUT whose ``issue(ids, indices)`` gets uint64 arrays of response ids and QSL sample indices."""
    if HAS_BATCH_API:
        return int(_lg.ConstructBatchSUT(issue, flush))

    def fast_issue(ids: list[int], indices: list[int]) -> None:
        issue(np.asarray(ids, dtype=np.uint64), np.asarray(indices, dtype=np.uint64))

    return int(_lg.ConstructFastSUT(fast_issue, flush))


def destroy_sut(handle: int) -> None:
    if HAS_BATCH_API and hasattr(_lg, "DestroyBatchSUT"):
        _lg.DestroyBatchSUT(handle)
    elif HAS_BATCH_API:
        _lg.DestroySUT(handle)
    else:
        _lg.DestroyFastSUT(handle)


def construct_qdl(issue: IssueFn, flush: Callable[[], None], name: Callable[[], str]) -> int:
    """A query dispatch library (MLPerf's network SUT): ``issue(ids, indices)`` like ``construct_sut``, and
    ``name()`` saying that it is a network SUT. Both LoadGens take it as an ordinary SUT handle."""

    def qdl_issue(samples: list[Any]) -> None:
        issue(np.fromiter((s.id for s in samples), dtype=np.uint64, count=len(samples)),
              np.fromiter((s.index for s in samples), dtype=np.uint64, count=len(samples)))

    return int(_lg.ConstructQDL(qdl_issue, flush, name))


def destroy_qdl(handle: int) -> None:
    _lg.DestroyQDL(handle)


def complete(ids: np.ndarray, ptrs: np.ndarray, sizes: np.ndarray) -> None:
    """Report a batch done: ``ptrs``/``sizes`` address each sample's response bytes, which the caller keeps
    alive until this returns (LoadGen copies what the accuracy log needs before returning)."""
    if HAS_BATCH_API:
        _lg.QuerySamplesCompleteBatch(ids, ptrs, sizes)
        return
    _lg.QuerySamplesComplete([_lg.QuerySampleResponse(int(i), int(p), int(s))
                              for i, p, s in zip(ids.tolist(), ptrs.tolist(), sizes.tolist(), strict=True)])


def first_token(ids: np.ndarray, ptrs: np.ndarray, sizes: np.ndarray) -> None:
    """Report each sample's first token (a ``use_token_latencies`` run): LoadGen takes the time to first token
    from this call and the time per output token from the final ``complete_tokens``."""
    _lg.FirstTokenComplete([_lg.QuerySampleResponse(int(i), int(p), int(s))
                            for i, p, s in zip(ids.tolist(), ptrs.tolist(), sizes.tolist(), strict=True)])


def complete_tokens(ids: np.ndarray, ptrs: np.ndarray, sizes: np.ndarray, n_tokens: np.ndarray) -> None:
    """``complete`` for generated responses: ``n_tokens`` output tokens per sample (token throughput, TPOT)."""
    if HAS_BATCH_API:
        _lg.QuerySamplesCompleteBatch(ids, ptrs, sizes, np.asarray(n_tokens, dtype=np.int64))
        return
    _lg.QuerySamplesComplete([_lg.QuerySampleResponse(int(i), int(p), int(s), int(n)) for i, p, s, n in
                              zip(ids.tolist(), ptrs.tolist(), sizes.tolist(), n_tokens.tolist(), strict=True)])


def construct_qsl(total: int, performance_count: int, load: IndicesFn, unload: IndicesFn) -> int:
    """A query sample library; ``load``/``unload`` get the sample indices as an int64 array."""

    def on_load(indices: object) -> None:
        load(np.asarray(indices, dtype=np.int64))

    def on_unload(indices: object) -> None:
        unload(np.asarray(indices, dtype=np.int64))

    return int(_lg.ConstructQSL(total, performance_count, on_load, on_unload))


def destroy_qsl(handle: int) -> None:
    _lg.DestroyQSL(handle)


def check_conf(path: str) -> None:
    """Raise ``ConfError`` unless LoadGen's parser accepts ``path`` as a user.conf."""
    rc = _lg.TestSettings().FromConfig(path, "*", "SingleStream", _USER_CONF)
    if rc != 0:
        raise ConfError(path, int(rc))


def _test_settings(config: TestConfig) -> Any:
    ts = _lg.TestSettings()
    ts.scenario = getattr(_lg.TestScenario, config.scenario)
    ts.mode = getattr(_lg.TestMode, config.mode)
    for key, value in config.fields.items():
        if key in _EXTENSION_FIELDS and not hasattr(ts, key):
            continue
        setattr(ts, key, value)
    if config.user_conf:
        rc = ts.FromConfig(config.user_conf, config.conf_model, config.scenario, _USER_CONF)
        if rc != 0:
            raise ConfError(config.user_conf, int(rc))
    return ts


def run_test(sut: int, qsl: int, config: TestConfig, outdir: Path) -> None:
    """One StartTest writing its logs (summary, detail, accuracy; no trace) into ``outdir``.

    The test runs with ``outdir`` as its working directory and reads ``outdir/audit.config`` only, which
    exists only when ``config.audit_config`` says so: a stray ./audit.config in the user's directory is
    never read (docs/decisions.md, "Benchmarks: choosing the LoadGen").
    Raises ``ConfError`` for a user.conf LoadGen refuses; a LoadGen fault or an exception raised in a SUT or
    QSL callback propagates unchanged."""
    outdir = Path(outdir).resolve()
    audit = outdir / AUDIT_CONFIG
    audit.unlink(missing_ok=True)
    if config.audit_config is not None:
        audit.write_text(config.audit_config)
    user_conf = str(Path(config.user_conf).resolve()) if config.user_conf else None
    ts = _test_settings(replace(config, user_conf=user_conf))
    log = _lg.LogSettings()
    log.log_output.outdir = str(outdir)
    log.log_output.copy_summary_to_stdout = False
    log.enable_trace = False
    cwd = os.getcwd()
    os.chdir(outdir)  # process-wide, but LoadGen runs one test at a time and SUT threads use no paths
    try:
        _lg.StartTestWithLogSettings(sut, qsl, ts, log, str(audit))
    finally:
        os.chdir(cwd)
