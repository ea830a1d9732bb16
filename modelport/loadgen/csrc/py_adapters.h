// Python-backed SUT/QSL implementations and the integer handles that the
// Construct*/Destroy* functions hand out.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <string>

#include "query_sample_library.h"
#include "system_under_test.h"

namespace mlg::py {

namespace pyb = pybind11;

// How IssueQuery reaches Python.
enum class IssueStyle {
  kObjects,  // issue_cb(list[QuerySample])            (ConstructSUT, ConstructQDL)
  kLists,    // issue_cb(list[int] ids, list[int] idx)  (ConstructFastSUT)
  kArrays,   // issue_cb(ndarray ids, ndarray idx)      (ConstructBatchSUT)
};

class PythonSut : public SystemUnderTest {
 public:
  PythonSut(pyb::object issue_cb, pyb::object flush_cb, IssueStyle style, std::string name,
            pyb::object name_cb = pyb::none());
  ~PythonSut() override;
  std::string Name() override;
  void IssueQuery(const QuerySample* samples, size_t count) override;
  void FlushQueries() override;

 private:
  pyb::object issue_cb_, flush_cb_, name_cb_;
  IssueStyle style_;
  std::string name_;
};

class PythonQsl : public QuerySampleLibrary {
 public:
  PythonQsl(size_t total, size_t performance, pyb::object load_cb, pyb::object unload_cb);
  ~PythonQsl() override;
  std::string Name() override { return "PyQSL"; }
  size_t TotalSampleCount() override { return total_; }
  size_t PerformanceSampleCount() override { return performance_; }
  void LoadSamplesToRam(const std::vector<QuerySampleIndex>& samples) override;
  void UnloadSamplesFromRam(const std::vector<QuerySampleIndex>& samples) override;

 private:
  size_t total_, performance_;
  pyb::object load_cb_, unload_cb_;
};

// Handle registry: ints stand for objects, kept alive while a run uses them.
uint64_t RegisterSut(std::shared_ptr<PythonSut> sut);
uint64_t RegisterQsl(std::shared_ptr<PythonQsl> qsl);
std::shared_ptr<PythonSut> LookupSut(uint64_t handle);
std::shared_ptr<PythonQsl> LookupQsl(uint64_t handle);
void DestroySut(uint64_t handle);
void DestroyQsl(uint64_t handle);

}  // namespace mlg::py
