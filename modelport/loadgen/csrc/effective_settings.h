// The settings a run actually uses, derived from the requested TestSettings
// and the QSL (MLPerf's "effective_*" values).
#pragma once

#include <cstdint>
#include <string>

#include "test_settings.h"

namespace mlg {

class Logger;

struct EffectiveSettings {
  TestSettings requested;
  TestScenario scenario;
  TestMode mode;
  uint64_t samples_per_query = 1;
  double target_qps = 1;
  int64_t target_latency_ns = 0;
  double target_latency_percentile = 0.99;
  uint64_t max_async_queries = 0;
  int64_t target_duration_ms = 0;
  int64_t min_duration_ms = 0;
  int64_t max_duration_ms = 0;
  uint64_t min_query_count = 0;
  uint64_t max_query_count = 0;
  uint64_t min_sample_count = 0;
  uint64_t qsl_rng_seed = 0, sample_index_rng_seed = 0, schedule_rng_seed = 0, accuracy_log_rng_seed = 0;
  double accuracy_log_probability = 0;
  uint64_t accuracy_log_sampling_target = 0;
  bool print_timestamps = false;
  bool performance_issue_unique = false, performance_issue_same = false;
  uint64_t performance_issue_same_index = 0;
  uint64_t performance_sample_count = 0;
  uint64_t accuracy_sample_count = 0;
  bool sample_concatenate_permutation = false;
  bool use_token_latencies = false, infer_token_latencies = false;
  int64_t ttft_latency_ns = 0, tpot_latency_ns = 0;
  uint64_t token_latency_scaling_factor = 0;

  // Derives the values; logs invalid combinations as errors to `log`.
  static EffectiveSettings Derive(const TestSettings& requested, size_t qsl_total_count,
                                  size_t qsl_performance_count, Logger& log);

  void LogRequested(Logger& log) const;
  void LogEffective(Logger& log) const;
  // The "Test Parameters Used" block of the summary.
  void LogSummaryParameters(Logger& log) const;
};

}  // namespace mlg
