// Reporting finished samples: the SUT's half of the contract.
//
// Threading: any thread, any number of threads at once, at any time during
// a test (including from inside IssueQuery). A call takes no global lock for
// the samples of the running pass: each sample is recorded with atomics in
// its own slot. The calls never block on the issuing thread.
//
// Memory: `responses` (or the columns) and the bytes they point to belong to
// the caller and are read only during the call; LoadGen copies what it logs.
//
// Faults never crash: a bad entry (unknown id, id 0, a sample completed
// twice) is skipped, logged as an error of the running test and counted in
// the returned report, while the call's valid entries are still recorded.
// A late answer to an earlier test is dropped without an error; with no test
// running every entry is rejected (response_id.h has the rules).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "query_sample.h"

namespace mlg {

struct PassState;

// What was wrong with a completion call (rejected = 0: nothing).
struct CompletionReport {
  uint64_t rejected = 0;
  ResponseId first_bad_id = 0;
  std::string first_reason;
};

// Called, on the completing thread, for each accuracy-logged sample just
// before its bytes are copied; the response is valid during the call only.
using ResponseCallback = std::function<void(const QuerySampleResponse&)>;

// Column views of a batch of responses (any of data/sizes/n_tokens may be
// null: no bytes, no token counts). Same ownership as QuerySampleResponse.
struct ResponseColumns {
  const uint64_t* ids;
  const uint64_t* data;
  const uint64_t* sizes;
  const int64_t* n_tokens;
  size_t count;
};

// Records `count` finished samples (`cb` may be null).
CompletionReport CompleteSamples(const QuerySampleResponse* responses, size_t count, const ResponseCallback* cb);
CompletionReport CompleteSamples(const ResponseColumns& columns, const ResponseCallback* cb);
// Token latency runs: records the first token of each sample (before its
// completion); ignored when token latencies are off.
CompletionReport CompleteFirstTokens(const QuerySampleResponse* responses, size_t count);

// Internal, for the issuing thread: makes `pass` the target of completions.
// DeactivatePass returns once no thread is still inside a completion call
// for it, so the pass's memory can then be freed safely.
void ActivatePass(PassState* pass);
void DeactivatePass();

}  // namespace mlg
