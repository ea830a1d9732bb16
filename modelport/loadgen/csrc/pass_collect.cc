#include "pass_collect.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <string>

#include "json_format.h"
#include "logger.h"

namespace mlg {

namespace {

using std::chrono::duration_cast;
using std::chrono::nanoseconds;

int64_t ScheduledOf(const PassState& pass, uint64_t slot) {
  return pass.samples_per_query == 1 ? pass.scheduled[slot] : pass.queries[pass.QueryOf(slot)].scheduled_ns;
}

int64_t IssuedOf(const PassState& pass, uint64_t slot) {
  if (pass.samples_per_query > 1) return pass.queries[pass.QueryOf(slot)].issued_ns;
  return pass.issued.empty() ? pass.scheduled[slot] : pass.issued[slot];
}

// First-token latency and time per output token of each of the first n
// samples, and the token count; `latency` is the pass's latency column.
void CollectTokens(const PassState& pass, const Latencies& latency, uint64_t n, const EffectiveSettings& s,
                   bool accuracy, Logger& log, PassResult* r) {
  constexpr int64_t kInvalidTokens = INT64_MIN;
  r->first_token_latencies = Latencies(n);
  r->first_token_latencies.Resize(n);
  r->time_per_output_token = Latencies(n);
  r->time_per_output_token.Resize(n);
  for (uint64_t i = 0; i < n; ++i) {
    const TokenSlot& tok = pass.tokens[i];
    const int64_t first = tok.first_token_ns.load(std::memory_order_relaxed);
    int64_t ttft = s.scenario == TestScenario::Offline ? 0 : first ? first - ScheduledOf(pass, i) : latency[i];
    r->first_token_latencies[i] = ttft;
    if (tok.n_tokens > 1) {
      r->time_per_output_token[i] = (latency[i] - ttft) / (tok.n_tokens - 1);
      r->token_count += tok.n_tokens;
    } else if (tok.n_tokens != kInvalidTokens && tok.n_tokens == 1) {
      r->token_count += 1;
    }
    if (!accuracy && tok.n_tokens <= 1) {
      MLG_ERROR(log, "error_runtime",
                "n_tokens must be greater than 1 to compute time per output token; got " +
                    std::to_string(tok.n_tokens) + " for sample index " + std::to_string(pass.IndexOf(i)));
    }
    if (!accuracy && s.scenario != TestScenario::Offline && first == 0) {
      MLG_ERROR(log, "error_runtime",
                "Sample completed before its first token was reported; sample index " +
                    std::to_string(pass.IndexOf(i)));
    }
  }
}

// MultiStream's per-query latencies: a query ends with its last sample.
void CollectQueryLatencies(const PassState& pass, const Latencies& latency, uint64_t queries, PassResult* r) {
  r->query_latencies = Latencies(queries);
  r->query_latencies.Resize(queries);
  for (uint64_t q = 0; q < queries; ++q) {
    if (pass.samples_per_query == 1) {
      r->query_latencies[q] = latency[q];
    } else {
      const QuerySlot& qs = pass.queries[q];
      r->query_latencies[q] = qs.done_ns - qs.scheduled_ns;
    }
  }
}

void EmitTrace(const PassState& pass, uint64_t samples, Logger& log) {
  const int64_t base_us = duration_cast<nanoseconds>(pass.start - log.origin()).count();
  // Handed to the writer in chunks so memory stays bounded on big passes.
  constexpr uint64_t kChunkEvents = 8192;
  std::string out;
  out.reserve(kChunkEvents * 200);
  char buf[320];
  for (uint64_t i = 0; i < samples; ++i) {
    const int64_t scheduled = ScheduledOf(pass, i), latency = pass.time[i];
    const double ts = static_cast<double>(base_us + scheduled) / 1000.0;
    const double dur = static_cast<double>(latency) / 1000.0;
    std::snprintf(buf, sizeof buf,
                  "{\"name\":\"Sample\",\"ph\":\"X\",\"pid\":0,\"tid\":0,\"ts\":%.3f,\"dur\":%.3f,\"args\":{"
                  "\"sample_seq\":%llu,\"query_seq\":%llu,\"sample_idx\":%llu,\"issue_start_ns\":%lld,"
                  "\"complete_ns\":%lld}},\n",
                  ts, dur, static_cast<unsigned long long>(pass.seq_base + i),
                  static_cast<unsigned long long>(pass.QueryOf(i)), static_cast<unsigned long long>(pass.IndexOf(i)),
                  static_cast<long long>(IssuedOf(pass, i) - scheduled), static_cast<long long>(latency));
    out += buf;
    if ((i + 1) % kChunkEvents == 0) {
      log.Trace(std::move(out));
      out = std::string();
      out.reserve(kChunkEvents * 200);
    }
  }
  log.Trace(std::move(out));
}

// The detail lines the official LoadGen writes at the end of every pass.
void LogPassEnd(const PassState& pass, const IssuedCounts& issued, Logger& log) {
  static const char* const kZeroCounters[] = {
      "logger_swap_request_slots_retry_count",          "logger_swap_request_slots_retry_retry_count",
      "logger_swap_request_slots_retry_reencounter_count", "logger_start_reading_entries_retry_count",
      "logger_tls_total_log_cas_fail_count",            "logger_tls_total_swap_buffers_slot_retry_count"};
  for (const char* key : kZeroCounters) MLG_DETAIL(log, key, "0");
  const int64_t max_complete = pass.max_complete_ns.load();
  auto end_for_power =
      issued.start_for_power + duration_cast<std::chrono::system_clock::duration>(nanoseconds(max_complete));
  MLG_DETAIL(log, "power_begin", JsonString(PowerDateTime(issued.start_for_power)));
  MLG_DETAIL(log, "power_end", JsonString(PowerDateTime(end_for_power)));
}

}  // namespace

PassResult CollectPass(PassState& pass, const IssuedCounts& issued, const EffectiveSettings& s, bool accuracy,
                       Logger& log) {
  PassResult r;
  r.queries_issued = issued.queries;
  const uint64_t n = issued.samples;
  Latencies& latency = pass.time;  // every issued sample is complete: all latencies
  latency.Resize(n);
  int64_t max_latency = 0;
  for (int64_t l : latency) max_latency = std::max(max_latency, l);
  if (pass.use_tokens) CollectTokens(pass, latency, n, s, accuracy, log, &r);
  r.max_latency_s = static_cast<double>(max_latency) / 1e9;
  if (s.scenario == TestScenario::MultiStream) CollectQueryLatencies(pass, latency, issued.queries, &r);
  if (issued.queries) {
    const int64_t done_ns = pass.samples_per_query == 1 ? issued.last_scheduled_ns + latency[n - 1]
                                                        : pass.queries[issued.queries - 1].done_ns;
    r.final_query_scheduled_s = static_cast<double>(issued.last_scheduled_ns) / 1e9;
    r.final_query_issued_s = static_cast<double>(issued.last_issued_ns) / 1e9;
    r.final_query_all_samples_done_s = static_cast<double>(done_ns) / 1e9;
  }
  if (log.tracing()) EmitTrace(pass, n, log);
  LogPassEnd(pass, issued, log);
  r.sample_latencies = std::move(latency);
  return r;
}

}  // namespace mlg
