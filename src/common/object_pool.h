#pragma once
// A bounded pool of fixed-size objects addressed by 32-bit handles. Storage is allocated once on
// the control plane; acquire/release on the fast path are a free-list pop/push, never a heap
// call. Exhaustion is a normal outcome the caller must handle (and count): kNoHandle.
//
// One pool per lcore, so no synchronisation.

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>

#include "common/placed_array.h"

namespace smtpguard {

using PoolHandle = uint32_t;
inline constexpr PoolHandle kNoHandle = UINT32_MAX;

template <typename T>
class ObjectPool {
  // Objects are constructed when lent out (acquire), not up front: a pool's pages are touched
  // only as far as it is used, so a replay of a small capture, or a live start, does not fault
  // in and zero tens of MiB of buffers it may never need (issue 16).
  static_assert(std::is_trivially_destructible_v<T>, "pool storage is never destroyed per object");

 public:
  explicit ObjectPool(uint32_t capacity, const MemorySource& memory = {})
      : objects_(capacity, memory, /*construct=*/false),
        free_(capacity, memory),
        n_free_(capacity),
        capacity_(capacity) {
    for (uint32_t i = 0; i < capacity; ++i) free_[i] = capacity - 1 - i;
  }
  ObjectPool(const ObjectPool&) = delete;
  ObjectPool& operator=(const ObjectPool&) = delete;

  // What the constructor allocates for `capacity` objects.
  static size_t memoryFor(uint32_t capacity) {
    return size_t{capacity} * (sizeof(T) + sizeof(PoolHandle));
  }

  // Returns the handle of a default-initialised object (members with initialisers are set,
  // large byte arrays are not zeroed), or kNoHandle when the pool is empty.
  PoolHandle acquire() {
    if (n_free_ == 0) return kNoHandle;
    PoolHandle h = free_[--n_free_];
    new (&objects_[h]) T;  // over the last object lent from here, if any (nothing to destroy)
    return h;
  }
  void release(PoolHandle h) {
    if (h < capacity_ && n_free_ < capacity_) free_[n_free_++] = h;
  }
  T& get(PoolHandle h) { return objects_[h]; }
  const T& get(PoolHandle h) const { return objects_[h]; }
  uint32_t capacity() const { return capacity_; }
  uint32_t inUse() const { return capacity_ - n_free_; }

 private:
  PlacedArray<T> objects_;
  PlacedArray<PoolHandle> free_;  // a stack of free handles, n_free_ deep
  uint32_t n_free_;
  uint32_t capacity_;
};

}  // namespace smtpguard
