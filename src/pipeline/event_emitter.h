#pragma once
// Fills a typed event record on the worker (facts only: enums, numbers, bounded strings; the
// main lcore renders it) and hands it to the main lcore through the worker's single-producer
// ring. A full ring drops the event and counts it: the fast path
// never waits. Without a ring (the benchmark) nothing is built.

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <cstdint>

#include "events/event_record.h"
#include "stats/counter_block.h"

namespace smtpguard {

struct EventEndpoints {
  IpAddr client;
  IpAddr server;
  uint16_t client_port;
  uint16_t server_port;
};

class EventEmitter {
 public:
  EventEmitter(rte_ring* ring, CounterBlock& counters, uint8_t lcore)
      : ring_(ring), counters_(counters), lcore_(lcore) {}

  bool enabled() const { return ring_ != nullptr; }

  // fill(EventRecord&) writes the type's member of the record's union.
  template <typename Fill>
  void emit(EventType type, uint64_t ts_ns, uint64_t flow_id, const EventEndpoints& ends,
            Fill&& fill) {
    if (ring_ == nullptr) return;
    record_.ts_ns = ts_ns;
    record_.flow_id = flow_id;
    record_.src = ends.client;
    record_.dst = ends.server;
    record_.src_port = ends.client_port;
    record_.dst_port = ends.server_port;
    record_.type = type;
    record_.lcore = lcore_;
    fill(record_);
    if (rte_ring_sp_enqueue_elem(ring_, &record_, sizeof record_) == 0) {
      counters_.inc(Counter::kEventsEmitted);
    } else {
      counters_.inc(Counter::kEventsDropped);
    }
  }

 private:
  rte_ring* ring_;
  CounterBlock& counters_;
  uint8_t lcore_;
  EventRecord record_{};  // built in place, copied into the ring
};

}  // namespace smtpguard
