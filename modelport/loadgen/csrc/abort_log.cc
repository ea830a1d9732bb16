#include "abort_log.h"

#include <algorithm>

#include "logger.h"

namespace mlg {

void LogTestAborted(Logger& log, const TestIdentity& test, const std::string& reason) {
  // Python messages may span lines; both logs keep one line per entry.
  std::string flat = reason.empty() ? "unknown error" : reason;
  std::replace(flat.begin(), flat.end(), '\n', ' ');
  MLG_ERROR(log, "error_runtime", "Test aborted: " + flat);
  if (log.summary_empty()) {
    log.Summary("================================================\nMLPerf Results Summary\n"
                "================================================");
    log.Summary("SUT name : " + test.sut_name);
    log.Summary(std::string("Scenario : ") + ToString(test.scenario));
    log.Summary(std::string("Mode     : ") + ToString(test.mode));
    log.Summary("Result is : INVALID");
  }
  log.Summary("Test aborted : " + flat);
  log.Summary("  The test did not run to completion; no figures are reported. See the detailed log.");
}

}  // namespace mlg
