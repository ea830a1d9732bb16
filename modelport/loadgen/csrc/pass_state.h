// State shared between the issuing thread and the threads that complete
// samples during one pass (one sequence of queries over one loadable set).
//
// Samples are stored as columns (structure of arrays) with only what the
// results, logs and fault checks read back, so a long SingleStream run costs
// 13 bytes per sample (8 time + 4 set position + 1 flags), plus 8 with the
// trace or token latencies on:
//   * time: the query's scheduled time (ns since the pass start) until the
//     sample completes, then its latency. The latency column is handed to the
//     results after the pass as is.
//   * pos: the sample's position in the loaded set (its QSL index is
//     set[pos]); a loaded set has fewer than 2^32 entries.
//   * flags: completed (set once, by compare-and-swap, so a second completion
//     is detected) and accuracy-logged (decided when issued).
// Queries of several samples (MultiStream, Offline) keep their times in a
// per-query table; a query's samples have consecutive slots, so the query of
// slot i is i / samples_per_query.
//
// A completion is validated and recorded with atomics only, never a global
// lock: the response id names the pass (generation) and the slot, and
// `published` says how many slots the issuing thread has filled in.
// Why: docs/decisions.md, "LoadGen: per-sample memory" and "LoadGen:
// where the time goes".
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "chunked_array.h"
#include "query_sample.h"

namespace mlg {

class Logger;

// Bits of a sample's flags.
constexpr uint8_t kSampleCompleted = 1;
constexpr uint8_t kSampleAccuracyLogged = 2;

struct QuerySlot {  // queries of more than one sample only
  int64_t scheduled_ns = 0;  // since pass start
  int64_t issued_ns = 0;
  std::atomic<uint32_t> remaining{0};
  int64_t done_ns = 0;
};

struct TokenSlot {  // token latency runs only
  std::atomic<int64_t> first_token_ns{0};  // 0: not reported yet
  int64_t n_tokens = 0;
};

struct PassShape {
  uint64_t sample_capacity;    // the most samples the pass can issue
  uint64_t query_capacity;
  uint64_t samples_per_query;  // the same for every query of a pass
  bool keep_scheduled;         // separate scheduled column (trace or tokens, one-sample queries)
  bool keep_issued;            // separate issued column (trace in Server)
  bool tokens;
};

struct PassState {
  PassState(uint32_t generation, uint64_t test_serial, const PassShape& shape)
      : generation(generation),
        test_serial(test_serial),
        samples_per_query(shape.samples_per_query),
        time(shape.sample_capacity),
        pos(shape.sample_capacity),
        flags(shape.sample_capacity),
        scheduled(shape.keep_scheduled ? shape.sample_capacity : 0),
        issued(shape.keep_issued ? shape.sample_capacity : 0),
        tokens(shape.tokens ? shape.sample_capacity : 0),
        queries(shape.samples_per_query > 1 ? shape.query_capacity : 0) {}

  const uint32_t generation;
  const uint64_t test_serial;
  const uint64_t samples_per_query;
  Logger* log = nullptr;
  std::chrono::steady_clock::time_point start;
  const uint64_t* set = nullptr;  // the loaded set: QSL index of each position
  bool accuracy_pass = false;
  bool use_tokens = false;
  bool log_token_data = false;  // token runs outside Offline log first-token bytes
  uint64_t seq_base = 0;        // sequence id of slot 0

  ChunkedArray<int64_t> time;
  ChunkedArray<uint32_t> pos;
  ChunkedArray<std::atomic<uint8_t>> flags;
  ChunkedArray<int64_t> scheduled;
  ChunkedArray<int64_t> issued;
  ChunkedArray<TokenSlot> tokens;
  ChunkedArray<QuerySlot> queries;

  // Slots [0, published) are filled in; stored with release after the
  // columns are written, before the ids reach the SUT.
  std::atomic<uint64_t> published{0};
  std::atomic<uint64_t> samples_completed{0};
  std::atomic<uint64_t> queries_completed{0};
  std::atomic<int64_t> max_complete_ns{0};
  std::atomic<uint64_t> earlier_test_ids_dropped{0};

  // Wake-ups for the issuing thread; completers only lock when it waits.
  std::atomic<int> waiters{0};
  std::mutex wait_mu;
  std::condition_variable wait_cv;

  // First-token bytes of accuracy-logged samples, until their completion.
  std::mutex token_data_mu;
  std::unordered_map<uint64_t, std::vector<uint8_t>> token_data;

  uint64_t QueryOf(uint64_t slot) const { return samples_per_query == 1 ? slot : slot / samples_per_query; }
  uint64_t IndexOf(uint64_t slot) const { return set[pos.At(slot)]; }

  void NotifyIssuer() {
    if (waiters.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lock(wait_mu);
      wait_cv.notify_all();
    }
  }
};

}  // namespace mlg
