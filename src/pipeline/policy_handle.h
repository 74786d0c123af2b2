#pragma once
// The running policy as the workers see it: one immutable bundle (compiled snapshot, one
// Hyperscan scratch per worker, the port map, the counter slot of every rule) published with
// one pointer swap and reclaimed after a DPDK RCU (QSBR) grace period: workers read it without
// a lock and report a quiescent state after every burst.
//
// applyPolicy() is the one function that changes it: start-up, SIGHUP, the control plane and
// tests all call it. A policy that fails to compile never replaces the running one.

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "pipeline/port_map.h"
#include "policy/policy_snapshot.h"
#include "stats/counter_block.h"
#include "subscriber/quarantine_set.h"

struct rte_rcu_qsbr;

namespace smtpguard {

struct PolicyBundle {
  std::shared_ptr<const PolicySnapshot> snapshot;  // null: no policy (observe, default ports)
  // [worker]: Hyperscan scratch, written only by its own worker while scanning.
  mutable std::vector<PolicyScratch> scratch;
  PortMap ports;
  // [rule index] -> slot in CounterBlock::rule_hits/rule_shadow. A name keeps its slot while
  // policies name it, so a rule's count survives reloads that move it; a slot whose name no
  // running policy has is given to a new name when needed, the old name's count kept aside.
  std::vector<uint16_t> rule_slot;
  // [slot] -> rule name, as of this bundle: slots only grow, so a slot a flow remembered from
  // an older bundle still names its rule here.
  std::vector<std::string> slot_names;
};

class PolicyHandle {
 public:
  // Control plane. Starts with no policy (the default port set, nothing enforced).
  explicit PolicyHandle(unsigned n_workers);
  ~PolicyHandle();
  PolicyHandle(const PolicyHandle&) = delete;
  PolicyHandle& operator=(const PolicyHandle&) = delete;

  // --- workers (fast path) ---
  const PolicyBundle* current() const { return current_.load(std::memory_order_acquire); }
  // `counters` is the worker's block: read on the control plane when a slot changes name.
  void online(unsigned worker, const CounterBlock& counters);
  void offline(unsigned worker);
  void quiescent(unsigned worker);

  // --- control plane ---
  // How to export the counters (policy.rule.<name>, policy.shadow.<name>): the slots' names
  // and offsets, and the names that gave their slots up. Valid until the next applyPolicy.
  CounterNaming naming(std::span<const uint16_t> smtp_ports) const {
    return {smtp_ports, slot_names_, slot_offsets_, retired_};
  }
  unsigned workers() const { return n_workers_; }

  // The dynamic set `quarantine` (docs/subscribers.md): beside the policy, not in it, so a
  // reload keeps it. Workers and the control plane use it concurrently (lock-free).
  QuarantineSet& quarantine() { return quarantine_; }
  const QuarantineSet& quarantine() const { return quarantine_; }

 private:
  friend bool applyPolicy(PolicyHandle&, std::shared_ptr<const PolicySnapshot>, std::string&, int);
  bool publish(std::shared_ptr<const PolicySnapshot> snapshot, std::string& error,
               int caller_worker);
  // Gives slot `s` (read by no bundle) to `name`.
  void assignSlot(uint16_t s, const std::string& name);
  RuleCount slotSum(uint16_t s) const;

  unsigned n_workers_;
  rte_rcu_qsbr* qsbr_ = nullptr;
  std::atomic<const PolicyBundle*> current_{nullptr};
  std::vector<const CounterBlock*> counters_;  // [worker], while online
  std::unordered_map<std::string, uint16_t> slot_of_;
  std::vector<std::string> slot_names_;  // [slot]; "" never used
  std::vector<RuleCount> slot_offsets_;  // [slot], see CounterNaming
  size_t slots_used_ = 0;                // slots [0, slots_used_) have had a name
  size_t next_reuse_ = 0;                // where the search for a slot to reuse goes on
  std::vector<RetiredRule> retired_;     // by name
  QuarantineSet quarantine_;
};

// Publishes a compiled snapshot: the pipeline never reads or compiles a policy file (the
// control plane does, compilePolicyFileNow() in policy/). A null snapshot (a compile that
// failed, its diagnostics already in `error`) changes nothing and returns false; so does a
// bundle that cannot be built, with the reason in `error`. `caller_worker` is the worker id of
// the calling thread when it is itself a reader (replay: the main lcore), else -1. Blocks
// until no worker can still see the old bundle, then frees it.
bool applyPolicy(PolicyHandle& handle, std::shared_ptr<const PolicySnapshot> snapshot,
                 std::string& error, int caller_worker = -1);

}  // namespace smtpguard
