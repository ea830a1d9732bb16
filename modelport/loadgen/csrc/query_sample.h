// The unit of work exchanged between LoadGen and a system under test.
//
// Both structs are plain values: LoadGen hands QuerySamples to the SUT by
// pointer for the duration of one IssueQuery call, and the SUT hands
// QuerySampleResponses back by pointer for the duration of one completion
// call (CompleteSamples, completion.h). Neither side keeps the other's
// pointers after the call returns.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mlg {

// Names one issued sample. Opaque and never zero: the SUT copies it out of
// the QuerySample and passes it back unchanged in exactly one response. It
// encodes the pass and the sample's slot, not an address (response_id.h), so
// a wrong id is reported as an error instead of being dereferenced. Valid
// while its test runs; after that a completion with it is dropped (during a
// later test) or rejected (when no test runs).
using ResponseId = uint64_t;
// Index of a sample in the query sample library, in [0, TotalSampleCount()).
using QuerySampleIndex = uint64_t;

struct QuerySample {
  ResponseId id;
  QuerySampleIndex index;
};

// One finished sample, reported by the SUT.
//
// `data`/`size` describe the response bytes, which the SUT owns. LoadGen
// reads them only inside the completion call and only for samples it logs
// for accuracy (every sample of an accuracy pass, a sampled few in a
// performance pass), copying them before the call returns; the SUT may free
// or reuse the buffer as soon as the call returns. data = 0 or size = 0 means
// no bytes. `n_tokens` is read when token latencies are enabled
// (TestSettings::use_token_latencies).
struct QuerySampleResponse {
  ResponseId id;
  uintptr_t data;
  size_t size;
  int64_t n_tokens;
};

}  // namespace mlg
