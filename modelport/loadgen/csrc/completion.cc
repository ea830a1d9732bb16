#include "completion.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "logger.h"
#include "pass_state.h"

namespace mlg {

namespace {

std::atomic<PassState*> g_active{nullptr};
std::atomic<int64_t> g_in_flight{0};

class InFlight {
 public:
  InFlight() { g_in_flight.fetch_add(1, std::memory_order_seq_cst); }
  ~InFlight() { g_in_flight.fetch_sub(1, std::memory_order_seq_cst); }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;
};

void Reject(PassState* pass, CompletionReport* report, ResponseId id, const std::string& reason) {
  if (report->rejected++ == 0) {
    report->first_bad_id = id;
    report->first_reason = reason;
  }
  if (pass) MLG_ERROR(*pass->log, "error_runtime", reason);
}

// The slot for `id`, or nullptr (with the reason) when the id does not name
// a sample issued by the active pass.
SampleSlot* Resolve(PassState* pass, ResponseId id, uint64_t* slot_no, std::string* why) {
  if (!pass) {
    *why = "no test is running";
    return nullptr;
  }
  uint64_t low = id & kIdSlotMask;
  if (id == 0 || low == 0 || (id >> kIdSlotBits) != pass->epoch) {
    *why = id == 0 ? "id 0" : "not issued by the running test";
    return nullptr;
  }
  *slot_no = low - 1;
  SampleSlot* slot = pass->samples.Find(*slot_no);
  if (!slot || slot->state.load(std::memory_order_acquire) == 0) {
    *why = "not issued by the running test";
    return nullptr;
  }
  return slot;
}

// Accuracy passes log every response; performance passes a sampled subset (accuracy_log_probability).
bool AccuracyLogged(const PassState& pass, uint64_t slot_no) {
  if (pass.accuracy_pass) return true;
  if (!pass.acc_log_vals) return false;
  double v = pass.acc_log_vals[slot_no] + pass.acc_log_offset;
  if (v >= 1.0) v -= 1.0;
  return v <= pass.acc_log_prob;
}

std::string UnknownIdMessage(const char* api, ResponseId id, const std::string& why) {
  return std::string(api) + ": unknown response id " + std::to_string(id) + " (" + why + ")";
}

template <typename Get>
CompletionReport CompleteImpl(size_t count, const ResponseCallback* cb, Get get) {
  const auto now = Clock::now();
  InFlight guard;
  PassState* pass = g_active.load(std::memory_order_seq_cst);
  CompletionReport report;
  if (!pass) {
    if (count) {
      QuerySampleResponse r = get(0);
      report.rejected = count;
      report.first_bad_id = r.id;
      report.first_reason = UnknownIdMessage("QuerySamplesComplete", r.id, "no test is running");
    }
    return report;
  }
  const int64_t t = std::chrono::duration_cast<std::chrono::nanoseconds>(now - pass->start).count();
  uint64_t done_samples = 0, done_queries = 0;
  for (size_t i = 0; i < count; ++i) {
    const QuerySampleResponse r = get(i);
    uint64_t slot_no = 0;
    std::string why;
    SampleSlot* slot = Resolve(pass, r.id, &slot_no, &why);
    if (!slot) {
      Reject(pass, &report, r.id, UnknownIdMessage("QuerySamplesComplete", r.id, why));
      continue;
    }
    uint8_t expected = 1;
    if (!slot->state.compare_exchange_strong(expected, 2, std::memory_order_acq_rel)) {
      Reject(pass, &report, r.id,
             "Attempted to complete a sample twice. response id " + std::to_string(r.id) + ", sample index " +
                 std::to_string(slot->index));
      continue;
    }
    slot->complete_ns = t;
    bool with_tokens = false;
    if (pass->use_tokens) {
      TokenSlot& tok = pass->tokens[slot_no];
      tok.n_tokens = r.n_tokens;
      with_tokens = true;
    }
    const bool logged = AccuracyLogged(*pass, slot_no);
    if (logged) {
      if (cb && *cb) (*cb)(r);
      const uint8_t* src = reinterpret_cast<const uint8_t*>(r.data);
      std::vector<uint8_t> bytes;
      if (src && r.size) bytes.assign(src, src + r.size);
      std::vector<uint8_t> token_bytes;
      bool has_token_bytes = false;
      if (pass->log_token_data) {
        std::lock_guard<std::mutex> lock(pass->token_data_mu);
        auto it = pass->token_data.find(slot_no);
        if (it != pass->token_data.end()) {
          token_bytes = std::move(it->second);
          pass->token_data.erase(it);
        }
        has_token_bytes = true;
      }
      pass->log->Accuracy(pass->seq_base + slot_no, slot->index, std::move(bytes), with_tokens, r.n_tokens,
                          has_token_bytes ? &token_bytes : nullptr);
    }
    ++done_samples;
    QuerySlot& q = pass->queries[slot->query];
    if (q.remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      q.done_ns = t;
      ++done_queries;
    }
  }
  if (done_samples) {
    if (done_queries) pass->queries_completed.fetch_add(done_queries, std::memory_order_seq_cst);
    pass->samples_completed.fetch_add(done_samples, std::memory_order_seq_cst);
    pass->NotifyIssuer();
  }
  return report;
}

}  // namespace

CompletionReport CompleteSamples(const QuerySampleResponse* responses, size_t count, const ResponseCallback* cb) {
  return CompleteImpl(count, cb, [responses](size_t i) { return responses[i]; });
}

CompletionReport CompleteSamples(const ResponseColumns& c, const ResponseCallback* cb) {
  return CompleteImpl(c.count, cb, [&c](size_t i) {
    return QuerySampleResponse{c.ids[i], c.data ? static_cast<uintptr_t>(c.data[i]) : 0,
                               c.sizes ? static_cast<size_t>(c.sizes[i]) : 0, c.n_tokens ? c.n_tokens[i] : 0};
  });
}

CompletionReport CompleteFirstTokens(const QuerySampleResponse* responses, size_t count) {
  const auto now = Clock::now();
  InFlight guard;
  PassState* pass = g_active.load(std::memory_order_seq_cst);
  CompletionReport report;
  for (size_t i = 0; i < count; ++i) {
    const QuerySampleResponse& r = responses[i];
    uint64_t slot_no = 0;
    std::string why;
    SampleSlot* slot = Resolve(pass, r.id, &slot_no, &why);
    if (!slot) {
      Reject(pass, &report, r.id, UnknownIdMessage("FirstTokenComplete", r.id, why));
      continue;
    }
    if (!pass->use_tokens) continue;
    if (slot->state.load(std::memory_order_acquire) == 2) {
      Reject(pass, &report, r.id,
             "FirstTokenComplete after QuerySamplesComplete for response id " + std::to_string(r.id));
      continue;
    }
    const int64_t t = std::max<int64_t>(
        1, std::chrono::duration_cast<std::chrono::nanoseconds>(now - pass->start).count());
    int64_t expected = 0;
    if (!pass->tokens[slot_no].first_token_ns.compare_exchange_strong(expected, t, std::memory_order_acq_rel)) {
      Reject(pass, &report, r.id, "Attempted to report the first token twice. response id " + std::to_string(r.id));
      continue;
    }
    const bool logged = AccuracyLogged(*pass, slot_no);
    if (logged) {
      const uint8_t* src = reinterpret_cast<const uint8_t*>(r.data);
      std::vector<uint8_t> bytes;
      if (src && r.size) bytes.assign(src, src + r.size);
      std::lock_guard<std::mutex> lock(pass->token_data_mu);
      pass->token_data[slot_no] = std::move(bytes);
    }
  }
  return report;
}

void ActivatePass(PassState* pass) { g_active.store(pass, std::memory_order_seq_cst); }

void DeactivatePass() {
  g_active.store(nullptr, std::memory_order_seq_cst);
  while (g_in_flight.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
}

}  // namespace mlg
