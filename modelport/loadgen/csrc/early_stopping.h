// Early stopping (MLPerf Inference rules): how many queries a run needs so
// that, with 99% confidence, the target percentile holds given the observed
// number of over-bound queries.
#pragma once

#include <cstdint>

namespace mlg {

// P[at most t of h+t queries exceed the bound] when each exceeds it with
// probability 1-p: the regularised incomplete beta I_p(h, t+1).
double EarlyStoppingOdds(int64_t h, int64_t t, double p);

// Smallest h with EarlyStoppingOdds(h, t, p) < 1 - confidence.
int64_t MinPassingQueries(int64_t t, double p, double confidence = 0.99);

// SingleStream/MultiStream: the number t of highest latencies an n-query run
// may discard (the first i >= 2 with n < h(i) + i, minus one; 1 when none).
int64_t EarlyStoppingDiscardCount(int64_t n, double p);

}  // namespace mlg
