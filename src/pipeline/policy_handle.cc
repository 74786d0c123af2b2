#include "pipeline/policy_handle.h"

#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <cstdlib>
#include <new>

namespace smtpguard {

PolicyHandle::PolicyHandle(unsigned n_workers)
    : n_workers_(n_workers),
      counters_(n_workers),
      slot_names_(kRuleSlots),
      slot_offsets_(kRuleSlots) {
  size_t size = rte_rcu_qsbr_get_memsize(n_workers);
  // The QSBR variable wants cache-line alignment; it lives as long as the handle.
  qsbr_ = static_cast<rte_rcu_qsbr*>(std::aligned_alloc(
      RTE_CACHE_LINE_SIZE, (size + RTE_CACHE_LINE_SIZE - 1) & ~size_t{RTE_CACHE_LINE_SIZE - 1}));
  if (qsbr_ == nullptr || rte_rcu_qsbr_init(qsbr_, n_workers) != 0) throw std::bad_alloc();
  for (unsigned w = 0; w < n_workers; ++w) rte_rcu_qsbr_thread_register(qsbr_, w);
  auto* initial = new PolicyBundle;
  initial->ports = PortMap::defaults();
  current_.store(initial, std::memory_order_release);
}

PolicyHandle::~PolicyHandle() {
  delete current_.load(std::memory_order_acquire);
  std::free(qsbr_);
}

void PolicyHandle::online(unsigned worker, const CounterBlock& counters) {
  if (worker < counters_.size()) counters_[worker] = &counters;
  rte_rcu_qsbr_thread_online(qsbr_, worker);
}
void PolicyHandle::offline(unsigned worker) {
  rte_rcu_qsbr_thread_offline(qsbr_, worker);
  if (worker < counters_.size()) counters_[worker] = nullptr;
}

RuleCount PolicyHandle::slotSum(uint16_t s) const {
  RuleCount sum;
  for (const CounterBlock* b : counters_) {
    if (b == nullptr) continue;
    // No worker writes this slot (no bundle names it): plain reads of settled values.
    sum.hits += __atomic_load_n(&b->rule_hits[s], __ATOMIC_RELAXED);
    sum.shadow += __atomic_load_n(&b->rule_shadow[s], __ATOMIC_RELAXED);
  }
  return sum;
}

void PolicyHandle::assignSlot(uint16_t s, const std::string& name) {
  const RuleCount now = slotSum(s);
  auto byName = [](const RetiredRule& r, const std::string& n) { return r.name < n; };
  if (!slot_names_[s].empty()) {
    // The old name leaves the slot; its count is kept, and exported, under its name.
    RetiredRule gone{slot_names_[s],
                     {now.hits + slot_offsets_[s].hits, now.shadow + slot_offsets_[s].shadow}};
    auto at = std::lower_bound(retired_.begin(), retired_.end(), gone.name, byName);
    retired_.insert(at, std::move(gone));
    slot_of_.erase(slot_names_[s]);
  }
  // A name seen before goes on from its count; unsigned arithmetic wraps back to it on export.
  RuleCount carry;
  auto it = std::lower_bound(retired_.begin(), retired_.end(), name, byName);
  if (it != retired_.end() && it->name == name) {
    carry = it->count;
    retired_.erase(it);
  }
  slot_offsets_[s] = {carry.hits - now.hits, carry.shadow - now.shadow};
  slot_names_[s] = name;
  slot_of_[name] = s;
}
void PolicyHandle::quiescent(unsigned worker) {
  rte_rcu_qsbr_quiescent(qsbr_, worker);
}

bool PolicyHandle::publish(std::shared_ptr<const PolicySnapshot> snapshot, std::string& error,
                           int caller_worker) {
  auto bundle = std::make_unique<PolicyBundle>();
  for (uint16_t port : snapshot->smtpPorts()) bundle->ports.set(port, snapshot->portClass(port));
  for (unsigned w = 0; w < n_workers_; ++w) bundle->scratch.push_back(snapshot->makeScratch());
  // Slots workers may be counting in until the swap (the running policy's), and the ones the
  // new policy keeps, are not for reuse. Both policies together name at most kRuleSlots.
  std::vector<bool> busy(kRuleSlots);
  for (uint16_t s : current_.load(std::memory_order_acquire)->rule_slot) busy[s] = true;
  for (const std::string& name : snapshot->ruleNames())
    if (auto it = slot_of_.find(name); it != slot_of_.end()) busy[it->second] = true;
  for (const std::string& name : snapshot->ruleNames()) {
    auto it = slot_of_.find(name);
    if (it == slot_of_.end()) {
      // A slot never used, else the next one whose name no running policy has.
      size_t s = slots_used_;
      if (s < kRuleSlots) {
        ++slots_used_;
      } else {
        for (size_t tried = 0; tried < kRuleSlots && busy[next_reuse_]; ++tried)
          next_reuse_ = (next_reuse_ + 1) % kRuleSlots;
        if (busy[next_reuse_]) {
          error = "no free rule counter slot (" + std::to_string(kRuleSlots) + " in use)\n";
          return false;
        }
        s = next_reuse_;
        next_reuse_ = (next_reuse_ + 1) % kRuleSlots;
      }
      busy[s] = true;
      assignSlot(static_cast<uint16_t>(s), name);
      it = slot_of_.find(name);
    }
    bundle->rule_slot.push_back(it->second);
  }
  bundle->slot_names = slot_names_;
  bundle->snapshot = std::move(snapshot);
  const PolicyBundle* old = current_.exchange(bundle.release(), std::memory_order_acq_rel);
  // Every worker passes a quiescent state after the swap before the old bundle goes.
  rte_rcu_qsbr_synchronize(
      qsbr_, caller_worker >= 0 ? static_cast<unsigned>(caller_worker) : RTE_QSBR_THRID_INVALID);
  delete old;
  return true;
}

bool applyPolicy(PolicyHandle& handle, std::shared_ptr<const PolicySnapshot> snapshot,
                 std::string& error, int caller_worker) {
  if (snapshot == nullptr) {
    if (error.empty()) error = "no compiled policy to apply";
    return false;
  }
  return handle.publish(std::move(snapshot), error, caller_worker);
}

}  // namespace smtpguard
