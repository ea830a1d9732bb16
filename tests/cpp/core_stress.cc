// Stress test of the LoadGen core without Python: a C++ SUT completes samples
// from several worker threads (in random order, some twice, plus forged ids,
// plus late answers to the previous test) while the issuing thread runs each
// scenario. Meant to run under the sanitizers (tests/test_loadgen_cpp.py, or
// CTest: the core_stress test of the top-level CMakeLists.txt); it checks
// that every run finishes, every bad id is rejected and every late answer to
// an earlier test is dropped without being counted against the running one.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "completion.h"
#include "errors.h"
#include "loadgen.h"

namespace {

// Ids issued by the previous test, some never completed (its first run is
// aborted): the workers of the next test answer them again, late.
std::vector<mlg::ResponseId> g_previous_ids;

class ThreadedSut : public mlg::SystemUnderTest {
 public:
  // swallow: never complete anything (the test is aborted by its timeout).
  explicit ThreadedSut(int workers, bool swallow = false) : swallow_(swallow) {
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
    for (size_t i = 0; i < count; ++i) {
      issued_.push_back(samples[i].id);
      if (!swallow_) queue_.push_back(samples[i].id);
    }
    cv_.notify_all();
  }
  void FlushQueries() override {}
  uint64_t rejected() const { return rejected_.load(); }
  uint64_t expected_rejections() const { return expected_.load(); }
  uint64_t late_answers() const { return late_.load(); }
  std::vector<mlg::ResponseId> issued() {
    std::lock_guard<std::mutex> lock(mu_);
    return issued_;
  }

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
      uint64_t bad = 0;
      if (rng() % 50 == 0) batch.push_back(batch.front()), ++bad;         // completed twice
      if (rng() % 50 == 0) batch.push_back({0xdeadbeef, 0, 0, 0}), ++bad;  // forged id
      if (!g_previous_ids.empty() && rng() % 4 == 0) {                      // late answer to the last test
        batch.push_back({g_previous_ids[rng() % g_previous_ids.size()], 0, 0, 0});
        ++late_;
      }
      expected_ += bad;
      auto report = mlg::CompleteSamples(batch.data(), batch.size(), nullptr);
      rejected_ += report.rejected;
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<mlg::ResponseId> queue_;
  std::vector<mlg::ResponseId> issued_;
  bool swallow_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
  std::atomic<uint64_t> rejected_{0}, expected_{0}, late_{0};
};

class Qsl : public mlg::QuerySampleLibrary {
 public:
  std::string Name() override { return "CppQSL"; }
  size_t TotalSampleCount() override { return 500; }
  size_t PerformanceSampleCount() override { return 128; }
  void LoadSamplesToRam(const std::vector<mlg::QuerySampleIndex>&) override {}
  void UnloadSamplesFromRam(const std::vector<mlg::QuerySampleIndex>&) override {}
};

mlg::TestSettings Settings(mlg::TestScenario scenario, mlg::TestMode mode) {
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
  return s;
}

// One test with a 4-worker SUT; returns the ids it issued (for the next
// test's late answers), after the SUT's workers have stopped.
std::vector<mlg::ResponseId> RunOne(mlg::QuerySampleLibrary* qsl, const mlg::LogSettings& log,
                                    mlg::TestScenario scenario, mlg::TestMode mode, int* failures) {
  ThreadedSut sut(4);
  auto start = std::chrono::steady_clock::now();
  try {
    mlg::StartTest(&sut, qsl, Settings(scenario, mode), log, "");
  } catch (const std::exception& e) {
    std::printf("FAIL %s/%s: %s\n", mlg::ToString(scenario), mlg::ToString(mode), e.what());
    ++*failures;
    return {};
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const bool exact = sut.rejected() == sut.expected_rejections();
  std::printf("%s %-12s %-15s %.2f s, %llu bad completions rejected (%llu expected), %llu late answers dropped\n",
              exact ? "ok  " : "FAIL", mlg::ToString(scenario), mlg::ToString(mode), secs,
              static_cast<unsigned long long>(sut.rejected()),
              static_cast<unsigned long long>(sut.expected_rejections()),
              static_cast<unsigned long long>(sut.late_answers()));
  if (!exact) ++*failures;
  return sut.issued();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string outdir = argc > 1 ? argv[1] : ".";
  std::filesystem::create_directories(outdir);
  Qsl qsl;
  mlg::LogSettings log;
  log.log_output.outdir = outdir;
  log.enable_trace = true;
  int failures = 0;
  std::vector<mlg::ResponseId> ids;
  {
    // A test aborted by its completion timeout: its ids are never completed.
    ThreadedSut sut(2, /*swallow=*/true);
    mlg::TestSettings s = Settings(mlg::TestScenario::Offline, mlg::TestMode::PerformanceOnly);
    s.completion_timeout_s = 0.2;
    try {
      mlg::StartTest(&sut, &qsl, s, log, "");
      std::printf("FAIL aborted run: StartTest returned\n");
      ++failures;
    } catch (const mlg::LoadGenError& e) {
      std::printf("ok   aborted run: %s\n", e.what());
    }
    ids = sut.issued();
  }
  for (auto scenario : {mlg::TestScenario::SingleStream, mlg::TestScenario::MultiStream, mlg::TestScenario::Server,
                        mlg::TestScenario::Offline}) {
    for (auto mode : {mlg::TestMode::PerformanceOnly, mlg::TestMode::SubmissionRun}) {
      g_previous_ids = std::move(ids);  // no worker is running between tests
      ids = RunOne(&qsl, log, scenario, mode, &failures);
    }
  }
  return failures == 0 ? 0 : 1;
}
