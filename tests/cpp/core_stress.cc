// Stress test of the LoadGen core without Python: a C++ SUT completes samples
// from several worker threads (in random order, some twice, plus forged ids)
// while the issuing thread runs each scenario. Meant to run under the
// sanitizers; it checks that every run finishes and every bad id is rejected.
//
//   g++ -std=c++17 -O1 -g -fsanitize=thread -I modelport/loadgen/csrc -I build/<tag>/modelport/loadgen/csrc \
//       tests/cpp/core_stress.cc $(ls modelport/loadgen/csrc/*.cc | grep -v -e bindings -e py_) -lpthread -o /tmp/core_stress
//   /tmp/core_stress /tmp/core_stress_logs
// (the build/<tag> folder holds the generated builtin_conf.h; any pip build creates it.)
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "completion.h"
#include "errors.h"
#include "loadgen.h"

namespace {

class ThreadedSut : public mlg::SystemUnderTest {
 public:
  explicit ThreadedSut(int workers) {
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this, i] { Work(i); });
  }
  ~ThreadedSut() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  std::string Name() override { return "CppStressSUT"; }
  void IssueQuery(const mlg::QuerySample* samples, size_t count) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < count; ++i) queue_.push_back(samples[i].id);
    cv_.notify_all();
  }
  void FlushQueries() override {}
  uint64_t rejected() const { return rejected_.load(); }

 private:
  void Work(int seed) {
    std::mt19937 rng(static_cast<unsigned>(seed));
    for (;;) {
      std::vector<mlg::QuerySampleResponse> batch;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (stop_ && queue_.empty()) return;
        size_t n = std::min<size_t>(queue_.size(), 1 + rng() % 16);
        for (size_t i = 0; i < n; ++i) {
          // Take from either end so completions arrive out of order.
          uint64_t id;
          if (rng() % 2) {
            id = queue_.front();
            queue_.pop_front();
          } else {
            id = queue_.back();
            queue_.pop_back();
          }
          batch.push_back({id, 0, 0, 3});
        }
      }
      if (rng() % 50 == 0) batch.push_back(batch.front());         // completed twice
      if (rng() % 50 == 0) batch.push_back({0xdeadbeef, 0, 0, 0});  // forged id
      auto report = mlg::CompleteSamples(batch.data(), batch.size(), nullptr);
      rejected_ += report.rejected;
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<mlg::ResponseId> queue_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
  std::atomic<uint64_t> rejected_{0};
};

class Qsl : public mlg::QuerySampleLibrary {
 public:
  std::string Name() override { return "CppQSL"; }
  size_t TotalSampleCount() override { return 500; }
  size_t PerformanceSampleCount() override { return 128; }
  void LoadSamplesToRam(const std::vector<mlg::QuerySampleIndex>&) override {}
  void UnloadSamplesFromRam(const std::vector<mlg::QuerySampleIndex>&) override {}
};

}  // namespace

int main(int argc, char** argv) {
  const std::string outdir = argc > 1 ? argv[1] : ".";
  Qsl qsl;
  int failures = 0;
  for (auto scenario : {mlg::TestScenario::SingleStream, mlg::TestScenario::MultiStream, mlg::TestScenario::Server,
                        mlg::TestScenario::Offline}) {
    for (auto mode : {mlg::TestMode::PerformanceOnly, mlg::TestMode::SubmissionRun}) {
      ThreadedSut sut(4);
      mlg::TestSettings s;
      s.scenario = scenario;
      s.mode = mode;
      s.min_duration_ms = 50;
      s.min_query_count = 200;
      s.server_target_qps = 20000;
      s.offline_expected_qps = 20000;
      s.single_stream_expected_latency_ns = 20000;
      s.multi_stream_expected_latency_ns = 20000;
      s.accuracy_log_probability = 0.1;
      s.completion_timeout_s = 10;
      mlg::LogSettings log;
      log.log_output.outdir = outdir;
      log.enable_trace = true;
      auto start = std::chrono::steady_clock::now();
      try {
        mlg::StartTest(&sut, &qsl, s, log, "");
      } catch (const std::exception& e) {
        std::printf("FAIL %s/%s: %s\n", mlg::ToString(scenario), mlg::ToString(mode), e.what());
        ++failures;
        continue;
      }
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("ok   %-12s %-15s %.2f s, %llu bad completions rejected\n", mlg::ToString(scenario),
                  mlg::ToString(mode), secs, static_cast<unsigned long long>(sut.rejected()));
    }
  }
  return failures == 0 ? 0 : 1;
}
