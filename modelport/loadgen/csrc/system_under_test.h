// What LoadGen drives: a system that accepts queries and later reports each
// sample's completion through mlg::QuerySamplesComplete.
#pragma once

#include <cstddef>
#include <string>

#include "query_sample.h"

namespace mlg {

class SystemUnderTest {
 public:
  virtual ~SystemUnderTest() = default;
  virtual std::string Name() = 0;
  // Called on the StartTest thread. `samples` stays valid only during the call.
  virtual void IssueQuery(const QuerySample* samples, size_t count) = 0;
  // No more queries will be issued in this pass.
  virtual void FlushQueries() = 0;
};

}  // namespace mlg
