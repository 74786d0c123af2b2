#include "subscriber/quarantine_set.h"

#include <algorithm>
#include <bit>

namespace smtpguard {

QuarantineSet::QuarantineSet(uint32_t capacity)
    : slots_(std::make_unique<Slot[]>(std::bit_ceil(std::max<uint32_t>(capacity, kProbe)))),
      mask_(std::bit_ceil(std::max<uint32_t>(capacity, kProbe)) - 1) {}

const QuarantineSet::Slot* QuarantineSet::findSlot(uint64_t key) const {
  uint32_t s = static_cast<uint32_t>(mix64(key)) & mask_;
  for (uint32_t i = 0; i < kProbe; ++i, s = (s + 1) & mask_) {
    uint64_t k = slots_[s].key.load(std::memory_order_acquire);
    if (k == key) return &slots_[s];
    if (k == 0) return nullptr;
  }
  return nullptr;
}

bool QuarantineSet::add(uint64_t key, uint64_t until_ns, uint64_t now_ns) {
  if (key == 0) return false;
  uint32_t s = static_cast<uint32_t>(mix64(key)) & mask_;
  Slot* reusable = nullptr;
  for (uint32_t i = 0; i < kProbe; ++i, s = (s + 1) & mask_) {
    Slot& slot = slots_[s];
    uint64_t k = slot.key.load(std::memory_order_acquire);
    if (k == 0 && slot.key.compare_exchange_strong(k, key, std::memory_order_acq_rel)) {
      slot.until_ns.store(until_ns, std::memory_order_release);
      return true;
    }
    if (k == key) {
      slot.until_ns.store(until_ns, std::memory_order_release);
      return true;
    }
    if (reusable == nullptr && slot.until_ns.load(std::memory_order_acquire) <= now_ns) {
      reusable = &slot;
    }
  }
  // The run is full: take over an expired key's slot (it was out of the set anyway).
  if (reusable == nullptr) return false;
  reusable->until_ns.store(0, std::memory_order_release);
  reusable->key.store(key, std::memory_order_release);
  reusable->until_ns.store(until_ns, std::memory_order_release);
  return true;
}

bool QuarantineSet::remove(uint64_t key, uint64_t now_ns) {
  const Slot* s = findSlot(key);
  if (s == nullptr) return false;
  auto* slot = const_cast<Slot*>(s);
  return slot->until_ns.exchange(0, std::memory_order_acq_rel) > now_ns;
}

uint64_t QuarantineSet::until(uint64_t key, uint64_t now_ns) const {
  const Slot* s = findSlot(key);
  if (s == nullptr) return 0;
  uint64_t u = s->until_ns.load(std::memory_order_acquire);
  return u > now_ns ? u : 0;
}

bool QuarantineSet::contains(uint64_t key, uint64_t now_ns) const {
  return until(key, now_ns) != 0;
}

std::vector<QuarantineSet::Item> QuarantineSet::list(uint64_t now_ns) const {
  std::vector<Item> out;
  for (uint32_t s = 0; s <= mask_; ++s) {
    uint64_t k = slots_[s].key.load(std::memory_order_acquire);
    uint64_t u = slots_[s].until_ns.load(std::memory_order_acquire);
    if (k != 0 && u > now_ns) out.push_back({k, u});
  }
  std::sort(out.begin(), out.end(), [](const Item& a, const Item& b) { return a.key < b.key; });
  return out;
}

}  // namespace smtpguard
