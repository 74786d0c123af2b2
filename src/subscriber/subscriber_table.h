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
// The weights are kept in a Stream-Summary (the paper's §3.1): buckets of entries of equal
// weight, in a list by increasing weight. An event moves its entry to the bucket of the next
// weight (at most `events` buckets along) and a newcomer takes the oldest entry of the least
// bucket: O(1) each, where a min-heap took up to log2(capacity) levels of scattered reads, a
// cost every SYN of a flood of new sources paid three times.
//
// Fast path: record() never allocates, throws, locks or makes a syscall; all memory is taken
// by the constructor. One writer (the worker); readers read only when it is stopped or through
// its own answers.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
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

// A set of statistics, one bit per SubStat: the events one call records together.
using SubStatSet = uint16_t;
static_assert(kSubStatCount <= 16);
constexpr SubStatSet subStatBit(SubStat s) {
  return static_cast<SubStatSet>(1u << static_cast<unsigned>(s));
}

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

  // As a new SubscriberWindow, in place.
  void reset(uint32_t start, uint32_t len) {
    start_s = start;
    len_s = len;
    fired = 0;
    std::fill(std::begin(count), std::end(count), 0u);
    destinations.clear();
  }
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

  // As a new SubscriberEntry, writing only what is read before it is written again (a newcomer
  // takes a cold entry: `= SubscriberEntry{}` wrote all 624 bytes through a copy on the stack).
  void reset() {
    key = weight = error = first_ns = last_ns = 0;
    std::fill(std::begin(count), std::end(count), 0u);
    destinations.clear();
    n_samples = 0;
    for (SubscriberWindow& w : window) w.reset(0, 0);
  }

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
                          uint16_t& fired) {
    return record(key, subStatBit(stat), now_ns, destination, plan, detectors, fired);
  }
  // One event of each statistic in `stats`, as that many record() calls in a row would count
  // them, with one lookup and one weight update. `destination` goes with them once. An empty
  // set enters the subscriber (if new) and counts nothing.
  SubscriberEntry& record(uint64_t key, SubStatSet stats, uint64_t now_ns,
                          const IpAddr* destination, const WindowPlan& plan,
                          std::span<const DetectorRule> detectors, uint16_t& fired);
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
  // For tests: the Stream-Summary agrees with the entries (every entry in the bucket of its
  // weight, buckets by strictly increasing weight, none empty). Walks the whole table.
  bool consistent() const;

 private:
  static constexpr uint32_t kNil = UINT32_MAX;
  struct Link {  // an entry's place in its bucket's circular list, newest at the head
    uint32_t prev;
    uint32_t next;
    uint32_t bucket;
  };
  struct Bucket {  // all entries of one weight
    uint64_t weight;
    uint32_t head;  // newest entry; its prev is the oldest
    uint32_t prev;  // buckets of lower and higher weight
    uint32_t next;
  };

  uint32_t slotOf(uint64_t key) const;  // index slot holding key, or the empty one ending its run
  void indexErase(uint32_t slot);
  SubscriberEntry& enter(uint64_t key, uint64_t now_ns);
  uint32_t newBucket(uint64_t weight, uint32_t after);  // after kNil: the least
  void freeBucket(uint32_t b);
  void attach(uint32_t e, uint32_t b);
  void detach(uint32_t e);
  void addWeight(uint32_t e, uint64_t n);

  uint32_t capacity_;
  uint32_t size_ = 0;
  uint64_t events_ = 0;
  uint64_t evictions_ = 0;
  // Placed like the flow table (the worker's NUMA socket in the appliance, else the heap).
  PlacedArray<SubscriberEntry> entries_;  // [entry]
  PlacedArray<Link> links_;               // [entry]
  PlacedArray<Bucket> buckets_;           // capacity + 1: one more while an entry moves
  // Open addressing by linear probing. The key is kept beside the entry number so that a probe
  // reads this array alone, not a 624-byte entry per slot it passes.
  struct Slot {
    uint64_t key;
    uint32_t entry;  // entry + 1, 0 empty
  };
  PlacedArray<Slot> index_;
  uint32_t index_mask_;
  uint32_t least_ = kNil;        // the bucket of least weight
  uint32_t free_bucket_ = kNil;  // free buckets, linked by next
  uint32_t buckets_used_ = 0;    // buckets ever taken from buckets_
};

}  // namespace smtpguard
