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
      links_(capacity_, memory),
      buckets_(size_t{capacity_} + 1, memory),
      index_(std::bit_ceil(2 * capacity_), memory),
      index_mask_(static_cast<uint32_t>(index_.size() - 1)) {}

size_t SubscriberTable::memoryFor(uint32_t capacity) {
  capacity = std::max<uint32_t>(capacity, 1);
  return size_t{capacity} * (sizeof(SubscriberEntry) + sizeof(Link)) +
         (size_t{capacity} + 1) * sizeof(Bucket) +
         std::bit_ceil(2 * size_t{capacity}) * sizeof(Slot);
}

size_t SubscriberTable::memoryBytes() const {
  return entries_.size() * sizeof(SubscriberEntry) + links_.size() * sizeof(Link) +
         buckets_.size() * sizeof(Bucket) + index_.size() * sizeof(Slot);
}

uint32_t SubscriberTable::slotOf(uint64_t key) const {
  uint32_t s = static_cast<uint32_t>(mix64(key)) & index_mask_;
  while (index_[s].entry != 0 && index_[s].key != key) s = (s + 1) & index_mask_;
  return s;
}

const SubscriberEntry* SubscriberTable::find(uint64_t key) const {
  uint32_t s = slotOf(key);
  return index_[s].entry == 0 ? nullptr : &entries_[index_[s].entry - 1];
}

// Linear probing deletion by backward shift (Knuth 6.4, algorithm R): no tombstones.
void SubscriberTable::indexErase(uint32_t slot) {
  uint32_t hole = slot;
  for (uint32_t j = (hole + 1) & index_mask_; index_[j].entry != 0; j = (j + 1) & index_mask_) {
    uint32_t home = static_cast<uint32_t>(mix64(index_[j].key)) & index_mask_;
    // Move j into the hole unless its home lies cyclically in (hole, j].
    bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (stays) continue;
    index_[hole] = index_[j];
    hole = j;
  }
  index_[hole] = Slot{0, 0};
}

uint32_t SubscriberTable::newBucket(uint64_t weight, uint32_t after) {
  uint32_t b;
  if (free_bucket_ != kNil) {
    b = free_bucket_;
    free_bucket_ = buckets_[b].next;
  } else {
    b = buckets_used_++;  // at most capacity + 1 live: see buckets_
  }
  Bucket& n = buckets_[b];
  n.weight = weight;
  n.head = kNil;
  n.prev = after;
  n.next = after == kNil ? least_ : buckets_[after].next;
  if (n.next != kNil) buckets_[n.next].prev = b;
  if (after == kNil) {
    least_ = b;
  } else {
    buckets_[after].next = b;
  }
  return b;
}

void SubscriberTable::freeBucket(uint32_t b) {
  const Bucket& o = buckets_[b];
  if (o.prev == kNil) {
    least_ = o.next;
  } else {
    buckets_[o.prev].next = o.next;
  }
  if (o.next != kNil) buckets_[o.next].prev = o.prev;
  buckets_[b].next = free_bucket_;
  free_bucket_ = b;
}

void SubscriberTable::attach(uint32_t e, uint32_t b) {
  Bucket& bk = buckets_[b];
  Link& l = links_[e];
  l.bucket = b;
  if (bk.head == kNil) {
    l.prev = l.next = e;
  } else {
    const uint32_t h = bk.head, t = links_[h].prev;
    l.next = h;
    l.prev = t;
    links_[t].next = e;
    links_[h].prev = e;
  }
  bk.head = e;
}

void SubscriberTable::detach(uint32_t e) {
  const Link& l = links_[e];
  Bucket& bk = buckets_[l.bucket];
  if (l.next == e) {
    bk.head = kNil;
    return;
  }
  links_[l.prev].next = l.next;
  links_[l.next].prev = l.prev;
  if (bk.head == e) bk.head = l.next;
}

// Moves entry e to the bucket of its weight + n (n >= 1): the buckets between are at most n,
// since weights in the list are distinct integers.
void SubscriberTable::addWeight(uint32_t e, uint64_t n) {
  const uint32_t from = links_[e].bucket;
  const uint64_t w = buckets_[from].weight + n;
  uint32_t after = from;
  uint32_t b = buckets_[from].next;
  while (b != kNil && buckets_[b].weight < w) {
    after = b;
    b = buckets_[b].next;
  }
  const uint32_t to = b != kNil && buckets_[b].weight == w ? b : newBucket(w, after);
  detach(e);
  if (buckets_[from].head == kNil) freeBucket(from);
  attach(e, to);
  entries_[e].weight = w;
}

SubscriberEntry& SubscriberTable::enter(uint64_t key, uint64_t now_ns) {
  uint32_t e;
  uint64_t inherited = 0;
  if (size_ < capacity_) {
    // A new entry weighs 0, the least there is.
    e = size_++;
    attach(e, least_ != kNil && buckets_[least_].weight == 0 ? least_ : newBucket(0, kNil));
  } else {
    // The oldest entry of the least weight; it stays in that bucket, its weight inherited.
    e = links_[buckets_[least_].head].prev;
    inherited = entries_[e].weight;
    indexErase(slotOf(entries_[e].key));
    ++evictions_;
  }
  SubscriberEntry& n = entries_[e];
  n.reset();
  n.key = key;
  n.weight = inherited;
  n.error = inherited;
  n.first_ns = now_ns;
  index_[slotOf(key)] = Slot{key, e + 1};
  return n;
}

SubscriberEntry& SubscriberTable::record(uint64_t key, SubStatSet stats, uint64_t now_ns,
                                         const IpAddr* destination, const WindowPlan& plan,
                                         std::span<const DetectorRule> detectors, uint16_t& fired) {
  fired = 0;
  const uint32_t s = slotOf(key);
  SubscriberEntry& en = index_[s].entry != 0 ? entries_[index_[s].entry - 1] : enter(key, now_ns);
  const auto events = static_cast<uint64_t>(std::popcount(stats));
  events_ += events;
  // An empty set counts nothing (addWeight(0) would make a second bucket of the same weight).
  if (events != 0) addWeight(static_cast<uint32_t>(&en - entries_.get()), events);
  en.last_ns = now_ns;
  uint32_t dest_hash = 0;
  if (destination != nullptr) {
    dest_hash = addrHash32(*destination);
    if (en.destinations.add(dest_hash) && en.n_samples < kSampleDestinations) {
      bool seen = false;
      for (uint8_t i = 0; i < en.n_samples; ++i) seen = seen || en.samples[i] == *destination;
      if (!seen) en.samples[en.n_samples++] = *destination;
    }
  }
  // kPort25Destinations has no count of its own: the distinct counter is it.
  const SubStatSet counted =
      stats & static_cast<SubStatSet>(~subStatBit(SubStat::kPort25Destinations));
  for (SubStatSet m = counted; m != 0; m &= static_cast<SubStatSet>(m - 1))
    ++en.count[std::countr_zero(m)];
  const auto now_s = static_cast<uint32_t>(now_ns / 1000000000u);
  for (size_t w = 0; w < kMaxDetectorWindows; ++w) {
    const uint32_t len = plan.len_s[w];
    if (len == 0) continue;
    SubscriberWindow& win = en.window[w];
    const uint32_t start = now_s - now_s % len;
    if (win.start_s != start || win.len_s != len) win.reset(start, len);
    for (SubStatSet m = stats; m != 0; m &= static_cast<SubStatSet>(m - 1))
      ++win.count[std::countr_zero(m)];
    if (destination != nullptr) win.destinations.add(dest_hash);
  }
  for (size_t d = 0; d < detectors.size() && d < kMaxDetectors; ++d) {
    const DetectorRule& r = detectors[d];
    const bool touched = (stats & subStatBit(r.stat)) != 0 ||
                         (r.stat == SubStat::kPort25Destinations && destination != nullptr);
    if (!touched || plan.len_s[r.window_slot] == 0) continue;
    SubscriberWindow& win = en.window[r.window_slot];
    const auto bit = static_cast<uint16_t>(1u << d);
    if ((win.fired & bit) != 0 || en.windowStat(r.window_slot, r.stat) <= r.threshold) continue;
    win.fired = static_cast<uint16_t>(win.fired | bit);
    fired = static_cast<uint16_t>(fired | bit);
  }
  return en;
}

bool SubscriberTable::consistent() const {
  uint32_t listed = 0;
  uint64_t last = 0;
  for (uint32_t b = least_, prev = kNil; b != kNil; prev = b, b = buckets_[b].next) {
    const Bucket& bk = buckets_[b];
    if (bk.prev != prev || bk.head == kNil || (prev != kNil && bk.weight <= last)) return false;
    last = bk.weight;
    uint32_t e = bk.head;
    do {
      if (links_[e].bucket != b || entries_[e].weight != bk.weight ||
          links_[links_[e].next].prev != e || ++listed > size_)
        return false;
      e = links_[e].next;
    } while (e != bk.head);
  }
  return listed == size_;
}

}  // namespace smtpguard
