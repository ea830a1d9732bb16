// Exceptions that cross the core. LoadGenError maps to Python's
// modelport.loadgen.LoadGenError; AbortRun unwinds a run whose callback failed
// (the original error is kept by the caller that raised it).
#pragma once

#include <stdexcept>
#include <string>

namespace mlg {

class LoadGenError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class LogDirError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace mlg
