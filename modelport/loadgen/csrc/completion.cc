#include "completion.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "logger.h"
#include "pass_state.h"
#include "response_id.h"

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

enum class Resolution { kActive, kDropped, kBad };

// Whether `id` names a sample the running pass issued (then *slot_no is
// set), a sample of an earlier test (dropped), or nothing valid (`why`).
Resolution Resolve(PassState* pass, ResponseId id, uint64_t* slot_no, std::string* why) {
  if (id == 0) {
    *why = "id 0";
    return Resolution::kBad;
  }
  if (GenerationOf(id) == pass->generation) {
    if (SlotOf(id, slot_no) && *slot_no < pass->published.load(std::memory_order_acquire)) {
      return Resolution::kActive;
    }
    *why = "not issued by the running test";
    return Resolution::kBad;
  }
  switch (PassLedger::Classify(id, pass->test_serial)) {
    case IdOrigin::kEarlierTest:
      return Resolution::kDropped;
    case IdOrigin::kEarlierPass:
      *why = "issued by an earlier pass of the running test, which had completed it";
      return Resolution::kBad;
    case IdOrigin::kUnknown:
      break;
  }
  *why = "not issued by the running test";
  return Resolution::kBad;
}

std::string UnknownIdMessage(const char* api, ResponseId id, const std::string& why) {
  return std::string(api) + ": unknown response id " + std::to_string(id) + " (" + why + ")";
}

void RecordMax(std::atomic<int64_t>& target, int64_t value) {
  int64_t seen = target.load(std::memory_order_relaxed);
  while (seen < value && !target.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
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
  const bool one_per_query = pass->samples_per_query == 1;
  uint64_t done_samples = 0, done_queries = 0, dropped = 0;
  for (size_t i = 0; i < count; ++i) {
    const QuerySampleResponse r = get(i);
    uint64_t slot_no = 0;
    std::string why;
    const Resolution res = Resolve(pass, r.id, &slot_no, &why);
    if (res == Resolution::kDropped) {
      ++dropped;
      continue;
    }
    if (res == Resolution::kBad) {
      Reject(pass, &report, r.id, UnknownIdMessage("QuerySamplesComplete", r.id, why));
      continue;
    }
    const uint8_t flags = pass->flags.At(slot_no).fetch_or(kSampleCompleted, std::memory_order_acq_rel);
    if (flags & kSampleCompleted) {
      Reject(pass, &report, r.id,
             "Attempted to complete a sample twice. response id " + std::to_string(r.id) + ", sample index " +
                 std::to_string(pass->IndexOf(slot_no)));
      continue;
    }
    // Only this thread writes the slot's time from now on; the issuing thread
    // reads it after samples_completed says the sample is done.
    int64_t& time = pass->time.At(slot_no);
    QuerySlot* query = one_per_query ? nullptr : &pass->queries.At(pass->QueryOf(slot_no));
    time = t - (query ? query->scheduled_ns : time);
    bool with_tokens = false;
    if (pass->use_tokens) {
      pass->tokens.At(slot_no).n_tokens = r.n_tokens;
      with_tokens = true;
    }
    if (pass->accuracy_pass || (flags & kSampleAccuracyLogged)) {
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
      pass->log->Accuracy(pass->seq_base + slot_no, pass->IndexOf(slot_no), std::move(bytes), with_tokens,
                          r.n_tokens, has_token_bytes ? &token_bytes : nullptr);
    }
    ++done_samples;
    if (!query) {
      ++done_queries;
    } else if (query->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      query->done_ns = t;
      ++done_queries;
    }
  }
  if (dropped) pass->earlier_test_ids_dropped.fetch_add(dropped, std::memory_order_relaxed);
  if (done_samples) {
    RecordMax(pass->max_complete_ns, t);
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
    std::string why = "no test is running";
    const Resolution res = pass ? Resolve(pass, r.id, &slot_no, &why) : Resolution::kBad;
    if (res == Resolution::kDropped) {
      pass->earlier_test_ids_dropped.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (res == Resolution::kBad) {
      Reject(pass, &report, r.id, UnknownIdMessage("FirstTokenComplete", r.id, why));
      continue;
    }
    if (!pass->use_tokens) continue;
    const uint8_t flags = pass->flags.At(slot_no).load(std::memory_order_acquire);
    if (flags & kSampleCompleted) {
      Reject(pass, &report, r.id,
             "FirstTokenComplete after QuerySamplesComplete for response id " + std::to_string(r.id));
      continue;
    }
    const int64_t t = std::max<int64_t>(
        1, std::chrono::duration_cast<std::chrono::nanoseconds>(now - pass->start).count());
    int64_t expected = 0;
    if (!pass->tokens.At(slot_no).first_token_ns.compare_exchange_strong(expected, t, std::memory_order_acq_rel)) {
      Reject(pass, &report, r.id, "Attempted to report the first token twice. response id " + std::to_string(r.id));
      continue;
    }
    if (pass->accuracy_pass || (flags & kSampleAccuracyLogged)) {
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
