#pragma once
// Per-worker subscriber statistics in fixed memory: a Space-Saving summary (Metwally, Agrawal
// and El Abbadi 2005) of `capacity` entries, each holding one subscriber's statistics, its
// windows for the policy's detectors, and a few sample destinations. A subscriber not in the
// table takes the entry of the one with the least weight (one weight per recorded event); the
// newcomer inherits that weight as its `error`. Hence (docs/subscribers.md):
//   - every subscriber with more than N / capacity events (N: events recorded so far) is in
//     the table;
//   - an entry's weight overestimates the subscriber's events by at most its `error`
//     (<= N / capacity); its statistics count exactly what happened since it entered.
// Detectors read tumbling windows aligned on multiples of their length, on packet time.
//
// Fast path: record() never allocates, throws, locks or makes a syscall; all memory is taken
// by the constructor. One writer (the worker); readers read only when it is stopped or through
// its own answers.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/placed_array.h"
#include "subscriber/subscriber_stats.h"

namespace smtpguard {

// Distinct window lengths the detectors of one policy may use.
inline constexpr size_t kMaxDetectorWindows = 2;
// Detectors in one policy (their fired flags are one 16-bit word per window).
inline constexpr size_t kMaxDetectors = 16;
// Sample port-25 destinations kept per subscriber for the evidence.
inline constexpr size_t kSampleDestinations = 4;

struct DetectorRule {
  SubStat stat = SubStat::kConnections;
  uint32_t threshold = 0;   // fires when the window's count exceeds it
  uint8_t window_slot = 0;  // index into WindowPlan::len_s
};

// The window lengths in force (from the policy); 0: slot unused.
struct WindowPlan {
  uint32_t len_s[kMaxDetectorWindows] = {};
};

struct SubscriberWindow {
  uint32_t start_s = 0;  // aligned: a multiple of len_s
  uint32_t len_s = 0;
  uint16_t fired = 0;  // detectors that fired in this window (bit = detector index)
  uint32_t count[kSubStatCount] = {};
  DistinctCounter destinations;
};

struct SubscriberEntry {
  uint64_t key = 0;
  uint64_t weight = 0;  // events recorded for this key, plus `error`
  uint64_t error = 0;   // weight inherited at entry: the overestimate bound
  uint64_t first_ns = 0;
  uint64_t last_ns = 0;
  uint32_t count[kSubStatCount] = {};  // since entry; kPort25Destinations unused (see below)
  DistinctCounter destinations;        // port-25 destinations since entry
  uint8_t n_samples = 0;
  IpAddr samples[kSampleDestinations];
  SubscriberWindow window[kMaxDetectorWindows];

  uint32_t stat(SubStat s) const {
    return s == SubStat::kPort25Destinations ? destinations.estimate()
                                             : count[static_cast<size_t>(s)];
  }
  uint32_t windowStat(size_t w, SubStat s) const {
    return s == SubStat::kPort25Destinations ? window[w].destinations.estimate()
                                             : window[w].count[static_cast<size_t>(s)];
  }
};

class SubscriberTable {
 public:
  // Control plane: takes all the memory (capacity >= 1).
  explicit SubscriberTable(uint32_t capacity, const MemorySource& memory = {});
  static size_t memoryFor(uint32_t capacity);

  // One event of `stat` for `key` at `now_ns` (port-25 attempts carry their destination).
  // Returns the subscriber's entry and, in `fired`, the detectors (bit = index in `detectors`)
  // whose condition became true with this event, once per window.
  SubscriberEntry& record(uint64_t key, SubStat stat, uint64_t now_ns, const IpAddr* destination,
                          const WindowPlan& plan, std::span<const DetectorRule> detectors,
                          uint16_t& fired);
  SubscriberEntry& record(uint64_t key, SubStat stat, uint64_t now_ns,
                          const IpAddr* destination = nullptr) {
    uint16_t fired;
    return record(key, stat, now_ns, destination, WindowPlan{}, {}, fired);
  }

  const SubscriberEntry* find(uint64_t key) const;
  uint32_t size() const { return size_; }
  uint32_t capacity() const { return capacity_; }
  uint64_t events() const { return events_; }        // N: every event recorded
  uint64_t evictions() const { return evictions_; }  // entries given to a newcomer
  // The entries in use, unordered.
  std::span<const SubscriberEntry> entries() const { return {entries_.get(), size_}; }
  size_t memoryBytes() const;

 private:
  uint32_t slotOf(uint64_t key) const;  // index slot holding key, or the empty one ending its run
  void indexErase(uint32_t slot);
  void siftDown(uint32_t heap_pos);
  void siftUp(uint32_t heap_pos);
  SubscriberEntry& enter(uint64_t key, uint64_t now_ns);

  uint32_t capacity_;
  uint32_t size_ = 0;
  uint64_t events_ = 0;
  uint64_t evictions_ = 0;
  // Placed like the flow table (the worker's NUMA socket in the appliance, else the heap).
  PlacedArray<SubscriberEntry> entries_;  // [entry]
  PlacedArray<uint32_t> heap_;            // min-heap of entries by weight
  PlacedArray<uint32_t> heap_pos_;        // [entry] -> position in heap_
  PlacedArray<uint32_t> index_;           // open addressing: entry + 1, 0 empty
  uint32_t index_mask_;
};

}  // namespace smtpguard
