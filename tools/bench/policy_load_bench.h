#pragma once
// Policy load benchmark: a policy with N prefixes in one set and N/2 JA3 hashes in one rule,
// generated in memory, loaded (TOML -> PolicySpec) and compiled (PolicySpec -> snapshot), as a
// start-up or SIGHUP reload does after reading the file. Two spellings of the lists: one
// element per line, and each list on one line (what TOML writers such as Python's emit). Run at
// N/4, N/2 and N so the time per entry shows whether the loader is linear.

#include <cstddef>

namespace smtpguard::bench {

// Prints the table; returns the process exit code.
int runPolicyLoadBench(size_t prefixes);

}  // namespace smtpguard::bench
