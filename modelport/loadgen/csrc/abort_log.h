// What the logs say about a test that did not finish: an exception from a
// SUT or QSL callback, a completion timeout, or a setup the test cannot run
// with. The summary and detail log must then say so, with the reason, and
// never read like a clean run (docs/decisions.md, "LoadGen: aborted tests in
// the logs").
#pragma once

#include <string>

#include "test_settings.h"

namespace mlg {

class Logger;

// What is known about the test when it stops (filled in as StartTest learns it).
struct TestIdentity {
  std::string sut_name;  // empty when Name() itself failed
  TestScenario scenario = TestScenario::SingleStream;
  TestMode mode = TestMode::PerformanceOnly;
};

// Logs one `error_runtime` line "Test aborted: <reason>" in the detail log and
// a summary that states the abort and its reason (Result is : INVALID). The
// logger's error count then includes the abort, so the summary's closing
// lines can never claim that no errors were encountered.
void LogTestAborted(Logger& log, const TestIdentity& test, const std::string& reason);

}  // namespace mlg
