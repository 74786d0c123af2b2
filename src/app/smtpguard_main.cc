// smtpguard: SMTP egress policy enforcement. See README.md and docs/architecture.md.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "app/config_file.h"
#include "app/golden.h"
#include "app/modes.h"
#include "app/options.h"
#include "app/runtime.h"
#include "app/version.h"
#include "policy/policy_compiler.h"

namespace smtpguard {
namespace {

std::string joinArgs(const std::vector<std::string>& args) {
  std::string out;
  for (size_t i = 1; i < args.size(); ++i) out += (i > 1 ? " " : "") + args[i];
  return out.empty() ? "(DPDK's defaults)" : out;
}

// --check: everything a start would read, nothing it would open for good: the configuration
// (already parsed), the policy compiled, the capture readable, each output's directory
// writable. A summary on stdout and exit 0, or every problem on stderr and exit 1.
int check(const CommandLine& cmd, const Options& o) {
  int problems = 0;
  auto problem = [&](const std::string& what) {
    std::fprintf(stderr, "smtpguard: %s\n", what.c_str());
    ++problems;
  };
  std::string policy_line = "none (built-in port set, observe only)";
  if (!o.policy.empty()) {
    Diagnostics diags;
    auto snap = compilePolicyFile(o.policy, diags);
    std::fputs(formatDiagnostics(diags).c_str(), stderr);
    if (diags.hasErrors() || !snap) {
      problem("policy " + o.policy + " is not usable (" + std::to_string(diags.errorCount()) +
              " error" + (diags.errorCount() == 1 ? "" : "s") + ")");
    } else {
      policy_line = o.policy + " (" + std::string(snap->name()) + ", " +
                    std::to_string(snap->ruleCount()) + " rules, " +
                    (o.enforce && o.mode == Mode::kInline ? "enforced" : "not enforced") + ")";
    }
  }
  if (o.mode == Mode::kReplay && access(o.capture.c_str(), R_OK) != 0)
    problem("cannot read capture " + o.capture);
  const std::pair<const char*, const std::string*> outputs[] = {{"events", &o.events},
                                                                {"stats", &o.stats},
                                                                {"prometheus", &o.prometheus},
                                                                {"write", &o.write}};
  for (auto [what, path] : outputs) {
    if (path->empty() || *path == "-") continue;
    const size_t slash = path->rfind('/');
    const std::string dir = slash == std::string::npos ? "."
                            : slash == 0               ? "/"
                                                       : path->substr(0, slash);
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      problem(std::string(what) + " output " + *path + ": directory " + dir + " does not exist");
    } else if (access(dir.c_str(), W_OK) != 0) {
      problem(std::string(what) + " output " + *path + ": directory " + dir +
              " is not writable by this user");
    }
  }
  if (problems > 0) return 1;
  std::string where;
  switch (o.mode) {
    case Mode::kReplay:
      where = o.capture;
      break;
    case Mode::kInline:
      where = o.inside + " <-> " + o.outside;
      break;
    case Mode::kMonitor:
      where = o.port;
      break;
  }
  // Where the run would write: every output, so that a sink or exporter left out of a
  // configuration shows here rather than as silence once running.
  std::string written;
  auto output = [&](const std::string& what) { written += (written.empty() ? "" : ", ") + what; };
  output(o.stats.empty()  ? "stats to stdout at exit"
         : o.stats == "-" ? "stats to stdout"
                          : "stats " + o.stats);
  if (!o.events.empty())
    output("events " + (o.events == "-" ? std::string("to stdout") : o.events));
  for (const std::string& sink : o.event_sinks) output("events " + sink);
  if (o.events.empty() && o.event_sinks.empty()) output("no events (counted only)");
  if (!o.ipfix.empty()) output("ipfix " + o.ipfix);
  if (!o.prometheus.empty()) output("prometheus " + o.prometheus);
  if (!o.metrics_listen.empty()) output("metrics http://" + o.metrics_listen + "/metrics");
  if (!o.write.empty()) output("write " + o.write);
  std::printf(
      "smtpguard: %s: OK\n  mode:    %s on %s\n  EAL:     %s\n  policy:  %s\n  outputs: %s\n",
      cmd.config.empty() ? "command line" : cmd.config.c_str(), modeName(o.mode), where.c_str(),
      o.mode == Mode::kReplay && o.eal_args.empty() ? "replay defaults (no devices)"
                                                    : joinArgs(o.eal_args).c_str(),
      policy_line.c_str(), written.c_str());
  return 0;
}

}  // namespace
}  // namespace smtpguard

int main(int argc, char** argv) {
  using namespace smtpguard;
  std::string error;
  CommandLine cmd;
  if (!parseGlobalOptions(argc, argv, cmd, error)) {
    std::fprintf(stderr, "smtpguard: %s\n", error.c_str());
    return 2;
  }
  if (cmd.version) {
    std::fputs(versionText().c_str(), stdout);
    return 0;
  }
  ConfigFile cfg;
  if (!cmd.config.empty()) {
    Diagnostics diags;
    cfg = loadConfigFile(cmd.config, diags);
    if (diags.hasErrors()) {
      std::fputs(formatDiagnostics(diags).c_str(), stderr);
      std::fprintf(stderr, "smtpguard: %s: %zu error%s, nothing started\n", cmd.config.c_str(),
                   diags.errorCount(), diags.errorCount() == 1 ? "" : "s");
      return 1;
    }
  }
  auto opts = parseOptions(argc, argv, cfg.options, cfg.has_mode, cmd, error);
  if (cmd.help) {
    std::fputs((cmd.help_mode ? usage(*cmd.help_mode) : usage()).c_str(), stdout);
    return 0;
  }
  if (!opts) {
    std::fprintf(stderr, "smtpguard: %s\n", error.c_str());
    return 2;
  }
  // The file's devices and memory are for the live modes; replay needs none.
  if (!cmd.config.empty() && !cmd.eal_given && opts->mode != Mode::kReplay)
    opts->eal_args = cfg.eal_args;
  if (cmd.check) return check(cmd, *opts);
  if (opts->mode == Mode::kReplay) {
    // Fail on an unreadable capture before the EAL prints anything.
    if (FILE* f = std::fopen(opts->capture.c_str(), "rb")) {
      std::fclose(f);
    } else {
      std::fprintf(stderr, "smtpguard: cannot open capture %s\n", opts->capture.c_str());
      return 1;
    }
  }
  installSignalHandlers();
  if (!initEal(*opts, error)) {
    std::fprintf(stderr, "smtpguard: %s\n", error.c_str());
    return 1;
  }
  int rc = opts->mode != Mode::kReplay                          ? runLive(*opts)
           : opts->golden.empty() && opts->check_golden.empty() ? runReplay(*opts)
                                                                : runGoldenReplay(*opts);
  cleanupEal();
  return rc;
}
