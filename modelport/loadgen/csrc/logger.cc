#include "logger.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>

#include "errors.h"
#include "json_format.h"

namespace mlg {

int64_t CurrentTid() { return static_cast<int64_t>(::syscall(SYS_gettid)); }

std::string IsoDateTimeNow() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string PowerDateTime(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  std::time_t secs = system_clock::to_time_t(t);
  auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[48];
  std::strftime(buf, sizeof buf, "%m-%d-%Y %H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%s.%03lld", buf, static_cast<long long>(ms));
  return out;
}

namespace {

const char* BaseName(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash ? slash + 1 : path;
}

void OpenOrThrow(std::ofstream& f, const std::string& path) {
  f.open(path, std::ios::out | std::ios::trunc | std::ios::binary);
  if (!f.is_open()) {
    throw LogDirError("cannot open LoadGen log file '" + path + "': " + std::strerror(errno));
  }
}

}  // namespace

Logger::Logger(const LogSettings& settings, const std::string& test_datetime)
    : settings_(settings), origin_(Clock::now()), trace_enabled_(settings.enable_trace), pid_(::getpid()) {
  const auto& out = settings.log_output;
  std::string prefix = out.outdir + "/" + out.prefix;
  if (out.prefix_with_datetime) prefix += test_datetime + "_";
  OpenOrThrow(summary_, prefix + "summary" + out.suffix + ".txt");
  OpenOrThrow(detail_, prefix + "detail" + out.suffix + ".txt");
  OpenOrThrow(accuracy_, prefix + "accuracy" + out.suffix + ".json");
  OpenOrThrow(trace_, prefix + "trace" + out.suffix + ".json");
  accuracy_ << "[\n";
  if (trace_enabled_) trace_ << "{\"traceEvents\":[\n";
  writer_ = std::thread([this] { WriterLoop(); });
}

Logger::~Logger() { Close(); }

std::string Logger::Line(const std::string& key, const std::string& value_json, bool is_error,
                         bool is_warning, const char* file, int line) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - origin_).count();
  char time_buf[48];
  std::snprintf(time_buf, sizeof time_buf, "%lld.%06lld", static_cast<long long>(ns / 1000000),
                static_cast<long long>(ns % 1000000));
  std::string s;
  s.reserve(256 + value_json.size());
  s += ":::MLLOG {\"key\": ";
  s += JsonString(key);
  s += ", \"value\": ";
  s += value_json;
  s += ", \"time_ms\": ";
  s += time_buf;
  s += ", \"namespace\": \"mlperf::logging\", \"event_type\": \"POINT_IN_TIME\", \"metadata\": {\"is_error\": ";
  s += is_error ? "true" : "false";
  s += ", \"is_warning\": ";
  s += is_warning ? "true" : "false";
  s += ", \"file\": \"";
  s += BaseName(file);
  s += "\", \"line_no\": ";
  s += std::to_string(line);
  s += ", \"pid\": ";
  s += std::to_string(pid_);
  s += ", \"tid\": ";
  s += std::to_string(CurrentTid());
  s += "}}\n";
  return s;
}

void Logger::Detail(const std::string& key, const std::string& value_json, const char* file, int line) {
  Push(Text(Item::kDetail, Line(key, value_json, false, false, file, line)));
}

void Logger::Error(const std::string& key, const std::string& message, const char* file, int line) {
  errors_.fetch_add(1, std::memory_order_relaxed);
  Push(Text(Item::kDetail, Line(key, JsonString(message), true, false, file, line)));
}

void Logger::Warning(const std::string& key, const std::string& message, const char* file, int line) {
  warnings_.fetch_add(1, std::memory_order_relaxed);
  Push(Text(Item::kDetail, Line(key, JsonString(message), false, true, file, line)));
}

void Logger::Summary(const std::string& line) {
  std::lock_guard<std::mutex> lock(summary_mu_);
  summary_text_ += line;
  summary_text_ += '\n';
}

bool Logger::summary_empty() {
  std::lock_guard<std::mutex> lock(summary_mu_);
  return summary_text_.empty();
}

void Logger::Accuracy(uint64_t seq_id, uint64_t qsl_idx, std::vector<uint8_t> data, bool with_tokens,
                      int64_t n_tokens, std::vector<uint8_t>* token_data) {
  Item item;
  item.kind = Item::kAccuracy;
  item.seq_id = seq_id;
  item.qsl_idx = qsl_idx;
  item.data = std::move(data);
  item.with_tokens = with_tokens;
  item.n_tokens = n_tokens;
  if (token_data) {
    item.has_token_data = true;
    item.token_data = std::move(*token_data);
  }
  Push(std::move(item));
}

void Logger::Trace(std::string events) {
  if (!trace_enabled_ || events.empty()) return;
  {
    std::unique_lock<std::mutex> lock(mu_);
    trace_room_cv_.wait(lock, [this] { return stop_ || trace_queued_ < kMaxQueuedTrace; });
    trace_queued_ += events.size();
  }
  Push(Text(Item::kTrace, std::move(events)));
}

void Logger::Push(Item item) {
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    was_empty = queue_.empty();
    queue_.push_back(std::move(item));
  }
  if (was_empty) cv_.notify_one();
}

void Logger::WriterLoop() {
  std::vector<Item> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      batch.swap(queue_);
      if (batch.empty() && stop_) return;
    }
    size_t trace_bytes = 0;
    for (auto& item : batch) {
      if (item.kind == Item::kTrace) trace_bytes += item.text.size();
      WriteItem(item);
    }
    batch.clear();
    detail_.flush();
    if (trace_bytes) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        trace_queued_ -= trace_bytes;
      }
      trace_room_cv_.notify_all();
    }
  }
}

void Logger::WriteItem(Item& item) {
  switch (item.kind) {
    case Item::kDetail:
      detail_ << item.text;
      if (settings_.log_output.copy_detail_to_stdout) std::cout << item.text;
      break;
    case Item::kAccuracy: {
      static const char kHex[] = "0123456789ABCDEF";
      std::string s;
      s.reserve(80 + 2 * item.data.size());
      if (accuracy_entries_++) s += ",\n";
      s += "{ \"seq_id\" : " + std::to_string(item.seq_id) + ", \"qsl_idx\" : " + std::to_string(item.qsl_idx) +
           ", \"data\" : \"";
      for (uint8_t b : item.data) {
        s += kHex[b >> 4];
        s += kHex[b & 15];
      }
      s += '"';
      if (item.has_token_data) {
        s += ", \"token_data\" : \"";
        for (uint8_t b : item.token_data) {
          s += kHex[b >> 4];
          s += kHex[b & 15];
        }
        s += '"';
      }
      if (item.with_tokens) s += ", \"token_count\" : " + std::to_string(item.n_tokens);
      s += " }";
      accuracy_ << s;
      break;
    }
    case Item::kTrace:
      trace_ << item.text;
      break;
  }
}

void Logger::Close() {
  if (closed_) return;
  closed_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  trace_room_cv_.notify_all();
  if (writer_.joinable()) writer_.join();

  int64_t warnings = warning_count(), errors = error_count();
  std::string tail = "\n";
  if (warnings == 0) {
    tail += "No warnings encountered during test.\n";
  } else {
    tail += std::to_string(warnings) + (warnings == 1 ? " warning" : " warnings") +
            " encountered. See detailed log.\n";
  }
  tail += "\n";
  if (errors == 0) {
    tail += "No errors encountered during test.\n";
  } else {
    tail += std::to_string(errors) + (errors == 1 ? " ERROR" : " ERRORS") + " encountered. See detailed log.\n";
  }
  {
    std::lock_guard<std::mutex> lock(summary_mu_);
    summary_text_ += tail;
    summary_ << summary_text_;
    if (settings_.log_output.copy_summary_to_stdout) std::cout << summary_text_ << std::flush;
  }
  if (accuracy_entries_) accuracy_ << "\n";
  accuracy_ << "]\n";
  if (trace_enabled_) {
    auto origin_us = std::chrono::duration_cast<std::chrono::microseconds>(origin_.time_since_epoch()).count();
    trace_ << "{\"name\":\"LastTrace\"}\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{\"ts\":" << origin_us
           << ",\"version\":\"MLPerf LoadGen v1.0\"}}\n";
  }
  summary_.close();
  detail_.close();
  accuracy_.close();
  trace_.close();
}

}  // namespace mlg
