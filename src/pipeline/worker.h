#pragma once
// One worker per lcore: owns its counters, flow table, pools and event ring, and turns a
// burst of received mbufs into forward / drop / inject verdicts. Never allocates, throws,
// locks, logs or makes a syscall on the per-packet path (docs/architecture.md).

#include <cstdint>

#include "pipeline/port_map.h"
#include "stats/counter_block.h"

struct rte_mbuf;
struct rte_ring;

namespace smtpguard {

// Largest burst processBurst() accepts (callers receive at most this many at a time).
inline constexpr uint16_t kMaxBurst = 64;

struct WorkerConfig {
  uint32_t flow_capacity = 65536;
  // Offset and flag of the mbuf rx-timestamp dynamic field; a packet carrying the flag uses
  // its own time (replay, NIC timestamps), any other the burst's time.
  int timestamp_offset = -1;
  uint64_t timestamp_flag = 0;
  rte_ring* events = nullptr;  // to the main lcore's writer; full ring = event dropped
  uint8_t lcore = 0;
};

class Worker {
 public:
  Worker(const WorkerConfig& config, const PortMap& ports);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Decides a burst of at most kMaxBurst packets. Packets to forward are compacted, in arrival
  // order, at the front of pkts and their number returned; dropped packets are freed. Generated
  // packets (TCP RSTs) are written to inject[0..n_inject), up to inject_cap.
  uint16_t processBurst(rte_mbuf** pkts, uint16_t n, uint64_t now_ns, rte_mbuf** inject,
                        uint16_t inject_cap, uint16_t& n_inject);

  CounterBlock& counters() { return counters_; }
  const CounterBlock& counters() const { return counters_; }

 private:
  enum class Verdict : uint8_t { kForward, kDrop };
  Verdict handlePacket(rte_mbuf* m, uint64_t now_ns);
  uint64_t packetTime(const rte_mbuf* m, uint64_t burst_ns) const;

  WorkerConfig config_;
  const PortMap& ports_;
  CounterBlock counters_;
};

}  // namespace smtpguard
