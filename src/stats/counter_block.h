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

// The owning lcore's increment: a relaxed atomic load and store, which on x86-64 are the same
// plain movs as `v += n` (no lock prefix: there is one writer), but make the concurrent
// relaxed loads of a reader (the main lcore, the metrics thread) race-free by the C++ memory
// model instead of by the hardware's grace.
inline void bumpCounter(uint64_t& v, uint64_t n = 1) {
  __atomic_store_n(&v, __atomic_load_n(&v, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

inline constexpr size_t kMaxPolicyRules = 256;
// Counter slots for policy.rule.<name> / policy.shadow.<name>: the running policy's rules and
// a new one's together, so a reload never runs out (pipeline/policy_handle.h).
inline constexpr size_t kRuleSlots = 2 * kMaxPolicyRules;

struct alignas(64) CounterBlock {
  std::array<uint64_t, kCounterCount> values{};
  // flows.port.<N>: new connections by destination port, indexed by port number. Only touched
  // when a flow is created, so its size (512 KiB) costs no cache on the per-packet path.
  std::unique_ptr<std::array<uint64_t, 65536>> flows_port =
      std::make_unique<std::array<uint64_t, 65536>>();
  // policy.rule.<name> / policy.shadow.<name>, indexed by the slot the running policy gave the
  // rule's name (PolicyBundle::rule_slot).
  std::array<uint64_t, kRuleSlots> rule_hits{};
  std::array<uint64_t, kRuleSlots> rule_shadow{};

  void inc(Counter c, uint64_t n = 1) { bumpCounter(values[static_cast<size_t>(c)], n); }
  void dec(Counter c, uint64_t n = 1) { bumpCounter(values[static_cast<size_t>(c)], -n); }
  uint64_t get(Counter c) const { return values[static_cast<size_t>(c)]; }
};

struct RuleCount {
  uint64_t hits = 0;
  uint64_t shadow = 0;
};
// A rule name that gave its counter slot up to another, with its counts then.
struct RetiredRule {
  std::string name;
  RuleCount count;
};

// Names the indexed families at export time.
struct CounterNaming {
  std::span<const uint16_t> smtp_ports;     // flows.port.<N> is exported for these even when 0
  std::span<const std::string> rule_names;  // by slot; "" for a slot never used
  // By slot (empty: all zero): added to the slot's sum, modulo 2^64, so a reused slot counts
  // its new name from that name's earlier count.
  std::span<const RuleCount> rule_offsets = {};
  std::span<const RetiredRule> retired_rules = {};  // exported after the slots
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
