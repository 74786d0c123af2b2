#pragma once
// Storage for fast-path tables, placed by the caller: the ordinary heap (tests, tools) or, in
// the appliance, DPDK memory on the NUMA socket of the lcore that uses the table (hugepages
// where the EAL has them). Allocated once on the control plane; never resized.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <utility>

namespace smtpguard {

// Bytes placed where asked and bytes that fell back to the heap (the source had no room).
struct PlacementStats {
  uint64_t placed_bytes = 0;
  uint64_t heap_bytes = 0;
};

struct MemorySource {
  // Returns zeroed or uninitialised memory of `bytes` aligned to `align` on `socket`, or
  // nullptr; null function: the heap.
  void* (*alloc)(size_t bytes, size_t align, int socket) = nullptr;
  void (*release)(void* p) = nullptr;
  int socket = -1;
  PlacementStats* stats = nullptr;  // optional
  // Storage left unconstructed (PlacedArray's construct = false) is not touched up front
  // either: its pages are faulted in as they are used. For replay, whose pools mostly stay
  // unused; not for live traffic or the benchmark, whose fast path must not take page faults
  // (there such storage is zeroed, every page touched, at construction).
  bool lazy = false;
};

template <class T>
class PlacedArray {
 public:
  PlacedArray() = default;
  // n value-initialised objects; throws std::bad_alloc when neither the source nor the heap
  // has room (control plane only). `construct` false: storage only, the caller constructs each
  // object before use (ObjectPool, when it lends one out), so no page of it is touched here;
  // only for trivially destructible T, whose destructor the array then calls on storage alone.
  PlacedArray(size_t n, const MemorySource& src, bool construct = true) : n_(n) {
    if (n == 0) return;
    const size_t bytes = n * sizeof(T);
    void* p = src.alloc != nullptr ? src.alloc(bytes, alignof(T), src.socket) : nullptr;
    if (p != nullptr) {
      release_ = src.release;
      if (src.stats != nullptr) src.stats->placed_bytes += bytes;
    } else {
      p = ::operator new (bytes, std::align_val_t{alignof(T)});
      if (src.stats != nullptr) src.stats->heap_bytes += bytes;
    }
    data_ = static_cast<T*>(p);
    if (construct) {
      for (size_t i = 0; i < n; ++i) new (&data_[i]) T();
    } else if (!src.lazy) {
      std::memset(p, 0, bytes);
    }
  }
  ~PlacedArray() { reset(); }
  PlacedArray(PlacedArray&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        n_(std::exchange(o.n_, 0)),
        release_(std::exchange(o.release_, nullptr)) {}
  PlacedArray& operator=(PlacedArray&& o) noexcept {
    if (this != &o) {
      reset();
      data_ = std::exchange(o.data_, nullptr);
      n_ = std::exchange(o.n_, 0);
      release_ = std::exchange(o.release_, nullptr);
    }
    return *this;
  }
  PlacedArray(const PlacedArray&) = delete;
  PlacedArray& operator=(const PlacedArray&) = delete;

  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  T* get() { return data_; }
  const T* get() const { return data_; }
  size_t size() const { return n_; }

 private:
  void reset() {
    if (data_ == nullptr) return;
    for (size_t i = 0; i < n_; ++i) data_[i].~T();
    if (release_ != nullptr) {
      release_(data_);
    } else {
      ::operator delete (data_, std::align_val_t{alignof(T)});
    }
    data_ = nullptr;
  }

  T* data_ = nullptr;
  size_t n_ = 0;
  void (*release_)(void*) = nullptr;  // null: the heap
};

}  // namespace smtpguard
