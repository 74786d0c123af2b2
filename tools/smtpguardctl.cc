// smtpguardctl: the operator's tool. `validate`, `show` and `match` compile a policy exactly as
// the appliance would (same library, no DPDK, no EAL) and report on it; `load`, `stats`,
// `flows`, `top`, `events` and `watch` talk to a running instance over DPDK's telemetry socket
// (its /smtpguard/ commands, src/app/control.h). Links the policy compiler and the counter list,
// never the fast path.
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "policy/policy_compiler.h"
#include "stats/counter_block.h"
#include "telemetry_client.h"

namespace smtpguard {
namespace {

using Json = nlohmann::ordered_json;  // the instance's order (counters: declaration order)

constexpr const char* kUsage =
    "usage: smtpguardctl [options] <command> [arguments]\n"
    "\n"
    "policy files (no running instance needed):\n"
    "  validate FILE   compile a policy: a one-line summary and exit 0, or every error and exit 1\n"
    "  show FILE       the compiled rules in the order the fast path applies them, and what each\n"
    "                  set holds (--all: every prefix, not the first 20)\n"
    "  match FILE ADDRESS...\n"
    "                  the prefix sets each address is in, as the fast path looks it up\n"
    "  match FILE SRC DST PORT\n"
    "                  which rule decides a connection from SRC to DST:PORT, and why\n"
    "\n"
    "a running instance (--instance PREFIX: its EAL --file-prefix, default $SMTPGUARD_INSTANCE\n"
    "or rte; or the path of its telemetry socket):\n"
    "  load FILE       validate FILE here, then load it into the instance; prints the rules\n"
    "                  added, removed and changed, or the errors (the running policy stays)\n"
    "  stats           counters (--json: one object; --prometheus: exposition text)\n"
    "  flows           live flows (--port N --state S --addr A --order bytes|age|idle -n N)\n"
    "  top             client addresses with the most bytes in live flows (-n N)\n"
    "  events          the last events, JSON lines (-n N)\n"
    "  subscribers [STAT]  subscribers with the most events, or the most of STAT (-n N)\n"
    "  quarantine list|add ADDRESS [SECONDS]|del ADDRESS\n"
    "                  the dynamic set 'quarantine' (docs/subscribers.md)\n"
    "  watch           a refreshing view of per-second rates (--interval S, --count K)\n"
    "  policy          the running policy: file, SHA-256, load time, rules with hits\n"
    "  reload          load the instance's own policy file again (as load does)\n"
    "  match SRC DST PORT   as above, against the policy the instance runs\n"
    "\n"
    "--now=YYYY-MM-DD|UNIX_SECONDS sets the time expiry is judged against (default: now).\n"
    "--json prints what the instance answered as JSON (stats, flows, top, policy).\n"
    "Exit status: 0 done; 1 the policy has errors or the instance refused; 2 usage;\n"
    "3 no running instance answered.\n"
    "The policy format is described in docs/policy.md, the commands in docs/operations.md.\n";

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNoInstance = 3;

struct Args {
  std::string command;
  std::string file;
  std::vector<std::string> addresses;  // match
  std::vector<std::string> rest;       // positional arguments after the command
  int64_t now = 0;
  std::string instance;
  bool instance_given = false;
  bool json = false;
  bool prometheus = false;
  bool all = false;
  long n = -1;
  double interval = 1.0;
  long count = 0;
  std::string port, state, addr, order;
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

bool usageError(const std::string& what) {
  std::fprintf(stderr, "smtpguardctl: %s (see --help)\n", what.c_str());
  return false;
}

bool parseCount(const std::string& opt, const std::string& v, long lo, long hi, long& out) {
  if (!allDigits(v) || v.size() > 9)
    return usageError(opt + ": expected a number, got '" + v + "'");
  out = std::atol(v.c_str());
  if (out < lo || out > hi)
    return usageError(opt + ": expected " + std::to_string(lo) + " to " + std::to_string(hi));
  return true;
}

std::optional<Args> parseArgs(int argc, char** argv) {
  Args a;
  a.now = static_cast<int64_t>(std::time(nullptr));
  if (const char* env = std::getenv("SMTPGUARD_INSTANCE"); env != nullptr && *env != '\0')
    a.instance = env;
  else
    a.instance = "rte";
  std::vector<std::string> positional;
  static const std::vector<std::string> kValued = {"--instance", "--port",  "--state",
                                                   "--addr",     "--order", "-n",
                                                   "--interval", "--count", "--now"};
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    std::string name = s, value;
    bool has_value = false;
    if (s.rfind("--", 0) == 0 && s.find('=') != std::string::npos) {
      name = s.substr(0, s.find('='));
      value = s.substr(s.find('=') + 1);
      has_value = true;
    }
    const bool valued = std::find(kValued.begin(), kValued.end(), name) != kValued.end();
    if (valued && !has_value) {
      if (i + 1 >= argc) {
        usageError(name + " needs a value");
        return std::nullopt;
      }
      value = argv[++i];
    }
    if (name == "--now") {
      auto now = parseNow(value);
      if (!now) {
        std::fprintf(stderr,
                     "smtpguardctl: bad --now value '%s': expected a date that exists, "
                     "YYYY-MM-DD from 1970-01-01, or seconds since the epoch\n",
                     value.c_str());
        return std::nullopt;
      }
      a.now = *now;
    } else if (name == "--instance") {
      if (value.empty()) {
        usageError("--instance needs a file prefix or a socket path");
        return std::nullopt;
      }
      a.instance = value;
      a.instance_given = true;
    } else if (name == "--port") {
      a.port = value;
    } else if (name == "--state") {
      a.state = value;
    } else if (name == "--addr") {
      a.addr = value;
    } else if (name == "--order") {
      a.order = value;
    } else if (name == "-n") {
      if (!parseCount("-n", value, 0, 1000, a.n)) return std::nullopt;
    } else if (name == "--count") {
      if (!parseCount("--count", value, 1, 1000000, a.count)) return std::nullopt;
    } else if (name == "--interval") {
      char* end = nullptr;
      a.interval = std::strtod(value.c_str(), &end);
      if (end == value.c_str() || *end != '\0' || !(a.interval >= 0.1 && a.interval <= 3600)) {
        usageError("--interval: expected seconds from 0.1 to 3600, got '" + value + "'");
        return std::nullopt;
      }
    } else if (name == "--json") {
      a.json = true;
    } else if (name == "--prometheus") {
      a.prometheus = true;
    } else if (name == "--all") {
      a.all = true;
    } else if (name == "-h" || name == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (s.size() > 1 && s[0] == '-') {
      usageError("unknown option '" + s + "'");
      return std::nullopt;
    } else {
      positional.push_back(s);
    }
  }
  if (positional.empty()) {
    std::fputs(kUsage, stderr);
    return std::nullopt;
  }
  a.command = positional[0];
  a.rest.assign(positional.begin() + 1, positional.end());
  const std::string& c = a.command;
  bool ok = true;
  if (c == "validate" || c == "show" || c == "load") {
    ok = a.rest.size() == 1;
    if (ok) a.file = a.rest[0];
  } else if (c == "match") {
    if (a.instance_given) {
      ok = a.rest.size() == 3;  // SRC DST PORT, against the running policy
    } else {
      ok = a.rest.size() >= 2;
      if (ok) {
        a.file = a.rest[0];
        a.addresses.assign(a.rest.begin() + 1, a.rest.end());
      }
    }
  } else if (c == "subscribers") {
    ok = a.rest.size() <= 1;
  } else if (c == "quarantine") {
    ok = (a.rest.size() == 1 && a.rest[0] == "list") ||
         (a.rest.size() >= 2 && a.rest.size() <= 3 && a.rest[0] == "add") ||
         (a.rest.size() == 2 && a.rest[0] == "del");
  } else if (c == "stats" || c == "flows" || c == "top" || c == "events" || c == "watch" ||
             c == "policy" || c == "reload") {
    ok = a.rest.empty();
  } else {
    std::fprintf(stderr, "smtpguardctl: unknown command '%s'\n\n%s", c.c_str(), kUsage);
    return std::nullopt;
  }
  if (!ok) {
    std::fprintf(stderr, "smtpguardctl: wrong arguments for '%s'\n\n%s", c.c_str(), kUsage);
    return std::nullopt;
  }
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
  std::printf("  sets:\n");
  for (const SetSpec& s : spec.sets) {
    if (!s.defined) continue;
    std::printf("    %s (%s):", s.name.c_str(),
                plural(s.prefixes.size(), "prefix", "prefixes").c_str());
    const size_t shown = a.all ? s.prefixes.size() : std::min<size_t>(s.prefixes.size(), 20);
    for (size_t i = 0; i < shown; ++i) std::printf(" %s", formatPrefix(s.prefixes[i]).c_str());
    if (shown < s.prefixes.size())
      std::printf(" ... and %zu more (--all)", s.prefixes.size() - shown);
    std::printf("\n");
  }
  std::printf("  prefix table: %zu intervals; patterns: %zu (%zu bytes compiled)\n\n",
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

std::string setsText(const PolicySnapshot& snap, SetMask mask) {
  std::string sets;
  for (size_t s = 0; s < snap.setNames().size(); ++s)
    if (mask & (SetMask{1} << s)) sets += (sets.empty() ? "" : ", ") + snap.setNames()[s];
  return sets.empty() ? "no set" : sets;
}

// Which rule decides a connection SRC -> DST:PORT at its SYN, and why: the sets of each
// address, the port's class, and every rule whose address and port conditions hold (a
// connection rule decides at the first one; a session rule may decide later).
int decide(const std::string& file, const std::string& src_text, const std::string& dst_text,
           const std::string& port_text, int64_t now) {
  auto src = parseIpAddr(src_text);
  auto dst = parseIpAddr(dst_text);
  if (!src || !dst) {
    std::fprintf(stderr, "smtpguardctl: '%s' is not an IPv4 or IPv6 address\n",
                 (!src ? src_text : dst_text).c_str());
    return kExitUsage;
  }
  if (!allDigits(port_text) || port_text.size() > 5 || std::atol(port_text.c_str()) < 1 ||
      std::atol(port_text.c_str()) > 65535) {
    std::fprintf(stderr, "smtpguardctl: '%s' is not a port (1 to 65535)\n", port_text.c_str());
    return kExitUsage;
  }
  const auto port = static_cast<uint16_t>(std::atol(port_text.c_str()));
  Args a;
  a.file = file;
  a.now = now;
  PolicySpec spec;
  Diagnostics diags;
  spec = loadPolicyFile(file, diags);
  auto snap = compilePolicy(spec, diags, {.now_unix_s = now});
  if (!snap) {
    std::fputs(formatDiagnostics(diags).c_str(), stderr);
    return kExitFailed;
  }
  const SetMask src_sets = snap->setsOf(*src);
  const SetMask dst_sets = snap->setsOf(*dst);
  std::printf("connection %s -> %s port %u, policy '%s' (%s)\n", src_text.c_str(), dst_text.c_str(),
              port, snap->name().c_str(), file.c_str());
  std::printf("  source in:      %s\n", setsText(*snap, src_sets).c_str());
  std::printf("  destination in: %s\n", setsText(*snap, dst_sets).c_str());
  const PortClass cls = snap->portClass(port);
  if (cls == PortClass::kNone) {
    std::printf("  port %u is not an SMTP port of this policy: forwarded, never inspected\n", port);
    return 0;
  }
  std::printf("  port class:     %s\n", cls == PortClass::kRelay        ? "relay"
                                        : cls == PortClass::kSubmission ? "submission"
                                                                        : "implicit_tls");
  const Verdict v =
      evaluateConnection(*snap, ConnFacts{*src, *dst, port}, static_cast<uint64_t>(now));
  if (v.rule_index == kNoRule) {
    std::printf("  at the SYN:     no connection rule matches: the default, %s\n",
                std::string(actionName(snap->defaultAction())).c_str());
  } else {
    const RuleInfo& info = snap->ruleInfo(v.rule_index);
    std::printf("  at the SYN:     rule %u '%s' (%s): %s\n", v.rule_index + 1, info.name.c_str(),
                info.source.c_str(), std::string(actionName(v.action)).c_str());
  }
  if (v.shadow())
    std::printf("                  (shadow rule '%s' matched first: counted, not enforced)\n",
                snap->ruleInfo(v.shadow_index).name.c_str());
  // Session rules whose address and port conditions hold: they may still decide.
  size_t port_index = 0;
  const auto& ports = snap->smtpPorts();
  for (size_t i = 0; i < ports.size(); ++i)
    if (ports[i] == port) port_index = i;
  bool any = false;
  for (size_t i = 0; i < snap->ruleCount(); ++i) {
    const CompiledRule& r = snap->rule(i);
    if (r.stage != Stage::kSession || r.expiredAt(static_cast<uint64_t>(now))) continue;
    if (r.src_sets != 0 && (r.src_sets & src_sets) == 0) continue;
    if (r.dst_sets != 0 && (r.dst_sets & dst_sets) == 0) continue;
    if (r.port_mask != 0 && !(r.port_mask & (uint64_t{1} << port_index))) continue;
    if (!any) std::printf("  later, on what the session shows:\n");
    any = true;
    const RuleInfo& info = snap->ruleInfo(i);
    std::string match;
    for (const std::string& c : info.conditions) match += (match.empty() ? "" : "; ") + c;
    std::printf("    rule %zu '%s': %s if %s\n", i + 1, info.name.c_str(),
                std::string(actionName(r.action)).c_str(), match.c_str());
  }
  if (!any) std::printf("  no session rule applies to this connection\n");
  return 0;
}

// The sets each address is in. An IPv4-mapped address (::ffff:a.b.c.d) is the IPv4 address,
// as for the fast path's lookups and for prefixes (docs/policy.md, [sets]).
int match(const Args& a) {
  // FILE SRC DST PORT: the deciding rule.
  if (a.addresses.size() == 3 && allDigits(a.addresses[2]))
    return decide(a.file, a.addresses[0], a.addresses[1], a.addresses[2], a.now);
  std::vector<IpAddr> addrs;
  for (const std::string& text : a.addresses) {
    auto addr = parseIpAddr(text);
    if (!addr) {
      std::fprintf(stderr, "smtpguardctl: '%s' is not an IPv4 or IPv6 address\n", text.c_str());
      return kExitUsage;
    }
    addrs.push_back(*addr);
  }
  PolicySpec spec;
  auto snap = build(a, spec);
  if (!snap) return kExitFailed;
  for (size_t i = 0; i < addrs.size(); ++i) {
    std::string line = a.addresses[i];
    if (addrs[i].isV4() && a.addresses[i].find(':') != std::string::npos) {
      char v4[64];
      formatIp(addrs[i], v4, sizeof v4);
      line += std::string(" (IPv4 ") + v4 + ")";
    }
    std::printf("%s: %s\n", line.c_str(), setsText(*snap, snap->setsOf(addrs[i])).c_str());
  }
  return 0;
}

// --- a running instance ---

struct Remote {
  TelemetryClient client;
  std::string instance;
};

// Connects; prints the one-line reason and returns false when no instance answers.
bool connectInstance(const Args& a, Remote& r) {
  std::string error;
  r.instance = a.instance;
  if (!r.client.connect(a.instance, error)) {
    std::fprintf(stderr, "smtpguardctl: %s\n", error.c_str());
    return false;
  }
  return true;
}

// Sends `command` and returns the value under its name; prints why on failure. `exit_code`
// tells the caller how to fail.
std::optional<Json> call(Remote& r, const std::string& command, int& exit_code) {
  std::string answer, error;
  if (!r.client.request(command, answer, error)) {
    std::fprintf(stderr, "smtpguardctl: %s: %s\n", r.client.socketPath().c_str(), error.c_str());
    exit_code = kExitNoInstance;
    return std::nullopt;
  }
  Json j = Json::parse(answer, nullptr, false);
  const std::string name = command.substr(0, command.find(','));
  if (j.is_discarded() || !j.is_object() || !j.contains(name) || j[name].is_null()) {
    std::fprintf(stderr,
                 "smtpguardctl: the instance at %s does not answer %s (not smtpguard, or an older "
                 "one?)\n",
                 r.client.socketPath().c_str(), name.c_str());
    exit_code = kExitFailed;
    return std::nullopt;
  }
  Json v = j[name];
  if (v.is_object() && v.contains("error")) {
    std::fprintf(stderr, "smtpguardctl: %s: %s\n", name.c_str(),
                 v["error"].get<std::string>().c_str());
    exit_code = kExitFailed;
    return std::nullopt;
  }
  return v;
}

// Every counter of the instance, by dotted name, in the instance's order by group.
std::optional<std::vector<std::pair<std::string, uint64_t>>> fetchCounters(Remote& r,
                                                                           int& exit_code) {
  auto stats = call(r, "/smtpguard/stats", exit_code);
  if (!stats) return std::nullopt;
  std::vector<std::pair<std::string, uint64_t>> out;
  // The instance writes a counter's dots as '/' (telemetry names allow no dots).
  auto dotted = [](std::string name) {
    std::replace(name.begin(), name.end(), '/', '.');
    return name;
  };
  auto add = [&](const std::string& group, const Json& g) {
    for (auto it = g.begin(); it != g.end(); ++it)
      if (it.value().is_number_unsigned() || it.value().is_number_integer())
        out.emplace_back(dotted(group + "." + it.key()), it.value().get<uint64_t>());
  };
  for (auto it = stats->begin(); it != stats->end(); ++it) add(it.key(), it.value());
  // Per-rule counters: names and values a page at a time.
  for (const char* group : {"policy.rule", "policy.shadow"}) {
    for (uint64_t offset = 0;;) {
      auto page = call(r, "/smtpguard/stats," + std::string(group) + "," + std::to_string(offset),
                       exit_code);
      if (!page) return std::nullopt;
      const Json& names = (*page)["names"];
      const Json& values = (*page)["values"];
      for (size_t i = 0; i < names.size() && i < values.size(); ++i)
        out.emplace_back(std::string(group) + "." + names[i].get<std::string>(),
                         values[i].get<uint64_t>());
      offset += names.size();
      if (names.empty() || offset >= (*page)["total"].get<uint64_t>()) break;
    }
  }
  return out;
}

int statsCommand(const Args& a) {
  Remote r;
  if (!connectInstance(a, r)) return kExitNoInstance;
  int code = 0;
  auto counters = fetchCounters(r, code);
  if (!counters) return code;
  if (a.prometheus) {
    std::fputs(countersToPrometheus(*counters).c_str(), stdout);
  } else if (a.json) {
    std::fputs(countersToJson(*counters, true).c_str(), stdout);
  } else {
    for (const auto& [name, v] : *counters)
      if (v != 0 || a.all)
        std::printf("%-48s %14llu\n", name.c_str(), static_cast<unsigned long long>(v));
  }
  return 0;
}

std::string humanBytes(uint64_t b) {
  char buf[32];
  if (b < 10000) {
    std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(b));
  } else if (b < 10000000) {
    std::snprintf(buf, sizeof buf, "%.1fK", static_cast<double>(b) / 1024);
  } else {
    std::snprintf(buf, sizeof buf, "%.1fM", static_cast<double>(b) / (1024 * 1024));
  }
  return buf;
}

std::string humanMs(uint64_t ms) {
  char buf[32];
  if (ms < 10000) {
    std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000);
  } else if (ms < 7200000) {
    std::snprintf(buf, sizeof buf, "%llum", static_cast<unsigned long long>(ms / 60000));
  } else {
    std::snprintf(buf, sizeof buf, "%lluh", static_cast<unsigned long long>(ms / 3600000));
  }
  return buf;
}

// The entries "<prefix>1", "<prefix>2", ... of an answer, in rank order.
std::vector<Json> ranked(const Json& v, const std::string& prefix) {
  std::vector<std::pair<long, Json>> items;
  for (auto it = v.begin(); it != v.end(); ++it)
    if (it.key().rfind(prefix, 0) == 0 && it.value().is_object())
      items.emplace_back(std::atol(it.key().c_str() + prefix.size()), it.value());
  std::sort(items.begin(), items.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<Json> out;
  for (auto& [k, j] : items) out.push_back(std::move(j));
  return out;
}

std::string endpoint(const Json& f, const char* ip, const char* port) {
  const std::string addr = f[ip].get<std::string>();
  const bool v6 = addr.find(':') != std::string::npos;
  return (v6 ? "[" + addr + "]" : addr) + ":" + std::to_string(f[port].get<uint64_t>());
}

int flowsCommand(const Args& a) {
  std::string params;
  auto add = [&](const char* key, const std::string& v) {
    if (v.empty()) return;
    params += (params.empty() ? "" : ",") + std::string(key) + "=" + v;
  };
  add("port", a.port);
  add("state", a.state);
  add("addr", a.addr);
  add("order", a.order);
  add("n", a.n >= 0 ? std::to_string(a.n) : "");
  Remote r;
  if (!connectInstance(a, r)) return kExitNoInstance;
  int code = 0;
  auto v = call(r, "/smtpguard/flows" + (params.empty() ? "" : "," + params), code);
  if (!v) return code;
  if (a.json) {
    std::printf("%s\n", v->dump(2).c_str());
    return 0;
  }
  std::printf("%-44s %-44s %-12s %9s %9s %7s %7s %-8s %-4s %4s %s\n", "CLIENT", "SERVER", "STATE",
              "TO-SERVER", "TO-CLIENT", "AGE", "IDLE", "TLS", "AUTH", "MSGS", "FLAGS");
  for (const Json& f : ranked(*v, "flow_")) {
    std::string flags;
    if (f["blocked"].get<int>() != 0) flags += "blocked ";
    if (f["midstream"].get<int>() != 0) flags += "midstream ";
    std::printf("%-44s %-44s %-12s %9s %9s %7s %7s %-8s %-4s %4llu %s\n",
                endpoint(f, "src_ip", "src_port").c_str(),
                endpoint(f, "dest_ip", "dest_port").c_str(), f["state"].get<std::string>().c_str(),
                humanBytes(f["bytes_toserver"].get<uint64_t>()).c_str(),
                humanBytes(f["bytes_toclient"].get<uint64_t>()).c_str(),
                humanMs(f["age_ms"].get<uint64_t>()).c_str(),
                humanMs(f["idle_ms"].get<uint64_t>()).c_str(), f["tls"].get<std::string>().c_str(),
                f["auth"].get<int>() != 0 ? "yes" : "no",
                static_cast<unsigned long long>(f["messages"].get<uint64_t>()), flags.c_str());
  }
  std::printf("%llu live flows, %llu matched, %llu shown\n",
              static_cast<unsigned long long>((*v)["live"].get<uint64_t>()),
              static_cast<unsigned long long>((*v)["matched"].get<uint64_t>()),
              static_cast<unsigned long long>((*v)["shown"].get<uint64_t>()));
  return 0;
}

int topCommand(const Args& a) {
  Remote r;
  if (!connectInstance(a, r)) return kExitNoInstance;
  int code = 0;
  auto v = call(r, "/smtpguard/top,n=" + std::to_string(a.n >= 0 ? a.n : 10), code);
  if (!v) return code;
  if (a.json) {
    std::printf("%s\n", v->dump(2).c_str());
    return 0;
  }
  std::printf("%-40s %6s %10s %10s %8s\n", "CLIENT", "FLOWS", "TO-SERVER", "TO-CLIENT", "BLOCKED");
  for (const Json& t : ranked(*v, "talker_"))
    std::printf("%-40s %6llu %10s %10s %8llu\n", t["src_ip"].get<std::string>().c_str(),
                static_cast<unsigned long long>(t["flows"].get<uint64_t>()),
                humanBytes(t["bytes_toserver"].get<uint64_t>()).c_str(),
                humanBytes(t["bytes_toclient"].get<uint64_t>()).c_str(),
                static_cast<unsigned long long>(t["blocked"].get<uint64_t>()));
  std::printf("(from the %llu busiest of %llu live flows)\n",
              static_cast<unsigned long long>((*v)["flows_seen"].get<uint64_t>()),
              static_cast<unsigned long long>((*v)["live"].get<uint64_t>()));
  return 0;
}

int subscribersCommand(const Args& a) {
  Remote r;
  if (!connectInstance(a, r)) return kExitNoInstance;
  int code = 0;
  const std::string by = a.rest.empty() ? "events" : a.rest[0];
  auto v = call(r, "/smtpguard/subscribers,by=" + by + ",n=" + std::to_string(a.n >= 0 ? a.n : 10),
                code);
  if (!v) return code;
  if (a.json) {
    std::printf("%s\n", v->dump(2).c_str());
    return 0;
  }
  std::printf("%-28s %8s %6s %6s %6s %6s %6s %6s %6s\n", "SOURCE", "EVENTS", "CONN", "P25",
              "P25DST", "PAUTH", "AFAIL", "RLIM", "MSGS");
  for (const Json& s : ranked(*v, "sub_")) {
    auto u = [&](const char* k) { return static_cast<unsigned long long>(s[k].get<uint64_t>()); };
    std::printf("%-28s %8llu %6llu %6llu %6llu %6llu %6llu %6llu %6llu\n",
                s["source"].get<std::string>().c_str(), u("events"), u("connections"),
                u("port25_attempts"), u("port25_destinations"), u("plaintext_auth"),
                u("auth_failures"), u("rate_limited"), u("messages"));
  }
  std::printf("(by %s; %llu subscribers tracked, %llu slots a worker)\n",
              (*v)["by"].get<std::string>().c_str(),
              static_cast<unsigned long long>((*v)["tracked"].get<uint64_t>()),
              static_cast<unsigned long long>((*v)["slots_per_worker"].get<uint64_t>()));
  return 0;
}

int quarantineCommand(const Args& a) {
  Remote r;
  if (!connectInstance(a, r)) return kExitNoInstance;
  int code = 0;
  const std::string& verb = a.rest[0];
  std::string cmd = "/smtpguard/quarantine";
  if (verb != "list") cmd += "/" + verb + "," + a.rest[1];
  if (verb == "add" && a.rest.size() == 3) cmd += "," + a.rest[2];
  auto v = call(r, cmd, code);
  if (!v) return code;
  if (a.json) {
    std::printf("%s\n", v->dump(2).c_str());
    return 0;
  }
  if (verb == "add") {
    std::printf("%s quarantined until %s\n", (*v)["source"].get<std::string>().c_str(),
                (*v)["until"].get<std::string>().c_str());
  } else if (verb == "del") {
    std::printf("%s: removed %s\n", (*v)["source"].get<std::string>().c_str(),
                (*v)["removed"].get<std::string>().c_str());
  } else {
    std::printf("%-40s %-28s %12s\n", "SOURCE", "UNTIL", "REMAINING-S");
    for (const Json& q : ranked(*v, "q_"))
      std::printf("%-40s %-28s %12llu\n", q["source"].get<std::string>().c_str(),
                  q["until"].get<std::string>().c_str(),
                  static_cast<unsigned long long>(q["remaining_s"].get<uint64_t>()));
    std::printf("(%llu quarantined)\n",
                static_cast<unsigned long long>((*v)["count"].get<uint64_t>()));
  }
  return 0;
}

int eventsCommand(const Args& a) {
  Remote r;
  if (!connectInstance(a, r)) return kExitNoInstance;
  int code = 0;
  auto v = call(r, "/smtpguard/events," + std::to_string(a.n >= 0 ? a.n : 20), code);
  if (!v) return code;
  if (v->is_string()) std::fputs(v->get<std::string>().c_str(), stdout);
  return 0;
}

std::optional<Json> fetchPolicy(Remote& r, int& code) {
  auto v = call(r, "/smtpguard/policy", code);
  if (!v) return std::nullopt;
  // Later pages of rules, 50 at a time.
  const uint64_t total = (*v)["rules_total"].get<uint64_t>();
  for (uint64_t offset = 50; offset < total; offset += 50) {
    auto page = call(r, "/smtpguard/policy," + std::to_string(offset), code);
    if (!page) return std::nullopt;
    for (auto it = page->begin(); it != page->end(); ++it)
      if (it.key().rfind("rule_", 0) == 0) (*v)[it.key()] = it.value();
  }
  return v;
}

int policyCommand(const Args& a) {
  Remote r;
  if (!connectInstance(a, r)) return kExitNoInstance;
  int code = 0;
  auto v = fetchPolicy(r, code);
  if (!v) return code;
  if (a.json) {
    std::printf("%s\n", v->dump(2).c_str());
    return 0;
  }
  const Json& p = *v;
  if (p["file"].get<std::string>().empty()) {
    std::printf("no policy: the built-in port set, observed only\n");
    return 0;
  }
  std::printf("policy '%s' (%s) from %s\n  sha256 %s\n  loaded %s (loads since start: %llu)\n",
              p["name"].get<std::string>().c_str(), p["mode"].get<std::string>().c_str(),
              p["file"].get<std::string>().c_str(), p["sha256"].get<std::string>().c_str(),
              p["loaded_at"].get<std::string>().c_str(),
              static_cast<unsigned long long>(p["loads"].get<uint64_t>()));
  std::printf("%4s  %-32s %-10s %-10s %12s %12s\n", "#", "RULE", "STAGE", "ACTION", "HITS",
              "SHADOW-HITS");
  for (const Json& rule : ranked(p, "rule_"))
    std::printf("%4llu  %-32s %-10s %-10s %12llu %12llu\n",
                static_cast<unsigned long long>(rule["index"].get<uint64_t>()),
                rule["name"].get<std::string>().c_str(), rule["stage"].get<std::string>().c_str(),
                rule["action"].get<std::string>().c_str(),
                static_cast<unsigned long long>(rule["hits"].get<uint64_t>()),
                static_cast<unsigned long long>(rule["shadow_hits"].get<uint64_t>()));
  std::printf("  default: %s\n", p["default"].get<std::string>().c_str());
  return 0;
}

std::string joined(const Json& arr) {
  std::string out;
  if (!arr.is_array()) return out;
  for (const Json& s : arr) out += (out.empty() ? "" : ", ") + s.get<std::string>();
  return out.empty() ? "none" : out;
}

int loadCommand(const Args& a) {
  // Here first: the errors with their file:line:column and context, before anything changes.
  PolicySpec spec;
  auto snap = build(a, spec);
  if (!snap) return kExitFailed;
  char* real = realpath(a.file.c_str(), nullptr);
  std::string absolute = real != nullptr ? real : a.file;
  std::free(real);
  // Keep a symbolic link as written (the instance resolves it when it reads, as on SIGHUP).
  if (!a.file.empty() && a.file[0] == '/')
    absolute = a.file;
  else if (char cwd[4096]; getcwd(cwd, sizeof cwd) != nullptr)
    absolute = std::string(cwd) + "/" + a.file;
  Remote r;
  if (!connectInstance(a, r)) return kExitNoInstance;
  int code = 0;
  auto v = call(r, "/smtpguard/policy/load," + absolute, code);
  if (!v) return code;
  if ((*v)["ok"].get<int>() == 0) {
    std::fprintf(stderr, "smtpguardctl: the instance did not load %s; its running policy stays:\n",
                 absolute.c_str());
    if ((*v).contains("errors"))
      for (const Json& line : (*v)["errors"])
        std::fprintf(stderr, "%s\n", line.get<std::string>().c_str());
    return kExitFailed;
  }
  std::printf("loaded policy '%s' (%s) from %s into %s\n", (*v)["name"].get<std::string>().c_str(),
              plural((*v)["rules"].get<uint64_t>(), "rule", "rules").c_str(), absolute.c_str(),
              r.instance.c_str());
  std::printf("  added:   %s\n", joined((*v)["added"]).c_str());
  std::printf("  removed: %s\n", joined((*v)["removed"]).c_str());
  std::printf("  changed: %s\n", joined((*v)["changed"]).c_str());
  return 0;
}

// The instance's own policy file again, checked here first: what `systemctl reload` runs, so
// that a policy that does not compile fails the reload visibly (a signal cannot say so).
int reloadCommand(const Args& a) {
  Args with_file = a;
  {
    Remote r;
    if (!connectInstance(a, r)) return kExitNoInstance;
    int code = 0;
    auto v = call(r, "/smtpguard/policy", code);
    if (!v) return code;
    with_file.file = (*v)["file"].get<std::string>();
  }
  if (with_file.file.empty()) {
    std::fprintf(stderr, "smtpguardctl: the instance runs no policy file: nothing to reload\n");
    return kExitFailed;
  }
  return loadCommand(with_file);
}

int matchRemote(const Args& a) {
  Remote r;
  if (!connectInstance(a, r)) return kExitNoInstance;
  int code = 0;
  auto v = call(r, "/smtpguard/policy", code);
  if (!v) return code;
  const std::string file = (*v)["file"].get<std::string>();
  if (file.empty()) {
    std::printf("the instance runs no policy: every SMTP-port connection is observed only\n");
    return 0;
  }
  return decide(file, a.rest[0], a.rest[1], a.rest[2], a.now);
}

volatile std::sig_atomic_t g_interrupted = 0;
void onInterrupt(int) {
  g_interrupted = 1;
}

int watchCommand(const Args& a) {
  Remote r;
  if (!connectInstance(a, r)) return kExitNoInstance;
  std::signal(SIGINT, onInterrupt);
  std::signal(SIGTERM, onInterrupt);
  const bool tty = isatty(STDOUT_FILENO) != 0;
  static constexpr const char* kRates[] = {
      "packets.rx",     "packets.tx",         "packets.dropped",     "packets.smtp_port",
      "flows.created",  "smtp.commands",      "smtp.auth",           "smtp.messages",
      "policy.blocked", "policy.would_block", "policy.rate_limited", "packets.rst_injected",
      "events.emitted", "events.dropped"};
  std::map<std::string, uint64_t> prev;
  auto prev_time = std::chrono::steady_clock::now();
  for (long i = 0; a.count == 0 || i <= a.count; ++i) {
    int code = 0;
    auto counters = fetchCounters(r, code);
    if (!counters) return code;
    const auto now = std::chrono::steady_clock::now();
    const double dt = std::chrono::duration<double>(now - prev_time).count();
    std::map<std::string, uint64_t> cur(counters->begin(), counters->end());
    if (i > 0) {
      if (tty) std::fputs("\033[H\033[2J", stdout);
      char when[32];
      const std::time_t t = std::time(nullptr);
      std::strftime(when, sizeof when, "%H:%M:%S", std::localtime(&t));
      std::printf("smtpguard %s   %s   every %.1f s   (Ctrl-C to quit)\n\n", r.instance.c_str(),
                  when, a.interval);
      std::printf("  %-28s %14s %16s\n", "COUNTER", "PER SECOND", "TOTAL");
      for (const char* name : kRates) {
        const uint64_t c = cur[name];
        const uint64_t p = prev[name];
        std::printf("  %-28s %14.1f %16llu\n", name, dt > 0 ? static_cast<double>(c - p) / dt : 0,
                    static_cast<unsigned long long>(c));
      }
      std::printf("  %-28s %14s %16llu\n", "flows.active", "",
                  static_cast<unsigned long long>(cur["flows.active"]));
      // The rules that hit in this interval.
      std::vector<std::pair<double, std::string>> rules;
      for (const auto& [name, c] : cur)
        if (name.rfind("policy.rule.", 0) == 0 && c != prev[name])
          rules.emplace_back(static_cast<double>(c - prev[name]) / dt, name.substr(12));
      std::sort(rules.rbegin(), rules.rend());
      std::printf("\n  rules hit in this interval:%s\n", rules.empty() ? " none" : "");
      for (size_t k = 0; k < rules.size() && k < 8; ++k)
        std::printf("    %-40s %10.1f/s\n", rules[k].second.c_str(), rules[k].first);
      if (!tty) std::printf("\n");
      std::fflush(stdout);
    }
    prev = std::move(cur);
    prev_time = now;
    if (a.count != 0 && i == a.count) break;
    const auto wake = now + std::chrono::duration<double>(a.interval);
    while (!g_interrupted && std::chrono::steady_clock::now() < wake)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (g_interrupted) break;
  }
  return 0;
}

}  // namespace
}  // namespace smtpguard

int main(int argc, char** argv) {
  auto args = smtpguard::parseArgs(argc, argv);
  if (!args) return smtpguard::kExitUsage;
  const std::string& c = args->command;
  if (c == "validate") return smtpguard::validate(*args);
  if (c == "show") return smtpguard::show(*args);
  if (c == "match")
    return args->instance_given ? smtpguard::matchRemote(*args) : smtpguard::match(*args);
  if (c == "load") return smtpguard::loadCommand(*args);
  if (c == "reload") return smtpguard::reloadCommand(*args);
  if (c == "stats") return smtpguard::statsCommand(*args);
  if (c == "flows") return smtpguard::flowsCommand(*args);
  if (c == "top") return smtpguard::topCommand(*args);
  if (c == "events") return smtpguard::eventsCommand(*args);
  if (c == "quarantine") return smtpguard::quarantineCommand(*args);
  if (c == "subscribers") return smtpguard::subscribersCommand(*args);
  if (c == "policy") return smtpguard::policyCommand(*args);
  if (c == "watch") return smtpguard::watchCommand(*args);
  return smtpguard::kExitUsage;
}
