#pragma once
// The configuration file, /etc/smtpguard/smtpguard.toml (smtpguard.toml(5)): everything the
// command line can say, and the EAL set-up (lcores, memory, devices) in words an operator
// knows. It fills an Options and an EAL argument list; the command line is parsed over that
// Options afterwards, so an option given there wins. Errors are reported like a policy's:
// file:line:column, what was expected, a hint (STYLE.md rule 14). Control plane.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "app/options.h"
#include "policy/policy_loader.h"

namespace smtpguard {

inline constexpr const char* kDefaultConfigPath = "/etc/smtpguard/smtpguard.toml";
// A configuration is a page of settings; a megabyte is already a mistake.
inline constexpr size_t kMaxConfigBytes = size_t{1} << 20;

struct ConfigFile {
  Options options;
  bool has_mode = false;  // `mode` was set
  // EAL arguments from [eal] and [ports], argv[0] first; used by the live modes when the
  // command line gives none (replay keeps its own defaults: it needs no devices).
  std::vector<std::string> eal_args;
};

// Reads FILE (a regular file of at most kMaxConfigBytes). The result is usable only when
// `diags` has no errors. Relative paths in the file are taken from the file's directory.
ConfigFile loadConfigFile(const std::string& path, Diagnostics& diags);
// The same over text in memory; `name` stands in for the file name in positions, `dir` is
// where relative paths are taken from.
ConfigFile loadConfigText(std::string_view text, const std::string& name, const std::string& dir,
                          Diagnostics& diags);

}  // namespace smtpguard
