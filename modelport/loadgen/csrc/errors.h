// Exceptions the core throws. Both map to Python's
// modelport.loadgen.LoadGenError. Faults the official LoadGen crashes or
// hangs on are reported this way instead (docs/decisions.md, "LoadGen:
// faults raise, never crash or hang").
#pragma once

#include <stdexcept>
#include <string>

namespace mlg {

// A test that cannot run or cannot finish (no samples, completion timeout,
// overlapping tests), or a bad completion reported back to the caller.
class LoadGenError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The log files cannot be created; thrown before anything is issued.
class LogDirError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace mlg
