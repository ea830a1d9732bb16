// mlperf.conf / user.conf parsing for TestSettings::FromConfig.
#pragma once

#include <string>
#include <vector>

namespace mlg {

// Errors found by FromConfig outside a run; the next run's detail log
// reports them as error_invalid_config (the official LoadGen does the same
// through its global logger).
std::vector<std::string> TakePendingConfigErrors();

}  // namespace mlg
