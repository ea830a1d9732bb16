// State shared between the issuing thread and the threads that complete
// samples during one pass (one sequence of queries over one loadable set).
//
// Each issued sample owns a slot; its ResponseId encodes the pass epoch and
// the slot number, so a completion is validated and recorded with atomics
// only, never a global lock. Slots live in fixed-size chunks published
// through an atomic directory, so issuing can grow the table while other
// threads complete samples.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "query_sample.h"

namespace mlg {

class Logger;

struct SampleSlot {
  std::atomic<uint8_t> state{0};  // 0 unissued, 1 issued, 2 completed
  uint64_t query = 0;
  QuerySampleIndex index = 0;
  int64_t complete_ns = 0;  // since pass start
};

struct QuerySlot {
  int64_t scheduled_ns = 0;  // since pass start
  int64_t issued_ns = 0;
  std::atomic<uint32_t> remaining{0};
  int64_t done_ns = 0;
};

struct TokenSlot {
  std::atomic<int64_t> first_token_ns{0};  // 0: not reported yet
  int64_t n_tokens = 0;
};

template <typename T>
class ChunkedTable {
 public:
  static constexpr unsigned kBits = 15;
  static constexpr uint64_t kChunk = uint64_t{1} << kBits;

  explicit ChunkedTable(uint64_t capacity)
      : chunks_((capacity + kChunk - 1) / kChunk), dir_(std::make_unique<std::atomic<T*>[]>(chunks_)) {
    for (uint64_t i = 0; i < chunks_; ++i) dir_[i].store(nullptr, std::memory_order_relaxed);
  }
  // Issuing thread only: makes slot i addressable.
  T& Ensure(uint64_t i) {
    uint64_t c = i >> kBits;
    T* chunk = dir_[c].load(std::memory_order_relaxed);
    if (!chunk) {
      owned_.push_back(std::make_unique<T[]>(kChunk));
      chunk = owned_.back().get();
      dir_[c].store(chunk, std::memory_order_release);
    }
    return chunk[i & (kChunk - 1)];
  }
  // Any thread: nullptr when i was never made addressable.
  T* Find(uint64_t i) const {
    uint64_t c = i >> kBits;
    if (c >= chunks_) return nullptr;
    T* chunk = dir_[c].load(std::memory_order_acquire);
    return chunk ? &chunk[i & (kChunk - 1)] : nullptr;
  }
  T& operator[](uint64_t i) const { return dir_[i >> kBits].load(std::memory_order_acquire)[i & (kChunk - 1)]; }

 private:
  uint64_t chunks_;
  std::unique_ptr<std::atomic<T*>[]> dir_;
  std::vector<std::unique_ptr<T[]>> owned_;
};

constexpr unsigned kIdSlotBits = 40;
constexpr uint64_t kIdSlotMask = (uint64_t{1} << kIdSlotBits) - 1;

inline ResponseId MakeResponseId(uint32_t epoch, uint64_t slot) {
  return (static_cast<uint64_t>(epoch) << kIdSlotBits) | (slot + 1);
}

struct PassState {
  PassState(uint32_t epoch, uint64_t sample_capacity, uint64_t query_capacity, bool tokens)
      : epoch(epoch), samples(sample_capacity), queries(query_capacity), tokens(tokens ? sample_capacity : 0) {}

  const uint32_t epoch;
  Logger* log = nullptr;
  std::chrono::steady_clock::time_point start;
  bool accuracy_pass = false;
  bool use_tokens = false;
  bool log_token_data = false;  // token runs outside Offline log first-token bytes
  // Accuracy logging in performance passes.
  double acc_log_offset = 0, acc_log_prob = 0;
  const double* acc_log_vals = nullptr;  // per slot, or nullptr when sampling is off
  uint64_t seq_base = 0;                 // sequence id of slot 0

  ChunkedTable<SampleSlot> samples;
  ChunkedTable<QuerySlot> queries;
  ChunkedTable<TokenSlot> tokens;

  std::atomic<uint64_t> samples_completed{0};
  std::atomic<uint64_t> queries_completed{0};

  // Wake-ups for the issuing thread; completers only lock when it waits.
  std::atomic<int> waiters{0};
  std::mutex wait_mu;
  std::condition_variable wait_cv;

  // First-token bytes of accuracy-logged samples, until their completion.
  std::mutex token_data_mu;
  std::unordered_map<uint64_t, std::vector<uint8_t>> token_data;

  void NotifyIssuer() {
    if (waiters.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lock(wait_mu);
      wait_cv.notify_all();
    }
  }
};

}  // namespace mlg
