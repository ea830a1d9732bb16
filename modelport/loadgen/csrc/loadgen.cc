#include "loadgen.h"

#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>

#include "abort_log.h"
#include "config_file.h"
#include "effective_settings.h"
#include "errors.h"
#include "issuer.h"
#include "json_format.h"
#include "logger.h"
#include "query_generator.h"
#include "response_id.h"
#include "results.h"

// Defined by CMake for this file: the version from pyproject.toml (its only
// home) and the build time.
#ifndef MLG_MODELPORT_VERSION
#error "MLG_MODELPORT_VERSION is defined by modelport/loadgen/csrc/CMakeLists.txt"
#endif
#ifndef MLG_BUILD_LOCAL
#define MLG_BUILD_LOCAL ""
#define MLG_BUILD_UTC ""
#endif

namespace mlg {

// "<official version> @ <ours>": MLPerf tooling reads the part before " @ ".
const char* const kLoadgenVersion = "6.0.17 @ modelport-" MLG_MODELPORT_VERSION;

namespace {

bool FileExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void LogVersion(Logger& log) {
  MLG_DETAIL(log, "loadgen_version", JsonString(kLoadgenVersion));
  MLG_DETAIL(log, "loadgen_build_date_local", JsonString(MLG_BUILD_LOCAL));
  MLG_DETAIL(log, "loadgen_build_date_utc", JsonString(MLG_BUILD_UTC));
  MLG_DETAIL(log, "loadgen_git_commit_date", JsonString(""));
  MLG_DETAIL(log, "loadgen_git_log_message", JsonString("modelport LoadGen (C++ core, mlperf_loadgen 6.0.17 compatible)"));
  MLG_DETAIL(log, "loadgen_git_status_message", JsonString(""));
  MLG_DETAIL(log, "loadgen_file_sha1", "{}");
}

// Loads a set, runs a pass over it and unloads it.
class SetLoader {
 public:
  SetLoader(QuerySampleLibrary* qsl, Logger& log, const LoadableSet& set) : qsl_(qsl), set_(set) {
    MLG_DETAIL(log, "loaded_qsl_set", JsonIndexList(set.set));
    qsl_->LoadSamplesToRam(set.set);
  }
  ~SetLoader() noexcept(false) {
    if (std::uncaught_exceptions() == 0) qsl_->UnloadSamplesFromRam(set_.set);
  }
  SetLoader(const SetLoader&) = delete;
  SetLoader& operator=(const SetLoader&) = delete;

 private:
  QuerySampleLibrary* qsl_;
  const LoadableSet& set_;
};

class TestRun {
 public:
  TestRun(SystemUnderTest* sut, QuerySampleLibrary* qsl, Logger& log, std::string sut_name,
          std::function<void()> check_interrupt)
      : sut_name_(std::move(sut_name)), qsl_(qsl), log_(log) {
    ctx_.log = &log;
    ctx_.sut = sut;
    ctx_.test_serial = NewTestSerial();
    ctx_.check_interrupt = std::move(check_interrupt);
  }

  void Accuracy(const EffectiveSettings& s) {
    MLG_DETAIL(log_, "generic_message", JsonString("Starting accuracy mode"));
    for (const LoadableSet& set : GenerateLoadableSets(s, qsl_->TotalSampleCount(), true)) {
      SetLoader loaded(qsl_, log_, set);
      RunPass(ctx_, s, set, true);
    }
  }

  PerformanceSummary PerformancePass(const EffectiveSettings& s) {
    auto sets = GenerateLoadableSets(s, qsl_->TotalSampleCount(), false);
    SetLoader loaded(qsl_, log_, sets.front());
    return PerformanceSummary(sut_name_, s, RunPass(ctx_, s, sets.front(), false));
  }

  void Performance(const EffectiveSettings& s) {
    MLG_DETAIL(log_, "generic_message", JsonString("Starting performance mode"));
    auto sys_start = std::chrono::system_clock::now();
    auto perf_start = Clock::now();
    if (s.print_timestamps) {
      std::cout << "Loadgen :: Perf mode start. system_clock Timestamp = "
                << std::chrono::system_clock::to_time_t(sys_start) << "\n"
                << std::flush;
    }
    PerformanceSummary summary = PerformancePass(s);
    if (s.print_timestamps) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - perf_start).count();
      std::cout << "Loadgen :: Perf mode stop. system_clock Timestamp = "
                << std::chrono::system_clock::to_time_t(std::chrono::system_clock::now()) << "\n"
                << "Loadgen :: PerfClock Perf duration = " << ms << "ms\n"
                << std::flush;
    }
    Report(summary);
  }

  void FindPeakPerformance(const EffectiveSettings& base) {
    MLG_DETAIL(log_, "generic_message", JsonString("Starting FindPeakPerformance mode"));
    if (base.scenario != TestScenario::Server) {
      MLG_ERROR(log_, "error_invalid_config", "Finding peak performance is only supported in Server scenario.");
      return;
    }
    MLG_DETAIL(log_, "generic_message",
               JsonString("FindPeakPerformance: Check validity of the base settings field: " + Qps(base)));
    PerformanceSummary lower = PerformancePass(base);
    if (!lower.PerfConstraintsMet()) {
      MLG_ERROR(log_, "error_runtime",
                "FindPeakPerformance: Initial lower bound does not satisfy performance constraints, msg: " +
                    lower.PerfConstraintsRecommendation());
      Report(lower);
      return;
    }
    // Widen: [l, l*(1+step)) until the upper run fails.
    PerformanceSummary upper = lower;
    for (;;) {
      EffectiveSettings u = lower.settings();
      u.target_qps = lower.settings().target_qps * (1 + base.requested.server_find_peak_qps_boundary_step_size);
      MLG_DETAIL(log_, "generic_message",
                 JsonString("FindBoundaries: Checking fields [" + Qps(lower.settings()) + ", " + Qps(u) + ")"));
      PerformanceSummary candidate = PerformancePass(u);
      if (!candidate.PerfConstraintsMet()) {
        upper = std::move(candidate);
        break;
      }
      lower = std::move(candidate);
    }
    MLG_DETAIL(log_, "generic_message",
               JsonString("FindPeakPerformance: Found boundaries: [" + Qps(lower.settings()) + ", " +
                          Qps(upper.settings()) + ")"));
    // Binary search until the bounds agree to the requested decimals.
    const double scale = std::pow(10.0, base.requested.server_find_peak_qps_decimals_of_precision);
    for (;;) {
      const double l = lower.settings().target_qps, u = upper.settings().target_qps;
      if (static_cast<int64_t>(l * scale) + 1 >= static_cast<int64_t>(u * scale)) break;
      EffectiveSettings m = lower.settings();
      m.target_qps = l + (u - l) / 2;
      MLG_DETAIL(log_, "generic_message",
                 JsonString("FindPeakPerformanceBinarySearch: Testing the mid value of bounds [" + Qps(lower.settings()) +
                            ", " + Qps(upper.settings()) + "): " + Qps(m)));
      PerformanceSummary mid = PerformancePass(m);
      if (mid.PerfConstraintsMet()) {
        lower = std::move(mid);
      } else {
        upper = std::move(mid);
      }
    }
    MLG_DETAIL(log_, "generic_message",
               JsonString("FindPeakPerformance: Found peak performance field: " + Qps(lower.settings())));
    Report(lower);
  }

 private:
  static std::string Qps(const EffectiveSettings& s) { return std::to_string(s.target_qps); }

  void Report(const PerformanceSummary& summary) {
    summary.LogSummary(log_);
    summary.LogDetail(log_);
  }

  const std::string sut_name_;  // Name() is asked once per test
  QuerySampleLibrary* qsl_;
  Logger& log_;
  RunContext ctx_;
};

// A QSL with nothing to load gives a test with no samples (or samples that
// were never loaded); the official LoadGen crashes on it. Refuse it up front.
void CheckSampleCounts(const std::string& qsl_name, size_t total, const EffectiveSettings& s) {
  if (total == 0) {
    throw LoadGenError("StartTest: the QSL '" + qsl_name +
                       "' has 0 samples (total_sample_count is 0); a test needs at least one sample");
  }
  const bool performance = s.mode != TestMode::AccuracyOnly;
  if (performance && s.performance_sample_count == 0) {
    throw LoadGenError("StartTest: performance_sample_count is 0 (the QSL's and performance_sample_count_override); "
                       "a performance run needs at least one loaded sample");
  }
  // (An Offline accuracy pass sizes its query from the QSL instead.)
  if (s.samples_per_query == 0 && (performance || s.scenario == TestScenario::MultiStream)) {
    throw LoadGenError(std::string("StartTest: each ") + ToString(s.scenario) +
                       " query would have 0 samples (multi_stream_samples_per_query, or for Offline "
                       "min_query_count and min_duration_ms x offline_expected_qps, are 0)");
  }
}

// Everything StartTest does once the logs are open. `test` is filled in as it
// is learned, so an abort can be reported with what is known.
void RunLoggedTest(SystemUnderTest* sut, QuerySampleLibrary* qsl, const TestSettings& requested,
                   const std::string& audit_config_filename, const std::string& datetime, Logger& log,
                   std::function<void()> check_interrupt, TestIdentity* test) {
  test->scenario = requested.scenario;
  test->mode = requested.mode;
  LogVersion(log);
  MLG_DETAIL(log, "test_datetime", JsonString(datetime));
  auto name_start = Clock::now();
  test->sut_name = sut->Name();
  auto name_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - name_start).count();
  MLG_DETAIL(log, "sut_name", JsonString(test->sut_name));
  MLG_DETAIL(log, "get_sut_name_duration_ns", JsonInt(name_ns));
  const std::string qsl_name = qsl->Name();
  const size_t qsl_total = qsl->TotalSampleCount();
  MLG_DETAIL(log, "qsl_name", JsonString(qsl_name));
  MLG_DETAIL(log, "qsl_reported_total_count", JsonInt(qsl_total));
  MLG_DETAIL(log, "qsl_reported_performance_count", JsonInt(qsl->PerformanceSampleCount()));
  for (const std::string& msg : TakePendingConfigErrors()) MLG_ERROR(log, "error_invalid_config", msg);

  TestSettings settings = requested;
  if (!audit_config_filename.empty() && FileExists(audit_config_filename)) {
    MLG_WARNING(log, "warning_generic_message",
                "Found Audit Config file (audit.config). Overriding TestSettings from audit.config file.");
    settings.FromConfig(audit_config_filename, "*", ToString(settings.scenario), 2);
    for (const std::string& msg : TakePendingConfigErrors()) MLG_ERROR(log, "error_invalid_config", msg);
  }
  if (settings.test05) {
    settings.mode = TestMode::PerformanceOnly;
    settings.qsl_rng_seed = settings.test05_qsl_rng_seed;
    settings.sample_index_rng_seed = settings.test05_sample_index_rng_seed;
    settings.schedule_rng_seed = settings.test05_schedule_rng_seed;
  }
  test->scenario = settings.scenario;
  test->mode = settings.mode;
  const EffectiveSettings s = EffectiveSettings::Derive(settings, qsl_total, qsl->PerformanceSampleCount(), log);
  CheckSampleCounts(qsl_name, qsl_total, s);
  s.LogRequested(log);
  s.LogEffective(log);
  if (s.scenario == TestScenario::Server && s.requested.server_num_issue_query_threads > 0) {
    // Extra issue threads must register from C++; from Python there are none,
    // so the official LoadGen would wait forever. Issue from this thread
    // (docs/decisions.md, "LoadGen: C++ core, drop-in API").
    MLG_ERROR(log, "error_runtime",
              "Mismatch between settings and number of registered IssueQueryThreads! "
              "settings.server_num_issue_query_threads = " +
                  std::to_string(s.requested.server_num_issue_query_threads) +
                  " but 0 threads registered. Issuing from the StartTest thread.");
  }

  TestRun run(sut, qsl, log, test->sut_name, std::move(check_interrupt));
  switch (s.mode) {
    case TestMode::SubmissionRun:
      run.Accuracy(s);
      run.Performance(s);
      break;
    case TestMode::AccuracyOnly:
      run.Accuracy(s);
      break;
    case TestMode::PerformanceOnly:
      run.Performance(s);
      break;
    case TestMode::FindPeakPerformance:
      run.FindPeakPerformance(s);
      break;
  }
}

}  // namespace

void StartTest(SystemUnderTest* sut, QuerySampleLibrary* qsl, const TestSettings& requested,
               const LogSettings& log_settings, const std::string& audit_config_filename,
               std::function<void()> check_interrupt) {
  // Completions are routed to the one running test, so tests cannot overlap
  // (docs/decisions.md, "LoadGen: faults raise, never crash or hang").
  static std::mutex running;
  std::unique_lock<std::mutex> only_one(running, std::try_to_lock);
  if (!only_one.owns_lock()) throw LoadGenError("StartTest: another test is already running in this process");
  const std::string datetime = IsoDateTimeNow();
  Logger log(log_settings, datetime);  // throws before anything is issued
  TestIdentity test;
  // Any exception ends the test: the logs record the abort and its reason
  // before they are closed, then the exception goes on to the caller
  // unchanged. (A Python exception's what() takes the GIL itself.)
  try {
    RunLoggedTest(sut, qsl, requested, audit_config_filename, datetime, log, std::move(check_interrupt), &test);
  } catch (const std::exception& e) {
    LogTestAborted(log, test, e.what());
    throw;
  } catch (...) {
    LogTestAborted(log, test, "unknown exception");
    throw;
  }
  log.Close();
}

}  // namespace mlg
