// Public test configuration: the scenario, mode, and every knob a run reads.
// Field names and defaults follow mlperf_loadgen 6.0.17 so harness code and
// conf files carry over unchanged.
//
// Lifetime: plain values, owned by the caller. StartTest copies them before
// anything is issued (and applies audit.config to its copy), so the caller
// may change or destroy them while a test runs without affecting it.
//
// Threading: an object is not synchronised; do not change it from two
// threads at once. FromConfig may be called from any thread; it shares two
// pieces of process-wide state, guarded internally: whether the built-in
// mlperf.conf was already applied (conf_type 1), and the parse errors it
// found, which the next StartTest reports in its detail log.
#pragma once

#include <cstdint>
#include <string>

namespace mlg {

enum class TestScenario { SingleStream = 0, MultiStream = 1, Server = 2, Offline = 3 };
enum class TestMode { SubmissionRun = 0, AccuracyOnly = 1, PerformanceOnly = 2, FindPeakPerformance = 3 };
enum class LoggingMode { AsyncPoll = 0, EndOfTestOnly = 1, Synchronous = 2 };

const char* ToString(TestScenario s);
const char* ToString(TestMode m);

struct TestSettings {
  TestScenario scenario = TestScenario::SingleStream;
  TestMode mode = TestMode::PerformanceOnly;

  double single_stream_expected_latency_ns = 1000000;
  double single_stream_target_latency_percentile = 0.90;

  double multi_stream_expected_latency_ns = 8000000;
  double multi_stream_target_latency_percentile = 0.99;
  uint64_t multi_stream_samples_per_query = 8;

  double server_target_qps = 1;
  uint64_t server_target_latency_ns = 100000000;
  double server_target_latency_percentile = 0.99;
  bool server_coalesce_queries = false;
  int server_find_peak_qps_decimals_of_precision = 1;
  double server_find_peak_qps_boundary_step_size = 1;
  uint64_t server_max_async_queries = 0;
  uint64_t server_num_issue_query_threads = 0;

  double offline_expected_qps = 1;
  bool sample_concatenate_permutation = false;

  uint64_t min_duration_ms = 10000;
  uint64_t max_duration_ms = 0;
  uint64_t min_query_count = 100;
  uint64_t max_query_count = 0;

  uint64_t qsl_rng_seed = 0;
  uint64_t sample_index_rng_seed = 0;
  uint64_t schedule_rng_seed = 0;
  uint64_t accuracy_log_rng_seed = 0;
  double accuracy_log_probability = 0;
  uint64_t accuracy_log_sampling_target = 0;

  bool test05 = false;
  uint64_t test05_qsl_rng_seed = 0;
  uint64_t test05_sample_index_rng_seed = 0;
  uint64_t test05_schedule_rng_seed = 0;

  bool print_timestamps = false;
  bool performance_issue_unique = false;
  bool performance_issue_same = false;
  uint64_t performance_issue_same_index = 0;
  uint64_t performance_sample_count_override = 0;
  uint64_t accuracy_sample_count_override = 0;

  bool use_token_latencies = false;
  uint64_t server_ttft_latency = 100000000;
  uint64_t server_tpot_latency = 100000000;
  bool infer_token_latencies = false;
  uint64_t token_latency_scaling_factor = 0;

  // modelport extension: seconds without any completion, while samples are
  // outstanding, before the run is aborted (StartTest throws LoadGenError and
  // the logs record the abort). 0 disables. Checked by the issuing thread
  // while it waits; not read from conf files.
  double completion_timeout_s = 300.0;

  // Reads `model.scenario.key = value` lines. conf_type 0: the built-in
  // mlperf.conf only; 1: built-in (first call in the process) then `path`;
  // 2: `path` alone (audit.config). Returns 0, -ENOENT or -EINVAL.
  int FromConfig(const std::string& path, const std::string& model, const std::string& scenario,
                 int conf_type = 1);
};

// Where the four log files go. `outdir` must exist and be writable when
// StartTest starts: the files are created (truncated) then, before anything
// is issued, and closed before StartTest returns.
struct LogOutputSettings {
  std::string outdir = ".";
  std::string prefix = "mlperf_log_";
  std::string suffix = "";
  bool prefix_with_datetime = false;
  bool copy_detail_to_stdout = false;
  bool copy_summary_to_stdout = false;
};

// The logs are written by one writer thread per test that StartTest starts
// and joins; producers (the issuing thread, completing threads logging
// accuracy samples) only queue finished lines, so log_mode changes nothing.
struct LogSettings {
  LogOutputSettings log_output;
  LoggingMode log_mode = LoggingMode::AsyncPoll;
  uint64_t log_mode_async_poll_interval_ms = 1000;  // accepted, unused: the writer is event driven
  // The trace is written from recorded timestamps after each pass, never on
  // the hot path (costs 8 bytes per one-sample query while the pass runs;
  // docs/decisions.md, "LoadGen: log files").
  bool enable_trace = true;
};

}  // namespace mlg
