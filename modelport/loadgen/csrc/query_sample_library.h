// The data set LoadGen draws sample indices from.
//
// Threading: every method is called on the thread that called StartTest,
// one at a time, never while an IssueQuery of the same test is running.
//
// Lifetime and ownership: LoadGen borrows the object; it must stay alive
// until StartTest returns and is not used after that. The sample data itself
// never passes through LoadGen: the SUT looks samples up by index.
//
// Errors: an exception from any method aborts the test (see
// system_under_test.h); the QSL must then release any loaded samples itself,
// since UnloadSamplesFromRam is not called for a set whose pass was
// interrupted.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "query_sample.h"

namespace mlg {

class QuerySampleLibrary {
 public:
  virtual ~QuerySampleLibrary() = default;
  virtual std::string Name() = 0;

  // Read at the start of each StartTest (possibly more than once); must not
  // change during a test. A test needs TotalSampleCount() > 0, and a
  // performance run PerformanceSampleCount() > 0 (unless
  // performance_sample_count_override is set): otherwise StartTest throws
  // LoadGenError before anything is loaded.
  virtual size_t TotalSampleCount() = 0;
  // How many samples fit in memory at once: the size of one loadable set.
  virtual size_t PerformanceSampleCount() = 0;

  // Load these samples before LoadGen issues any of them. Called once per
  // pass with that pass's set (an accuracy pass over a large QSL loads its
  // sets one after another, each unloaded before the next is loaded).
  // `samples` is valid only during the call; every index is below
  // TotalSampleCount(); the same index may appear more than once.
  virtual void LoadSamplesToRam(const std::vector<QuerySampleIndex>& samples) = 0;
  // Called with the same set once every sample of its pass is complete.
  virtual void UnloadSamplesFromRam(const std::vector<QuerySampleIndex>& samples) = 0;
};

}  // namespace mlg
