#pragma once
// The dynamic set `quarantine`: subscriber keys with an expiry on packet time, shared by every
// worker and the control plane. Detectors (on any worker) and `smtpguardctl quarantine add`
// insert, everyone reads; a key is in the set while now < until. Lock-free: each slot is a key
// and an expiry in two atomics, claimed by one compare-and-swap; keys are never cleared, only
// replaced once expired, so a lookup's probe run never breaks (open addressing, linear probing
// over at most kProbe slots). It lives beside the policy, not in it: a reload keeps it.

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "subscriber/subscriber_stats.h"

namespace smtpguard {

inline constexpr uint32_t kDefaultQuarantineCapacity = 65536;

class QuarantineSet {
 public:
  static constexpr uint32_t kProbe = 32;

  // Control plane: all memory up front. capacity is rounded up to a power of two.
  explicit QuarantineSet(uint32_t capacity = kDefaultQuarantineCapacity);

  // Any thread. `until_ns` replaces the key's expiry (0 releases it). False when the key's
  // probe run is full of live keys (the set is full around it).
  bool add(uint64_t key, uint64_t until_ns, uint64_t now_ns);
  // Any thread. Whether the key was quarantined at now_ns.
  bool remove(uint64_t key, uint64_t now_ns);
  // Any thread, no write.
  bool contains(uint64_t key, uint64_t now_ns) const;
  // Expiry of the key, 0 when not in the set at now_ns.
  uint64_t until(uint64_t key, uint64_t now_ns) const;

  struct Item {
    uint64_t key;
    uint64_t until_ns;
  };
  // Control plane: the keys quarantined at now_ns (a snapshot; concurrent changes may or may
  // not show).
  std::vector<Item> list(uint64_t now_ns) const;
  uint32_t capacity() const { return mask_ + 1; }

 private:
  struct Slot {
    std::atomic<uint64_t> key{0};
    std::atomic<uint64_t> until_ns{0};
  };
  const Slot* findSlot(uint64_t key) const;

  std::unique_ptr<Slot[]> slots_;
  uint32_t mask_;
};

}  // namespace smtpguard
