#pragma once
// PolicySpec -> PolicySnapshot: builds the prefix table, the port table and the Hyperscan
// database, lays the rules out for the fast path, and runs the checks that need the whole
// policy (unreachable rules, regex errors mapped back to their position, expired exceptions).
// Control plane only: allocates, may take milliseconds (Hyperscan compilation).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "policy/policy_loader.h"
#include "policy/policy_snapshot.h"

namespace smtpguard {

struct CompileOptions {
  // Wall-clock seconds for the "expired" warnings. 0: skip them (evaluation always takes its
  // own `now`, so a snapshot never goes stale).
  int64_t now_unix_s = 0;
};

// nullptr when `diags` holds any error (including the loader's): a policy that fails to build
// never replaces the running one. The compiler still runs over a spec with loader errors, so a
// single pass reports everything.
std::shared_ptr<const PolicySnapshot> compilePolicy(const PolicySpec& spec, Diagnostics& diags,
                                                    const CompileOptions& options = {});

// loadPolicyFile + compilePolicy.
std::shared_ptr<const PolicySnapshot> compilePolicyFile(const std::string& path, Diagnostics& diags,
                                                        const CompileOptions& options = {});
// What a running instance loads (start-up, SIGHUP, smtpguardctl load): `path` compiled as of
// the wall clock now (rule expiry), every diagnostic formatted into `error` on failure (null).
std::shared_ptr<const PolicySnapshot> compilePolicyFileNow(const std::string& path,
                                                           std::string& error);
std::shared_ptr<const PolicySnapshot> compilePolicyText(std::string_view text,
                                                        const std::string& name, Diagnostics& diags,
                                                        const CompileOptions& options = {});

}  // namespace smtpguard
