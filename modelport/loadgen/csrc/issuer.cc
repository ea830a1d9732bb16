#include "issuer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include "completion.h"
#include "errors.h"
#include "json_format.h"
#include "logger.h"
#include "pass_collect.h"
#include "pass_state.h"
#include "response_id.h"
#include "system_under_test.h"

namespace mlg {

namespace {

using std::chrono::duration_cast;
using std::chrono::nanoseconds;

// The pass is the target of completions while this lives. On the way out
// (normally or by an exception) it waits until no completer is inside the
// pass, then records in the ledger how many ids the pass handed out, so
// later answers to them are recognised (response_id.h).
class PassActivation {
 public:
  explicit PassActivation(PassState* p) : pass_(p) { ActivatePass(p); }
  ~PassActivation() {
    DeactivatePass();
    PassLedger::End(pass_->generation, pass_->published.load());
  }
  PassActivation(const PassActivation&) = delete;
  PassActivation& operator=(const PassActivation&) = delete;

 private:
  PassState* pass_;
};

class Issuer {
 public:
  Issuer(RunContext& ctx, const EffectiveSettings& s, const LoadableSet& set, bool accuracy)
      : ctx_(ctx), s_(s), accuracy_(accuracy), gen_(s, set, accuracy), log_(*ctx.log), set_(set) {}

  PassResult Run();

 private:
  std::unique_ptr<PassState> NewPassState();
  void SetUpAccuracySampling();
  // Adds the next query (positions in pos_) to the outgoing batch.
  void Materialize(int64_t scheduled_ns, int64_t issued_ns);
  void Issue();
  void WaitUntilCompleted(uint64_t samples);
  [[noreturn]] void FailTimeout(double idle_s);
  bool EndChecks(int64_t now_ns);
  // Calls ctx_.check_interrupt when kInterruptCheckInterval has passed since
  // the last call. Never called with wait_mu held: it may take the GIL, which
  // a completer may hold while it waits for wait_mu.
  void CheckInterrupt(Clock::time_point now);
  void SleepUntil(Clock::time_point due);
  void IssueServer(uint64_t n);
  void IssueInOrder(uint64_t n);
  int64_t SinceStart() const { return duration_cast<nanoseconds>(Clock::now() - pass_->start).count(); }

  RunContext& ctx_;
  const EffectiveSettings& s_;
  bool accuracy_;
  QueryGenerator gen_;
  Logger& log_;
  const LoadableSet& set_;
  std::unique_ptr<PassState> pass_;
  // Accuracy-log sampling in a performance pass: one draw per sample, in
  // slot order, decided when the sample is issued.
  bool sample_accuracy_log_ = false;
  double acc_log_offset_ = 0, acc_log_prob_ = 0;
  std::uniform_real_distribution<double> unit_{0.0, 1.0};
  std::vector<size_t> pos_;
  std::vector<QuerySample> batch_;
  uint64_t queries_issued_ = 0, samples_issued_ = 0, queries_materialized_ = 0, samples_materialized_ = 0;
  int64_t last_scheduled_ns_ = 0, last_issued_ns_ = 0;  // of the latest query
  bool keep_scheduled_ = false, keep_issued_ = false;
  bool ran_out_ = true;
  std::chrono::system_clock::time_point start_for_power_;
  Clock::time_point next_interrupt_check_ = Clock::now() + kInterruptCheckInterval;
};

std::unique_ptr<PassState> Issuer::NewPassState() {
  if (set_.set.empty()) throw LoadGenError("StartTest: no samples are loaded for this pass");
  if (set_.set.size() > UINT32_MAX) throw LoadGenError("StartTest: a loaded set must have fewer than 2^32 samples");
  if (gen_.sample_count() > kMaxSlots) {
    throw LoadGenError("StartTest: the pass would generate " + std::to_string(gen_.sample_count()) +
                       " samples, more than a pass can address");
  }
  const bool one_per_query = gen_.samples_per_query() == 1;
  PassShape shape{};
  shape.sample_capacity = gen_.sample_count();
  shape.query_capacity = gen_.query_count();
  shape.samples_per_query = gen_.samples_per_query();
  // One-sample queries keep their scheduled time in `time` only until the
  // latency replaces it; the trace and token latencies need it afterwards.
  keep_scheduled_ = shape.keep_scheduled = one_per_query && (log_.tracing() || s_.use_token_latencies);
  // Only Server issues a query later than scheduled; only the trace shows it.
  keep_issued_ = shape.keep_issued = one_per_query && log_.tracing() && s_.scenario == TestScenario::Server;
  shape.tokens = s_.use_token_latencies;
  auto pass = std::make_unique<PassState>(PassLedger::Begin(ctx_.test_serial), ctx_.test_serial, shape);
  pass->log = &log_;
  pass->set = set_.set.data();
  pass->accuracy_pass = accuracy_;
  pass->use_tokens = s_.use_token_latencies;
  pass->log_token_data = s_.use_token_latencies && s_.scenario != TestScenario::Offline;
  pass->seq_base = ctx_.next_sequence_id;
  return pass;
}

void Issuer::SetUpAccuracySampling() {
  std::mt19937 offset_rng(static_cast<std::mt19937::result_type>(s_.accuracy_log_rng_seed));
  acc_log_offset_ = unit_(offset_rng);
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
  acc_log_prob_ = prob;
  if (accuracy_ || prob <= 0) return;
  // The shared stream holds one draw per generated sample of every pass:
  // bring it to this pass's first sample (uniform_real<double> takes two
  // 32-bit draws); Materialize draws one per sample as it is issued.
  uint64_t behind = ctx_.acc_rng_samples_generated - ctx_.acc_rng_samples_drawn;
  ctx_.acc_rng.discard(2 * behind);
  ctx_.acc_rng_samples_drawn = ctx_.acc_rng_samples_generated;
  sample_accuracy_log_ = true;
}

void Issuer::Materialize(int64_t scheduled_ns, int64_t issued_ns) {
  const uint64_t spq = pass_->samples_per_query;
  if (pos_.size() != spq) throw std::logic_error("query generator: query size differs from samples_per_query");
  const uint64_t q = queries_materialized_++;
  if (spq > 1) {
    QuerySlot& qs = pass_->queries.Ensure(q);
    qs.scheduled_ns = scheduled_ns;
    qs.issued_ns = issued_ns;
    qs.remaining.store(static_cast<uint32_t>(spq), std::memory_order_relaxed);
  }
  last_scheduled_ns_ = scheduled_ns;
  last_issued_ns_ = issued_ns;
  for (size_t p : pos_) {
    const uint64_t slot_no = samples_materialized_++;
    pass_->time.Ensure(slot_no) = scheduled_ns;  // the latency once completed
    pass_->pos.Ensure(slot_no) = static_cast<uint32_t>(p);
    uint8_t flags = 0;
    if (sample_accuracy_log_) {
      double v = unit_(ctx_.acc_rng) + acc_log_offset_;
      if (v >= 1.0) v -= 1.0;
      if (v <= acc_log_prob_) flags |= kSampleAccuracyLogged;
    }
    pass_->flags.Ensure(slot_no).store(flags, std::memory_order_relaxed);
    if (keep_scheduled_) pass_->scheduled.Ensure(slot_no) = scheduled_ns;
    if (keep_issued_) pass_->issued.Ensure(slot_no) = issued_ns;
    if (pass_->use_tokens) pass_->tokens.Ensure(slot_no);
    batch_.push_back(QuerySample{MakeResponseId(pass_->generation, slot_no), set_.set[p]});
  }
  pass_->published.store(samples_materialized_, std::memory_order_release);
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
    if (!(pass_->flags[i].load() & kSampleCompleted)) {
      example = ", e.g. index " + std::to_string(pass_->IndexOf(i)) + " (response id " +
                std::to_string(MakeResponseId(pass_->generation, i)) + ")";
      break;
    }
  }
  char head[96];
  std::snprintf(head, sizeof head, "SUT completed no sample for %.1f s; ", idle_s);
  std::string msg = head + std::to_string(outstanding) + " of " + std::to_string(samples_issued_) +
                    " samples outstanding" + example + " (TestSettings.completion_timeout_s)";
  throw LoadGenError(msg);  // StartTest logs it as the reason the test was aborted
}

void Issuer::CheckInterrupt(Clock::time_point now) {
  if (!ctx_.check_interrupt || now < next_interrupt_check_) return;
  next_interrupt_check_ = now + kInterruptCheckInterval;
  ctx_.check_interrupt();
}

// Sleeps for long gaps (waking to check for an interrupt), spins for the
// last few microseconds.
void Issuer::SleepUntil(Clock::time_point due) {
  auto now = Clock::now();
  while (due - now > std::chrono::microseconds(60)) {
    std::this_thread::sleep_until(std::min(due - std::chrono::microseconds(40), now + kInterruptCheckInterval));
    now = Clock::now();
    CheckInterrupt(now);
  }
  while (Clock::now() < due) {
  }
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
  // Registered as a waiter until this returns or throws (a timeout or an interrupt).
  struct Waiter {
    std::atomic<int>& n;
    explicit Waiter(std::atomic<int>& w) : n(w) { n.fetch_add(1, std::memory_order_seq_cst); }
    ~Waiter() { n.fetch_sub(1, std::memory_order_seq_cst); }
  } waiter(pass_->waiters);
  std::unique_lock<std::mutex> lock(pass_->wait_mu);
  while (!done()) {
    pass_->wait_cv.wait_for(lock, kInterruptCheckInterval);
    uint64_t seen = pass_->samples_completed.load();
    auto now = Clock::now();
    if (seen != last_seen) {
      last_seen = seen;
      last_progress = now;
    } else if (timeout_s > 0 && !done() &&
               std::chrono::duration<double>(now - last_progress).count() >= timeout_s) {
      lock.unlock();
      FailTimeout(std::chrono::duration<double>(now - last_progress).count());
    }
    if (ctx_.check_interrupt && now >= next_interrupt_check_) {
      lock.unlock();
      CheckInterrupt(now);
      lock.lock();
    }
  }
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

// Server: each query is issued at its scheduled time, whether or not the
// earlier ones are complete; with server_coalesce_queries the queries that
// are already due go out in one IssueQuery call.
void Issuer::IssueServer(uint64_t n) {
  const auto start = pass_->start;
  ran_out_ = false;
  pos_.clear();
  int64_t pending_ts = n ? gen_.Next(&pos_) : 0;
  std::vector<size_t> next_pos;
  for (uint64_t q = 0; q < n; ++q) {
    const auto due = start + nanoseconds(pending_ts);
    auto now = Clock::now();
    if (now < due) {
      SleepUntil(due);
      now = Clock::now();
    }
    const int64_t now_ns = duration_cast<nanoseconds>(now - start).count();
    Materialize(pending_ts, now_ns);
    uint64_t in_call = 1;
    bool have_next = false;
    while (q + 1 < n) {
      next_pos.clear();
      int64_t ts = gen_.Next(&next_pos);
      if (s_.requested.server_coalesce_queries && ts <= now_ns) {
        pos_.swap(next_pos);
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
    if (have_next) pos_.swap(next_pos);
    if (!accuracy_ && EndChecks(now_ns)) break;
  }
}

// SingleStream and MultiStream issue a query once the previous one is
// complete; Offline issues its one query at once.
void Issuer::IssueInOrder(uint64_t n) {
  for (uint64_t q = 0; q < n; ++q) {
    pos_.clear();
    gen_.Next(&pos_);
    if (s_.scenario != TestScenario::Offline && q > 0) WaitUntilCompleted(samples_issued_);
    const int64_t now_ns = SinceStart();
    Materialize(s_.scenario == TestScenario::Offline ? 0 : now_ns, now_ns);
    Issue();
    ++queries_issued_;
    if (!accuracy_ && EndChecks(now_ns)) break;
  }
}

PassResult Issuer::Run() {
  MLG_DETAIL(log_, "generated_query_count", JsonInt(gen_.query_count()));
  MLG_DETAIL(log_, "generated_samples_per_query", JsonInt(gen_.samples_per_query()));
  MLG_DETAIL(log_, "generated_query_duration", JsonInt(gen_.duration_ns()));

  pass_ = NewPassState();
  SetUpAccuracySampling();

  {
    PassActivation active(pass_.get());
    start_for_power_ = std::chrono::system_clock::now();
    pass_->start = Clock::now();
    if (s_.scenario == TestScenario::Server) {
      IssueServer(gen_.query_count());
    } else {
      IssueInOrder(gen_.query_count());
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
  if (uint64_t dropped = pass_->earlier_test_ids_dropped.load()) {
    MLG_DETAIL(log_, "generic_message",
               JsonString("Ignored " + std::to_string(dropped) +
                          " completions of response ids issued by earlier tests (late answers, not errors)"));
  }
  ctx_.next_sequence_id += gen_.sample_count();
  if (sample_accuracy_log_) ctx_.acc_rng_samples_drawn += samples_materialized_;
  ctx_.acc_rng_samples_generated += gen_.sample_count();
  IssuedCounts counts{queries_issued_, samples_issued_, last_scheduled_ns_, last_issued_ns_, start_for_power_};
  return CollectPass(*pass_, counts, s_, accuracy_, log_);
}

}  // namespace

PassResult RunPass(RunContext& ctx, const EffectiveSettings& s, const LoadableSet& set, bool accuracy_pass) {
  Issuer issuer(ctx, s, set, accuracy_pass);
  return issuer.Run();
}

}  // namespace mlg
