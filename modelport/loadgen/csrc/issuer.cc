#include "issuer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <thread>

#include "completion.h"
#include "errors.h"
#include "json_format.h"
#include "logger.h"
#include "pass_state.h"
#include "system_under_test.h"

namespace mlg {

namespace {

using std::chrono::duration_cast;
using std::chrono::nanoseconds;

uint32_t NextEpoch() {
  static std::atomic<uint32_t> epoch{0};
  uint32_t e = (epoch.fetch_add(1) + 1) & 0xFFFFFF;
  return e ? e : NextEpoch();
}

class PassActivation {
 public:
  explicit PassActivation(PassState* p) { ActivatePass(p); }
  ~PassActivation() { DeactivatePass(); }
  PassActivation(const PassActivation&) = delete;
  PassActivation& operator=(const PassActivation&) = delete;
};

class Issuer {
 public:
  Issuer(RunContext& ctx, const EffectiveSettings& s, const LoadableSet& set, bool accuracy)
      : ctx_(ctx), s_(s), accuracy_(accuracy), gen_(s, set, accuracy), log_(*ctx.log) {}

  PassResult Run();

 private:
  void SetUpAccuracySampling();
  // Adds query `q` (indices in idx_) to the outgoing batch.
  void Materialize(int64_t scheduled_ns, int64_t issued_ns);
  void Issue();
  void WaitUntilCompleted(uint64_t samples);
  [[noreturn]] void FailTimeout(double idle_s);
  bool EndChecks(int64_t now_ns);
  PassResult Collect();
  void EmitTrace();
  int64_t SinceStart() const { return duration_cast<nanoseconds>(Clock::now() - pass_->start).count(); }

  RunContext& ctx_;
  const EffectiveSettings& s_;
  bool accuracy_;
  QueryGenerator gen_;
  Logger& log_;
  std::unique_ptr<PassState> pass_;
  std::vector<double> acc_vals_;
  std::vector<QuerySampleIndex> idx_;
  std::vector<QuerySample> batch_;
  uint64_t queries_issued_ = 0, samples_issued_ = 0, queries_materialized_ = 0, samples_materialized_ = 0;
  bool ran_out_ = true;
  std::chrono::system_clock::time_point start_for_power_;
};

void Issuer::SetUpAccuracySampling() {
  std::mt19937 offset_rng(static_cast<std::mt19937::result_type>(s_.accuracy_log_rng_seed));
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  pass_->acc_log_offset = unit(offset_rng);
  double prob = s_.accuracy_log_probability;
  if (s_.accuracy_log_sampling_target > 0) {
    uint64_t expected = static_cast<uint64_t>(s_.target_qps * static_cast<double>(s_.min_duration_ms) / 1000);
    uint64_t minimum = s_.min_query_count * s_.samples_per_query;
    if (s_.scenario != TestScenario::Offline) {
      expected *= s_.samples_per_query;
    } else {
      minimum = s_.min_sample_count;
    }
    expected = std::max(expected, minimum);
    prob = static_cast<double>(s_.accuracy_log_sampling_target) / static_cast<double>(expected);
  }
  pass_->acc_log_prob = prob;
  if (accuracy_ || prob <= 0) return;
  // Bring the shared stream to this pass's first sample, then draw one value
  // per generated sample.
  uint64_t behind = ctx_.acc_rng_samples_generated - ctx_.acc_rng_samples_drawn;
  ctx_.acc_rng.discard(2 * behind);  // uniform_real<double> takes two 32-bit draws
  ctx_.acc_rng_samples_drawn = ctx_.acc_rng_samples_generated;
  acc_vals_.resize(gen_.sample_count());
  for (double& v : acc_vals_) v = unit(ctx_.acc_rng);
  ctx_.acc_rng_samples_drawn += gen_.sample_count();
  pass_->acc_log_vals = acc_vals_.data();
}

void Issuer::Materialize(int64_t scheduled_ns, int64_t issued_ns) {
  const uint64_t q = queries_materialized_++;
  QuerySlot& qs = pass_->queries.Ensure(q);
  qs.scheduled_ns = scheduled_ns;
  qs.issued_ns = issued_ns;
  qs.remaining.store(static_cast<uint32_t>(idx_.size()), std::memory_order_relaxed);
  for (QuerySampleIndex index : idx_) {
    const uint64_t slot_no = samples_materialized_++;
    SampleSlot& slot = pass_->samples.Ensure(slot_no);
    slot.query = q;
    slot.index = index;
    if (pass_->use_tokens) pass_->tokens.Ensure(slot_no);
    slot.state.store(1, std::memory_order_release);
    batch_.push_back(QuerySample{MakeResponseId(pass_->epoch, slot_no), index});
  }
}

void Issuer::Issue() {
  ctx_.sut->IssueQuery(batch_.data(), batch_.size());
  samples_issued_ += batch_.size();
  batch_.clear();
}

void Issuer::FailTimeout(double idle_s) {
  uint64_t outstanding = samples_issued_ - pass_->samples_completed.load();
  std::string example;
  for (uint64_t i = 0; i < samples_materialized_; ++i) {
    SampleSlot& slot = pass_->samples[i];
    if (slot.state.load() == 1) {
      example = ", e.g. index " + std::to_string(slot.index) + " (response id " +
                std::to_string(MakeResponseId(pass_->epoch, i)) + ")";
      break;
    }
  }
  char head[96];
  std::snprintf(head, sizeof head, "SUT completed no sample for %.1f s; ", idle_s);
  std::string msg = head + std::to_string(outstanding) + " of " + std::to_string(samples_issued_) +
                    " samples outstanding" + example + " (TestSettings.completion_timeout_s)";
  throw LoadGenError(msg);  // StartTest logs it as the reason the test was aborted
}

void Issuer::WaitUntilCompleted(uint64_t samples) {
  auto done = [&] { return pass_->samples_completed.load(std::memory_order_acquire) >= samples; };
  if (done()) return;
  for (int spin = 0; spin < 64; ++spin) {
    if (done()) return;
  }
  const double timeout_s = s_.requested.completion_timeout_s;
  uint64_t last_seen = pass_->samples_completed.load();
  auto last_progress = Clock::now();
  pass_->waiters.fetch_add(1, std::memory_order_seq_cst);
  std::unique_lock<std::mutex> lock(pass_->wait_mu);
  while (!done()) {
    pass_->wait_cv.wait_for(lock, std::chrono::milliseconds(100));
    uint64_t seen = pass_->samples_completed.load();
    auto now = Clock::now();
    if (seen != last_seen) {
      last_seen = seen;
      last_progress = now;
    } else if (timeout_s > 0 && !done() &&
               std::chrono::duration<double>(now - last_progress).count() >= timeout_s) {
      lock.unlock();
      pass_->waiters.fetch_sub(1, std::memory_order_seq_cst);
      FailTimeout(std::chrono::duration<double>(now - last_progress).count());
    }
  }
  pass_->waiters.fetch_sub(1, std::memory_order_seq_cst);
}

// Returns true when the pass should stop issuing (performance passes only).
bool Issuer::EndChecks(int64_t now_ns) {
  if (s_.scenario == TestScenario::Server) {
    if (s_.max_async_queries != 0) {
      uint64_t outstanding = queries_issued_ - pass_->queries_completed.load(std::memory_order_relaxed);
      if (outstanding > s_.max_async_queries) {
        MLG_ERROR(log_, "error_runtime",
                  "IssueQueryThread 0 Ending early: Too many outstanding queries. issued " +
                      std::to_string(queries_issued_) + " outstanding " + std::to_string(outstanding));
        return true;
      }
    }
  } else if (queries_issued_ >= s_.min_query_count && now_ns >= s_.target_duration_ms * 1000000) {
    MLG_DETAIL(log_, "generic_message", JsonString("Ending naturally: Minimum query count and test duration met."));
    ran_out_ = false;
    return true;
  }
  if (s_.max_query_count != 0 && queries_issued_ >= s_.max_query_count) {
    MLG_ERROR(log_, "error_runtime",
              "IssueQueryThread 0 Ending early: Max query count reached. query_count " +
                  std::to_string(queries_issued_));
    ran_out_ = false;
    return true;
  }
  if (s_.max_duration_ms != 0 && now_ns > s_.max_duration_ms * 1000000) {
    MLG_ERROR(log_, "error_runtime",
              "IssueQueryThread 0 Ending early: Max test duration reached. duration_ns " + std::to_string(now_ns));
    ran_out_ = false;
    return true;
  }
  return false;
}

PassResult Issuer::Run() {
  MLG_DETAIL(log_, "generated_query_count", JsonInt(gen_.query_count()));
  MLG_DETAIL(log_, "generated_samples_per_query", JsonInt(gen_.samples_per_query()));
  MLG_DETAIL(log_, "generated_query_duration", JsonInt(gen_.duration_ns()));

  pass_ = std::make_unique<PassState>(NextEpoch(), gen_.sample_count(), gen_.query_count(), s_.use_token_latencies);
  pass_->log = &log_;
  pass_->accuracy_pass = accuracy_;
  pass_->use_tokens = s_.use_token_latencies;
  pass_->log_token_data = s_.use_token_latencies && s_.scenario != TestScenario::Offline;
  pass_->seq_base = ctx_.next_sequence_id;
  SetUpAccuracySampling();

  const uint64_t n = gen_.query_count();
  {
    PassActivation active(pass_.get());
    start_for_power_ = std::chrono::system_clock::now();
    pass_->start = Clock::now();
    const auto start = pass_->start;

    if (s_.scenario == TestScenario::Server) {
      ran_out_ = false;
      idx_.clear();
      int64_t pending_ts = n ? gen_.Next(&idx_) : 0;
      std::vector<QuerySampleIndex> next_idx;
      for (uint64_t q = 0; q < n; ++q) {
        const auto due = start + nanoseconds(pending_ts);
        auto now = Clock::now();
        if (now < due) {
          // Sleep for long gaps, spin for the last few microseconds.
          if (due - now > std::chrono::microseconds(60)) std::this_thread::sleep_until(due - std::chrono::microseconds(40));
          while ((now = Clock::now()) < due) {
          }
        }
        const int64_t now_ns = duration_cast<nanoseconds>(now - start).count();
        Materialize(pending_ts, now_ns);
        uint64_t in_call = 1;
        bool have_next = false;
        while (q + 1 < n) {
          next_idx.clear();
          int64_t ts = gen_.Next(&next_idx);
          if (s_.requested.server_coalesce_queries && ts <= now_ns) {
            idx_.swap(next_idx);
            Materialize(ts, now_ns);
            ++q;
            ++in_call;
            continue;
          }
          pending_ts = ts;
          have_next = true;
          break;
        }
        Issue();
        queries_issued_ += in_call;
        if (have_next) idx_.swap(next_idx);
        if (!accuracy_ && EndChecks(now_ns)) break;
      }
    } else {
      for (uint64_t q = 0; q < n; ++q) {
        idx_.clear();
        gen_.Next(&idx_);
        if (s_.scenario != TestScenario::Offline && q > 0) WaitUntilCompleted(samples_issued_);
        const int64_t now_ns = SinceStart();
        Materialize(s_.scenario == TestScenario::Offline ? 0 : now_ns, now_ns);
        Issue();
        ++queries_issued_;
        if (!accuracy_ && EndChecks(now_ns)) break;
      }
    }

    ctx_.sut->FlushQueries();
    if (!accuracy_ && ran_out_) {
      MLG_ERROR(log_, "error_runtime",
                "Ending early: Ran out of generated queries to issue before the minimum query count and test "
                "duration were reached. Please update the relevant expected latency or target qps in the "
                "TestSettings so they are more accurate.");
    }
    WaitUntilCompleted(samples_issued_);
  }
  ctx_.next_sequence_id += gen_.sample_count();
  ctx_.acc_rng_samples_generated += gen_.sample_count();
  return Collect();
}

PassResult Issuer::Collect() {
  PassResult r;
  r.queries_issued = queries_issued_;
  r.sample_latencies.resize(samples_issued_);
  int64_t max_latency = 0, max_complete = 0;
  const bool tokens = pass_->use_tokens;
  constexpr int64_t kInvalidTokens = INT64_MIN;
  if (tokens) {
    r.first_token_latencies.resize(samples_issued_);
    r.time_per_output_token.resize(samples_issued_);
  }
  for (uint64_t i = 0; i < samples_issued_; ++i) {
    const SampleSlot& slot = pass_->samples[i];
    const int64_t latency = slot.complete_ns - pass_->queries[slot.query].scheduled_ns;
    r.sample_latencies[i] = latency;
    max_latency = std::max(max_latency, latency);
    max_complete = std::max(max_complete, slot.complete_ns);
    if (tokens) {
      const TokenSlot& tok = pass_->tokens[i];
      const int64_t first = tok.first_token_ns.load(std::memory_order_relaxed);
      int64_t ttft = s_.scenario == TestScenario::Offline ? 0
                     : first ? first - pass_->queries[slot.query].scheduled_ns
                             : latency;
      r.first_token_latencies[i] = ttft;
      if (tok.n_tokens > 1) {
        r.time_per_output_token[i] = (latency - ttft) / (tok.n_tokens - 1);
        r.token_count += tok.n_tokens;
      } else if (tok.n_tokens != kInvalidTokens && tok.n_tokens == 1) {
        r.token_count += 1;
      }
      if (!accuracy_ && tok.n_tokens <= 1) {
        MLG_ERROR(log_, "error_runtime",
                  "n_tokens must be greater than 1 to compute time per output token; got " +
                      std::to_string(tok.n_tokens) + " for sample index " + std::to_string(slot.index));
      }
      if (!accuracy_ && s_.scenario != TestScenario::Offline && first == 0) {
        MLG_ERROR(log_, "error_runtime",
                  "Sample completed before its first token was reported; sample index " +
                      std::to_string(slot.index));
      }
    }
  }
  r.max_latency_s = static_cast<double>(max_latency) / 1e9;
  if (s_.scenario == TestScenario::MultiStream) {
    r.query_latencies.resize(queries_issued_);
    for (uint64_t q = 0; q < queries_issued_; ++q) {
      const QuerySlot& qs = pass_->queries[q];
      r.query_latencies[q] = qs.done_ns - qs.scheduled_ns;
    }
  }
  if (queries_issued_) {
    const QuerySlot& last = pass_->queries[queries_issued_ - 1];
    r.final_query_scheduled_s = static_cast<double>(last.scheduled_ns) / 1e9;
    r.final_query_issued_s = static_cast<double>(last.issued_ns) / 1e9;
    r.final_query_all_samples_done_s = static_cast<double>(last.done_ns) / 1e9;
  }
  if (log_.tracing()) EmitTrace();

  static const char* const kZeroCounters[] = {
      "logger_swap_request_slots_retry_count",          "logger_swap_request_slots_retry_retry_count",
      "logger_swap_request_slots_retry_reencounter_count", "logger_start_reading_entries_retry_count",
      "logger_tls_total_log_cas_fail_count",            "logger_tls_total_swap_buffers_slot_retry_count"};
  for (const char* key : kZeroCounters) MLG_DETAIL(log_, key, "0");
  auto end_for_power = start_for_power_ + duration_cast<std::chrono::system_clock::duration>(nanoseconds(max_complete));
  MLG_DETAIL(log_, "power_begin", JsonString(PowerDateTime(start_for_power_)));
  MLG_DETAIL(log_, "power_end", JsonString(PowerDateTime(end_for_power)));
  return r;
}

void Issuer::EmitTrace() {
  const int64_t base_us =
      duration_cast<nanoseconds>(pass_->start - log_.origin()).count();
  // Handed to the writer in chunks so memory stays bounded on big passes.
  constexpr uint64_t kChunkEvents = 8192;
  std::string out;
  out.reserve(kChunkEvents * 200);
  char buf[320];
  for (uint64_t i = 0; i < samples_issued_; ++i) {
    const SampleSlot& slot = pass_->samples[i];
    const QuerySlot& q = pass_->queries[slot.query];
    const double ts = static_cast<double>(base_us + q.scheduled_ns) / 1000.0;
    const double dur = static_cast<double>(slot.complete_ns - q.scheduled_ns) / 1000.0;
    std::snprintf(buf, sizeof buf,
                  "{\"name\":\"Sample\",\"ph\":\"X\",\"pid\":0,\"tid\":0,\"ts\":%.3f,\"dur\":%.3f,\"args\":{"
                  "\"sample_seq\":%llu,\"query_seq\":%llu,\"sample_idx\":%llu,\"issue_start_ns\":%lld,"
                  "\"complete_ns\":%lld}},\n",
                  ts, dur, static_cast<unsigned long long>(pass_->seq_base + i),
                  static_cast<unsigned long long>(slot.query), static_cast<unsigned long long>(slot.index),
                  static_cast<long long>(q.issued_ns - q.scheduled_ns),
                  static_cast<long long>(slot.complete_ns - q.scheduled_ns));
    out += buf;
    if ((i + 1) % kChunkEvents == 0) {
      log_.Trace(std::move(out));
      out = std::string();
      out.reserve(kChunkEvents * 200);
    }
  }
  log_.Trace(std::move(out));
}

}  // namespace

PassResult RunPass(RunContext& ctx, const EffectiveSettings& s, const LoadableSet& set, bool accuracy_pass) {
  Issuer issuer(ctx, s, set, accuracy_pass);
  return issuer.Run();
}

}  // namespace mlg
