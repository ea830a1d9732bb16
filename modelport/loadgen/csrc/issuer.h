// One pass: issue the generated queries to the SUT, wait for every sample,
// and hand back the raw timings.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "chunked_array.h"
#include "effective_settings.h"
#include "query_generator.h"

namespace mlg {

class Logger;
class SystemUnderTest;

// State that spans the passes of one StartTest.
struct RunContext {
  Logger* log = nullptr;
  SystemUnderTest* sut = nullptr;
  uint64_t test_serial = 0;       // tags the passes of this test (see response_id.h)
  uint64_t next_sequence_id = 0;  // sample sequence ids are global per run
  // Accuracy-log sampling values: one uniform draw per generated sample from
  // an mt19937 with its default seed (as the official LoadGen does).
  std::mt19937 acc_rng;
  uint64_t acc_rng_samples_generated = 0;
  uint64_t acc_rng_samples_drawn = 0;
  // Called on the StartTest thread at most every kInterruptCheckInterval
  // while it waits; may throw to abort the test (loadgen.h). Empty: never.
  std::function<void()> check_interrupt;
};

// How often a waiting StartTest asks whether it was interrupted: often
// enough that Ctrl-C feels immediate, rarely enough to cost nothing
// (docs/decisions.md, "LoadGen: interrupts stop a running test").
constexpr std::chrono::milliseconds kInterruptCheckInterval{50};

// Latencies in ns. Chunked: the sample latencies are the pass's own column,
// handed over without a copy.
using Latencies = ChunkedArray<int64_t>;

struct PassResult {
  Latencies sample_latencies;  // one per issued sample
  Latencies query_latencies;   // MultiStream only
  Latencies first_token_latencies, time_per_output_token;
  int64_t token_count = 0;
  uint64_t queries_issued = 0;
  double max_latency_s = 0;
  double final_query_scheduled_s = 0, final_query_issued_s = 0, final_query_all_samples_done_s = 0;
};

PassResult RunPass(RunContext& ctx, const EffectiveSettings& s, const LoadableSet& set, bool accuracy_pass);

}  // namespace mlg
