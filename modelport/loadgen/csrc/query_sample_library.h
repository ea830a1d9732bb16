// The data set LoadGen draws sample indices from.
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
  virtual size_t TotalSampleCount() = 0;
  // How many samples fit in memory at once (one loadable set).
  virtual size_t PerformanceSampleCount() = 0;
  virtual void LoadSamplesToRam(const std::vector<QuerySampleIndex>& samples) = 0;
  virtual void UnloadSamplesFromRam(const std::vector<QuerySampleIndex>& samples) = 0;
};

}  // namespace mlg
