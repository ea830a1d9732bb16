#include "response_id.h"

#include <atomic>
#include <mutex>
#include <vector>

namespace mlg {

namespace {

struct PassRecord {
  uint64_t test_serial = 0;
  uint64_t ids_handed_out = 0;
  bool ended = false;
};

// passes[g - 1] describes generation g. 24 bytes a pass: a process would need
// millions of passes before this matters, and then the numbering restarts.
struct Ledger {
  std::mutex mu;
  std::vector<PassRecord> passes;
};

Ledger& TheLedger() {
  static Ledger ledger;
  return ledger;
}

}  // namespace

uint64_t NewTestSerial() {
  static std::atomic<uint64_t> serial{0};
  return serial.fetch_add(1) + 1;
}

uint32_t PassLedger::Begin(uint64_t test_serial) {
  Ledger& l = TheLedger();
  std::lock_guard<std::mutex> lock(l.mu);
  if (l.passes.size() >= kMaxGeneration) l.passes.clear();
  l.passes.push_back(PassRecord{test_serial, 0, false});
  return static_cast<uint32_t>(l.passes.size());
}

void PassLedger::End(uint32_t generation, uint64_t ids_handed_out) {
  Ledger& l = TheLedger();
  std::lock_guard<std::mutex> lock(l.mu);
  if (generation == 0 || generation > l.passes.size()) return;
  PassRecord& rec = l.passes[generation - 1];
  rec.ids_handed_out = ids_handed_out;
  rec.ended = true;
}

IdOrigin PassLedger::Classify(ResponseId id, uint64_t running_test_serial) {
  uint64_t slot = 0;
  const uint32_t generation = GenerationOf(id);
  if (generation == 0 || !SlotOf(id, &slot)) return IdOrigin::kUnknown;
  Ledger& l = TheLedger();
  std::lock_guard<std::mutex> lock(l.mu);
  if (generation > l.passes.size()) return IdOrigin::kUnknown;
  const PassRecord& rec = l.passes[generation - 1];
  if (!rec.ended || slot >= rec.ids_handed_out) return IdOrigin::kUnknown;
  return rec.test_serial == running_test_serial ? IdOrigin::kEarlierPass : IdOrigin::kEarlierTest;
}

}  // namespace mlg
