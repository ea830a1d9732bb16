// Running a test: the C++ entry point behind StartTest. A C++ harness
// includes this header, implements SystemUnderTest and QuerySampleLibrary,
// and reports completions with CompleteSamples (completion.h).
#pragma once

#include <functional>
#include <string>

#include "completion.h"
#include "query_sample_library.h"
#include "system_under_test.h"
#include "test_settings.h"

namespace mlg {

// LoadGen's version as logged in loadgen_version: "<official version> @
// modelport-<version from pyproject.toml>".
extern const char* const kLoadgenVersion;

// Runs the requested mode to completion and returns when the logs are
// written and closed.
//
// Threading: the calling thread does all the work: it calls every SUT and
// QSL method, issues the queries and waits (blocked, holding no lock the
// completers need) for completions, which other threads report through
// CompleteSamples. One test runs at a time in a process: a StartTest while
// another is running throws LoadGenError at once (completions are routed to
// the one running test).
//
// Ownership: `sut` and `qsl` are borrowed for the duration of the call
// (see their headers); `settings`, `log_settings` and the audit file name
// are copied or read before anything is issued, so later changes to them do
// not affect the running test.
//
// Errors: throws LogDirError when the log files cannot be created (nothing
// is logged, loaded or issued then); LoadGenError for a QSL with no samples,
// a completion timeout (TestSettings::completion_timeout_s) or an
// overlapping test; and lets any exception from a SUT or QSL method
// propagate unchanged. Whenever it throws after the logs were opened, the
// summary and detail log record the test as aborted, with the reason.
//
// Interrupts: `check_interrupt`, when given, is called on the StartTest
// thread about every 50 ms while it waits (for completions, or for the next
// Server query's time), never while it holds a lock a completer needs and
// never per sample. If it throws, the test is aborted like on a callback's
// exception (logged, then rethrown); the Python module passes one that
// raises a pending KeyboardInterrupt (or another signal handler's exception).
void StartTest(SystemUnderTest* sut, QuerySampleLibrary* qsl, const TestSettings& settings,
               const LogSettings& log_settings, const std::string& audit_config_filename,
               std::function<void()> check_interrupt = {});

}  // namespace mlg
