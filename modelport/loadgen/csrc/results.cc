#include "results.h"

#include <algorithm>

#include "early_stopping.h"
#include "json_format.h"

namespace mlg {

namespace {

constexpr double kPercentiles[] = {0.50, 0.90, 0.95, 0.97, 0.99, 0.999};

int64_t At(const Latencies& sorted, double index) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(index);
  return sorted[std::min(i, sorted.size() - 1)];
}

int64_t Mean(const Latencies& v, size_t divisor) {
  if (!divisor) return 0;
  int64_t sum = 0;
  for (int64_t x : v) sum += x;
  return sum / static_cast<int64_t>(divisor);
}

}  // namespace

PerformanceSummary::PerformanceSummary(std::string sut_name, const EffectiveSettings& settings, PassResult result)
    : sut_name_(std::move(sut_name)), s_(settings), r_(std::move(result)) {
  target_.percentile = s_.target_latency_percentile;
  for (double p : kPercentiles) percentiles_.push_back({p});
  ProcessLatencies();
  if (s_.use_token_latencies) ProcessTokens();
  CheckValidity();
}

void PerformanceSummary::ProcessLatencies() {
  auto& lat = r_.sample_latencies;
  if (lat.empty()) return;
  sample_count_ = lat.size();
  sample_mean_ = Mean(lat, sample_count_);
  std::sort(lat.begin(), lat.end());
  sample_min_ = lat.front();
  sample_max_ = lat.back();
  const double n = static_cast<double>(sample_count_);
  target_.sample = At(lat, n * target_.percentile);
  for (auto& p : percentiles_) p.sample = At(lat, n * p.percentile);
  if (s_.scenario == TestScenario::Server) {
    overlatency_count_ = lat.end() - std::upper_bound(lat.begin(), lat.end(), s_.target_latency_ns);
  }
  if (s_.scenario == TestScenario::MultiStream && !r_.query_latencies.empty()) {
    auto& q = r_.query_latencies;
    query_mean_ = Mean(q, q.size());
    std::sort(q.begin(), q.end());
    query_min_ = q.front();
    query_max_ = q.back();
    const double nq = static_cast<double>(q.size());
    target_.query = At(q, nq * target_.percentile);
    for (auto& p : percentiles_) p.query = At(q, nq * p.percentile);
  }
}

void PerformanceSummary::ProcessTokens() {
  auto& ttft = r_.first_token_latencies;
  auto& tpot = r_.time_per_output_token;
  if (ttft.empty()) return;
  ttft_mean_ = Mean(ttft, sample_count_);
  tpot_mean_ = Mean(tpot, sample_count_);
  std::sort(ttft.begin(), ttft.end());
  std::sort(tpot.begin(), tpot.end());
  const double n = static_cast<double>(sample_count_);
  ttft_target_ = At(ttft, n * target_.percentile);
  tpot_target_ = At(tpot, n * target_.percentile);
  ttft_min_ = ttft.front();
  ttft_max_ = ttft.back();
  tpot_min_ = tpot.front();
  tpot_max_ = tpot.back();
  for (double p : kPercentiles) {
    ttft_percentiles_.push_back({p, At(ttft, n * p)});
    tpot_percentiles_.push_back({p, At(tpot, n * p)});
  }
}

bool PerformanceSummary::EarlyStopping(const Latencies& sorted, int64_t target_latency,
                                       std::string* rec) {
  const int64_t n = static_cast<int64_t>(r_.queries_issued);
  const double p = target_.percentile;
  auto estimate = [&](const Latencies& v, int64_t t) {
    return v.empty() ? 0 : v[static_cast<size_t>(std::clamp<int64_t>(n - t, 0, static_cast<int64_t>(v.size()) - 1))];
  };
  switch (s_.scenario) {
    case TestScenario::SingleStream:
    case TestScenario::MultiStream: {
      const bool ms = s_.scenario == TestScenario::MultiStream;
      const Latencies& v = ms ? r_.query_latencies : sorted;
      const int64_t h_min = MinPassingQueries(1, p);
      if (n < h_min + 1) {
        *rec = " * Only processed " + std::to_string(n) + " queries.\n * Need to process at least " +
               std::to_string(h_min + 1) + " queries for early stopping.";
        return false;
      }
      const int64_t t = EarlyStoppingDiscardCount(n, p);
      const int64_t est = estimate(v, t);
      *rec = " * Processed at least " + std::to_string(h_min + 1) + " queries (" + std::to_string(n) + ").\n" +
             " * Would discard " + std::to_string(t - 1) + " highest latency queries.\n" + " * Early stopping " +
             Percent(p, 1) + "th percentile estimate: " + std::to_string(est);
      if (ms) {
        early_stopping_latency_ms_ = est;
        break;
      }
      early_stopping_latency_ss_ = est;
      const double p99 = 0.99;
      const int64_t h99 = MinPassingQueries(1, p99);
      if (n < h99 + 1) {
        *rec += "\n * Not enough queries processed for " + Percent(p99, 1) +
                "th percentile\n early stopping estimate (would need to process at\n least " +
                std::to_string(h99 + 1) + " total queries).";
      } else {
        const int64_t est99 = estimate(v, EarlyStoppingDiscardCount(n, p99));
        *rec += "\n * Early stopping " + Percent(p99, 1) + "th percentile estimate: " + std::to_string(est99);
        early_stopping_latency_ms_ = est99;
      }
      break;
    }
    case TestScenario::Server: {
      const int64_t t = sorted.end() - std::upper_bound(sorted.begin(), sorted.end(), target_latency);
      const int64_t h = MinPassingQueries(t, p);
      if (n >= h + t) {
        *rec = " * Run successful.";
      } else {
        *rec = " * Run unsuccessful.\n * Processed " + std::to_string(n) + " queries.\n" +
               " * Would need to run at least " + std::to_string(h + t - n) +
               " more queries,\n with the run being successful if every additional\n query were under latency.";
        return false;
      }
      break;
    }
    case TestScenario::Offline:
      break;
  }
  return true;
}

void PerformanceSummary::CheckValidity() {
  const double min_duration_s = static_cast<double>(s_.min_duration_ms) / 1000.0;
  switch (s_.scenario) {
    case TestScenario::Offline:
      min_duration_met_ = r_.max_latency_s >= min_duration_s;
      min_duration_rec_ = "Increase expected QPS so the loadgen pre-generates a larger (coalesced) query.";
      break;
    case TestScenario::Server:
      min_duration_met_ = r_.final_query_scheduled_s >= min_duration_s;
      min_duration_rec_ = "Increase the target QPS so the loadgen pre-generates more queries.";
      break;
    default:
      min_duration_met_ = r_.final_query_issued_s >= min_duration_s;
      min_duration_rec_ = "Decrease the expected latency so the loadgen pre-generates more queries.";
  }
  if (min_duration_met_) min_duration_rec_.clear();
  min_queries_met_ = r_.queries_issued >= s_.min_query_count && sample_count_ >= s_.min_sample_count;

  if (s_.scenario == TestScenario::Server) {
    if (!s_.use_token_latencies) {
      if (target_.sample > s_.target_latency_ns) {
        perf_constraints_rec_ = "Reduce target QPS to improve latency.";
        perf_constraints_met_ = false;
      }
    } else {
      if (ttft_target_ > s_.ttft_latency_ns) {
        perf_constraints_rec_ = "TTFT constrain not met: Reduce target QPS to improve latency.";
        perf_constraints_met_ = false;
      }
      if (tpot_target_ > s_.tpot_latency_ns) {
        perf_constraints_rec_ += perf_constraints_rec_.empty()
                                     ? "TPOT constrain not met: Reduce target QPS to improve latency."
                                     : "\n * TPOT constrain not met: Reduce target QPS to improve latency.";
        perf_constraints_met_ = false;
      }
    }
  }

  if (!s_.use_token_latencies) {
    early_stopping_met_ = EarlyStopping(r_.sample_latencies, s_.target_latency_ns, &early_stopping_rec_);
  } else {
    bool tpot_ok = EarlyStopping(r_.time_per_output_token, s_.tpot_latency_ns, &es_tpot_rec_);
    bool ttft_ok = tpot_ok && EarlyStopping(r_.first_token_latencies, s_.ttft_latency_ns, &es_ttft_rec_);
    early_stopping_met_ = tpot_ok && ttft_ok;
  }
  all_met_ = min_duration_met_ && min_queries_met_ && perf_constraints_met_ && early_stopping_met_;
}

}  // namespace mlg
