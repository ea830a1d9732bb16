// Python bindings of the LoadGen core (module modelport.loadgen._core), built
// on the mlg_core library (docs/architecture.md, "The LoadGen package"). The
// public API and its documentation live in modelport/loadgen/__init__.py; the
// typed signatures in _core.pyi.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <vector>

#include "completion.h"
#include "early_stopping.h"
#include "errors.h"
#include "loadgen.h"
#include "py_adapters.h"
#include "py_types.h"
#include "test_settings.h"

namespace pyb = pybind11;
using namespace mlg;

namespace {

PyObject* g_loadgen_error = nullptr;

// Raises LoadGenError for rejected entries; valid ones are already recorded.
std::string ReportMessage(const CompletionReport& report) {
  std::string msg = report.first_reason;
  if (report.rejected > 1) msg += " (and " + std::to_string(report.rejected - 1) + " more rejected)";
  return msg;
}

PyObject* FinishReport(const CompletionReport& report) {
  if (report.rejected == 0) Py_RETURN_NONE;
  const std::string msg = ReportMessage(report);
  PyErr_SetString(g_loadgen_error, msg.c_str());
  return nullptr;
}

bool ReadResponses(PyObject* seq_obj, std::vector<QuerySampleResponse>* out, const char* api) {
  if (!PyList_Check(seq_obj) && !PyTuple_Check(seq_obj) && !PySequence_Check(seq_obj)) {
    PyErr_Format(PyExc_TypeError, "%s: responses must be a list or tuple of QuerySampleResponse", api);
    return false;
  }
  PyObject* seq = PySequence_Fast(seq_obj, "responses must be a sequence");
  if (!seq) return false;
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  PyObject** items = PySequence_Fast_ITEMS(seq);
  out->resize(static_cast<size_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i) {
    if (!py::ReadResponse(items[i], &(*out)[static_cast<size_t>(i)])) {
      Py_DECREF(seq);
      return false;
    }
  }
  Py_DECREF(seq);
  return true;
}

// Positional/keyword parsing of (responses, response_cb=None).
bool ParseCompleteArgs(const char* api, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                       PyObject** responses, PyObject** cb) {
  *responses = nargs > 0 ? args[0] : nullptr;
  *cb = nargs > 1 ? args[1] : nullptr;
  if (kwnames) {
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(kwnames); ++k) {
      const char* name = PyUnicode_AsUTF8(PyTuple_GET_ITEM(kwnames, k));
      if (name && std::strcmp(name, "responses") == 0) {
        *responses = args[nargs + k];
      } else if (name && std::strcmp(name, "response_cb") == 0) {
        *cb = args[nargs + k];
      } else {
        PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%s'", api, name ? name : "?");
        return false;
      }
    }
  }
  if (!*responses || nargs > 2) {
    PyErr_Format(PyExc_TypeError, "%s(responses, response_cb=None)", api);
    return false;
  }
  return true;
}

// QuerySamplesComplete(responses, response_cb=None): raw CPython entry point,
// the hottest call of a Python SUT.
PyObject* QuerySamplesCompleteFn(PyObject*, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject *responses, *cb;
  if (!ParseCompleteArgs("QuerySamplesComplete", args, nargs, kwnames, &responses, &cb)) return nullptr;
  QuerySampleResponse one;
  std::vector<QuerySampleResponse> many;
  const QuerySampleResponse* data = nullptr;
  size_t count = 0;
  if (PyList_CheckExact(responses) && PyList_GET_SIZE(responses) == 1) {
    if (!py::ReadResponse(PyList_GET_ITEM(responses, 0), &one)) return nullptr;
    data = &one;
    count = 1;
  } else {
    if (!ReadResponses(responses, &many, "QuerySamplesComplete")) return nullptr;
    data = many.data();
    count = many.size();
  }
  if (cb == Py_None) cb = nullptr;
  ResponseCallback callback;
  bool cb_failed = false;
  if (cb) {
    callback = [cb, &cb_failed](const QuerySampleResponse& r) {
      if (cb_failed) return;
      PyObject* obj = py::NewQuerySampleResponse(r);
      PyObject* res = obj ? PyObject_CallOneArg(cb, obj) : nullptr;
      Py_XDECREF(obj);
      if (!res) {
        cb_failed = true;
        return;
      }
      Py_DECREF(res);
    };
  }
  CompletionReport report = CompleteSamples(data, count, cb ? &callback : nullptr);
  if (cb_failed) return nullptr;
  return FinishReport(report);
}

// response_cb is accepted and, as in the official LoadGen, never called.
PyObject* FirstTokenCompleteFn(PyObject*, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject *responses, *cb;
  if (!ParseCompleteArgs("FirstTokenComplete", args, nargs, kwnames, &responses, &cb)) return nullptr;
  std::vector<QuerySampleResponse> many;
  if (!ReadResponses(responses, &many, "FirstTokenComplete")) return nullptr;
  return FinishReport(CompleteFirstTokens(many.data(), many.size()));
}

PyMethodDef g_fast_methods[] = {
    {"QuerySamplesComplete", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(QuerySamplesCompleteFn)),
     METH_FASTCALL | METH_KEYWORDS, "QuerySamplesComplete(responses, response_cb=None)"},
    {"FirstTokenComplete", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(FirstTokenCompleteFn)),
     METH_FASTCALL | METH_KEYWORDS, "FirstTokenComplete(responses, response_cb=None)"},
    {nullptr, nullptr, 0, nullptr}};

using U64Array = pyb::array_t<uint64_t, pyb::array::c_style | pyb::array::forcecast>;
using I64Array = pyb::array_t<int64_t, pyb::array::c_style | pyb::array::forcecast>;

void CompleteBatch(U64Array ids, pyb::object data, pyb::object sizes, pyb::object n_tokens) {
  const size_t n = static_cast<size_t>(ids.size());
  U64Array data_arr, size_arr;
  I64Array tok_arr;
  ResponseColumns cols{ids.data(), nullptr, nullptr, nullptr, n};
  auto check = [n](size_t got, const char* what) {
    if (got != n) throw LoadGenError(std::string("QuerySamplesCompleteBatch: ") + what + " has " +
                                     std::to_string(got) + " entries, ids has " + std::to_string(n));
  };
  if (!data.is_none()) {
    data_arr = data.cast<U64Array>();
    check(static_cast<size_t>(data_arr.size()), "data");
    cols.data = data_arr.data();
  }
  if (!sizes.is_none()) {
    size_arr = sizes.cast<U64Array>();
    check(static_cast<size_t>(size_arr.size()), "sizes");
    cols.sizes = size_arr.data();
  }
  if (!n_tokens.is_none()) {
    tok_arr = n_tokens.cast<I64Array>();
    check(static_cast<size_t>(tok_arr.size()), "n_tokens");
    cols.n_tokens = tok_arr.data();
  }
  CompletionReport report;
  {
    pyb::gil_scoped_release nogil;
    report = CompleteSamples(cols, nullptr);
  }
  if (report.rejected) throw LoadGenError(ReportMessage(report));
}

void RunTest(uint64_t sut_handle, uint64_t qsl_handle, const TestSettings& settings, const LogSettings& log,
             const std::string& audit) {
  auto sut = py::LookupSut(sut_handle);
  auto qsl = py::LookupQsl(qsl_handle);
  // The wait runs without the GIL, so Python's signal handlers (Ctrl-C's
  // KeyboardInterrupt) cannot run there: the core calls this every 50 ms to
  // run them, and aborts the test with their exception (docs/decisions.md,
  // "LoadGen: interrupts stop a running test").
  auto check_interrupt = [] {
    pyb::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw pyb::error_already_set();
  };
  pyb::gil_scoped_release nogil;
  StartTest(sut.get(), qsl.get(), settings, log, audit, check_interrupt);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "modelport LoadGen C++ core (see modelport.loadgen for the public API)";
  if (!py::ReadyTypes()) throw pyb::error_already_set();

  g_loadgen_error = pyb::register_exception<LoadGenError>(m, "LoadGenError", PyExc_RuntimeError).ptr();
  pyb::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const LogDirError& e) {
      PyErr_SetString(g_loadgen_error, e.what());
    }
  });

  Py_INCREF(py::QuerySampleType());
  m.add_object("QuerySample", reinterpret_cast<PyObject*>(py::QuerySampleType()));
  Py_INCREF(py::QuerySampleResponseType());
  m.add_object("QuerySampleResponse", reinterpret_cast<PyObject*>(py::QuerySampleResponseType()));
  for (PyMethodDef* def = g_fast_methods; def->ml_name; ++def) {
    PyObject* fn = PyCFunction_NewEx(def, nullptr, m.attr("__name__").ptr());
    if (!fn) throw pyb::error_already_set();
    m.add_object(def->ml_name, fn);
  }

  pyb::enum_<TestScenario>(m, "TestScenario")
      .value("SingleStream", TestScenario::SingleStream)
      .value("MultiStream", TestScenario::MultiStream)
      .value("Server", TestScenario::Server)
      .value("Offline", TestScenario::Offline);
  pyb::enum_<TestMode>(m, "TestMode")
      .value("SubmissionRun", TestMode::SubmissionRun)
      .value("AccuracyOnly", TestMode::AccuracyOnly)
      .value("PerformanceOnly", TestMode::PerformanceOnly)
      .value("FindPeakPerformance", TestMode::FindPeakPerformance);
  pyb::enum_<LoggingMode>(m, "LoggingMode")
      .value("AsyncPoll", LoggingMode::AsyncPoll)
      .value("EndOfTestOnly", LoggingMode::EndOfTestOnly)
      .value("Synchronous", LoggingMode::Synchronous);

  pyb::class_<TestSettings>(m, "TestSettings")
      .def(pyb::init<>())
      .def_readwrite("scenario", &TestSettings::scenario)
      .def_readwrite("mode", &TestSettings::mode)
      .def_readwrite("single_stream_expected_latency_ns", &TestSettings::single_stream_expected_latency_ns)
      .def_readwrite("single_stream_target_latency_percentile",
                     &TestSettings::single_stream_target_latency_percentile)
      .def_readwrite("multi_stream_expected_latency_ns", &TestSettings::multi_stream_expected_latency_ns)
      .def_readwrite("multi_stream_target_latency_percentile", &TestSettings::multi_stream_target_latency_percentile)
      .def_readwrite("multi_stream_samples_per_query", &TestSettings::multi_stream_samples_per_query)
      .def_readwrite("server_target_qps", &TestSettings::server_target_qps)
      .def_readwrite("server_target_latency_ns", &TestSettings::server_target_latency_ns)
      .def_readwrite("server_target_latency_percentile", &TestSettings::server_target_latency_percentile)
      .def_readwrite("server_coalesce_queries", &TestSettings::server_coalesce_queries)
      .def_readwrite("server_find_peak_qps_decimals_of_precision",
                     &TestSettings::server_find_peak_qps_decimals_of_precision)
      .def_readwrite("server_find_peak_qps_boundary_step_size", &TestSettings::server_find_peak_qps_boundary_step_size)
      .def_readwrite("server_max_async_queries", &TestSettings::server_max_async_queries)
      .def_readwrite("server_num_issue_query_threads", &TestSettings::server_num_issue_query_threads)
      .def_readwrite("offline_expected_qps", &TestSettings::offline_expected_qps)
      .def_readwrite("sample_concatenate_permutation", &TestSettings::sample_concatenate_permutation)
      .def_readwrite("min_duration_ms", &TestSettings::min_duration_ms)
      .def_readwrite("max_duration_ms", &TestSettings::max_duration_ms)
      .def_readwrite("min_query_count", &TestSettings::min_query_count)
      .def_readwrite("max_query_count", &TestSettings::max_query_count)
      .def_readwrite("qsl_rng_seed", &TestSettings::qsl_rng_seed)
      .def_readwrite("sample_index_rng_seed", &TestSettings::sample_index_rng_seed)
      .def_readwrite("schedule_rng_seed", &TestSettings::schedule_rng_seed)
      .def_readwrite("accuracy_log_rng_seed", &TestSettings::accuracy_log_rng_seed)
      .def_readwrite("accuracy_log_probability", &TestSettings::accuracy_log_probability)
      .def_readwrite("accuracy_log_sampling_target", &TestSettings::accuracy_log_sampling_target)
      .def_readwrite("test05", &TestSettings::test05)
      .def_readwrite("test05_qsl_rng_seed", &TestSettings::test05_qsl_rng_seed)
      .def_readwrite("test05_sample_index_rng_seed", &TestSettings::test05_sample_index_rng_seed)
      .def_readwrite("test05_schedule_rng_seed", &TestSettings::test05_schedule_rng_seed)
      .def_readwrite("print_timestamps", &TestSettings::print_timestamps)
      .def_readwrite("performance_issue_unique", &TestSettings::performance_issue_unique)
      .def_readwrite("performance_issue_same", &TestSettings::performance_issue_same)
      .def_readwrite("performance_issue_same_index", &TestSettings::performance_issue_same_index)
      .def_readwrite("performance_sample_count_override", &TestSettings::performance_sample_count_override)
      .def_readwrite("accuracy_sample_count_override", &TestSettings::accuracy_sample_count_override)
      .def_readwrite("use_token_latencies", &TestSettings::use_token_latencies)
      .def_readwrite("ttft_latency", &TestSettings::server_ttft_latency)
      .def_readwrite("tpot_latency", &TestSettings::server_tpot_latency)
      .def_readwrite("infer_token_latencies", &TestSettings::infer_token_latencies)
      .def_readwrite("token_latency_scaling_factor", &TestSettings::token_latency_scaling_factor)
      .def_readwrite("completion_timeout_s", &TestSettings::completion_timeout_s)
      .def("FromConfig", &TestSettings::FromConfig, pyb::arg("path"), pyb::arg("model"), pyb::arg("scenario"),
           pyb::arg("conf_type") = 1);

  pyb::class_<LogOutputSettings>(m, "LogOutputSettings")
      .def(pyb::init<>())
      .def_readwrite("outdir", &LogOutputSettings::outdir)
      .def_readwrite("prefix", &LogOutputSettings::prefix)
      .def_readwrite("suffix", &LogOutputSettings::suffix)
      .def_readwrite("prefix_with_datetime", &LogOutputSettings::prefix_with_datetime)
      .def_readwrite("copy_detail_to_stdout", &LogOutputSettings::copy_detail_to_stdout)
      .def_readwrite("copy_summary_to_stdout", &LogOutputSettings::copy_summary_to_stdout);

  pyb::class_<LogSettings>(m, "LogSettings")
      .def(pyb::init<>())
      .def_readwrite("log_output", &LogSettings::log_output)
      .def_readwrite("log_mode", &LogSettings::log_mode)
      .def_readwrite("log_mode_async_poll_interval_ms", &LogSettings::log_mode_async_poll_interval_ms)
      .def_readwrite("enable_trace", &LogSettings::enable_trace);

  m.def("ConstructSUT", [](pyb::object issue_cb, pyb::object flush_cb) {
    return py::RegisterSut(std::make_shared<py::PythonSut>(issue_cb, flush_cb, py::IssueStyle::kObjects, "PySUT"));
  }, pyb::arg("issue_cb"), pyb::arg("flush_cb"));
  m.def("ConstructFastSUT", [](pyb::object issue_cb, pyb::object flush_cb) {
    return py::RegisterSut(std::make_shared<py::PythonSut>(issue_cb, flush_cb, py::IssueStyle::kLists, "PyFastSUT"));
  }, pyb::arg("issue_cb"), pyb::arg("flush_cb"));
  m.def("ConstructBatchSUT", [](pyb::object issue_cb, pyb::object flush_cb) {
    return py::RegisterSut(
        std::make_shared<py::PythonSut>(issue_cb, flush_cb, py::IssueStyle::kArrays, "PyBatchSUT"));
  }, pyb::arg("issue_cb"), pyb::arg("flush_cb"));
  m.def("ConstructQDL", [](pyb::object issue_cb, pyb::object flush_cb, pyb::object name_cb) {
    return py::RegisterSut(
        std::make_shared<py::PythonSut>(issue_cb, flush_cb, py::IssueStyle::kObjects, "PyQDL", name_cb));
  }, pyb::arg("issue_cb"), pyb::arg("flush_cb"), pyb::arg("name_cb"));
  for (const char* name : {"DestroySUT", "DestroyFastSUT", "DestroyBatchSUT", "DestroyQDL"}) {
    m.def(name, &py::DestroySut, pyb::arg("sut"));
  }
  m.def("ConstructQSL", [](size_t total, size_t performance, pyb::object load_cb, pyb::object unload_cb) {
    return py::RegisterQsl(std::make_shared<py::PythonQsl>(total, performance, load_cb, unload_cb));
  }, pyb::arg("total_sample_count"), pyb::arg("performance_sample_count"), pyb::arg("load_cb"),
        pyb::arg("unload_cb"));
  m.def("DestroyQSL", &py::DestroyQsl, pyb::arg("qsl"));

  m.def("StartTest", [](uint64_t sut, uint64_t qsl, const TestSettings& settings, const std::string& audit) {
    RunTest(sut, qsl, settings, LogSettings{}, audit);
  }, pyb::arg("sut"), pyb::arg("qsl"), pyb::arg("test_settings"), pyb::arg("audit_config_filename") = "audit.config");
  m.def("StartTestWithLogSettings", &RunTest, pyb::arg("sut"), pyb::arg("qsl"), pyb::arg("test_settings"),
        pyb::arg("log_settings"), pyb::arg("audit_config_filename") = "audit.config");

  m.def("QuerySamplesCompleteBatch", &CompleteBatch, pyb::arg("ids"), pyb::arg("data") = pyb::none(),
        pyb::arg("sizes") = pyb::none(), pyb::arg("n_tokens") = pyb::none());
  m.attr("LOADGEN_VERSION") = kLoadgenVersion;
  // Internal: early-stopping figures, exposed for tests.
  m.def("_min_passing_queries", [](int64_t t, double p) { return MinPassingQueries(t, p); }, pyb::arg("t"),
        pyb::arg("p"));
  m.def("_early_stopping_discard", [](int64_t n, double p) { return EarlyStoppingDiscardCount(n, p); },
        pyb::arg("n"), pyb::arg("p"));
}
