#pragma once
// A control-plane question about a worker's subscriber statistics (/smtpguard/subscribers,
// smtpguardctl subscribers), answered by the worker itself between bursts: its table has one
// writer and no lock. The same hand-over as FlowQueryBox (pipeline/flow_query.h): two sequence
// numbers with release/acquire order; the worker copies its best `limit` entries.

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "subscriber/subscriber_table.h"

namespace smtpguard {

// Most subscribers one worker returns for one query.
inline constexpr uint16_t kMaxSubscriberAnswer = 40;

struct SubscriberQuery {
  SubStat by = SubStat::kCount;  // kCount: by weight (all events)
  uint16_t limit = 20;
};

struct SubscriberAnswer {
  uint32_t tracked = 0;
  uint32_t capacity = 0;
  uint64_t events = 0;
  uint64_t evictions = 0;
  uint16_t n = 0;
  SubscriberEntry entries[kMaxSubscriberAnswer];
};

inline uint64_t subscriberOrderValue(const SubscriberEntry& e, SubStat by) {
  return by == SubStat::kCount ? e.weight : e.stat(by);
}

class SubscriberQueryBox {
 public:
  // --- control thread ---
  bool idle() const {
    return answered_.load(std::memory_order_acquire) == posted_.load(std::memory_order_relaxed);
  }
  void post(const SubscriberQuery& q) {
    query_ = q;
    query_.limit = std::min(query_.limit, kMaxSubscriberAnswer);
    posted_.fetch_add(1, std::memory_order_release);
  }
  const SubscriberAnswer& answer() const { return answer_; }

  // --- worker ---
  bool pending() const {
    return posted_.load(std::memory_order_acquire) != answered_.load(std::memory_order_relaxed);
  }
  // Copies the table's best entries (one pass, insertion into at most `limit` kept).
  void answer(const SubscriberTable& t) {
    SubscriberAnswer& a = answer_;
    a.tracked = t.size();
    a.capacity = t.capacity();
    a.events = t.events();
    a.evictions = t.evictions();
    a.n = 0;
    const SubStat by = query_.by;
    for (const SubscriberEntry& e : t.entries()) {
      const uint64_t v = subscriberOrderValue(e, by);
      if (a.n == query_.limit && (a.n == 0 || v <= subscriberOrderValue(a.entries[a.n - 1], by)))
        continue;
      uint16_t i = a.n < query_.limit ? a.n++ : static_cast<uint16_t>(a.n - 1);
      while (i > 0 && subscriberOrderValue(a.entries[i - 1], by) < v) {
        a.entries[i] = a.entries[i - 1];
        --i;
      }
      a.entries[i] = e;
    }
    answered_.store(posted_.load(std::memory_order_relaxed), std::memory_order_release);
  }

 private:
  std::atomic<uint32_t> posted_{0};
  std::atomic<uint32_t> answered_{0};
  SubscriberQuery query_;
  SubscriberAnswer answer_;
};

}  // namespace smtpguard
