// smtpguardctl: the operator's tool. `validate` and `show` compile a policy exactly as the
// appliance would (same library, no DPDK, no EAL) and report on it.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy_compiler.h"

namespace smtpguard {
namespace {

constexpr const char* kUsage =
    "usage: smtpguardctl <command> [--now=YYYY-MM-DD|UNIX_SECONDS] FILE\n"
    "\n"
    "commands:\n"
    "  validate FILE   compile a policy: a one-line summary and exit 0, or every error and exit 1\n"
    "  show FILE       the compiled rules in the order the fast path applies them\n"
    "  match FILE ADDRESS...\n"
    "                  the prefix sets each address is in, as the fast path looks it up\n"
    "\n"
    "--now sets the time expiry is judged against (default: the current time).\n"
    "The policy format is described in docs/policy.md.\n";

struct Args {
  std::string command;
  std::string file;
  std::vector<std::string> addresses;  // match
  int64_t now = 0;
};

bool allDigits(std::string_view v) {
  return !v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// YYYY-MM-DD, a day that exists (1970 on), or seconds since the epoch (at most 12 digits).
std::optional<int64_t> parseNow(std::string_view v) {
  if (v.size() == 10 && v[4] == '-' && v[7] == '-') {
    if (!allDigits(v.substr(0, 4)) || !allDigits(v.substr(5, 2)) || !allDigits(v.substr(8, 2)))
      return std::nullopt;
    int y = std::atoi(std::string(v.substr(0, 4)).c_str());
    unsigned m = static_cast<unsigned>(std::atoi(std::string(v.substr(5, 2)).c_str()));
    unsigned d = static_cast<unsigned>(std::atoi(std::string(v.substr(8, 2)).c_str()));
    static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > kDays[m - 1] + (m == 2 && leap ? 1 : 0))
      return std::nullopt;
    return unixDays(y, m, d) * 86400;
  }
  if (v.size() > 12 || !allDigits(v)) return std::nullopt;
  return std::strtoll(std::string(v).c_str(), nullptr, 10);
}

std::optional<Args> parseArgs(int argc, char** argv) {
  Args a;
  a.now = static_cast<int64_t>(std::time(nullptr));
  std::vector<std::string_view> positional;
  for (int i = 1; i < argc; ++i) {
    std::string_view s = argv[i];
    if (s.rfind("--now=", 0) == 0) {
      auto now = parseNow(s.substr(6));
      if (!now) {
        std::fprintf(stderr,
                     "smtpguardctl: bad --now value '%s': expected a date that exists, "
                     "YYYY-MM-DD from 1970-01-01, or seconds since the epoch\n",
                     argv[i] + 6);
        return std::nullopt;
      }
      a.now = *now;
    } else if (s == "-h" || s == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else {
      positional.push_back(s);
    }
  }
  const bool match = !positional.empty() && positional[0] == "match";
  if (match ? positional.size() < 3 : positional.size() != 2) {
    std::fputs(kUsage, stderr);
    return std::nullopt;
  }
  a.command = positional[0];
  a.file = positional[1];
  a.addresses.assign(positional.begin() + 2, positional.end());
  return a;
}

std::string plural(size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string portList(const PolicySnapshot& p, PortClass cls) {
  std::string out;
  for (uint16_t port : p.smtpPorts()) {
    if (p.portClass(port) != cls) continue;
    if (!out.empty()) out += ", ";
    out += std::to_string(port);
  }
  return out.empty() ? "none" : out;
}

std::string eventsText(uint8_t events) {
  static constexpr std::pair<uint8_t, const char*> kNames[] = {
      {SessionEvent::kEhlo, "ehlo"},          {SessionEvent::kStarttls, "starttls"},
      {SessionEvent::kTlsHello, "tls_hello"}, {SessionEvent::kAuth, "auth"},
      {SessionEvent::kMail, "mail"},          {SessionEvent::kAnomaly, "anomaly"}};
  if (events == SessionEvent::kAll) return "any event";
  std::string out;
  for (auto [bit, name] : kNames) {
    if (!(events & bit)) continue;
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

// Compiles and prints diagnostics; nullptr when the policy has errors.
std::shared_ptr<const PolicySnapshot> build(const Args& a, PolicySpec& spec) {
  Diagnostics diags;
  spec = loadPolicyFile(a.file, diags);
  auto snap = compilePolicy(spec, diags, {.now_unix_s = a.now});
  std::fputs(formatDiagnostics(diags).c_str(), stderr);
  if (!snap) {
    std::fprintf(stderr, "%s: %s", a.file.c_str(),
                 plural(diags.errorCount(), "error", "errors").c_str());
    if (diags.warningCount())
      std::fprintf(stderr, ", %s", plural(diags.warningCount(), "warning", "warnings").c_str());
    std::fputs("; policy not usable\n", stderr);
  }
  return snap;
}

int validate(const Args& a) {
  PolicySpec spec;
  auto snap = build(a, spec);
  if (!snap) return 1;
  size_t session = 0, expired = 0;
  for (size_t i = 0; i < snap->ruleCount(); ++i) {
    if (snap->rule(i).stage == Stage::kSession) ++session;
    if (snap->rule(i).expiredAt(static_cast<uint64_t>(a.now))) ++expired;
  }
  std::string expired_text = expired ? ", " + std::to_string(expired) + " expired" : "";
  std::string ports;
  for (uint16_t p : snap->smtpPorts()) ports += (ports.empty() ? "" : " ") + std::to_string(p);
  std::printf(
      "%s: ok: policy '%s'%s, %s (%zu connection, %zu session%s), %s, %s, %s, %s, "
      "%s (%s)\n",
      a.file.c_str(), snap->name().c_str(), snap->shadowMode() ? " (shadow)" : "",
      plural(snap->ruleCount(), "rule", "rules").c_str(), snap->ruleCount() - session, session,
      expired_text.c_str(), plural(snap->definedSetCount(), "set", "sets").c_str(),
      plural(snap->prefixCount(), "prefix", "prefixes").c_str(),
      plural(snap->patterns().patternCount(), "pattern", "patterns").c_str(),
      plural(snap->fingerprintCount(), "fingerprint", "fingerprints").c_str(),
      plural(snap->smtpPorts().size(), "port", "ports").c_str(), ports.c_str());
  return 0;
}

int show(const Args& a) {
  PolicySpec spec;
  auto snap = build(a, spec);
  if (!snap) return 1;
  std::printf("policy '%s' from %s\n", snap->name().c_str(), a.file.c_str());
  std::printf("  mode:    %s\n", snap->shadowMode()
                                     ? "shadow (every rule evaluated and counted, none enforced)"
                                     : "enforce");
  std::printf("  default: %s (SMTP-port traffic no rule matches)\n",
              std::string(actionName(snap->defaultAction())).c_str());
  std::printf("  ports:   relay %s; submission %s; implicit_tls %s\n",
              portList(*snap, PortClass::kRelay).c_str(),
              portList(*snap, PortClass::kSubmission).c_str(),
              portList(*snap, PortClass::kImplicitTls).c_str());
  std::printf("  sets:   ");
  for (const SetSpec& s : spec.sets) {
    if (!s.defined) continue;
    std::printf(" %s (%zu)", s.name.c_str(), s.prefixes.size());
  }
  std::printf("\n  prefix table: %zu intervals; patterns: %zu (%zu bytes compiled)\n\n",
              snap->intervalCount(), snap->patterns().patternCount(),
              snap->patterns().databaseBytes());
  for (size_t i = 0; i < snap->ruleCount(); ++i) {
    const CompiledRule& r = snap->rule(i);
    const RuleInfo& info = snap->ruleInfo(i);
    std::printf("%3zu  %s  (%s)\n", i + 1, info.name.c_str(), info.source.c_str());
    if (!info.description.empty()) std::printf("       %s\n", info.description.c_str());
    if (r.stage == Stage::kConnection) {
      std::printf("       stage:   connection (decided at the SYN)\n");
    } else {
      std::printf("       stage:   session (evaluated on: %s)\n", eventsText(r.events).c_str());
    }
    std::string match;
    for (const std::string& c : info.conditions) match += (match.empty() ? "" : "; ") + c;
    std::printf("       match:   %s\n", match.empty() ? "everything" : match.c_str());
    std::string action(actionName(r.action));
    if (r.action == Action::kReject)
      action += " (" + std::string(rejectWithName(r.reject_with)) + ")";
    if (r.action == Action::kRateLimit) action += " " + info.rate_text;
    std::printf("       action:  %s\n", action.c_str());
    if (r.shadow)
      std::printf("       mode:    shadow (counted as policy.shadow.%s, not enforced)\n",
                  info.name.c_str());
    if (!info.expires_text.empty()) {
      int64_t left = r.expires_unix - a.now;
      std::string status =
          left <= 0
              ? "EXPIRED, no longer matches"
              : "active, " + plural(static_cast<size_t>((left + 86399) / 86400), "day", "days") +
                    " left";
      std::printf("       expires: %s (%s)%s%s\n", info.expires_text.c_str(), status.c_str(),
                  info.ticket.empty() ? "" : "; ticket ", info.ticket.c_str());
    } else if (!info.ticket.empty()) {
      std::printf("       ticket:  %s\n", info.ticket.c_str());
    }
  }
  if (snap->ruleCount() == 0) std::printf("  (no rules: the default applies to everything)\n");
  return 0;
}

// The sets each address is in. An IPv4-mapped address (::ffff:a.b.c.d) is the IPv4 address,
// as for the fast path's lookups and for prefixes (docs/policy.md, [sets]).
int match(const Args& a) {
  std::vector<IpAddr> addrs;
  for (const std::string& text : a.addresses) {
    auto addr = parseIpAddr(text);
    if (!addr) {
      std::fprintf(stderr, "smtpguardctl: '%s' is not an IPv4 or IPv6 address\n", text.c_str());
      return 2;
    }
    addrs.push_back(*addr);
  }
  PolicySpec spec;
  auto snap = build(a, spec);
  if (!snap) return 1;
  for (size_t i = 0; i < addrs.size(); ++i) {
    std::string line = a.addresses[i];
    if (addrs[i].isV4() && a.addresses[i].find(':') != std::string::npos) {
      char v4[64];
      formatIp(addrs[i], v4, sizeof v4);
      line += std::string(" (IPv4 ") + v4 + ")";
    }
    std::string sets;
    const SetMask mask = snap->setsOf(addrs[i]);
    for (size_t s = 0; s < snap->setNames().size(); ++s)
      if (mask & (SetMask{1} << s)) sets += (sets.empty() ? "" : ", ") + snap->setNames()[s];
    std::printf("%s: %s\n", line.c_str(), sets.empty() ? "no set" : sets.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace smtpguard

int main(int argc, char** argv) {
  auto args = smtpguard::parseArgs(argc, argv);
  if (!args) return 2;
  if (args->command == "validate") return smtpguard::validate(*args);
  if (args->command == "show") return smtpguard::show(*args);
  if (args->command == "match") return smtpguard::match(*args);
  std::fprintf(stderr, "smtpguardctl: unknown command '%s'\n\n%s", args->command.c_str(),
               smtpguard::kUsage);
  return 2;
}
