// Running a test: the C++ entry point behind StartTest.
#pragma once

#include <string>

#include "query_sample_library.h"
#include "system_under_test.h"
#include "test_settings.h"

namespace mlg {

// LoadGen's version as logged in loadgen_version.
extern const char* const kLoadgenVersion;

// Runs the requested mode to completion on the calling thread. Throws
// LogDirError when the log files cannot be created (before anything is
// issued), LoadGenError on a completion timeout, and lets exceptions from SUT
// or QSL callbacks propagate; logs are closed in every case.
void StartTest(SystemUnderTest* sut, QuerySampleLibrary* qsl, const TestSettings& settings,
               const LogSettings& log_settings, const std::string& audit_config_filename);

}  // namespace mlg
