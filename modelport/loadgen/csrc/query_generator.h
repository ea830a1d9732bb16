// Which samples a pass loads and issues, and when each query is scheduled.
//
// The random streams reproduce the official LoadGen call for call (the same
// std::mt19937 seeds, std::shuffle and distribution calls, in the same order
// under libstdc++), so equal seeds give equal sample sequences. Queries are
// produced one at a time while issuing instead of all up front; the query
// count and duration are still known before the first issue
// (docs/decisions.md, "LoadGen: same seeds, same samples").
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "effective_settings.h"
#include "query_sample.h"

namespace mlg {

struct LoadableSet {
  std::vector<QuerySampleIndex> set;  // MultiStream: padded with spq-1 leading entries
  size_t distribution_end;            // size without padding
};

// Shuffles [0, count) with qsl_rng_seed and cuts it into performance-count
// chunks. count = performance_sample_count for a performance pass, the
// accuracy sample count for an accuracy pass (both capped by the QSL size).
std::vector<LoadableSet> GenerateLoadableSets(const EffectiveSettings& s, size_t qsl_total_count, bool accuracy);

class QueryGenerator {
 public:
  QueryGenerator(const EffectiveSettings& s, const LoadableSet& set, bool accuracy_pass);

  uint64_t query_count() const { return query_count_; }
  uint64_t sample_count() const { return sample_count_; }
  int64_t duration_ns() const { return duration_ns_; }  // generated_query_duration
  uint64_t samples_per_query() const { return spq_; }
  bool done() const { return produced_ < 0 || static_cast<uint64_t>(produced_) >= query_count_; }

  // Appends the next query's samples to `out`, as positions in the loaded
  // set (the QSL index is set[position]), and returns its scheduled offset
  // from the pass start (ns). Every query has samples_per_query() samples.
  int64_t Next(std::vector<size_t>* out);

 private:
  int64_t NextGap();
  size_t DrawPerformance();
  size_t DrawUnique();
  size_t DrawEqualIssue();

  const EffectiveSettings& s_;
  const LoadableSet& set_;
  bool accuracy_;
  bool server_;
  uint64_t spq_;
  uint64_t query_count_ = 0, sample_count_ = 0;
  int64_t duration_ns_ = 0;
  int64_t period_ns_ = 0;
  std::mt19937 sample_rng_, schedule_rng_;
  std::exponential_distribution<double> exponential_;
  std::uniform_int_distribution<int> uniform_;
  std::vector<size_t> mode_order_;    // accuracy pass: shuffled strided starts
  std::vector<size_t> unique_order_;  // performance_issue_unique
  std::vector<size_t> equal_issue_order_;
  size_t mode_pos_ = 0, unique_pos_ = 0, equal_pos_ = 0;
  int64_t produced_ = 0;
  int64_t timestamp_ns_ = 0;
};

}  // namespace mlg
