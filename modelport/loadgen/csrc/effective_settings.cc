#include "effective_settings.h"

#include <algorithm>
#include <sstream>

#include "json_format.h"
#include "logger.h"

namespace mlg {

const char* ToString(TestScenario s) {
  switch (s) {
    case TestScenario::SingleStream: return "SingleStream";
    case TestScenario::MultiStream: return "MultiStream";
    case TestScenario::Server: return "Server";
    case TestScenario::Offline: return "Offline";
  }
  return "InvalidScenario";
}

const char* ToString(TestMode m) {
  switch (m) {
    case TestMode::SubmissionRun: return "SubmissionRun";
    case TestMode::AccuracyOnly: return "AccuracyOnly";
    case TestMode::PerformanceOnly: return "PerformanceOnly";
    case TestMode::FindPeakPerformance: return "FindPeakPerformance";
  }
  return "InvalidMode";
}

EffectiveSettings EffectiveSettings::Derive(const TestSettings& r, size_t qsl_total_count,
                                            size_t qsl_performance_count, Logger& log) {
  EffectiveSettings e;
  e.requested = r;
  e.scenario = r.scenario;
  e.mode = r.mode;
  e.target_duration_ms = static_cast<int64_t>(r.min_duration_ms);
  e.min_duration_ms = static_cast<int64_t>(r.min_duration_ms);
  e.max_duration_ms = static_cast<int64_t>(r.max_duration_ms);
  e.min_query_count = r.min_query_count;
  e.max_query_count = r.max_query_count;
  e.qsl_rng_seed = r.qsl_rng_seed;
  e.sample_index_rng_seed = r.sample_index_rng_seed;
  e.schedule_rng_seed = r.schedule_rng_seed;
  e.accuracy_log_rng_seed = r.accuracy_log_rng_seed;
  e.accuracy_log_probability = r.accuracy_log_probability;
  e.accuracy_log_sampling_target = r.accuracy_log_sampling_target;
  e.print_timestamps = r.print_timestamps;
  e.performance_issue_unique = r.performance_issue_unique;
  e.performance_issue_same = r.performance_issue_same;
  e.performance_issue_same_index = r.performance_issue_same_index;
  e.sample_concatenate_permutation = r.sample_concatenate_permutation;
  e.use_token_latencies = r.use_token_latencies;
  e.infer_token_latencies = r.infer_token_latencies;
  e.ttft_latency_ns = static_cast<int64_t>(r.server_ttft_latency);
  e.tpot_latency_ns = static_cast<int64_t>(r.server_tpot_latency);
  e.token_latency_scaling_factor = r.token_latency_scaling_factor;

  e.performance_sample_count =
      r.performance_sample_count_override ? r.performance_sample_count_override : qsl_performance_count;
  e.accuracy_sample_count = r.accuracy_sample_count_override ? r.accuracy_sample_count_override : qsl_total_count;

  switch (r.scenario) {
    case TestScenario::SingleStream:
      e.target_qps = 1e9 / r.single_stream_expected_latency_ns;
      e.max_async_queries = 1;
      e.target_latency_percentile = r.single_stream_target_latency_percentile;
      break;
    case TestScenario::MultiStream:
      e.target_qps = 1e9 / r.multi_stream_expected_latency_ns;
      e.max_async_queries = 1;
      e.target_latency_percentile = r.multi_stream_target_latency_percentile;
      e.samples_per_query = r.multi_stream_samples_per_query;
      break;
    case TestScenario::Server:
      if (r.server_target_qps >= 0.0) {
        e.target_qps = r.server_target_qps;
      } else {
        std::ostringstream ss;
        ss << "Invalid value for server_target_qps requested. requested: " << r.server_target_qps
           << " using: " << e.target_qps;
        MLG_ERROR(log, "error_invalid_test_settings", ss.str());
      }
      e.target_latency_ns = static_cast<int64_t>(r.server_target_latency_ns);
      e.target_latency_percentile = r.server_target_latency_percentile;
      e.max_async_queries = r.server_max_async_queries;
      break;
    case TestScenario::Offline:
      e.target_latency_percentile = 0.99;
      if (r.offline_expected_qps >= 0.0) {
        e.target_qps = r.offline_expected_qps;
      } else {
        std::ostringstream ss;
        ss << "Invalid value for offline_expected_qps requested. requested: " << r.offline_expected_qps
           << " using: " << e.target_qps;
        MLG_ERROR(log, "error_invalid_test_settings", ss.str());
      }
      e.max_async_queries = 1;
      break;
  }

  if (r.scenario == TestScenario::Offline) {
    // 10% slack so a SUT running at the expected rate outlasts min_duration.
    const uint64_t target_samples =
        static_cast<uint64_t>(1.1 * (static_cast<double>(e.target_duration_ms) / 1000.0) * e.target_qps);
    e.samples_per_query = r.performance_issue_unique ? e.performance_sample_count
                                                     : std::max<uint64_t>(e.min_query_count, target_samples);
    e.min_query_count = 1;
    e.target_duration_ms = 0;
  }

  if (r.scenario == TestScenario::SingleStream && r.sample_concatenate_permutation &&
      qsl_performance_count > 0) {
    // Equal issue: every loaded sample the same number of times.
    uint64_t wanted = static_cast<uint64_t>(2.0 * (static_cast<double>(e.min_duration_ms) / 1000.0) * e.target_qps);
    e.min_query_count = std::max<uint64_t>(e.min_query_count, wanted);
    e.min_query_count += qsl_performance_count - (e.min_query_count % qsl_performance_count);
  }

  e.min_sample_count = e.min_query_count * e.samples_per_query;

  if (r.performance_issue_same && r.performance_issue_same_index >= e.performance_sample_count) {
    std::ostringstream ss;
    ss << "Sample Idx to be repeated in performance_issue_same mode cannot be greater than loaded "
          "performance_sample_count. performance_issue_same_index: "
       << r.performance_issue_same_index << " performance_sample_count: " << e.performance_sample_count;
    MLG_ERROR(log, "error_invalid_test_settings", ss.str());
  }
  if (r.performance_issue_unique && r.performance_issue_same) {
    std::ostringstream ss;
    ss << "Performance_issue_unique and performance_issue_same, both cannot be true at the same time. "
          "performance_issue_unique: "
       << r.performance_issue_unique << " performance_issue_same: " << r.performance_issue_same;
    MLG_ERROR(log, "error_invalid_test_settings", ss.str());
  }
  return e;
}

void EffectiveSettings::LogRequested(Logger& log) const {
  const TestSettings& s = requested;
  MLG_DETAIL(log, "requested_scenario", JsonString(ToString(s.scenario)));
  MLG_DETAIL(log, "requested_test_mode", JsonString(ToString(s.mode)));
  switch (s.scenario) {
    case TestScenario::SingleStream:
      MLG_DETAIL(log, "requested_single_stream_expected_latency_ns", JsonDouble(s.single_stream_expected_latency_ns));
      MLG_DETAIL(log, "requested_single_stream_target_latency_percentile",
                 JsonDouble(s.single_stream_target_latency_percentile));
      break;
    case TestScenario::MultiStream:
      MLG_DETAIL(log, "requested_multi_stream_expected_latency_ns", JsonDouble(s.multi_stream_expected_latency_ns));
      MLG_DETAIL(log, "requested_multi_stream_target_latency_percentile",
                 JsonDouble(s.multi_stream_target_latency_percentile));
      MLG_DETAIL(log, "requested_multi_stream_samples_per_query", JsonInt(s.multi_stream_samples_per_query));
      break;
    case TestScenario::Server:
      MLG_DETAIL(log, "requested_server_target_qps", JsonDouble(s.server_target_qps));
      MLG_DETAIL(log, "requested_server_target_latency_ns", JsonInt(s.server_target_latency_ns));
      MLG_DETAIL(log, "requested_server_target_latency_percentile", JsonDouble(s.server_target_latency_percentile));
      MLG_DETAIL(log, "requested_server_coalesce_queries", JsonBool(s.server_coalesce_queries));
      MLG_DETAIL(log, "requested_server_find_peak_qps_decimals_of_precision",
                 JsonInt(s.server_find_peak_qps_decimals_of_precision));
      MLG_DETAIL(log, "requested_server_find_peak_qps_boundary_step_size",
                 JsonDouble(s.server_find_peak_qps_boundary_step_size));
      MLG_DETAIL(log, "requested_server_max_async_queries", JsonInt(s.server_max_async_queries));
      MLG_DETAIL(log, "requested_server_num_issue_query_threads", JsonInt(s.server_num_issue_query_threads));
      break;
    case TestScenario::Offline:
      MLG_DETAIL(log, "requested_offline_expected_qps", JsonDouble(s.offline_expected_qps));
      break;
  }
  MLG_DETAIL(log, "requested_min_duration_ms", JsonInt(s.min_duration_ms));
  MLG_DETAIL(log, "requested_max_duration_ms", JsonInt(s.max_duration_ms));
  MLG_DETAIL(log, "requested_min_query_count", JsonInt(s.min_query_count));
  MLG_DETAIL(log, "requested_max_query_count", JsonInt(s.max_query_count));
  MLG_DETAIL(log, "requested_qsl_rng_seed", JsonInt(s.qsl_rng_seed));
  MLG_DETAIL(log, "requested_sample_index_rng_seed", JsonInt(s.sample_index_rng_seed));
  MLG_DETAIL(log, "requested_schedule_rng_seed", JsonInt(s.schedule_rng_seed));
  MLG_DETAIL(log, "requested_accuracy_log_rng_seed", JsonInt(s.accuracy_log_rng_seed));
  MLG_DETAIL(log, "requested_accuracy_log_probability", JsonDouble(s.accuracy_log_probability));
  MLG_DETAIL(log, "requested_accuracy_log_sampling_target", JsonInt(s.accuracy_log_sampling_target));
  MLG_DETAIL(log, "requested_print_timestamps", JsonBool(s.print_timestamps));
  MLG_DETAIL(log, "requested_performance_issue_unique", JsonBool(s.performance_issue_unique));
  MLG_DETAIL(log, "requested_performance_issue_same", JsonBool(s.performance_issue_same));
  MLG_DETAIL(log, "requested_performance_issue_same_index", JsonInt(s.performance_issue_same_index));
  MLG_DETAIL(log, "requested_performance_sample_count_override", JsonInt(s.performance_sample_count_override));
  MLG_DETAIL(log, "requested_accuracy_sample_count_override", JsonInt(s.accuracy_sample_count_override));
  MLG_DETAIL(log, "requested_sample_concatenate_permutation", JsonBool(s.sample_concatenate_permutation));
  if (s.use_token_latencies) {
    MLG_DETAIL(log, "requested_use_token_latencies", JsonBool(s.use_token_latencies));
    if (s.scenario != TestScenario::Offline) {
      MLG_DETAIL(log, "requested_server_ttft_latency", JsonInt(s.server_ttft_latency));
      MLG_DETAIL(log, "requested_server_tpot_latency", JsonInt(s.server_tpot_latency));
    }
  }
}

void EffectiveSettings::LogEffective(Logger& log) const {
  MLG_DETAIL(log, "effective_scenario", JsonString(ToString(scenario)));
  MLG_DETAIL(log, "effective_test_mode", JsonString(ToString(mode)));
  MLG_DETAIL(log, "effective_samples_per_query", JsonInt(samples_per_query));
  MLG_DETAIL(log, "effective_target_qps", JsonDouble(target_qps));
  MLG_DETAIL(log, "effective_target_latency_ns", JsonInt(target_latency_ns));
  MLG_DETAIL(log, "effective_target_latency_percentile", JsonDouble(target_latency_percentile));
  MLG_DETAIL(log, "effective_max_async_queries", JsonInt(max_async_queries));
  MLG_DETAIL(log, "effective_target_duration_ms", JsonInt(target_duration_ms));
  MLG_DETAIL(log, "effective_min_duration_ms", JsonInt(min_duration_ms));
  MLG_DETAIL(log, "effective_max_duration_ms", JsonInt(max_duration_ms));
  MLG_DETAIL(log, "effective_min_query_count", JsonInt(min_query_count));
  MLG_DETAIL(log, "effective_max_query_count", JsonInt(max_query_count));
  MLG_DETAIL(log, "effective_min_sample_count", JsonInt(min_sample_count));
  MLG_DETAIL(log, "effective_qsl_rng_seed", JsonInt(qsl_rng_seed));
  MLG_DETAIL(log, "effective_sample_index_rng_seed", JsonInt(sample_index_rng_seed));
  MLG_DETAIL(log, "effective_schedule_rng_seed", JsonInt(schedule_rng_seed));
  MLG_DETAIL(log, "effective_accuracy_log_rng_seed", JsonInt(accuracy_log_rng_seed));
  MLG_DETAIL(log, "effective_accuracy_log_probability", JsonDouble(accuracy_log_probability));
  MLG_DETAIL(log, "effective_accuracy_log_sampling_target", JsonInt(accuracy_log_sampling_target));
  MLG_DETAIL(log, "effective_print_timestamps", JsonBool(print_timestamps));
  MLG_DETAIL(log, "effective_performance_issue_unique", JsonBool(performance_issue_unique));
  MLG_DETAIL(log, "effective_performance_issue_same", JsonBool(performance_issue_same));
  MLG_DETAIL(log, "effective_performance_issue_same_index", JsonInt(performance_issue_same_index));
  MLG_DETAIL(log, "effective_performance_sample_count", JsonInt(performance_sample_count));
  MLG_DETAIL(log, "effective_accuracy_sample_count", JsonInt(accuracy_sample_count));
  MLG_DETAIL(log, "effective_sample_concatenate_permutation", JsonBool(sample_concatenate_permutation));
}

void EffectiveSettings::LogSummaryParameters(Logger& log) const {
  auto line = [&](const char* label, const std::string& value) { log.Summary(std::string(label) + value); };
  auto num = [](auto v) { return std::to_string(v); };
  line("samples_per_query : ", num(samples_per_query));
  line("target_qps : ", FormatDouble(target_qps));
  if (use_token_latencies) {
    line("ttft_latency (ns): ", num(ttft_latency_ns));
    line("tpot_latency (ns): ", num(tpot_latency_ns));
  } else {
    line("target_latency (ns): ", num(target_latency_ns));
  }
  line("max_async_queries : ", num(max_async_queries));
  line("min_duration (ms): ", num(min_duration_ms));
  line("max_duration (ms): ", num(max_duration_ms));
  line("min_query_count : ", num(min_query_count));
  line("max_query_count : ", num(max_query_count));
  line("qsl_rng_seed : ", num(qsl_rng_seed));
  line("sample_index_rng_seed : ", num(sample_index_rng_seed));
  line("schedule_rng_seed : ", num(schedule_rng_seed));
  line("accuracy_log_rng_seed : ", num(accuracy_log_rng_seed));
  line("accuracy_log_probability : ", FormatDouble(accuracy_log_probability));
  line("accuracy_log_sampling_target : ", num(accuracy_log_sampling_target));
  line("print_timestamps : ", num(static_cast<int>(print_timestamps)));
  line("performance_issue_unique : ", num(static_cast<int>(performance_issue_unique)));
  line("performance_issue_same : ", num(static_cast<int>(performance_issue_same)));
  line("performance_issue_same_index : ", num(performance_issue_same_index));
  line("performance_sample_count : ", num(performance_sample_count));
  line("accuracy_sample_count : ", num(accuracy_sample_count));
  if (sample_concatenate_permutation) {
    log.Summary(
        "WARNING: sample_concatenate_permutation was set to true. \n"
        "Generated samples per query might be different as the one in the setting.\n"
        "Check the generated_samples_per_query line in the detailed log for the real\n"
        "samples_per_query value");
  }
}

}  // namespace mlg
