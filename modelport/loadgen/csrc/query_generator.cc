#include "query_generator.h"

#include <algorithm>
#include <numeric>

namespace mlg {

std::vector<LoadableSet> GenerateLoadableSets(const EffectiveSettings& s, size_t qsl_total_count, bool accuracy) {
  const size_t count = std::min<size_t>(accuracy ? s.accuracy_sample_count : s.performance_sample_count,
                                        qsl_total_count);
  std::vector<QuerySampleIndex> all(count);
  std::iota(all.begin(), all.end(), QuerySampleIndex{0});
  std::mt19937 rng(static_cast<std::mt19937::result_type>(s.qsl_rng_seed));
  std::shuffle(all.begin(), all.end(), rng);

  const size_t chunk = s.performance_sample_count ? s.performance_sample_count : std::max<size_t>(count, 1);
  const size_t padding = s.scenario == TestScenario::MultiStream ? s.samples_per_query - 1 : 0;
  std::vector<LoadableSet> sets;
  for (size_t begin = 0; begin < all.size(); begin += chunk) {
    size_t end = std::min(all.size(), begin + chunk);
    LoadableSet ls{std::vector<QuerySampleIndex>(all.begin() + begin, all.begin() + end), end - begin};
    // Padding lets every start index take spq contiguous samples.
    ls.set.reserve(ls.set.size() + padding);
    for (size_t i = 0; i < padding; ++i) ls.set.push_back(ls.set[i % ls.distribution_end]);
    sets.push_back(std::move(ls));
  }
  if (sets.empty()) sets.push_back(LoadableSet{{}, 0});
  return sets;
}

namespace {

std::vector<size_t> ShuffledStrided(size_t end, size_t stride, std::mt19937* rng) {
  std::vector<size_t> v;
  for (size_t i = 0; i < end; i += stride) v.push_back(i);
  std::shuffle(v.begin(), v.end(), *rng);
  return v;
}

}  // namespace

QueryGenerator::QueryGenerator(const EffectiveSettings& s, const LoadableSet& set, bool accuracy_pass)
    : s_(s),
      set_(set),
      accuracy_(accuracy_pass),
      server_(s.scenario == TestScenario::Server),
      spq_(s.samples_per_query),
      sample_rng_(static_cast<std::mt19937::result_type>(s.sample_index_rng_seed)),
      schedule_rng_(static_cast<std::mt19937::result_type>(s.schedule_rng_seed)),
      exponential_(s.target_qps),
      uniform_(0, static_cast<int>(std::max<size_t>(set.distribution_end, 1)) - 1) {
  const size_t loaded = set.set.size();
  if (accuracy_ && s.scenario == TestScenario::Offline) spq_ = set.distribution_end;

  int64_t gen_duration_ns = (server_ ? 1 : 2) * s.target_duration_ms * 1000000;
  uint64_t min_queries = s.min_query_count;
  if (accuracy_ || s.performance_issue_unique) {
    gen_duration_ns = 0;
    min_queries = spq_ ? loaded / spq_ : 0;
  }

  // The three distributions are built in this order and consume sample_rng_
  // as they are built, used or not.
  const size_t stride = s.scenario == TestScenario::MultiStream ? spq_ : 1;
  if (accuracy_) mode_order_ = ShuffledStrided(set.distribution_end, stride, &sample_rng_);
  unique_order_ = ShuffledStrided(set.distribution_end, stride, &sample_rng_);
  {
    std::vector<size_t> perm(loaded);
    std::iota(perm.begin(), perm.end(), size_t{0});
    const bool keep = s.sample_concatenate_permutation && s.scenario == TestScenario::SingleStream;
    for (uint64_t j = 0; loaded > 0 && j < min_queries; j += loaded) {
      std::shuffle(perm.begin(), perm.end(), sample_rng_);
      if (keep) equal_issue_order_.insert(equal_issue_order_.end(), perm.begin(), perm.end());
    }
  }

  // Equal issue in SingleStream: generate whole rounds of the loaded set.
  if (s.sample_concatenate_permutation && s.scenario == TestScenario::SingleStream && loaded > 0) {
    min_queries = (min_queries + loaded - 1) / loaded * loaded;
  }
  if (s.sample_concatenate_permutation && s.scenario == TestScenario::Offline && loaded > 0 && spq_ % loaded != 0) {
    spq_ += loaded - spq_ % loaded;
  }

  if (!server_) {
    period_ns_ = static_cast<int64_t>((1.0 / s.target_qps) * 1e9);
    uint64_t n = min_queries;
    if (gen_duration_ns > 0) {
      // Smallest n whose last timestamp (n-1)*period reaches gen_duration.
      uint64_t by_time = period_ns_ > 0 ? static_cast<uint64_t>((gen_duration_ns + period_ns_ - 1) / period_ns_) + 1
                                        : std::max<uint64_t>(min_queries, 1);
      n = std::max(n, by_time);
    }
    query_count_ = n;
    duration_ns_ = static_cast<int64_t>(n) * period_ns_;
  } else {
    // Dry run of the schedule stream on a copy to learn the count up front.
    std::mt19937 rng_copy = schedule_rng_;
    std::exponential_distribution<double> dist(s.target_qps);
    int64_t ts = 0, prev = 0;
    uint64_t n = 0;
    while (prev < gen_duration_ns || n < min_queries) {
      ++n;
      prev = ts;
      ts += static_cast<int64_t>(dist(rng_copy) * 1e9);
    }
    query_count_ = n;
    duration_ns_ = ts;
  }
  sample_count_ = query_count_ * spq_;
}

int64_t QueryGenerator::NextGap() {
  if (!server_) return period_ns_;
  return static_cast<int64_t>(exponential_(schedule_rng_) * 1e9);
}

size_t QueryGenerator::DrawPerformance() {
  if (accuracy_) {
    size_t v = mode_order_.empty() ? 0 : mode_order_[mode_pos_ % mode_order_.size()];
    ++mode_pos_;
    return v;
  }
  return static_cast<size_t>(uniform_(sample_rng_));
}

size_t QueryGenerator::DrawUnique() {
  size_t v = unique_order_.empty() ? 0 : unique_order_[unique_pos_ % unique_order_.size()];
  ++unique_pos_;
  return v;
}

size_t QueryGenerator::DrawEqualIssue() {
  size_t v = equal_issue_order_.empty() ? 0 : equal_issue_order_[equal_pos_ % equal_issue_order_.size()];
  ++equal_pos_;
  return v;
}

int64_t QueryGenerator::Next(std::vector<size_t>* out) {
  const auto& loaded = set_.set;
  const size_t same = static_cast<size_t>(s_.performance_issue_same_index);
  auto at = [&](size_t i) { return loaded.empty() ? size_t{0} : i % loaded.size(); };
  switch (s_.scenario) {
    case TestScenario::MultiStream: {
      size_t start = s_.performance_issue_unique ? DrawUnique() : s_.performance_issue_same ? same : DrawPerformance();
      for (uint64_t k = 0; k < spq_; ++k) out->push_back(at(start + k));
      break;
    }
    case TestScenario::Offline: {
      const size_t n = loaded.size();
      if (n == 0) break;
      if (s_.performance_issue_same) {
        out->insert(out->end(), spq_, at(same));
        break;
      }
      // Shuffling positions swaps exactly as shuffling the indices would.
      const uint64_t repeats = spq_ / n, remainder = spq_ % n;
      for (uint64_t r = 0; r < repeats; ++r) {
        size_t begin = out->size();
        for (size_t p = 0; p < n; ++p) out->push_back(p);
        if (s_.sample_concatenate_permutation) std::shuffle(out->begin() + begin, out->end(), sample_rng_);
      }
      for (size_t p = 0; p < remainder; ++p) out->push_back(p);
      break;
    }
    default: {
      const bool equal_issue = s_.sample_concatenate_permutation && s_.scenario == TestScenario::SingleStream;
      for (uint64_t k = 0; k < spq_; ++k) {
        size_t i = s_.performance_issue_unique ? DrawUnique()
                   : s_.performance_issue_same ? same
                   : equal_issue               ? DrawEqualIssue()
                                               : DrawPerformance();
        out->push_back(at(i));
      }
    }
  }
  int64_t ts = timestamp_ns_;
  timestamp_ns_ += NextGap();
  ++produced_;
  return ts;
}

}  // namespace mlg
