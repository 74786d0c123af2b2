#pragma once

#include "app/options.h"

namespace smtpguard {

// Each returns the process exit code. The EAL is initialised by the caller.
int runReplay(const Options& opts);
int runLive(const Options& opts);  // inline and monitor

}  // namespace smtpguard
