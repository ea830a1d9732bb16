// Response ids: what they encode, and how a completion whose id does not
// belong to the running pass is told apart: a late answer to an earlier test
// (dropped) or a bad id (an error of the running test).
//
// Layout: [generation: 24 bits][slot + 1: 40 bits]. Every pass in the process
// takes the next generation (1, 2, ...); the slot numbers the samples the
// pass issued, from 0. An id is never 0 and is never dereferenced, so a
// forged one can be rejected instead of crashing the process.
//
// When a pass ends, the ledger records which test it belonged to and how many
// ids it handed out. For an id that is not the running pass's:
//   * kEarlierTest: its generation is an ended pass of an earlier test and its
//     slot is one that pass handed out. A SUT may still answer such a sample
//     after that test ended or was aborted; the answer is dropped without
//     touching the running test (no error, no result; it is counted).
//   * kEarlierPass: an ended pass of the running test. A pass only ends once
//     every sample is complete, so this is a second completion: an error.
//   * kUnknown: generation 0, one never issued, or a slot beyond what that
//     pass handed out: a bad id, an error of the running test.
// Why: docs/decisions.md, "LoadGen: response ids and late completions".
#pragma once

#include <cstdint>

#include "query_sample.h"

namespace mlg {

constexpr unsigned kIdSlotBits = 40;
constexpr uint64_t kIdSlotMask = (uint64_t{1} << kIdSlotBits) - 1;
constexpr uint32_t kMaxGeneration = (uint32_t{1} << (64 - kIdSlotBits)) - 1;
// A pass can hand out at most this many ids.
constexpr uint64_t kMaxSlots = kIdSlotMask;

inline ResponseId MakeResponseId(uint32_t generation, uint64_t slot) {
  return (static_cast<uint64_t>(generation) << kIdSlotBits) | (slot + 1);
}
inline uint32_t GenerationOf(ResponseId id) { return static_cast<uint32_t>(id >> kIdSlotBits); }
// The slot, or false for an id whose slot bits are 0 (never handed out).
inline bool SlotOf(ResponseId id, uint64_t* slot) {
  const uint64_t low = id & kIdSlotMask;
  *slot = low - 1;
  return low != 0;
}

// A number for each StartTest in the process, never 0.
uint64_t NewTestSerial();

enum class IdOrigin { kUnknown, kEarlierPass, kEarlierTest };

// The process-wide record of passes. Begin/End are called by the StartTest
// thread; Classify by any thread, only for ids that are not the running
// pass's (rare), so its lock is never taken on the normal completion path.
class PassLedger {
 public:
  // A fresh generation for a pass of test `test_serial`. After kMaxGeneration
  // (16.7 M) passes in one process the numbering restarts, and an id kept
  // from before the restart could be taken for a new one; no real process
  // runs that many passes.
  static uint32_t Begin(uint64_t test_serial);
  // The pass handed out ids for slots [0, ids_handed_out).
  static void End(uint32_t generation, uint64_t ids_handed_out);
  static IdOrigin Classify(ResponseId id, uint64_t running_test_serial);
};

}  // namespace mlg
