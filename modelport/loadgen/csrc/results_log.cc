// The summary and detail log lines of a performance pass: formatting only,
// from what PerformanceSummary computed (results.cc).
#include <algorithm>

#include "json_format.h"
#include "logger.h"
#include "results.h"

namespace mlg {

void PerformanceSummary::LogSummary(Logger& log) const {
  auto line = [&](const std::string& text) { log.Summary(text); };
  line("================================================\nMLPerf Results Summary\n"
       "================================================");
  line("SUT name : " + sut_name_);
  line(std::string("Scenario : ") + ToString(s_.scenario));
  line(std::string("Mode     : ") + ToString(s_.mode));
  LogSummaryMetrics(log);
  LogSummaryValidity(log);
  LogSummaryStats(log);
  line("\n================================================\nTest Parameters Used\n"
       "================================================");
  s_.LogSummaryParameters(log);
}

// The scenario's headline metric, with token throughput where measured.
void PerformanceSummary::LogSummaryMetrics(Logger& log) const {
  auto line = [&](const std::string& text) { log.Summary(text); };
  const auto num = [](int64_t v) { return std::to_string(v); };
  const double n = static_cast<double>(sample_count_);
  switch (s_.scenario) {
    case TestScenario::SingleStream:
      line(Percent(target_.percentile, 1) + "th percentile latency (ns) : " + num(target_.sample));
      break;
    case TestScenario::MultiStream:
      line(Percent(target_.percentile, 1) + "th percentile latency (ns) : " + num(target_.query));
      break;
    case TestScenario::Server:
      line("Completed samples per second    : " + FixedDouble((n - 1) / r_.final_query_all_samples_done_s));
      break;
    case TestScenario::Offline:
      line("Samples per second: " + FormatDouble(n / r_.max_latency_s));
      break;
  }
  const double tokens = static_cast<double>(r_.token_count);
  if (s_.use_token_latencies) {
    switch (s_.scenario) {
      case TestScenario::SingleStream:
      case TestScenario::MultiStream:
        line(Percent(target_.percentile, 1) + "th first token percentile latency (ns) : " + num(ttft_target_));
        break;
      case TestScenario::Offline:
        line("Tokens per second: " + FormatDouble(tokens / r_.max_latency_s));
        break;
      case TestScenario::Server:
        line("Completed tokens per second: " + FixedDouble(tokens / r_.final_query_all_samples_done_s));
        break;
    }
  }
  if (s_.infer_token_latencies) {
    const double f = static_cast<double>(s_.token_latency_scaling_factor);
    if (s_.scenario == TestScenario::Offline) {
      line("Tokens per second (inferred): " + FormatDouble(f * n / r_.max_latency_s));
    } else if (s_.scenario == TestScenario::Server) {
      line("Completed tokens per second (inferred): " + FixedDouble(f * (n - 1) / r_.final_query_all_samples_done_s));
    }
  }
}

void PerformanceSummary::LogSummaryValidity(Logger& log) const {
  auto line = [&](const std::string& text) { log.Summary(text); };
  line(std::string("Result is : ") + (all_met_ ? "VALID" : "INVALID"));
  if (s_.scenario == TestScenario::Server) {
    line(std::string("  Performance constraints satisfied : ") + (perf_constraints_met_ ? "Yes" : "NO"));
  }
  line(std::string("  Min duration satisfied : ") + (min_duration_met_ ? "Yes" : "NO"));
  line(std::string("  Min queries satisfied : ") + (min_queries_met_ ? "Yes" : "NO"));
  line(std::string("  Early stopping satisfied: ") + (early_stopping_met_ ? "Yes" : "NO"));
  if (!all_met_) {
    line("Recommendations:");
    if (!perf_constraints_met_) line(" * " + perf_constraints_rec_);
    if (!min_duration_met_) line(" * " + min_duration_rec_);
    if (!min_queries_met_) {
      line(" * The test exited early, before enough queries were issued.\n"
           "   See the detailed log for why this may have occurred.");
    }
  }
  if (s_.scenario != TestScenario::Offline) {
    if (!s_.use_token_latencies) {
      line("Early Stopping Result:");
      line(early_stopping_rec_);
    } else {
      line("TTFT Early Stopping Result:");
      line(es_ttft_rec_);
      line("TPOT Early Stopping Result:");
      line(es_tpot_rec_);
    }
  }
}

void PerformanceSummary::LogSummaryStats(Logger& log) const {
  auto line = [&](const std::string& text) { log.Summary(text); };
  const auto num = [](int64_t v) { return std::to_string(v); };
  const double n = static_cast<double>(sample_count_);
  const double tokens = static_cast<double>(r_.token_count);
  line("\n================================================\nAdditional Stats\n"
       "================================================");
  if (s_.scenario == TestScenario::SingleStream) {
    line("QPS w/ loadgen overhead         : " + FixedDouble((n - 1) / r_.final_query_issued_s));
    line("QPS w/o loadgen overhead        : " + FixedDouble(1 / (static_cast<double>(sample_mean_) / 1e9)));
    line("");
  } else if (s_.scenario == TestScenario::Server) {
    line("Scheduled samples per second : " + FixedDouble((n - 1) / r_.final_query_scheduled_s));
  } else if (s_.scenario == TestScenario::MultiStream) {
    line("Per-query latency:  ");
    line("Min latency (ns)                : " + num(query_min_));
    line("Max latency (ns)                : " + num(query_max_));
    line("Mean latency (ns)               : " + num(query_mean_));
    for (const auto& p : percentiles_) line(Percent(p.percentile) + " percentile latency (ns)   : " + num(p.query));
  }
  if (s_.scenario != TestScenario::MultiStream) {
    line("Min latency (ns)                : " + num(sample_min_));
    line("Max latency (ns)                : " + num(sample_max_));
    line("Mean latency (ns)               : " + num(sample_mean_));
    for (const auto& p : percentiles_) line(Percent(p.percentile) + " percentile latency (ns)   : " + num(p.sample));
  }
  if (s_.use_token_latencies) {
    line("");
    if (s_.scenario == TestScenario::SingleStream) {
      line("TPS w/ loadgen overhead         : " + FixedDouble(tokens / r_.final_query_issued_s));
      line("TPS w/o loadgen overhead        : " +
           FixedDouble(tokens / (static_cast<double>(sample_mean_) / 1e9 * n)));
    } else if (s_.scenario == TestScenario::Server) {
      line("Completed tokens per second                 : " +
           FixedDouble(tokens / r_.final_query_all_samples_done_s));
    }
    if (s_.scenario != TestScenario::Offline) {
      line("Min First Token latency (ns)                : " + num(ttft_min_));
      line("Max First Token latency (ns)                : " + num(ttft_max_));
      line("Mean First Token latency (ns)               : " + num(ttft_mean_));
      for (const auto& p : ttft_percentiles_) {
        line(Percent(p.percentile) + " percentile first token latency (ns)   : " + num(p.sample));
      }
      line("");
      line("Min Time per Output Token (ns)                : " + num(tpot_min_));
      line("Max Time per Output Token (ns)                : " + num(tpot_max_));
      line("Mean Time per Output Token (ns)               : " + num(tpot_mean_));
      for (const auto& p : tpot_percentiles_) {
        line(Percent(p.percentile) + " percentile time to output token (ns)   : " + num(p.sample));
      }
    }
  }
}

void PerformanceSummary::LogDetail(Logger& log) const {
  LogDetailValidity(log);
  LogDetailMetrics(log);
}

void PerformanceSummary::LogDetailValidity(Logger& log) const {
  auto flat = [](std::string s) {
    std::replace(s.begin(), s.end(), '\n', ' ');
    return s;
  };
  MLG_DETAIL(log, "result_validity", JsonString(all_met_ ? "VALID" : "INVALID"));
  if (s_.scenario == TestScenario::Server) MLG_DETAIL(log, "result_perf_constraints_met", JsonBool(perf_constraints_met_));
  MLG_DETAIL(log, "result_min_duration_met", JsonBool(min_duration_met_));
  MLG_DETAIL(log, "result_min_queries_met", JsonBool(min_queries_met_));
  MLG_DETAIL(log, "early_stopping_met", JsonBool(early_stopping_met_));
  if (!all_met_) {
    std::string reason;
    if (!perf_constraints_met_) reason += perf_constraints_rec_ + " ";
    if (!min_duration_met_) reason += min_duration_rec_ + " ";
    if (!min_queries_met_) reason += "The test exited early, before enough queries were issued.";
    MLG_DETAIL(log, "result_invalid_reason", JsonString(flat(reason)));
  }
  if (!s_.use_token_latencies) {
    MLG_DETAIL(log, "early_stopping_result", JsonString(flat(early_stopping_rec_)));
  } else {
    MLG_DETAIL(log, "early_stopping_ttft_result", JsonString(flat(es_ttft_rec_)));
    MLG_DETAIL(log, "early_stopping_tpot_result", JsonString(flat(es_tpot_rec_)));
  }
  MLG_DETAIL(log, "result_query_count", JsonInt(r_.queries_issued));
  if (s_.scenario == TestScenario::Server) MLG_DETAIL(log, "result_overlatency_query_count", JsonInt(overlatency_count_));
}

void PerformanceSummary::LogDetailMetrics(Logger& log) const {
  const double n = static_cast<double>(sample_count_);
  switch (s_.scenario) {
    case TestScenario::SingleStream:
      MLG_DETAIL(log, "result_qps_with_loadgen_overhead", JsonDouble((n - 1) / r_.final_query_issued_s));
      MLG_DETAIL(log, "result_qps_without_loadgen_overhead", JsonDouble(1 / (static_cast<double>(sample_mean_) / 1e9)));
      MLG_DETAIL(log, "early_stopping_latency_ss", JsonInt(early_stopping_latency_ss_));
      MLG_DETAIL(log, "early_stopping_latency_ms", JsonInt(early_stopping_latency_ms_));
      break;
    case TestScenario::MultiStream:
      MLG_DETAIL(log, "result_min_query_latency_ns", JsonInt(query_min_));
      MLG_DETAIL(log, "result_max_query_latency_ns", JsonInt(query_max_));
      MLG_DETAIL(log, "result_mean_query_latency_ns", JsonInt(query_mean_));
      for (const auto& p : percentiles_) {
        MLG_DETAIL(log, "result_" + Percent(p.percentile) + "_percentile_per_query_latency_ns", JsonInt(p.query));
      }
      MLG_DETAIL(log, "early_stopping_latency_ms", JsonInt(early_stopping_latency_ms_));
      break;
    case TestScenario::Server:
      MLG_DETAIL(log, "result_scheduled_samples_per_sec", JsonDouble((n - 1) / r_.final_query_scheduled_s));
      MLG_DETAIL(log, "result_completed_samples_per_sec", JsonDouble((n - 1) / r_.final_query_all_samples_done_s));
      break;
    case TestScenario::Offline:
      MLG_DETAIL(log, "result_samples_per_second", JsonDouble(n / r_.max_latency_s));
      break;
  }
  MLG_DETAIL(log, "result_min_latency_ns", JsonInt(sample_min_));
  MLG_DETAIL(log, "result_max_latency_ns", JsonInt(sample_max_));
  MLG_DETAIL(log, "result_mean_latency_ns", JsonInt(sample_mean_));
  for (const auto& p : percentiles_) {
    MLG_DETAIL(log, "result_" + Percent(p.percentile) + "_percentile_latency_ns", JsonInt(p.sample));
  }
  LogDetailTokens(log);
  MLG_DETAIL(log, "num_errors", JsonInt(log.error_count()));
}

void PerformanceSummary::LogDetailTokens(Logger& log) const {
  const double n = static_cast<double>(sample_count_);
  const double tokens = static_cast<double>(r_.token_count);
  if (s_.use_token_latencies) {
    if (s_.scenario != TestScenario::Offline) {
      MLG_DETAIL(log, "result_first_token_min_latency_ns", JsonInt(ttft_min_));
      MLG_DETAIL(log, "result_first_token_max_latency_ns", JsonInt(ttft_max_));
      MLG_DETAIL(log, "result_first_token_mean_latency_ns", JsonInt(ttft_mean_));
      for (const auto& p : ttft_percentiles_) {
        MLG_DETAIL(log, "result_first_token_" + Percent(p.percentile) + "_percentile_latency_ns", JsonInt(p.sample));
      }
      MLG_DETAIL(log, "result_token_throughput_with_loadgen_overhead", JsonDouble(tokens / r_.final_query_issued_s));
      MLG_DETAIL(log, "result_token_throughput", JsonDouble(tokens / (static_cast<double>(sample_mean_) * n)));
      for (const auto& p : tpot_percentiles_) {
        MLG_DETAIL(log, "result_time_per_output_token_" + Percent(p.percentile) + "_percentile_ns", JsonInt(p.sample));
      }
      MLG_DETAIL(log, "result_time_to_output_token_min", JsonInt(tpot_min_));
      MLG_DETAIL(log, "result_time_to_output_token_max", JsonInt(tpot_max_));
      MLG_DETAIL(log, "result_time_to_output_token_mean", JsonInt(tpot_mean_));
      MLG_DETAIL(log, "result_completed_tokens_per_second", JsonDouble(tokens / r_.final_query_all_samples_done_s));
    } else {
      MLG_DETAIL(log, "result_tokens_per_second", JsonDouble(tokens / r_.max_latency_s));
    }
  }
  if (s_.infer_token_latencies) {
    const double f = static_cast<double>(s_.token_latency_scaling_factor);
    if (s_.scenario == TestScenario::Server) {
      MLG_DETAIL(log, "result_inferred_completed_tokens_per_second",
                 JsonDouble((n - 1) * f / r_.final_query_all_samples_done_s));
    } else if (s_.scenario == TestScenario::Offline) {
      MLG_DETAIL(log, "result_inferred_tokens_per_second", JsonDouble(n * f / r_.max_latency_s));
    }
  }
}

}  // namespace mlg
