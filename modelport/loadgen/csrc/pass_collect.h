// The end of a pass: its results (latency columns, token metrics, the final
// query's times), its trace and its closing detail-log lines, read from the
// PassState once every issued sample is complete. Issuing (issuer.cc) and
// collecting share nothing else, so they are kept apart.
#pragma once

#include <chrono>
#include <cstdint>

#include "effective_settings.h"
#include "issuer.h"
#include "pass_state.h"

namespace mlg {

class Logger;

// What the issuer knows about a pass beyond its PassState.
struct IssuedCounts {
  uint64_t queries = 0, samples = 0;
  int64_t last_scheduled_ns = 0, last_issued_ns = 0;  // of the latest query, since the pass start
  std::chrono::system_clock::time_point start_for_power;
};

// Every issued sample must be complete. The latency column is moved out of
// `pass` into the result (no copy: docs/decisions.md, "LoadGen: per-sample
// memory").
PassResult CollectPass(PassState& pass, const IssuedCounts& issued, const EffectiveSettings& s, bool accuracy,
                       Logger& log);

}  // namespace mlg
