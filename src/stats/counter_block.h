#pragma once
// Per-lcore counter storage. Exactly one writer (the owning lcore) increments plain integers;
// readers on the control plane sum all blocks with relaxed atomic loads, which on x86-64 is an
// ordinary aligned 64-bit load: the fast path pays nothing for being observable.

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "stats/counters.h"

namespace smtpguard {

inline constexpr size_t kMaxPolicyRules = 256;

struct alignas(64) CounterBlock {
  std::array<uint64_t, kCounterCount> values{};
  // flows.port.<N>: new connections by destination port, indexed by port number. Only touched
  // when a flow is created, so its size (512 KiB) costs no cache on the per-packet path.
  std::unique_ptr<std::array<uint64_t, 65536>> flows_port =
      std::make_unique<std::array<uint64_t, 65536>>();
  // policy.rule.<name> / policy.shadow.<name>, indexed by rule position in the running snapshot.
  std::array<uint64_t, kMaxPolicyRules> rule_hits{};
  std::array<uint64_t, kMaxPolicyRules> rule_shadow{};

  void inc(Counter c, uint64_t n = 1) { values[static_cast<size_t>(c)] += n; }
  void dec(Counter c, uint64_t n = 1) { values[static_cast<size_t>(c)] -= n; }
  uint64_t get(Counter c) const { return values[static_cast<size_t>(c)]; }
};

// Names the indexed families at export time.
struct CounterNaming {
  std::span<const uint16_t> smtp_ports;  // flows.port.<N> is exported for these even when 0
  std::span<const std::string> rule_names;
};

// Sum of every block, in declaration order, then the families. Stable order: tests, golden
// files and Prometheus scrapes diff cleanly.
std::vector<std::pair<std::string, uint64_t>> sumCounters(
    std::span<const CounterBlock* const> blocks, const CounterNaming& naming);

// One flat JSON object of dotted names to integers, keys in the order given.
std::string countersToJson(const std::vector<std::pair<std::string, uint64_t>>& counters,
                           bool pretty);

// Prometheus text exposition: `smtpguard_packets_rx 42`, with families as labels
// (`smtpguard_flows_port{port="25"}`).
std::string countersToPrometheus(const std::vector<std::pair<std::string, uint64_t>>& counters);

}  // namespace smtpguard
