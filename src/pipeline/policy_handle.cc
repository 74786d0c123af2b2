#include "pipeline/policy_handle.h"

#include <rte_rcu_qsbr.h>

#include <cstdlib>
#include <ctime>
#include <new>

#include "policy/policy_compiler.h"
#include "policy/policy_loader.h"

namespace smtpguard {

PolicyHandle::PolicyHandle(unsigned n_workers) : n_workers_(n_workers) {
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

void PolicyHandle::online(unsigned worker) {
  rte_rcu_qsbr_thread_online(qsbr_, worker);
}
void PolicyHandle::offline(unsigned worker) {
  rte_rcu_qsbr_thread_offline(qsbr_, worker);
}
void PolicyHandle::quiescent(unsigned worker) {
  rte_rcu_qsbr_quiescent(qsbr_, worker);
}

bool PolicyHandle::publish(std::shared_ptr<const PolicySnapshot> snapshot, std::string& error,
                           int caller_worker) {
  auto bundle = std::make_unique<PolicyBundle>();
  for (uint16_t port : snapshot->smtpPorts()) bundle->ports.set(port, snapshot->portClass(port));
  for (unsigned w = 0; w < n_workers_; ++w) bundle->scratch.push_back(snapshot->makeScratch());
  for (const std::string& name : snapshot->ruleNames()) {
    auto it = slot_of_.find(name);
    if (it == slot_of_.end()) {
      if (slot_names_.size() >= kMaxPolicyRules) {
        error = "more than " + std::to_string(kMaxPolicyRules) +
                " distinct rule names since start: restart to reset rule counters";
        return false;
      }
      it = slot_of_.emplace(name, static_cast<uint16_t>(slot_names_.size())).first;
      slot_names_.push_back(name);
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

bool applyPolicy(PolicyHandle& handle, const std::string& path, std::string& error,
                 int caller_worker) {
  Diagnostics diags;
  auto snapshot = compilePolicyFile(path, diags, CompileOptions{.now_unix_s = std::time(nullptr)});
  if (snapshot == nullptr) {
    error = formatDiagnostics(diags);
    return false;
  }
  return handle.publish(std::move(snapshot), error, caller_worker);
}

}  // namespace smtpguard
