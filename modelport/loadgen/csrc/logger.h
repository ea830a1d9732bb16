// The run's log files and the writer thread that fills them.
//
// Producers (the issuing thread, SUT threads completing accuracy-logged
// samples) only format a line or move a buffer into a queue; the writer
// thread does the file IO and sleeps on a condition variable, so closing is
// immediate rather than a polling round-trip.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test_settings.h"

namespace mlg {

using Clock = std::chrono::steady_clock;

class Logger {
 public:
  // Opens the four files; throws LogDirError naming the path on failure.
  Logger(const LogSettings& settings, const std::string& test_datetime);
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  // One `:::MLLOG` line; `value_json` is already JSON (see json_format.h).
  void Detail(const std::string& key, const std::string& value_json, const char* file, int line);
  void Error(const std::string& key, const std::string& message, const char* file, int line);
  void Warning(const std::string& key, const std::string& message, const char* file, int line);

  void Summary(const std::string& line);  // appends line + "\n"
  bool summary_empty();

  // Response bytes are hex-encoded on the writer thread.
  void Accuracy(uint64_t seq_id, uint64_t qsl_idx, std::vector<uint8_t> data, bool with_tokens,
                int64_t n_tokens, std::vector<uint8_t>* token_data = nullptr);
  // Pre-formatted trace events, one per line, each ending ",\n". Waits while
  // more than kMaxQueuedTrace bytes are still unwritten, so a long pass's
  // trace never piles up in memory ahead of the disk.
  void Trace(std::string events);
  bool tracing() const { return trace_enabled_; }
  Clock::time_point origin() const { return origin_; }

  int64_t error_count() const { return errors_.load(std::memory_order_relaxed); }
  int64_t warning_count() const { return warnings_.load(std::memory_order_relaxed); }

  // Writes the closing lines and joins the writer. Idempotent.
  void Close();

 private:
  struct Item {
    enum Kind { kDetail, kAccuracy, kTrace } kind = kDetail;
    std::string text;
    uint64_t seq_id = 0, qsl_idx = 0;
    std::vector<uint8_t> data;
    bool with_tokens = false;
    int64_t n_tokens = 0;
    bool has_token_data = false;
    std::vector<uint8_t> token_data;
  };
  static Item Text(Item::Kind kind, std::string text) {
    Item item;
    item.kind = kind;
    item.text = std::move(text);
    return item;
  }
  void Push(Item item);
  void WriterLoop();
  void WriteItem(Item& item);
  std::string Line(const std::string& key, const std::string& value_json, bool is_error, bool is_warning,
                   const char* file, int line);

  LogSettings settings_;
  Clock::time_point origin_;
  bool trace_enabled_;
  std::ofstream summary_, detail_, accuracy_, trace_;
  std::string summary_text_;
  std::mutex summary_mu_;

  static constexpr size_t kMaxQueuedTrace = size_t{8} << 20;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable trace_room_cv_;
  size_t trace_queued_ = 0;  // bytes of trace text queued or being written
  std::vector<Item> queue_;
  bool stop_ = false;
  bool closed_ = false;
  std::thread writer_;

  size_t accuracy_entries_ = 0;
  std::atomic<int64_t> errors_{0}, warnings_{0};
  int pid_;
};

// Current OS thread id (as the official logs print it).
int64_t CurrentTid();
std::string IsoDateTimeNow();
std::string PowerDateTime(std::chrono::system_clock::time_point t);

#define MLG_DETAIL(logger, key, value) (logger).Detail((key), (value), __FILE__, __LINE__)
#define MLG_ERROR(logger, key, msg) (logger).Error((key), (msg), __FILE__, __LINE__)
#define MLG_WARNING(logger, key, msg) (logger).Warning((key), (msg), __FILE__, __LINE__)

}  // namespace mlg
