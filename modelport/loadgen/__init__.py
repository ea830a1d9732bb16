"""modelport LoadGen: an MLPerf Inference LoadGen with a C++17 core.

A drop-in for ``mlperf_loadgen`` 6.0.17: harness code written for it runs after
changing only the import line (``import modelport.loadgen as lg``). Same names,
signatures, defaults and enum values; same scenarios (SingleStream, MultiStream,
Server, Offline) and modes (PerformanceOnly, AccuracyOnly, SubmissionRun,
FindPeakPerformance); the same sample index sequences for the same seeds; the
same metrics, validity rules and early stopping; the same log files
(``mlperf_log_summary.txt``, ``mlperf_log_detail.txt``, ``mlperf_log_accuracy.json``,
optional ``mlperf_log_trace.json``) and conf-file syntax. The built-in
``mlperf.conf`` (this directory) holds the official defaults.

Public API (as in mlperf_loadgen)
---------------------------------
ConstructSUT(issue_cb, flush_cb) -> int
    ``issue_cb(list[QuerySample])`` runs on the StartTest thread with the GIL; the
    SUT answers with QuerySamplesComplete, inside issue_cb or later from any thread.
ConstructFastSUT(issue_cb, flush_cb) -> int
    ``issue_cb(ids: list[int], indices: list[int])``.
ConstructQDL(issue_cb, flush_cb, name_cb) -> int
    A SUT whose name comes from ``name_cb()``; pass it as ``sut`` to StartTest.
ConstructQSL(total_sample_count, performance_sample_count, load_cb, unload_cb) -> int
DestroySUT / DestroyFastSUT / DestroyQDL / DestroyQSL(handle)
StartTest(sut, qsl, test_settings, audit_config_filename='audit.config')
StartTestWithLogSettings(sut, qsl, test_settings, log_settings, audit_config_filename='audit.config')
    Run the test on the calling thread with the GIL released.
QuerySamplesComplete(responses, response_cb=None)
    ``responses`` is a list/tuple of QuerySampleResponse. ``response_cb(response)``
    runs before the bytes of an accuracy-logged response are copied.
FirstTokenComplete(responses, response_cb=None)
    Token latency runs: reports the first token of each response.
QuerySample(id, index), QuerySampleResponse(id, data, size[, n_tokens])
    Lean C types; positional arguments only; they pickle.
VectorQuerySample([samples]), VectorQuerySampleResponse([responses])
    Lists that accept only their element type (append, extend, insert, pop, clear,
    indexing and slicing); QuerySamplesComplete takes one like any list.
TestSettings (every field of mlperf_loadgen's, same defaults), TestSettings.FromConfig(
    path, model, scenario, conf_type=1) -> 0 / -ENOENT / -EINVAL, LogSettings,
    LogOutputSettings, TestScenario, TestMode, LoggingMode.

Extensions (not in mlperf_loadgen)
----------------------------------
LoadGenError(RuntimeError)
    Raised for faults instead of crashing or hanging:
    * QuerySamplesComplete / FirstTokenComplete / QuerySamplesCompleteBatch with an
      unknown id, id 0, or a sample completed twice (also an id of an earlier pass
      of the same test): the valid entries of the call are still recorded, the bad
      ones are counted as ``error_runtime`` in the detail log and the summary error
      count, and the call raises LoadGenError naming the first bad id. With no test
      running, every completion raises (there is no test to record it in).
    * Late answers: an id issued by an earlier test (for instance one aborted by its
      completion timeout) that arrives while a later test runs is dropped: not an
      error, not a result of the running test, no exception; the detail log counts
      them in one "Ignored N completions ..." message. An id is recognised as such
      when its pass generation is that of an ended pass of an earlier test and its
      slot is one that pass handed out; anything else is a bad id.
    * A SUT that stops completing: see ``TestSettings.completion_timeout_s``.
    * A log directory that cannot be written: StartTest raises naming the file,
      before anything is issued.
    * A QSL with 0 samples (or a performance run whose performance_sample_count is
      0): StartTest raises before anything is loaded or issued.
    A Python exception raised in issue/flush/load/unload/name callbacks propagates
    out of StartTest unchanged and the next StartTest works.
    * Ctrl-C (or any signal whose Python handler raises) while StartTest waits:
      StartTest runs the handlers about every 50 ms, aborts the test and raises
      their exception (KeyboardInterrupt); the next StartTest works.
    Whenever StartTest raises after opening the logs, the test is recorded as
    aborted: the detail log has an ``error_runtime`` line "Test aborted: <reason>"
    and the summary reads "Result is : INVALID" and "Test aborted : <reason>", so an
    aborted test never claims "No errors encountered during test."
TestSettings.completion_timeout_s (float, default 300.0; 0 disables)
    While samples are outstanding and no completion arrives for this long,
    StartTest stops and raises LoadGenError ("SUT completed no sample for 2.0 s;
    3 of 100 samples outstanding, e.g. index 17 ..."). Not read from conf files.
ConstructBatchSUT(issue_cb, flush_cb) -> int, DestroyBatchSUT(handle)
    ``issue_cb(ids, indices)`` gets two numpy uint64 arrays per IssueQuery: no
    Python object per sample.
QuerySamplesCompleteBatch(ids, data=None, sizes=None, n_tokens=None)
    Completes many samples at once from numpy arrays: ``ids`` uint64, ``data``
    uint64 addresses of the response bytes (None: no data), ``sizes`` uint64 byte
    counts, ``n_tokens`` int64. Same fault semantics as QuerySamplesComplete.
LOADGEN_VERSION
    The ``loadgen_version`` written to the detail log ("6.0.17 @ modelport-...").

Differences kept on purpose
---------------------------
* ``server_num_issue_query_threads > 0`` logs the official "Mismatch ..." error and
  issues from the StartTest thread instead of hanging (issue threads can only be
  registered from C++).
* Response ids are opaque integers that encode the pass and sample slot (not
  pointers), so bad ids are detected instead of dereferenced, and late answers to an
  earlier test are told apart from bad ids.
* The trace (``enable_trace``) is written from the recorded timestamps after each
  pass: one complete event per sample, nothing on the hot path.
* The official logger's "Logging allocation detected" warning does not occur.
"""

from modelport.loadgen._core import (
    LOADGEN_VERSION,
    ConstructBatchSUT,
    ConstructFastSUT,
    ConstructQDL,
    ConstructQSL,
    ConstructSUT,
    DestroyBatchSUT,
    DestroyFastSUT,
    DestroyQDL,
    DestroyQSL,
    DestroySUT,
    FirstTokenComplete,
    LoadGenError,
    LoggingMode,
    LogOutputSettings,
    LogSettings,
    QuerySample,
    QuerySampleResponse,
    QuerySamplesComplete,
    QuerySamplesCompleteBatch,
    StartTest,
    StartTestWithLogSettings,
    TestMode,
    TestScenario,
    TestSettings,
)
from modelport.loadgen._vectors import VectorQuerySample, VectorQuerySampleResponse

__all__ = [
    "LOADGEN_VERSION",
    "ConstructBatchSUT",
    "ConstructFastSUT",
    "ConstructQDL",
    "ConstructQSL",
    "ConstructSUT",
    "DestroyBatchSUT",
    "DestroyFastSUT",
    "DestroyQDL",
    "DestroyQSL",
    "DestroySUT",
    "FirstTokenComplete",
    "LoadGenError",
    "LogOutputSettings",
    "LogSettings",
    "LoggingMode",
    "QuerySample",
    "QuerySampleResponse",
    "QuerySamplesComplete",
    "QuerySamplesCompleteBatch",
    "StartTest",
    "StartTestWithLogSettings",
    "TestMode",
    "TestScenario",
    "TestSettings",
    "VectorQuerySample",
    "VectorQuerySampleResponse",
]
