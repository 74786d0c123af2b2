// inline and monitor: ethdev ports polled by worker lcores.
//
// inline: frames from the inside port leave by the outside port and the reverse,
// L2-transparently. Where both ports spread connections symmetrically over queues (RSS with a
// symmetric key, or af_packet's kernel fanout hash), worker w owns RX/TX queue w of each, so
// both directions of a flow meet in one flow table with no locks. Otherwise both ports get one
// queue and one worker forwards (two workers cannot share a TX queue without a lock).
// monitor: one port, every frame observed and freed.
//
// Each worker's poll loop, per iteration: receive and decide a burst per lane, buffer what
// leaves (rte_eth_tx_buffer), flush the buffers when idle or every kTxDrainUs, and every
// kHousekeepUs end flows whose timeout passed. A quiescent state is reported on every
// iteration, so a policy reload never waits for traffic; a worker leaving its loop goes
// offline, so a stop during a reload completes.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <map>
#include <vector>

#include "app/control.h"
#include "app/metrics_server.h"
#include "app/modes.h"
#include "app/runtime.h"
#include "app/service_notify.h"
#include "drivers/eth_port.h"

namespace smtpguard {
namespace {

constexpr uint16_t kRxBurst = 32;
// Frames held per TX queue before rte_eth_tx_buffer sends them on its own.
constexpr uint16_t kTxBuffered = 32;
// A partly filled TX buffer waits at most this long (DPDK l2fwd uses the same).
constexpr uint64_t kTxDrainUs = 100;
// Flow expiry on the worker's own clock: records of closed and idle flows leave on an idle
// link too, at most this late.
constexpr uint64_t kHousekeepUs = 10 * 1000;
constexpr uint32_t kHousekeepWork = 1024;  // flows ended per tick at most (bounded work)
// mbufs per queue a socket's pool holds: RX and TX rings of both ports, bursts in flight, TX
// buffers and generated packets.
constexpr unsigned kMbufsPerQueue = 8191;

struct TxQueue {
  uint16_t port = 0;
  uint16_t queue = 0;
  rte_eth_dev_tx_buffer* buffer = nullptr;  // on the worker's socket
  CounterBlock* counters = nullptr;
};

// TX ring full when a buffer is flushed: the frames are lost, as on any switch whose egress
// is saturated.
void onTxUnsent(rte_mbuf** pkts, uint16_t unsent, void* userdata) {
  auto* q = static_cast<TxQueue*>(userdata);
  q->counters->inc(Counter::kPacketsTxFailed, unsent);
  rte_pktmbuf_free_bulk(pkts, unsent);
}

struct Lane {
  uint16_t rx_port;
  uint16_t queue;
  TxQueue* onward = nullptr;  // the peer port's queue; null in monitor mode
  TxQueue* back = nullptr;    // the receiving port's own queue, for RSTs toward the sender
};

struct WorkerTask {
  Worker* worker = nullptr;
  std::vector<Lane> lanes;
  std::array<TxQueue, 2> tx{};  // by port: inside, outside
  uint16_t n_tx = 0;
  const LiveClock* clock = nullptr;
  uint64_t drain_cycles = 0;
  uint64_t housekeep_cycles = 0;
  uint64_t next_drain = 0;
  uint64_t next_housekeep = 0;
};

void buffer(Worker& w, TxQueue& q, rte_mbuf** pkts, uint16_t n) {
  for (uint16_t i = 0; i < n; ++i) {
    w.counters().inc(Counter::kPacketsTx, rte_eth_tx_buffer(q.port, q.queue, q.buffer, pkts[i]));
  }
}

void drain(WorkerTask& task) {
  for (uint16_t i = 0; i < task.n_tx; ++i) {
    TxQueue& q = task.tx[i];
    task.worker->counters().inc(Counter::kPacketsTx,
                                rte_eth_tx_buffer_flush(q.port, q.queue, q.buffer));
  }
}

// One pass over a worker's lanes: receive, decide, buffer or free; then the timers.
void pollOnce(WorkerTask& task) {
  Worker& w = *task.worker;
  rte_mbuf* pkts[kRxBurst];
  BurstInjections inject;
  bool idle = true;
  for (const Lane& lane : task.lanes) {
    const uint16_t n = rte_eth_rx_burst(lane.rx_port, lane.queue, pkts, kRxBurst);
    if (n == 0) continue;
    idle = false;
    const uint16_t fwd = w.processBurst(pkts, n, task.clock->nowNs(), inject);
    if (lane.onward != nullptr) {
      buffer(w, *lane.onward, pkts, fwd);
      buffer(w, *lane.onward, inject.onward, inject.n_onward);
      buffer(w, *lane.back, inject.back, inject.n_back);
    } else {
      // Monitor mode observes: nothing leaves (and a worker that does not enforce generates
      // nothing to send).
      rte_pktmbuf_free_bulk(pkts, fwd);
      rte_pktmbuf_free_bulk(inject.onward, inject.n_onward);
      rte_pktmbuf_free_bulk(inject.back, inject.n_back);
    }
  }
  const uint64_t tsc = rte_rdtsc();
  if (idle || tsc >= task.next_drain) {
    drain(task);
    task.next_drain = tsc + task.drain_cycles;
  }
  if (tsc >= task.next_housekeep) {
    w.housekeep(task.clock->nowNs(), kHousekeepWork);
    task.next_housekeep = tsc + task.housekeep_cycles;
  } else {
    w.quiescent();
  }
}

int workerLoop(void* arg) {
  auto* task = static_cast<WorkerTask*>(arg);
  while (!g_stop.load(std::memory_order_relaxed)) pollOnce(*task);
  drain(*task);
  task->worker->goOffline();
  return 0;
}

const char* spreadName(QueueSpread s) {
  switch (s) {
    case QueueSpread::kRss:
      return "symmetric RSS";
    case QueueSpread::kKernelHash:
      return "kernel fanout hash";
    case QueueSpread::kNone:
      break;
  }
  return "one queue per port";
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
  if (main_works) lcores.push_back(rte_get_main_lcore());

  const bool inline_mode = opts.mode == Mode::kInline;
  std::vector<uint16_t> ports(inline_mode ? 2 : 1);
  std::vector<PortCaps> caps(ports.size());
  for (size_t i = 0; i < ports.size(); ++i) {
    const std::string& name = inline_mode ? (i == 0 ? opts.inside : opts.outside) : opts.port;
    if (!findPort(name, ports[i], error) || !portCaps(ports[i], caps[i], error)) {
      std::fprintf(stderr, "smtpguard: %s\n", error.c_str());
      return 1;
    }
  }
  // The same queue count on every port, each queue polled by one worker.
  auto queues = static_cast<uint16_t>(std::min<size_t>(lcores.size(), UINT16_MAX));
  std::string single_reason;
  QueueSpread spread = QueueSpread::kNone;
  for (const PortCaps& c : caps) {
    queues = std::min(queues, c.max_queues);
    if (c.spread == QueueSpread::kNone) {
      queues = 1;
      if (single_reason.empty()) single_reason = c.name + ": " + c.why_single;
    } else if (spread == QueueSpread::kNone || c.spread == QueueSpread::kKernelHash) {
      spread = c.spread;
    }
  }
  if (queues <= 1) spread = QueueSpread::kNone;
  for (const PortCaps& c : caps) {
    // af_packet's fanout group has one socket per qpair: a socket nobody polls loses its share.
    if (c.spread == QueueSpread::kKernelHash && queues != c.max_queues) {
      std::fprintf(stderr,
                   "smtpguard: port %s spreads flows over %u queues (qpairs=%u) but %u can be "
                   "polled: give %u worker lcores, or qpairs=%u\n",
                   c.name.c_str(), c.max_queues, c.max_queues, queues, c.max_queues, queues);
      return 1;
    }
  }
  if (lcores.size() > queues && !main_works) {
    std::fprintf(stderr, "smtpguard: %zu worker lcores, %u queue%s (%s): %zu lcore%s stay idle\n",
                 lcores.size(), queues, queues == 1 ? "" : "s",
                 single_reason.empty() ? "fewest queues of the ports" : single_reason.c_str(),
                 lcores.size() - queues, lcores.size() - queues == 1 ? "" : "s");
  }

  // One mbuf pool per NUMA socket in use: each RX queue takes mbufs from the socket of the
  // lcore that polls it, and each worker generates packets from the same pool.
  std::map<int, unsigned> queues_on_socket;
  std::vector<int> socket_of(queues);
  for (uint16_t q = 0; q < queues; ++q) {
    socket_of[q] = static_cast<int>(rte_lcore_to_socket_id(lcores[q]));
    ++queues_on_socket[socket_of[q]];
  }
  std::map<int, rte_mempool*> pools;
  auto free_pools = [&pools]() {
    for (auto& [s, p] : pools) rte_mempool_free(p);
  };
  for (auto [socket, n] : queues_on_socket) {
    const std::string name = "sg_rx_s" + std::to_string(socket);
    rte_mempool* pool = rte_pktmbuf_pool_create(name.c_str(), kMbufsPerQueue * n + 4096, 256, 0,
                                                RTE_MBUF_DEFAULT_BUF_SIZE, socket);
    if (pool == nullptr) {
      std::fprintf(stderr,
                   "smtpguard: cannot create the mbuf pool on socket %d (out of memory? give "
                   "EAL more with -m or hugepages)\n",
                   socket);
      free_pools();
      return 1;
    }
    pools[socket] = pool;
  }
  for (size_t i = 0; i < ports.size(); ++i) {
    PortRequest req;
    req.port_id = ports[i];
    for (uint16_t q = 0; q < queues; ++q) req.pools.push_back(pools[socket_of[q]]);
    if (!setupPort(req, caps[i], error)) {
      std::fprintf(stderr, "smtpguard: %s\n", error.c_str());
      free_pools();
      return 1;
    }
  }
  std::vector<Runtime::WorkerPlace> places;
  for (uint16_t q = 0; q < queues; ++q) places.push_back({pools[socket_of[q]], socket_of[q]});
  Runtime rt(opts);
  if (!rt.setup(places, error)) {
    std::fprintf(stderr, "smtpguard: %s\n", error.c_str());
    for (uint16_t p : ports) stopPort(p);
    free_pools();
    return 1;
  }
  MetricsServer metrics;
  if (!opts.metrics_listen.empty() && !metrics.start(opts.metrics_listen, error)) {
    std::fprintf(stderr, "smtpguard: %s\n", error.c_str());
    for (uint16_t p : ports) stopPort(p);
    free_pools();
    return 1;
  }
  std::fprintf(stderr, "smtpguard: %s on %s%s%s, %u worker%s (%s%s%s)%s\n",
               inline_mode ? "inline" : "monitor", caps[0].name.c_str(), inline_mode ? " <-> " : "",
               inline_mode ? caps[1].name.c_str() : "", queues, queues == 1 ? "" : "s",
               spreadName(spread), single_reason.empty() ? "" : ": ", single_reason.c_str(),
               opts.enforce && inline_mode ? "" : ", policy not enforced (verdicts reported)");

  if (!opts.metrics_listen.empty()) {
    std::fprintf(stderr, "smtpguard: metrics at http://%s/metrics\n",
                 metrics.boundAddress().c_str());
  }
  // Telemetry commands (/smtpguard/...) answer from here on.
  Control control(rt);
  control.registerTelemetry();

  // Ports up, policy loaded, outputs open: systemd may consider the service started.
  {
    const auto& snap = rt.policy().current()->snapshot;
    const std::string policy_name = snap ? snap->name() : std::string("none");
    notifyReady(std::string(inline_mode ? "inline " : "monitor ") + caps[0].name +
                (inline_mode ? " <-> " + caps[1].name : std::string()) + ", " +
                std::to_string(queues) + " worker" + (queues == 1 ? "" : "s") + ", policy " +
                policy_name);
  }
  LiveClock clock;
  const uint64_t us = rte_get_tsc_hz() / 1000000;
  std::vector<WorkerTask> tasks(queues);
  std::vector<rte_eth_dev_tx_buffer*> tx_buffers;
  bool tx_ok = true;
  for (uint16_t q = 0; q < queues; ++q) {
    WorkerTask& t = tasks[q];
    t.worker = &rt.worker(q);
    t.clock = &clock;
    t.drain_cycles = kTxDrainUs * us;
    t.housekeep_cycles = kHousekeepUs * us;
    if (inline_mode) {
      for (size_t i = 0; i < 2; ++i) {
        auto* b = static_cast<rte_eth_dev_tx_buffer*>(rte_zmalloc_socket(
            "sg_tx_buffer", RTE_ETH_TX_BUFFER_SIZE(kTxBuffered), 0, socket_of[q]));
        if (b == nullptr) {
          tx_ok = false;
          break;
        }
        tx_buffers.push_back(b);
        rte_eth_tx_buffer_init(b, kTxBuffered);
        t.tx[i] = {ports[i], q, b, &t.worker->counters()};
        rte_eth_tx_buffer_set_err_callback(b, onTxUnsent, &t.tx[i]);
      }
      t.n_tx = 2;
      t.lanes.push_back({ports[0], q, &t.tx[1], &t.tx[0]});
      t.lanes.push_back({ports[1], q, &t.tx[0], &t.tx[1]});
    } else {
      t.lanes.push_back({ports[0], q, nullptr, nullptr});
    }
  }
  if (!tx_ok) {
    std::fprintf(stderr, "smtpguard: cannot allocate TX buffers (out of DPDK memory?)\n");
    for (auto* b : tx_buffers) rte_free(b);
    return 1;
  }
  auto started = std::chrono::steady_clock::now();
  if (!main_works) {
    for (uint16_t q = 0; q < queues; ++q) rte_eal_remote_launch(workerLoop, &tasks[q], lcores[q]);
  }
  // The main lcore writes events, acts on signals, answers scrapes, rewrites the counter files
  // and watches the clock; alone, it also forwards.
  uint64_t deadline = opts.duration_s > 0
                          ? clock.nowNs() + static_cast<uint64_t>(opts.duration_s * 1e9)
                          : UINT64_MAX;
  const auto stats_every = static_cast<uint64_t>(opts.stats_interval_s * 1e9);
  uint64_t next_stats = stats_every > 0 ? clock.nowNs() + stats_every : UINT64_MAX;
  const auto render_metrics = [&rt]() { return countersToPrometheus(rt.counters()); };
  while (!g_stop.load(std::memory_order_relaxed)) {
    if (main_works) {
      pollOnce(tasks[0]);
    } else {
      rte_delay_us_sleep(1000);
    }
    rt.drainEvents();
    // SIGHUP, SIGUSR1: events written so far go to the old file, later ones to the new.
    if (g_reopen.exchange(false, std::memory_order_relaxed)) rt.reopenOutputs();
    // SIGHUP, SIGUSR2: compile and publish; workers keep forwarding with the old policy
    // meanwhile, and report quiescent states on every poll, so the swap completes on an idle
    // link too.
    if (g_reload.exchange(false, std::memory_order_relaxed)) rt.reloadPolicy(main_works ? 0 : -1);
    // smtpguardctl load: the same load, asked for over the telemetry socket.
    control.poll(main_works ? 0 : -1);
    metrics.answer(render_metrics);
    const uint64_t now = clock.nowNs();
    if (now >= next_stats) {
      rt.writeCounters();
      next_stats = now + stats_every;
    }
    if (now >= deadline) g_stop.store(true);
  }
  control.stop();
  metrics.stop();
  notifyStopping();
  if (main_works) {
    drain(tasks[0]);
  } else {
    rte_eal_mp_wait_lcore();
  }
  // Workers have stopped: their flows end here (reason "shutdown"), on the main lcore.
  for (uint16_t q = 0; q < queues; ++q) {
    rt.worker(q).finish(clock.nowNs());
    rt.drainEvents();
  }
  double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const bool outputs_ok = rt.finish(elapsed);
  for (uint16_t p : ports) stopPort(p);
  for (auto* b : tx_buffers) rte_free(b);
  free_pools();
  return outputs_ok ? 0 : 1;
}

}  // namespace smtpguard
