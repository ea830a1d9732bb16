// Metrics and validity of a performance pass, and their summary/detail log
// output. Everything (sorting, percentiles, early stopping) is computed once
// in the constructor (results.cc); the two log writers only format
// (results_log.cc).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "effective_settings.h"
#include "issuer.h"

namespace mlg {

class Logger;

struct PercentileValue {
  double percentile;
  int64_t sample = 0;
  int64_t query = 0;  // MultiStream
};

class PerformanceSummary {
 public:
  PerformanceSummary(std::string sut_name, const EffectiveSettings& settings, PassResult result);

  bool PerfConstraintsMet() const { return perf_constraints_met_; }
  const std::string& PerfConstraintsRecommendation() const { return perf_constraints_rec_; }
  const EffectiveSettings& settings() const { return s_; }
  void LogSummary(Logger& log) const;
  void LogDetail(Logger& log) const;

 private:
  void ProcessLatencies();
  void ProcessTokens();
  bool EarlyStopping(const Latencies& sorted, int64_t target_latency, std::string* rec);
  void CheckValidity();
  void LogSummaryMetrics(Logger& log) const;
  void LogSummaryValidity(Logger& log) const;
  void LogSummaryStats(Logger& log) const;
  void LogDetailValidity(Logger& log) const;
  void LogDetailMetrics(Logger& log) const;
  void LogDetailTokens(Logger& log) const;

  std::string sut_name_;
  EffectiveSettings s_;
  PassResult r_;

  size_t sample_count_ = 0;
  int64_t sample_min_ = 0, sample_max_ = 0, sample_mean_ = 0;
  int64_t query_min_ = 0, query_max_ = 0, query_mean_ = 0;
  PercentileValue target_{0};
  std::vector<PercentileValue> percentiles_;
  uint64_t overlatency_count_ = 0;

  // Token metrics.
  int64_t ttft_min_ = 0, ttft_max_ = 0, ttft_mean_ = 0, tpot_min_ = 0, tpot_max_ = 0, tpot_mean_ = 0;
  int64_t ttft_target_ = 0, tpot_target_ = 0;
  std::vector<PercentileValue> ttft_percentiles_, tpot_percentiles_;

  int64_t early_stopping_latency_ss_ = 0, early_stopping_latency_ms_ = 0;
  bool min_duration_met_ = false, min_queries_met_ = false, perf_constraints_met_ = true;
  bool early_stopping_met_ = true, all_met_ = false;
  std::string min_duration_rec_, perf_constraints_rec_, early_stopping_rec_, es_ttft_rec_, es_tpot_rec_;
};

}  // namespace mlg
