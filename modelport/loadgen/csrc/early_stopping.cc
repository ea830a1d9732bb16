#include "early_stopping.h"

#include <algorithm>
#include <cmath>

namespace mlg {

namespace {

double LogBeta(int64_t a, int64_t b) {
  return std::lgamma(static_cast<double>(a)) + std::lgamma(static_cast<double>(b)) -
         std::lgamma(static_cast<double>(a + b));
}

// 2F1(1, b; c; x) as a power series; b <= 0 makes it a finite polynomial.
double Hypergeometric1(int64_t b, int64_t c, double x) {
  constexpr double kTolerance = 1.0 / static_cast<double>(1LL << 33);
  double term = 1.0, sum = 1.0;
  for (int64_t i = 0; std::abs(term) > kTolerance; ++i) {
    term *= static_cast<double>(b + i) * x / static_cast<double>(c + i);
    sum += term;
  }
  return sum;
}

}  // namespace

double EarlyStoppingOdds(int64_t h, int64_t t, double p) {
  const int64_t a = h, b = t + 1;
  // I_x(a, b) = x^a (1-x)^(b-1) / (a B(a,b)) * 2F1(1, 1-b; 1+a; x/(x-1))
  return std::exp(static_cast<double>(a) * std::log(p) + static_cast<double>(b - 1) * std::log(1 - p) -
                  LogBeta(a, b)) /
         static_cast<double>(a) * Hypergeometric1(1 - b, 1 + a, p / (p - 1));
}

int64_t MinPassingQueries(int64_t t, double p, double confidence) {
  const double bound = 1 - confidence;
  auto passes = [&](int64_t h) { return EarlyStoppingOdds(h, t, p) < bound; };
  // The expected number of over-bound queries in h+t must exceed t, so
  // h > t*p/(1-p); start there and widen until a passing h is found.
  int64_t lo = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(t) * p / (1 - p)));
  int64_t hi = lo;
  if (passes(lo)) {
    lo = 1;
  } else {
    int64_t step = std::max<int64_t>(16, static_cast<int64_t>(std::ceil(std::log(bound) / std::log(p))));
    hi = lo + step;
    while (!passes(hi)) {
      lo = hi + 1;
      step *= 2;
      hi = lo + step;
    }
  }
  // Smallest passing h in [lo, hi]; odds fall as h grows.
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (passes(mid)) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

int64_t EarlyStoppingDiscardCount(int64_t n, double p) {
  // h(i) + i grows with i: binary search for the first i >= 2 with
  // n < h(i) + i instead of scanning every i.
  auto fails = [&](int64_t i) { return n < MinPassingQueries(i, p) + i; };
  if (n < 2 || !fails(n)) return 1;
  int64_t lo = 2, hi = n;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (fails(mid)) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo - 1;
}

}  // namespace mlg
