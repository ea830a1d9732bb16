// The unit of work exchanged between LoadGen and a system under test.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mlg {

// Opaque, never zero. Encodes the pass that issued the sample and its slot,
// so a completion can be validated without a global lock (see sample_table.h).
using ResponseId = uint64_t;
// Index of a sample in the query sample library.
using QuerySampleIndex = uint64_t;

struct QuerySample {
  ResponseId id;
  QuerySampleIndex index;
};

// `data`/`size` describe the response bytes (copied only when the sample is
// accuracy-logged); `n_tokens` is used for token latency metrics.
struct QuerySampleResponse {
  ResponseId id;
  uintptr_t data;
  size_t size;
  int64_t n_tokens;
};

}  // namespace mlg
