#include "app/run_summary.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <map>
#include <string_view>

namespace smtpguard {

void Port25Blocks::note(const EventRecord& rec) {
  if (rec.type != EventType::kPolicyVerdict || rec.dst_port != 25) return;
  const bool blocking =
      rec.verdict.action == Action::kDrop || rec.verdict.action == Action::kReject;
  if (!blocking) return;
  const bool enforced = rec.verdict.enforced;
  uint64_t hi = 0, lo = 0;
  std::memcpy(&hi, rec.src.b, 8);
  std::memcpy(&lo, rec.src.b + 8, 8);
  (enforced ? flows_ : would_flows_).insert({rec.lcore, rec.flow_id});
  (enforced ? srcs_ : would_srcs_).insert({hi, lo});
}

namespace {

// printf into a std::string; the format attribute keeps -Wformat checking every call.
__attribute__((format(printf, 1, 2))) std::string fmt(const char* f, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

const char* plural(uint64_t n, const char* one, const char* many) {
  return n == 1 ? one : many;
}

std::string percent(uint64_t part, uint64_t whole) {
  return whole == 0
             ? ""
             : fmt(" (%.0f%%)", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
}

}  // namespace

std::string renderSummary(const SummaryInput& in) {
  std::map<std::string, uint64_t, std::less<>> c(in.counters->begin(), in.counters->end());
  auto get = [&](std::string_view name) -> uint64_t {
    auto it = c.find(name);
    return it == c.end() ? 0 : it->second;
  };
  std::string out;
  const uint64_t rx = get("packets.rx");
  out += fmt("\nsmtpguard summary: %llu packets in %.3f s", static_cast<unsigned long long>(rx),
             in.elapsed_s);
  if (in.elapsed_s > 0) out += fmt(" (%.0f pps)", static_cast<double>(rx) / in.elapsed_s);
  out += ", policy " + (in.policy.empty() ? std::string("none (observe only)") : in.policy) +
         (in.policy.empty() ? ""
          : in.enforcing    ? " (enforced)"
                            : " (not enforced)") +
         "\n";
  uint64_t conns = 0;
  std::vector<std::pair<std::string, uint64_t>> ports;
  for (const auto& [name, v] : c) {
    if (name.rfind("flows.port.", 0) == 0 && v != 0) {
      conns += v;
      ports.emplace_back(name.substr(11), v);
    }
  }
  std::sort(ports.begin(), ports.end(),
            [](const auto& a, const auto& b) { return std::stoul(a.first) < std::stoul(b.first); });
  out += fmt("  SMTP connections        %llu", static_cast<unsigned long long>(conns));
  if (!ports.empty()) {
    out += " (";
    for (size_t i = 0; i < ports.size(); ++i)
      out += fmt("%sport %s: %llu", i ? ", " : "", ports[i].first.c_str(),
                 static_cast<unsigned long long>(ports[i].second));
    out += ")";
  }
  out += "\n";

  // Port 25 from subscribers.
  const size_t blocked = in.blocks->connections(true), would = in.blocks->connections(false);
  if (blocked > 0 || !in.policy.empty()) {
    out += fmt("  port 25 blocked         %zu %s from %zu %s\n", blocked,
               plural(blocked, "connection", "connections"), in.blocks->subscribers(true),
               plural(in.blocks->subscribers(true), "subscriber", "subscribers"));
  }
  if (would > 0) {
    out += fmt("  port 25 would block     %zu %s from %zu %s (not enforced)\n", would,
               plural(would, "connection", "connections"), in.blocks->subscribers(false),
               plural(in.blocks->subscribers(false), "subscriber", "subscribers"));
  }

  // Plaintext AUTH by mechanism.
  const uint64_t auth = get("smtp.auth"), plain = get("smtp.auth.plaintext");
  out += fmt("  AUTH in clear           %llu of %llu AUTH commands%s",
             static_cast<unsigned long long>(plain), static_cast<unsigned long long>(auth),
             percent(plain, auth).c_str());
  std::vector<std::pair<std::string, uint64_t>> mechs;
  for (const auto& [name, v] : c)
    if (name.rfind("smtp.auth.plaintext.", 0) == 0 && v != 0)
      mechs.emplace_back(name.substr(20), v);
  std::sort(mechs.begin(), mechs.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  for (size_t i = 0; i < mechs.size(); ++i)
    out += fmt("%s%s %llu", i ? ", " : ": ", mechs[i].first.c_str(),
               static_cast<unsigned long long>(mechs[i].second));
  out += "\n";

  // The STARTTLS funnel.
  const uint64_t offered = get("smtp.starttls.offered"), attempted = get("smtp.starttls.attempted"),
                 accepted = get("smtp.starttls.accepted"), refused = get("smtp.starttls.refused");
  out += fmt("  STARTTLS                offered %llu -> attempted %llu%s -> accepted %llu%s",
             static_cast<unsigned long long>(offered), static_cast<unsigned long long>(attempted),
             percent(attempted, offered).c_str(), static_cast<unsigned long long>(accepted),
             percent(accepted, attempted).c_str());
  if (refused != 0) out += fmt(", refused %llu", static_cast<unsigned long long>(refused));
  out += "\n";
  const uint64_t unused = get("smtp.anomaly.starttls_offered_not_used");
  const uint64_t stripped =
      get("smtp.anomaly.starttls_masked") + get("smtp.anomaly.starttls_not_offered");
  const uint64_t injected = get("smtp.anomaly.starttls_injection");
  if (unused + stripped + injected != 0) {
    out +=
        fmt("                          offered but not used %llu, hidden or missing %llu, "
            "command injection %llu\n",
            static_cast<unsigned long long>(unused), static_cast<unsigned long long>(stripped),
            static_cast<unsigned long long>(injected));
  }

  // Top rule hits, then the shadow ones.
  for (const char* prefix : {"policy.rule.", "policy.shadow."}) {
    std::vector<std::pair<std::string, uint64_t>> rules;
    const size_t plen = std::strlen(prefix);
    for (const auto& [name, v] : c)
      if (name.rfind(prefix, 0) == 0 && v != 0) rules.emplace_back(name.substr(plen), v);
    if (rules.empty()) continue;
    std::stable_sort(rules.begin(), rules.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    constexpr size_t kTop = 5;
    out += prefix[7] == 'r' ? "  top rules              " : "  top shadow rules       ";
    for (size_t i = 0; i < std::min(kTop, rules.size()); ++i)
      out += fmt("%s%s %llu", i ? ", " : " ", rules[i].first.c_str(),
                 static_cast<unsigned long long>(rules[i].second));
    if (rules.size() > kTop) out += fmt(" (+%zu more)", rules.size() - kTop);
    out += "\n";
  }
  const uint64_t dropped = get("packets.dropped"), rst = get("packets.rst_injected");
  if (dropped + rst != 0) {
    out += fmt("  enforcement             %llu packets dropped, %llu resets sent\n",
               static_cast<unsigned long long>(dropped), static_cast<unsigned long long>(rst));
  }
  out += "  (every counter: --stats; every event: --events)\n";
  return out;
}

}  // namespace smtpguard
