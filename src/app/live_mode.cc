// inline and monitor: ethdev ports polled by worker lcores.
//
// inline: frames from the inside port leave by the outside port and the reverse,
// L2-transparently. With symmetric RSS on both ports, worker w owns RX/TX queue w of each, so
// both directions of a flow meet in one flow table with no locks. A port without RSS has one
// queue, and then one worker forwards (two workers cannot share a TX queue without a lock).
// monitor: one port, every frame observed and freed.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <chrono>
#include <cstdio>
#include <vector>

#include "app/modes.h"
#include "app/runtime.h"
#include "drivers/eth_port.h"

namespace smtpguard {
namespace {

constexpr uint16_t kRxBurst = 32;

struct Lane {
  uint16_t rx_port;
  uint16_t tx_port;  // == rx_port's peer; unused in monitor mode
  uint16_t queue;
};

struct WorkerTask {
  Worker* worker = nullptr;
  std::vector<Lane> lanes;
  bool forward = true;  // false in monitor mode
  const LiveClock* clock = nullptr;
};

void transmit(Worker& w, uint16_t port, uint16_t queue, rte_mbuf** pkts, uint16_t n) {
  if (n == 0) return;
  uint16_t sent = rte_eth_tx_burst(port, queue, pkts, n);
  w.counters().inc(Counter::kPacketsTx, sent);
  if (sent < n) {
    // TX ring full: the frames are lost, as on any switch whose egress is saturated.
    w.counters().inc(Counter::kPacketsTxFailed, n - sent);
    rte_pktmbuf_free_bulk(pkts + sent, n - sent);
  }
}

// One pass over a worker's lanes: receive, decide, transmit or free. Returns packets seen.
uint16_t pollOnce(WorkerTask& task) {
  Worker& w = *task.worker;
  rte_mbuf* pkts[kRxBurst];
  BurstInjections inject;
  uint16_t seen = 0;
  for (const Lane& lane : task.lanes) {
    uint16_t n = rte_eth_rx_burst(lane.rx_port, lane.queue, pkts, kRxBurst);
    if (n == 0) continue;
    seen = static_cast<uint16_t>(seen + n);
    uint16_t fwd = w.processBurst(pkts, n, task.clock->nowNs(), inject);
    if (task.forward) {
      transmit(w, lane.tx_port, lane.queue, pkts, fwd);
      transmit(w, lane.tx_port, lane.queue, inject.onward, inject.n_onward);
      transmit(w, lane.rx_port, lane.queue, inject.back, inject.n_back);
    } else {
      // Monitor mode observes: nothing leaves, generated packets included.
      rte_pktmbuf_free_bulk(pkts, fwd);
      rte_pktmbuf_free_bulk(inject.onward, inject.n_onward);
      rte_pktmbuf_free_bulk(inject.back, inject.n_back);
    }
  }
  return seen;
}

int workerLoop(void* arg) {
  auto* task = static_cast<WorkerTask*>(arg);
  while (!g_stop.load(std::memory_order_relaxed)) pollOnce(*task);
  return 0;
}

}  // namespace

int runLive(const Options& opts) {
  std::string error;
  if (rte_eth_dev_count_avail() == 0) {
    std::fprintf(stderr,
                 "smtpguard: no ports found (bind a NIC to a DPDK driver or add --vdev, e.g. "
                 "--vdev net_af_packet0,iface=eth0)\n");
    return 1;
  }
  std::vector<unsigned> lcores;
  unsigned lc;
  RTE_LCORE_FOREACH_WORKER(lc) lcores.push_back(lc);
  const bool main_works = lcores.empty();  // a single lcore forwards on the main lcore
  const unsigned n_workers = main_works ? 1u : static_cast<unsigned>(lcores.size());

  uint16_t port_a = 0, port_b = 0;
  const bool inline_mode = opts.mode == Mode::kInline;
  if (!findPort(inline_mode ? opts.inside : opts.port, port_a, error) ||
      (inline_mode && !findPort(opts.outside, port_b, error))) {
    std::fprintf(stderr, "smtpguard: %s\n", error.c_str());
    return 1;
  }
  rte_mempool* pool =
      rte_pktmbuf_pool_create("sg_rx", 8191 * n_workers + 4096, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                              static_cast<int>(rte_socket_id()));
  if (pool == nullptr) {
    std::fprintf(stderr, "smtpguard: cannot create the mbuf pool (out of memory?)\n");
    return 1;
  }
  PortInfo info_a, info_b;
  if (!setupPort({.port_id = port_a, .queues = static_cast<uint16_t>(n_workers), .pool = pool},
                 info_a, error) ||
      (inline_mode &&
       !setupPort({.port_id = port_b, .queues = static_cast<uint16_t>(n_workers), .pool = pool},
                  info_b, error))) {
    std::fprintf(stderr, "smtpguard: %s\n", error.c_str());
    return 1;
  }
  uint16_t queues = inline_mode ? std::min(info_a.queues, info_b.queues) : info_a.queues;
  Runtime rt(opts);
  if (!rt.setup(queues, pool, error)) {
    std::fprintf(stderr, "smtpguard: %s\n", error.c_str());
    return 1;
  }
  std::fprintf(stderr, "smtpguard: %s on %s%s%s, %u worker%s (%s)\n",
               inline_mode ? "inline" : "monitor", info_a.name.c_str(), inline_mode ? " <-> " : "",
               inline_mode ? info_b.name.c_str() : "", queues, queues == 1 ? "" : "s",
               queues > 1 ? "symmetric RSS" : "one queue per port");

  LiveClock clock;
  std::vector<WorkerTask> tasks(queues);
  for (uint16_t q = 0; q < queues; ++q) {
    tasks[q].worker = &rt.worker(q);
    tasks[q].clock = &clock;
    tasks[q].forward = inline_mode;
    tasks[q].lanes.push_back({port_a, port_b, q});
    if (inline_mode) tasks[q].lanes.push_back({port_b, port_a, q});
  }
  auto started = std::chrono::steady_clock::now();
  if (!main_works) {
    for (uint16_t q = 0; q < queues; ++q) rte_eal_remote_launch(workerLoop, &tasks[q], lcores[q]);
  }
  // The main lcore writes events and watches the clock; alone, it also forwards.
  uint64_t deadline = opts.duration_s > 0
                          ? clock.nowNs() + static_cast<uint64_t>(opts.duration_s * 1e9)
                          : UINT64_MAX;
  while (!g_stop.load(std::memory_order_relaxed)) {
    if (main_works) {
      // Alone, the main lcore forwards too, writing events between bursts.
      pollOnce(tasks[0]);
    } else {
      rte_delay_us_sleep(1000);
    }
    rt.drainEvents();
    // SIGHUP: compile and publish; workers keep forwarding with the old policy meanwhile.
    if (g_reload.exchange(false, std::memory_order_relaxed)) rt.reloadPolicy(main_works ? 0 : -1);
    if (clock.nowNs() >= deadline) g_stop.store(true);
  }
  rte_eal_mp_wait_lcore();
  // Workers have stopped: their flows end here (reason "shutdown"), on the main lcore.
  for (uint16_t q = 0; q < queues; ++q) {
    rt.worker(q).finish(clock.nowNs());
    rt.drainEvents();
  }
  double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const bool outputs_ok = rt.finish(elapsed);
  stopPort(port_a);
  if (inline_mode) stopPort(port_b);
  rte_mempool_free(pool);
  return outputs_ok ? 0 : 1;
}

}  // namespace smtpguard
