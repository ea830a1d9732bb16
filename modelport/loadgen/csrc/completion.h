// Recording completions reported by the SUT (from any thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "query_sample.h"

namespace mlg {

struct PassState;

// What was wrong with a completion call. Valid entries of the same call are
// recorded regardless.
struct CompletionReport {
  uint64_t rejected = 0;
  ResponseId first_bad_id = 0;
  std::string first_reason;
};

// Called for accuracy-logged samples before their bytes are copied.
using ResponseCallback = std::function<void(const QuerySampleResponse&)>;

// Column views of a batch of responses (any of data/sizes/n_tokens may be null).
struct ResponseColumns {
  const uint64_t* ids;
  const uint64_t* data;
  const uint64_t* sizes;
  const int64_t* n_tokens;
  size_t count;
};

CompletionReport CompleteSamples(const QuerySampleResponse* responses, size_t count, const ResponseCallback* cb);
CompletionReport CompleteSamples(const ResponseColumns& columns, const ResponseCallback* cb);
CompletionReport CompleteFirstTokens(const QuerySampleResponse* responses, size_t count);

// Makes `pass` the target of completions; DeactivatePass returns once no
// thread is still inside a completion call for it.
void ActivatePass(PassState* pass);
void DeactivatePass();

}  // namespace mlg
