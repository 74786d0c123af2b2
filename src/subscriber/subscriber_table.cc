#include "subscriber/subscriber_table.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>

namespace smtpguard {

size_t formatSubscriberKey(uint64_t key, unsigned v6_prefix_len, char* buf, size_t cap) {
  int n;
  if (subscriberKeyIsV4(key)) {
    n = std::snprintf(buf, cap, "%u.%u.%u.%u", static_cast<unsigned>((key >> 24) & 0xff),
                      static_cast<unsigned>((key >> 16) & 0xff),
                      static_cast<unsigned>((key >> 8) & 0xff), static_cast<unsigned>(key & 0xff));
  } else {
    n = std::snprintf(buf, cap, "%x:%x:%x:%x::/%u", static_cast<unsigned>(key >> 48),
                      static_cast<unsigned>((key >> 32) & 0xffff),
                      static_cast<unsigned>((key >> 16) & 0xffff),
                      static_cast<unsigned>(key & 0xffff), v6_prefix_len);
  }
  return n < 0 ? 0 : std::min(static_cast<size_t>(n), cap == 0 ? 0 : cap - 1);
}

std::string formatSubscriberKey(uint64_t key, unsigned v6_prefix_len) {
  char buf[64];
  return std::string(buf, formatSubscriberKey(key, v6_prefix_len, buf, sizeof buf));
}

uint32_t DistinctCounter::estimate() const {
  if (!hll_) return n_;
  constexpr double m = kRegisters;
  constexpr double alpha = 0.7213 / (1.0 + 1.079 / m);
  double sum = 0;
  unsigned zeros = 0;
  for (uint8_t r : registers_) {
    sum += std::ldexp(1.0, -static_cast<int>(r));
    if (r == 0) ++zeros;
  }
  double e = alpha * m * m / sum;
  // Linear counting in the small range (Flajolet et al. 2007, §4).
  if (e <= 2.5 * m && zeros != 0) e = m * std::log(m / zeros);
  // Never below what exact mode had counted.
  return std::max<uint32_t>(kExact + 1, static_cast<uint32_t>(std::lround(e)));
}

SubscriberTable::SubscriberTable(uint32_t capacity, const MemorySource& memory)
    : capacity_(std::max<uint32_t>(capacity, 1)),
      entries_(capacity_, memory),
      heap_(capacity_, memory),
      heap_pos_(capacity_, memory),
      index_(std::bit_ceil(2 * capacity_), memory),
      index_mask_(static_cast<uint32_t>(index_.size() - 1)) {}

size_t SubscriberTable::memoryFor(uint32_t capacity) {
  capacity = std::max<uint32_t>(capacity, 1);
  return size_t{capacity} * (sizeof(SubscriberEntry) + 2 * sizeof(uint32_t)) +
         std::bit_ceil(2 * size_t{capacity}) * sizeof(uint32_t);
}

size_t SubscriberTable::memoryBytes() const {
  return entries_.size() * sizeof(SubscriberEntry) +
         (heap_.size() + heap_pos_.size() + index_.size()) * sizeof(uint32_t);
}

uint32_t SubscriberTable::slotOf(uint64_t key) const {
  uint32_t s = static_cast<uint32_t>(mix64(key)) & index_mask_;
  while (index_[s] != 0 && entries_[index_[s] - 1].key != key) s = (s + 1) & index_mask_;
  return s;
}

const SubscriberEntry* SubscriberTable::find(uint64_t key) const {
  uint32_t s = slotOf(key);
  return index_[s] == 0 ? nullptr : &entries_[index_[s] - 1];
}

// Linear probing deletion by backward shift (Knuth 6.4, algorithm R): no tombstones.
void SubscriberTable::indexErase(uint32_t slot) {
  uint32_t hole = slot;
  for (uint32_t j = (hole + 1) & index_mask_; index_[j] != 0; j = (j + 1) & index_mask_) {
    uint32_t home = static_cast<uint32_t>(mix64(entries_[index_[j] - 1].key)) & index_mask_;
    // Move j into the hole unless its home lies cyclically in (hole, j].
    bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (stays) continue;
    index_[hole] = index_[j];
    hole = j;
  }
  index_[hole] = 0;
}

void SubscriberTable::siftDown(uint32_t pos) {
  for (;;) {
    uint32_t least = pos;
    uint32_t l = 2 * pos + 1, r = l + 1;
    if (l < size_ && entries_[heap_[l]].weight < entries_[heap_[least]].weight) least = l;
    if (r < size_ && entries_[heap_[r]].weight < entries_[heap_[least]].weight) least = r;
    if (least == pos) return;
    std::swap(heap_[pos], heap_[least]);
    heap_pos_[heap_[pos]] = pos;
    heap_pos_[heap_[least]] = least;
    pos = least;
  }
}

void SubscriberTable::siftUp(uint32_t pos) {
  while (pos > 0) {
    uint32_t parent = (pos - 1) / 2;
    if (entries_[heap_[parent]].weight <= entries_[heap_[pos]].weight) return;
    std::swap(heap_[pos], heap_[parent]);
    heap_pos_[heap_[pos]] = pos;
    heap_pos_[heap_[parent]] = parent;
    pos = parent;
  }
}

SubscriberEntry& SubscriberTable::enter(uint64_t key, uint64_t now_ns) {
  uint32_t e;
  uint64_t inherited = 0;
  if (size_ < capacity_) {
    // New entries have weight 0, the least: appended at the heap's end they keep it a heap.
    e = size_;
    heap_[size_] = e;
    heap_pos_[e] = size_;
    ++size_;
    siftUp(size_ - 1);
  } else {
    e = heap_[0];  // the least weight
    inherited = entries_[e].weight;
    indexErase(slotOf(entries_[e].key));
    ++evictions_;
  }
  SubscriberEntry& n = entries_[e];
  n = SubscriberEntry{};
  n.key = key;
  n.weight = inherited;
  n.error = inherited;
  n.first_ns = now_ns;
  index_[slotOf(key)] = e + 1;
  return n;
}

SubscriberEntry& SubscriberTable::record(uint64_t key, SubStat stat, uint64_t now_ns,
                                         const IpAddr* destination, const WindowPlan& plan,
                                         std::span<const DetectorRule> detectors, uint16_t& fired) {
  fired = 0;
  const uint32_t s = slotOf(key);
  SubscriberEntry& en = index_[s] != 0 ? entries_[index_[s] - 1] : enter(key, now_ns);
  ++events_;
  ++en.weight;
  siftDown(heap_pos_[static_cast<uint32_t>(&en - entries_.get())]);
  en.last_ns = now_ns;
  const auto si = static_cast<size_t>(stat);
  uint32_t dest_hash = 0;
  if (destination != nullptr) {
    dest_hash = addrHash32(*destination);
    if (en.destinations.add(dest_hash) && en.n_samples < kSampleDestinations) {
      bool seen = false;
      for (uint8_t i = 0; i < en.n_samples; ++i) seen = seen || en.samples[i] == *destination;
      if (!seen) en.samples[en.n_samples++] = *destination;
    }
  }
  if (stat != SubStat::kPort25Destinations) ++en.count[si];
  const auto now_s = static_cast<uint32_t>(now_ns / 1000000000u);
  for (size_t w = 0; w < kMaxDetectorWindows; ++w) {
    const uint32_t len = plan.len_s[w];
    if (len == 0) continue;
    SubscriberWindow& win = en.window[w];
    const uint32_t start = now_s - now_s % len;
    if (win.start_s != start || win.len_s != len) {
      win = SubscriberWindow{};
      win.start_s = start;
      win.len_s = len;
    }
    ++win.count[si];
    if (destination != nullptr) win.destinations.add(dest_hash);
  }
  for (size_t d = 0; d < detectors.size() && d < kMaxDetectors; ++d) {
    const DetectorRule& r = detectors[d];
    const bool touched =
        r.stat == stat || (r.stat == SubStat::kPort25Destinations && destination != nullptr);
    if (!touched || plan.len_s[r.window_slot] == 0) continue;
    SubscriberWindow& win = en.window[r.window_slot];
    const auto bit = static_cast<uint16_t>(1u << d);
    if ((win.fired & bit) != 0 || en.windowStat(r.window_slot, r.stat) <= r.threshold) continue;
    win.fired = static_cast<uint16_t>(win.fired | bit);
    fired = static_cast<uint16_t>(fired | bit);
  }
  return en;
}

}  // namespace smtpguard
