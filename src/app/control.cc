#include "app/control.h"

#include <rte_telemetry.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <shared_mutex>
#include <string_view>
#include <thread>

#include "app/runtime.h"
#include "events/event_render.h"
#include "flow/flow_table.h"
#include "policy/prefix_table.h"
#include "smtp/smtp_session.h"
#include "subscriber/subscriber_report.h"
#include "subscriber/subscriber_stats.h"

namespace smtpguard {

namespace {

// The instance the telemetry commands answer for: set while a Control lives. Callbacks hold
// the lock shared for their whole run, so the Control is never destroyed under one.
std::shared_mutex g_instance_mu;
Control* g_instance = nullptr;

constexpr auto kLoadTimeout = std::chrono::seconds(60);
constexpr auto kFlowTimeout = std::chrono::seconds(3);
constexpr size_t kRulesPerPage = 50;
constexpr uint16_t kMaxFlowsShown = 40;  // a flow's dictionary is ~350 bytes of 16 KiB
constexpr size_t kMaxEventBytes = 7 * 1024;

// Telemetry strings are at most RTE_TEL_MAX_STRING_LEN - 1 characters.
std::string clip(std::string_view s) {
  return std::string(s.substr(0, RTE_TEL_MAX_STRING_LEN - 1));
}

void addString(rte_tel_data* d, const char* key, std::string_view value) {
  rte_tel_data_add_dict_string(d, key, clip(value).c_str());
}

// DPDK 22.11 drops dictionary entries whose name has characters other than letters, digits,
// '_' and '/' (seen: '.' and '-' are refused): counter names' dots become '/'.
std::string telemetryName(std::string_view name) {
  std::string out = clip(name);
  std::replace(out.begin(), out.end(), '.', '/');
  return out;
}

// Hands `c` to `d` (which frees it with itself); frees it here if it cannot be added.
void addContainer(rte_tel_data* d, const char* key, rte_tel_data* c) {
  if (rte_tel_data_add_dict_container(d, key, c, 0) != 0) rte_tel_data_free(c);
}

std::string formatAddr(const IpAddr& a) {
  char buf[64];
  formatIp(a, buf, sizeof buf);
  return buf;
}

const char* stateName(uint8_t s) {
  switch (static_cast<TcpState>(s)) {
    case TcpState::kSynSent:
      return "syn_sent";
    case TcpState::kSynReceived:
      return "syn_received";
    case TcpState::kEstablished:
      return "established";
    case TcpState::kHalfClosed:
      return "half_closed";
    case TcpState::kClosed:
      return "closed";
  }
  return "unknown";
}

int stateByName(std::string_view name) {
  for (uint8_t s = 0; s <= static_cast<uint8_t>(TcpState::kClosed); ++s)
    if (name == stateName(s)) return s;
  return -2;
}

const char* tlsName(uint8_t kind) {
  switch (static_cast<SmtpTlsKind>(kind)) {
    case SmtpTlsKind::kNone:
      return "none";
    case SmtpTlsKind::kStarttls:
      return "starttls";
    case SmtpTlsKind::kImplicit:
      return "implicit";
  }
  return "unknown";
}

std::string isoTime(uint64_t ns) {
  return ns == 0 ? std::string() : formatEveTimestamp(ns);
}

uint64_t nowWallNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// "key=value,key=value" -> pairs; false on an item without '='.
bool splitParams(const char* params, std::vector<std::pair<std::string, std::string>>& out) {
  if (params == nullptr) return true;
  std::string_view rest = params;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) return false;
    out.emplace_back(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)));
  }
  return true;
}

bool parseUint(const std::string& s, uint64_t max, uint64_t& out) {
  if (s.empty() || s.size() > 19 ||
      !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  out = std::strtoull(s.c_str(), nullptr, 10);
  return out <= max;
}

int answerError(rte_tel_data* d, const std::string& error) {
  rte_tel_data_start_dict(d);
  addString(d, "error", error);
  return 0;
}

// --- commands ---

// Per-rule counters a page: names are the policy's own (any character a TOML string allows),
// which a telemetry dictionary name cannot carry, so they go as two parallel arrays.
constexpr size_t kRuleCountersPerPage = 200;

int cmdStats(const char*, const char* params, rte_tel_data* d) {
  std::shared_lock lock(g_instance_mu);
  if (g_instance == nullptr) return answerError(d, "stopping");
  std::string only = params != nullptr ? params : "";
  uint64_t offset = 0;
  if (const size_t comma = only.find(','); comma != std::string::npos) {
    if (!parseUint(only.substr(comma + 1), 1u << 30, offset))
      return answerError(d, "expected GROUP[,OFFSET], got '" + only + "'");
    only.resize(comma);
  }
  const bool per_rule = only == "policy.rule" || only == "policy.shadow";
  auto counters = g_instance->runtime().counters();
  // Groups: the name up to its first dot, except per-rule counters (policy.rule.NAME,
  // policy.shadow.NAME): groups of their own, asked for by name, so that no answer outgrows
  // what telemetry can carry.
  std::map<std::string, std::vector<std::pair<std::string, uint64_t>>> groups;
  for (auto& [name, v] : counters) {
    std::string group, key;
    if (name.rfind("policy.rule.", 0) == 0 || name.rfind("policy.shadow.", 0) == 0) {
      const size_t second = name.find('.', 7);
      group = name.substr(0, second);
      key = name.substr(second + 1);
    } else {
      const size_t dot = name.find('.');
      group = name.substr(0, dot);
      key = dot == std::string::npos ? name : name.substr(dot + 1);
    }
    if (only.empty() ? (group == "policy.rule" || group == "policy.shadow") : group != only)
      continue;
    groups[group].emplace_back(std::move(key), v);
  }
  rte_tel_data_start_dict(d);
  if (per_rule) {
    // {"names": [...], "values": [...], "total": N, "offset": K}; a policy without rules has
    // none (not an error).
    const auto& entries = groups[only];
    rte_tel_data* names = rte_tel_data_alloc();
    rte_tel_data* values = rte_tel_data_alloc();
    if (names == nullptr || values == nullptr) {
      rte_tel_data_free(names);
      rte_tel_data_free(values);
      return -1;
    }
    rte_tel_data_start_array(names, RTE_TEL_STRING_VAL);
    rte_tel_data_start_array(values, RTE_TEL_U64_VAL);
    for (size_t i = offset; i < entries.size() && i < offset + kRuleCountersPerPage; ++i) {
      rte_tel_data_add_array_string(names, clip(entries[i].first).c_str());
      rte_tel_data_add_array_u64(values, entries[i].second);
    }
    rte_tel_data_add_dict_u64(d, "total", entries.size());
    rte_tel_data_add_dict_u64(d, "offset", offset);
    addContainer(d, "names", names);
    addContainer(d, "values", values);
    return 0;
  }
  if (!only.empty() && groups.empty()) return answerError(d, "no counter group '" + only + "'");
  // Dictionary names allow letters, digits, '_' and '/': a counter's dots become '/'
  // (flows.port.25 is flows: {"port/25": N}).
  for (auto& [group, entries] : groups) {
    rte_tel_data* g = rte_tel_data_alloc();
    if (g == nullptr) return -1;
    rte_tel_data_start_dict(g);
    size_t n = 0;
    for (auto& [key, v] : entries) {
      if (++n > RTE_TEL_MAX_DICT_ENTRIES) break;
      rte_tel_data_add_dict_u64(g, telemetryName(key).c_str(), v);
    }
    addContainer(d, telemetryName(group).c_str(), g);
  }
  return 0;
}

int cmdPolicy(const char*, const char* params, rte_tel_data* d) {
  std::shared_lock lock(g_instance_mu);
  if (g_instance == nullptr) return answerError(d, "stopping");
  uint64_t offset = 0;
  if (params != nullptr && *params != '\0' && !parseUint(params, 1u << 30, offset))
    return answerError(d, "expected a rule offset, got '" + std::string(params) + "'");
  const PolicyInfo info = g_instance->runtime().policyInfo();
  rte_tel_data_start_dict(d);
  addString(d, "file", info.path);
  addString(d, "sha256", info.sha256);
  addString(d, "loaded_at", isoTime(info.loaded_at_ns));
  rte_tel_data_add_dict_u64(d, "loads", info.loads);
  addString(d, "name", info.name);
  addString(d, "mode", info.path.empty() ? "none" : info.shadow ? "shadow" : "enforce");
  addString(d, "default", info.default_action);
  rte_tel_data_add_dict_u64(d, "rules_total", info.rules.size());
  rte_tel_data_add_dict_u64(d, "offset", offset);
  // DPDK 22.11 nests containers one level deep: each rule is an entry "rule_<index>".
  for (size_t i = offset; i < info.rules.size() && i < offset + kRulesPerPage; ++i) {
    const PolicyInfo::Rule& r = info.rules[i];
    rte_tel_data* rd = rte_tel_data_alloc();
    if (rd == nullptr) break;
    rte_tel_data_start_dict(rd);
    rte_tel_data_add_dict_u64(rd, "index", i + 1);
    addString(rd, "name", r.name);
    addString(rd, "action", r.action);
    addString(rd, "stage", r.stage);
    addString(rd, "source", r.source);
    rte_tel_data_add_dict_int(rd, "shadow", r.shadow ? 1 : 0);
    rte_tel_data_add_dict_u64(rd, "hits", r.hits);
    rte_tel_data_add_dict_u64(rd, "shadow_hits", r.shadow_hits);
    addContainer(d, ("rule_" + std::to_string(i + 1)).c_str(), rd);
  }
  return 0;
}

rte_tel_data* stringArray(const std::vector<std::string>& items) {
  rte_tel_data* a = rte_tel_data_alloc();
  if (a == nullptr) return nullptr;
  rte_tel_data_start_array(a, RTE_TEL_STRING_VAL);
  size_t n = 0;
  for (const std::string& s : items) {
    if (++n > 200) break;
    rte_tel_data_add_array_string(a, clip(s).c_str());
  }
  return a;
}

int cmdPolicyLoad(const char*, const char* params, rte_tel_data* d) {
  std::shared_lock lock(g_instance_mu);
  if (g_instance == nullptr) return answerError(d, "stopping");
  if (params == nullptr || *params == '\0')
    return answerError(d, "expected the path of a policy file: /smtpguard/policy/load,PATH");
  const std::string path = params;
  if (path[0] != '/')
    return answerError(d,
                       "the path must be absolute (the instance does not share your "
                       "working directory): " +
                           path);
  const PolicyLoadResult r = g_instance->requestLoad(path);
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_int(d, "ok", r.ok ? 1 : 0);
  addString(d, "file", path);
  if (!r.ok) {
    std::vector<std::string> lines;
    size_t start = 0;
    while (start < r.errors.size()) {
      size_t nl = r.errors.find('\n', start);
      if (nl == std::string::npos) nl = r.errors.size();
      if (nl > start) lines.push_back(r.errors.substr(start, nl - start));
      start = nl + 1;
    }
    if (rte_tel_data* a = stringArray(lines)) addContainer(d, "errors", a);
    return 0;
  }
  addString(d, "name", r.name);
  rte_tel_data_add_dict_u64(d, "rules", r.rules);
  if (rte_tel_data* a = stringArray(r.added)) rte_tel_data_add_dict_container(d, "added", a, 0);
  if (rte_tel_data* a = stringArray(r.removed)) rte_tel_data_add_dict_container(d, "removed", a, 0);
  if (rte_tel_data* a = stringArray(r.changed)) rte_tel_data_add_dict_container(d, "changed", a, 0);
  return 0;
}

bool parseFlowQuery(const char* params, FlowQuery& q, std::string& error) {
  std::vector<std::pair<std::string, std::string>> kv;
  if (!splitParams(params, kv)) {
    error = "expected key=value items separated by commas (port, state, addr, order, n)";
    return false;
  }
  q.limit = 20;
  for (auto& [k, v] : kv) {
    uint64_t n = 0;
    if (k == "port") {
      if (!parseUint(v, 65535, n)) {
        error = "port: expected 0 to 65535, got '" + v + "'";
        return false;
      }
      q.filter.port = static_cast<uint16_t>(n);
    } else if (k == "state") {
      const int s = stateByName(v);
      if (s < 0) {
        error =
            "state: expected syn_sent, syn_received, established, half_closed or closed, "
            "got '" +
            v + "'";
        return false;
      }
      q.filter.state = static_cast<int16_t>(s);
    } else if (k == "addr") {
      auto a = parseIpAddr(v);
      if (!a) {
        error = "addr: not an IPv4 or IPv6 address: '" + v + "'";
        return false;
      }
      q.filter.has_addr = true;
      q.filter.addr = *a;
    } else if (k == "order") {
      if (v == "bytes") {
        q.order = FlowOrder::kBytes;
      } else if (v == "age") {
        q.order = FlowOrder::kAge;
      } else if (v == "idle") {
        q.order = FlowOrder::kIdle;
      } else {
        error = "order: expected bytes, age or idle, got '" + v + "'";
        return false;
      }
    } else if (k == "n") {
      if (!parseUint(v, kMaxFlowsShown, n)) {
        error = "n: expected 0 to " + std::to_string(kMaxFlowsShown) + ", got '" + v + "'";
        return false;
      }
      q.limit = static_cast<uint16_t>(n);
    } else {
      error = "unknown key '" + k + "': expected port, state, addr, order or n";
      return false;
    }
  }
  return true;
}

int cmdFlows(const char*, const char* params, rte_tel_data* d) {
  std::shared_lock lock(g_instance_mu);
  if (g_instance == nullptr) return answerError(d, "stopping");
  FlowQuery q;
  std::string error;
  if (!parseFlowQuery(params, q, error)) return answerError(d, error);
  std::vector<FlowBrief> flows;
  uint64_t matched = 0, live = 0;
  if (!g_instance->queryFlows(q, flows, matched, live, error)) return answerError(d, error);
  const uint64_t now = nowWallNs();
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_u64(d, "live", live);
  rte_tel_data_add_dict_u64(d, "matched", matched);
  rte_tel_data_add_dict_u64(d, "shown", flows.size());
  // One level of nesting (DPDK 22.11): each flow is an entry "flow_<rank>", best first.
  size_t rank = 0;
  for (const FlowBrief& f : flows) {
    rte_tel_data* fd = rte_tel_data_alloc();
    if (fd == nullptr) break;
    rte_tel_data_start_dict(fd);
    rte_tel_data_add_dict_u64(fd, "flow_id", f.id);
    addString(fd, "src_ip", formatAddr(f.client));
    rte_tel_data_add_dict_u64(fd, "src_port", f.client_port);
    addString(fd, "dest_ip", formatAddr(f.server));
    rte_tel_data_add_dict_u64(fd, "dest_port", f.server_port);
    addString(fd, "state", stateName(f.state));
    rte_tel_data_add_dict_u64(fd, "bytes_toserver", f.bytes_to_server);
    rte_tel_data_add_dict_u64(fd, "bytes_toclient", f.bytes_to_client);
    addString(fd, "start", isoTime(f.first_ns));
    rte_tel_data_add_dict_u64(fd, "age_ms", now > f.first_ns ? (now - f.first_ns) / 1000000 : 0);
    rte_tel_data_add_dict_u64(fd, "idle_ms", now > f.last_ns ? (now - f.last_ns) / 1000000 : 0);
    addString(fd, "tls", tlsName(f.tls));
    rte_tel_data_add_dict_int(fd, "auth", f.auth_mechs != 0 ? 1 : 0);
    rte_tel_data_add_dict_u64(fd, "messages", f.messages);
    rte_tel_data_add_dict_int(fd, "blocked", f.blocked ? 1 : 0);
    rte_tel_data_add_dict_int(fd, "midstream", f.midstream ? 1 : 0);
    rte_tel_data_add_dict_u64(fd, "worker", f.worker);
    addContainer(d, ("flow_" + std::to_string(++rank)).c_str(), fd);
  }
  return 0;
}

int cmdTop(const char*, const char* params, rte_tel_data* d) {
  std::shared_lock lock(g_instance_mu);
  if (g_instance == nullptr) return answerError(d, "stopping");
  std::vector<std::pair<std::string, std::string>> kv;
  uint64_t n = 10;
  if (!splitParams(params, kv)) return answerError(d, "expected n=N");
  for (auto& [k, v] : kv) {
    if (k != "n" || !parseUint(v, kMaxFlowsShown, n))
      return answerError(d, "expected n=1.." + std::to_string(kMaxFlowsShown));
  }
  // The busiest flows of every worker, summed by client address.
  FlowQuery q;
  q.order = FlowOrder::kBytes;
  q.limit = kMaxFlowAnswer;
  std::vector<FlowBrief> flows;
  uint64_t matched = 0, live = 0;
  std::string error;
  if (!g_instance->queryFlows(q, flows, matched, live, error)) return answerError(d, error);
  struct Talker {
    IpAddr addr;
    uint64_t flows = 0, bytes_out = 0, bytes_in = 0, blocked = 0;
  };
  std::map<std::string, Talker> by_addr;
  for (const FlowBrief& f : flows) {
    Talker& t = by_addr[std::string(reinterpret_cast<const char*>(f.client.b), 16)];
    t.addr = f.client;
    ++t.flows;
    t.bytes_out += f.bytes_to_server;
    t.bytes_in += f.bytes_to_client;
    if (f.blocked) ++t.blocked;
  }
  std::vector<Talker> talkers;
  for (auto& [k, t] : by_addr) talkers.push_back(t);
  std::sort(talkers.begin(), talkers.end(), [](const Talker& a, const Talker& b) {
    return a.bytes_out + a.bytes_in > b.bytes_out + b.bytes_in;
  });
  if (talkers.size() > n) talkers.resize(n);
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_u64(d, "live", live);
  rte_tel_data_add_dict_u64(d, "flows_seen", flows.size());
  rte_tel_data_add_dict_u64(d, "shown", talkers.size());
  size_t rank = 0;
  for (const Talker& t : talkers) {
    rte_tel_data* td = rte_tel_data_alloc();
    if (td == nullptr) break;
    rte_tel_data_start_dict(td);
    addString(td, "src_ip", formatAddr(t.addr));
    rte_tel_data_add_dict_u64(td, "flows", t.flows);
    rte_tel_data_add_dict_u64(td, "bytes_toserver", t.bytes_out);
    rte_tel_data_add_dict_u64(td, "bytes_toclient", t.bytes_in);
    rte_tel_data_add_dict_u64(td, "blocked", t.blocked);
    addContainer(d, ("talker_" + std::to_string(++rank)).c_str(), td);
  }
  return 0;
}

int cmdEvents(const char*, const char* params, rte_tel_data* d) {
  std::shared_lock lock(g_instance_mu);
  if (g_instance == nullptr) return answerError(d, "stopping");
  uint64_t n = 20;
  if (params != nullptr && *params != '\0' && !parseUint(params, kRecentEvents, n))
    return answerError(d, "expected a number of events from 0 to " + std::to_string(kRecentEvents));
  // One string of JSON lines (an event is longer than a telemetry dictionary string may be),
  // newest last, as many of the last n as fit.
  std::vector<std::string> lines = g_instance->recentEvents(n);
  std::string text;
  size_t first = lines.size();
  size_t bytes = 0;
  while (first > 0 && bytes + lines[first - 1].size() + 1 <= kMaxEventBytes) {
    bytes += lines[first - 1].size() + 1;
    --first;
  }
  for (size_t i = first; i < lines.size(); ++i) text += lines[i] + "\n";
  rte_tel_data_string(d, text.c_str());
  return 0;
}

}  // namespace

Control::Control(Runtime& rt) : rt_(rt) {
  std::unique_lock lock(g_instance_mu);
  g_instance = this;
  rt_.setControl(this);
}

Control::~Control() {
  stop();
  rt_.setControl(nullptr);
  std::unique_lock lock(g_instance_mu);
  if (g_instance == this) g_instance = nullptr;
}

namespace {

// --- quarantine (docs/subscribers.md) ---------------------------------------------------------
// The set is lock-free and shared by the workers: the control thread reads and writes it
// directly, no worker is asked. Times are the wall clock, the live workers' packet time.

constexpr size_t kMaxQuarantineShown = 100;  // ~120 bytes an entry of 16 KiB

uint64_t wallNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// "ADDRESS[,SECONDS]" -> the subscriber key of ADDRESS under the running policy.
bool quarantineTarget(const char* params, bool with_seconds, uint64_t& key, uint64_t& seconds,
                      std::string& error) {
  std::string p = params == nullptr ? "" : params;
  std::string addr = p.substr(0, p.find(','));
  std::string secs = p.find(',') == std::string::npos ? "" : p.substr(p.find(',') + 1);
  auto a = parseIpAddr(addr);
  if (!a) {
    error = "expected an IPv4 or IPv6 address" + std::string(with_seconds ? "[,SECONDS]" : "") +
            ", got '" + p + "'";
    return false;
  }
  if (!secs.empty() && (!with_seconds || !parseUint(secs, 365ull * 86400, seconds) || !seconds)) {
    error = "expected SECONDS from 1 to 31536000, got '" + secs + "'";
    return false;
  }
  key = subscriberKey(*a, g_instance->runtime().policyInfo().subscriber_v6_prefix);
  return true;
}

int cmdQuarantine(const char*, const char*, rte_tel_data* d) {
  std::shared_lock lock(g_instance_mu);
  if (g_instance == nullptr) return answerError(d, "stopping");
  const unsigned v6 = g_instance->runtime().policyInfo().subscriber_v6_prefix;
  const uint64_t now = wallNs();
  const auto items = g_instance->runtime().policy().quarantine().list(now);
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_u64(d, "count", items.size());
  rte_tel_data_add_dict_u64(d, "shown", std::min(items.size(), kMaxQuarantineShown));
  for (size_t i = 0; i < items.size() && i < kMaxQuarantineShown; ++i) {
    rte_tel_data* q = rte_tel_data_alloc();
    if (q == nullptr) break;
    rte_tel_data_start_dict(q);
    addString(q, "source", formatSubscriberKey(items[i].key, v6));
    addString(q, "until", isoTime(items[i].until_ns));
    rte_tel_data_add_dict_u64(q, "remaining_s", (items[i].until_ns - now) / 1000000000u);
    addContainer(d, ("q_" + std::to_string(i + 1)).c_str(), q);
  }
  return 0;
}

int cmdQuarantineAdd(const char*, const char* params, rte_tel_data* d) {
  std::shared_lock lock(g_instance_mu);
  if (g_instance == nullptr) return answerError(d, "stopping");
  uint64_t key = 0, seconds = 86400;
  std::string error;
  if (!quarantineTarget(params, true, key, seconds, error)) return answerError(d, error);
  const uint64_t now = wallNs();
  const uint64_t until = now + seconds * 1000000000u;
  if (!g_instance->runtime().policy().quarantine().add(key, until, now)) {
    return answerError(d, "the quarantine set has no room around this key");
  }
  rte_tel_data_start_dict(d);
  addString(d, "source",
            formatSubscriberKey(key, g_instance->runtime().policyInfo().subscriber_v6_prefix));
  addString(d, "until", isoTime(until));
  return 0;
}

int cmdQuarantineDel(const char*, const char* params, rte_tel_data* d) {
  std::shared_lock lock(g_instance_mu);
  if (g_instance == nullptr) return answerError(d, "stopping");
  uint64_t key = 0, seconds = 0;
  std::string error;
  if (!quarantineTarget(params, false, key, seconds, error)) return answerError(d, error);
  const bool was = g_instance->runtime().policy().quarantine().remove(key, wallNs());
  rte_tel_data_start_dict(d);
  addString(d, "source",
            formatSubscriberKey(key, g_instance->runtime().policyInfo().subscriber_v6_prefix));
  addString(d, "removed", was ? "yes" : "no (not quarantined)");
  return 0;
}

int cmdSubscribers(const char*, const char* params, rte_tel_data* d) {
  std::shared_lock lock(g_instance_mu);
  if (g_instance == nullptr) return answerError(d, "stopping");
  std::vector<std::pair<std::string, std::string>> kv;
  SubscriberQuery q;
  uint64_t n = 10;
  std::string stats;
  for (std::string_view name : kSubStatNames)
    stats += (stats.empty() ? "" : ", ") + std::string(name);
  const std::string usage =
      "expected by=events|" + stats + " and n=1.." + std::to_string(kMaxSubscriberAnswer);
  if (!splitParams(params, kv)) return answerError(d, usage);
  for (auto& [k, v] : kv) {
    if (k == "n" && parseUint(v, kMaxSubscriberAnswer, n) && n > 0) continue;
    if (k == "by" && (v == "events" || subStatFromName(v) != SubStat::kCount)) {
      q.by = v == "events" ? SubStat::kCount : subStatFromName(v);
      continue;
    }
    return answerError(d, usage);
  }
  q.limit = static_cast<uint16_t>(n);
  std::vector<SubscriberEntry> entries;
  SubscriberAnswer meta;
  std::string error;
  if (!g_instance->querySubscribers(q, entries, meta, error)) return answerError(d, error);
  // Merged by key as the replay report is.
  const unsigned v6 = g_instance->runtime().policyInfo().subscriber_v6_prefix;
  const std::vector<SubscriberRow> rows = mergeSubscriberEntries(entries, q.by);
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_u64(d, "tracked", meta.tracked);
  rte_tel_data_add_dict_u64(d, "slots_per_worker", meta.capacity);
  rte_tel_data_add_dict_u64(d, "events", meta.events);
  rte_tel_data_add_dict_u64(d, "evicted", meta.evictions);
  addString(d, "by", q.by == SubStat::kCount ? "events" : kSubStatNames[static_cast<size_t>(q.by)]);
  const size_t shown = std::min<size_t>(rows.size(), n);
  rte_tel_data_add_dict_u64(d, "shown", shown);
  for (size_t i = 0; i < shown; ++i) {
    const SubscriberRow& row = rows[i];
    rte_tel_data* sd = rte_tel_data_alloc();
    if (sd == nullptr) break;
    rte_tel_data_start_dict(sd);
    addString(sd, "source", formatSubscriberKey(row.key, v6));
    rte_tel_data_add_dict_u64(sd, "events", row.weight);
    rte_tel_data_add_dict_u64(sd, "error", row.error);
    for (size_t s = 0; s < kSubStatCount; ++s)
      rte_tel_data_add_dict_u64(sd, std::string(kSubStatNames[s]).c_str(),
                                row.stat(static_cast<SubStat>(s)));
    addString(sd, "last_seen", isoTime(row.last_ns));
    addContainer(d, ("sub_" + std::to_string(i + 1)).c_str(), sd);
  }
  return 0;
}

}  // namespace

bool Control::querySubscribers(const SubscriberQuery& q, std::vector<SubscriberEntry>& out,
                               SubscriberAnswer& meta, std::string& error) {
  std::lock_guard one(subscribers_mu_);
  const size_t n = rt_.workerCount();
  const auto deadline = std::chrono::steady_clock::now() + kFlowTimeout;
  auto wait = [&](size_t w) {
    SubscriberQueryBox& box = rt_.worker(w).subscriberQueries();
    while (!box.idle()) {
      if (std::chrono::steady_clock::now() > deadline) {
        error = "worker " + std::to_string(w) + " did not answer in 3 s (stopped or stalled)";
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  };
  for (size_t w = 0; w < n; ++w) {
    if (!wait(w)) return false;
    rt_.worker(w).subscriberQueries().post(q);
  }
  out.clear();
  meta = SubscriberAnswer{};
  for (size_t w = 0; w < n; ++w) {
    if (!wait(w)) return false;
    const SubscriberAnswer& a = rt_.worker(w).subscriberQueries().answer();
    meta.tracked += a.tracked;
    meta.capacity = a.capacity;
    meta.events += a.events;
    meta.evictions += a.evictions;
    out.insert(out.end(), a.entries, a.entries + a.n);
  }
  return true;
}

void Control::registerTelemetry() {
  rte_telemetry_register_cmd("/smtpguard/subscribers", cmdSubscribers,
                             "Subscribers with the most of a statistic. Parameters: by=STAT,n=N");
  rte_telemetry_register_cmd("/smtpguard/quarantine", cmdQuarantine,
                             "Sources in the quarantine set, with their expiry");
  rte_telemetry_register_cmd("/smtpguard/quarantine/add", cmdQuarantineAdd,
                             "Quarantines a source. Parameters: ADDRESS[,SECONDS] (default 86400)");
  rte_telemetry_register_cmd("/smtpguard/quarantine/del", cmdQuarantineDel,
                             "Releases a source. Parameters: ADDRESS");
  rte_telemetry_register_cmd("/smtpguard/stats", cmdStats,
                             "smtpguard counters by group. Parameters: a group (optional)");
  rte_telemetry_register_cmd("/smtpguard/policy", cmdPolicy,
                             "The running policy and its rules' hits. Parameters: rule offset");
  rte_telemetry_register_cmd("/smtpguard/policy/load", cmdPolicyLoad,
                             "Compiles and swaps in a policy. Parameters: absolute path");
  rte_telemetry_register_cmd("/smtpguard/flows", cmdFlows,
                             "Live flows. Parameters: port=,state=,addr=,order=bytes|age|idle,n=");
  rte_telemetry_register_cmd("/smtpguard/top", cmdTop,
                             "Client addresses by payload bytes in live flows. Parameters: n=");
  rte_telemetry_register_cmd("/smtpguard/events", cmdEvents,
                             "The last events, JSON lines. Parameters: number of events");
}

void Control::poll(int caller_worker) {
  std::string path;
  {
    std::lock_guard lock(mu_);
    if (!load_pending_) return;
    path = load_path_;
  }
  PolicyLoadResult r;
  rt_.loadPolicy(path, caller_worker, r);
  {
    std::lock_guard lock(mu_);
    load_result_ = std::move(r);
    load_pending_ = false;
    load_done_ = true;
  }
  cv_.notify_all();
}

void Control::noteEvent(const EventRecord& ev) {
  std::lock_guard lock(mu_);
  if (recent_.size() == kRecentEvents) recent_.pop_front();
  recent_.push_back(ev);
}

void Control::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
}

PolicyLoadResult Control::requestLoad(const std::string& path) {
  std::lock_guard one(load_mu_);
  std::unique_lock lock(mu_);
  PolicyLoadResult r;
  if (stopping_) {
    r.errors = "the instance is stopping";
    return r;
  }
  load_path_ = path;
  load_pending_ = true;
  load_done_ = false;
  if (!cv_.wait_for(lock, kLoadTimeout, [&] { return load_done_ || stopping_; })) {
    r.errors = "no answer from the main lcore in 60 s (the load may still happen)";
    return r;
  }
  if (!load_done_) {
    load_pending_ = false;
    r.errors = "the instance is stopping";
    return r;
  }
  return load_result_;
}

bool Control::queryFlows(const FlowQuery& q, std::vector<FlowBrief>& out, uint64_t& matched,
                         uint64_t& live, std::string& error) {
  std::lock_guard one(flows_mu_);
  const size_t n = rt_.workerCount();
  const auto deadline = std::chrono::steady_clock::now() + kFlowTimeout;
  // A box still busy with a query that timed out earlier is waited for, not reused.
  for (size_t w = 0; w < n; ++w) {
    FlowQueryBox& box = rt_.worker(w).flowQueries();
    while (!box.idle()) {
      if (std::chrono::steady_clock::now() > deadline) {
        error = "worker " + std::to_string(w) + " did not answer (stopped or stalled)";
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    box.post(q);
  }
  matched = 0;
  live = 0;
  out.clear();
  for (size_t w = 0; w < n; ++w) {
    FlowQueryBox& box = rt_.worker(w).flowQueries();
    while (!box.idle()) {
      if (std::chrono::steady_clock::now() > deadline) {
        error = "worker " + std::to_string(w) + " did not answer in 3 s (stopped or stalled)";
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const FlowAnswer& a = box.answer();
    matched += a.matched;
    live += a.live;
    out.insert(out.end(), a.flows, a.flows + a.n);
  }
  auto better = [order = q.order](const FlowBrief& x, const FlowBrief& y) {
    return flowRanksBefore(order, x, y);
  };
  std::stable_sort(out.begin(), out.end(), better);
  if (out.size() > q.limit) out.resize(q.limit);
  return true;
}

std::vector<std::string> Control::recentEvents(size_t n) {
  std::vector<EventRecord> copy;
  {
    std::lock_guard lock(mu_);
    const size_t from = recent_.size() > n ? recent_.size() - n : 0;
    copy.assign(recent_.begin() + static_cast<std::ptrdiff_t>(from), recent_.end());
  }
  std::vector<std::string> lines;
  lines.reserve(copy.size());
  for (const EventRecord& ev : copy) lines.push_back(renderEvent(ev));
  return lines;
}

}  // namespace smtpguard
