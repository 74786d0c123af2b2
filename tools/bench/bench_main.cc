// smtpguard-bench: the smtpguard pipeline against a bare forwarder, in one process and run.
//
// Frames of a chosen mix are built into mbufs and put on a net_ring port whose RX and TX are
// the same ring, so every transmitted burst comes round again. The bare loop is testpmd's io
// forward (rx_burst, tx_burst); the pipeline loop adds Worker::processBurst. Both see the same
// frames in the same order; cycles come from rte_rdtsc. Only ratios measured in one run are
// claims (docs/benchmarks.md): this machine is small and noisy.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_ring.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "pipeline/policy_handle.h"
#include "pipeline/worker.h"
#include "policy/policy_compiler.h"
#include "tools/bench/client_hello_bench.h"
#include "tools/bench/policy_load_bench.h"
#include "tools/bench/traffic_mix.h"

namespace smtpguard::bench {
namespace {

constexpr uint16_t kBurst = 32;

struct Config {
  std::string mix = "mixed";
  uint32_t packets = 65536;
  uint32_t passes = 20;
  uint64_t client_hellos = 0;  // --client-hello N: the ClientHello benchmark instead
  std::string policy;          // --policy FILE: also the pipeline under this policy
  size_t policy_load = 0;      // --policy-load N: the policy load benchmark instead
  uint32_t flows = 65536;      // --flows N: flow table capacity of the workers
  bool workers = false;        // --workers: one worker against two on the same mix
  bool memory = false;         // --memory: bytes per flow, hot and in total
  bool counters = false;       // --counters: the workers' non-zero counters after the run
  bool hugepages = false;      // --hugepages: EAL memory (frames, tables) on 2 MiB hugepages
};

struct Result {
  double cycles_per_packet;
  double mpps;
};

void usage() {
  std::printf(
      "usage: smtpguard-bench [--mix NAME] [--packets N] [--passes P] [--policy FILE] [--flows N]\n"
      "                       [--hugepages] [--counters]\n"
      "       smtpguard-bench --workers [--mix NAME] [--packets N] [--passes P] [--flows N]\n"
      "       smtpguard-bench --memory\n"
      "       smtpguard-bench --client-hello ITERATIONS\n"
      "       smtpguard-bench --policy-load PREFIXES\n  mixes:\n");
  for (const MixInfo& m : mixes()) std::printf("    %-12s %s\n", m.name, m.description);
}

bool parse(int argc, char** argv, Config& c) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "--mix") {
      const char* v = next();
      if (v == nullptr) return false;
      c.mix = v;
    } else if (a == "--policy") {
      const char* v = next();
      if (v == nullptr) return false;
      c.policy = v;
    } else if (a == "--policy-load") {
      const char* v = next();
      if (v == nullptr) return false;
      c.policy_load = std::strtoull(v, nullptr, 10);
      if (c.policy_load < 4 || c.policy_load > (1u << 24)) return false;
    } else if (a == "--client-hello") {
      const char* v = next();
      if (v == nullptr) return false;
      c.client_hellos = std::strtoull(v, nullptr, 10);
      if (c.client_hellos == 0) return false;
    } else if (a == "--workers") {
      c.workers = true;
    } else if (a == "--counters") {
      c.counters = true;
    } else if (a == "--memory") {
      c.memory = true;
    } else if (a == "--hugepages") {
      c.hugepages = true;
    } else if (a == "--flows") {
      const char* v = next();
      if (v == nullptr) return false;
      unsigned long n = std::strtoul(v, nullptr, 10);
      if (n < 16 || n > (1u << 24)) return false;
      c.flows = static_cast<uint32_t>(n);
    } else if (a == "--packets" || a == "--passes") {
      const char* v = next();
      if (v == nullptr) return false;
      unsigned long n = std::strtoul(v, nullptr, 10);
      if (n == 0 || n > (1u << 22)) return false;
      (a == "--packets" ? c.packets : c.passes) = static_cast<uint32_t>(n);
    } else {
      return false;
    }
  }
  return true;
}

// Moves the client ports of every frame on the ring to a new range, so the next pass is new
// connections rather than retransmissions of finished ones. Not timed.
void freshFlows(rte_ring* ring, uint32_t pass) {
  std::vector<rte_mbuf*> all(rte_ring_count(ring));
  unsigned n = rte_ring_dequeue_bulk(ring, reinterpret_cast<void**>(all.data()),
                                     static_cast<unsigned>(all.size()), nullptr);
  for (unsigned i = 0; i < n; ++i) {
    uint8_t* p = rte_pktmbuf_mtod(all[i], uint8_t*);
    if (all[i]->data_len < 14 + 20 + 4 || p[23] == 0) continue;
    uint8_t* l4 = p + 14 + 20;
    for (int side = 0; side < 2; ++side) {
      uint16_t port = loadBe16(l4 + 2 * side);
      if (port >= 1024 && port != 2525) {
        storeBe16(l4 + 2 * side,
                  static_cast<uint16_t>(1024 + (port - 1024 + pass * 4099u) % 64000u));
      }
    }
  }
  rte_ring_enqueue_bulk(ring, reinterpret_cast<void**>(all.data()), n, nullptr);
}

template <typename Process>
Result measure(uint16_t port, rte_ring* ring, const Config& c, Process&& process) {
  rte_mbuf* pkts[kBurst];
  uint64_t cycles = 0, packets = 0;
  for (uint32_t pass = 0; pass < c.passes; ++pass) {
    freshFlows(ring, pass);
    // An hour a pass: the flows of the last pass time out and give their state back (in the
    // first bursts of this one, at most 32 a burst), as they would between real sessions.
    const uint64_t now_ns = (pass + 1) * 3600 * kNsPerSec;
    uint64_t done = 0;
    uint64_t t0 = rte_rdtsc_precise();
    while (done < c.packets) {
      uint16_t n = rte_eth_rx_burst(port, 0, pkts, kBurst);
      if (n == 0) break;  // a policy dropped frames: the ring holds fewer than a pass
      uint16_t fwd = process(pkts, n, now_ns);
      uint16_t sent = rte_eth_tx_burst(port, 0, pkts, fwd);
      if (sent < fwd) rte_pktmbuf_free_bulk(pkts + sent, fwd - sent);
      done += n;
    }
    cycles += rte_rdtsc_precise() - t0;
    packets += done;
  }
  double cpp = static_cast<double>(cycles) / static_cast<double>(packets);
  return {cpp, static_cast<double>(rte_get_tsc_hz()) / cpp / 1e6};
}

// ns per ClientHello (reassembly fast path + parse + JA3 + JA4) against the digests alone.
int runClientHello(const Config& c) {
  ClientHelloBenchResult r = runClientHelloBench(c.client_hellos);
  std::printf("ClientHello: %zu bytes, %llu iterations\n", r.hello_bytes,
              static_cast<unsigned long long>(r.iterations));
  std::printf("  parse + JA3 + JA4      %8.1f ns per hello\n", r.ns_per_hello);
  std::printf("  digests alone          %8.1f ns (MD5 of JA3, two SHA-256 of JA4)\n", r.ns_digests);
  std::printf("  ratio                  %8.2fx (goal <= 1.2x)\n", r.ratio);
  return 0;
}

// A ring port loaded with the frames: what it transmits comes back on its RX.
int makeRingPort(const char* name, const std::vector<Frame>& frames, rte_mempool* pool,
                 rte_ring*& ring) {
  ring = rte_ring_create(name, rte_align32pow2(static_cast<uint32_t>(frames.size()) + 1),
                         static_cast<int>(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (ring == nullptr) return -1;
  for (const Frame& f : frames) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (m == nullptr) return -1;
    std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), f.bytes.data(), f.bytes.size());
    m->data_len = static_cast<uint16_t>(f.bytes.size());
    m->pkt_len = m->data_len;
    // As a NIC with receive checksum offload reports them: the frames carry no checksums
    // (freshFlows rewrites ports between passes), and the pipeline verifies SMTP-port
    // frames, in software where the port did not (without these flags every SMTP frame
    // would be a bad-checksum pass-through that never reaches the flow table).
    m->ol_flags = RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD;
    rte_ring_enqueue(ring, m);
  }
  int port = rte_eth_from_ring(ring);
  if (port < 0) return -1;
  auto port_id = static_cast<uint16_t>(port);
  rte_eth_conf conf{};
  rte_eth_dev_configure(port_id, 1, 1, &conf);
  rte_eth_rx_queue_setup(port_id, 0, 1024, 0, nullptr, pool);
  rte_eth_tx_queue_setup(port_id, 0, 1024, 0, nullptr);
  rte_eth_dev_start(port_id);
  return port;
}

// Hot and total bytes per tracked flow: the entry (two cache lines) and its index buckets, and
// everything a worker allocates for a capacity divided by it (cold pools included).
int runMemory() {
  std::printf("flow entry (hot state): %zu B; with its index buckets (load <= 0.5): %.0f B\n",
              sizeof(Flow), static_cast<double>(FlowTable<FlowApp>::memoryFor(65536)) / 65536.0);
  std::printf("  %-10s %14s %18s\n", "flows", "worker MiB", "bytes per flow");
  for (uint32_t n : {1024u, 16384u, 65536u, 262144u, 1048576u}) {
    const size_t total = Worker::memoryFor(n, WorkerConfig{}.subscriber_slots);
    std::printf("  %-10u %14.1f %18.0f\n", n, static_cast<double>(total) / (1 << 20),
                static_cast<double>(total) / n);
  }
  return 0;
}

// One worker against two, each on its own lcore and ring (the way RSS splits flows between
// queues): packets per second of the pair over that of one alone, same mix, same frames each.
struct LaneArgs {
  uint16_t port;
  rte_ring* ring;
  Worker* worker;
  const Config* c;
  std::atomic<uint32_t>* barrier;
  uint32_t lanes;
  uint64_t cycles = 0, packets = 0;
};

void waitAll(std::atomic<uint32_t>& b, uint32_t target) {
  b.fetch_add(1);
  while (b.load() < target) rte_pause();
}

int runLane(void* arg) {
  auto& a = *static_cast<LaneArgs*>(arg);
  rte_mbuf* pkts[kBurst];
  BurstInjections inject;
  for (uint32_t pass = 0; pass < a.c->passes; ++pass) {
    freshFlows(a.ring, pass);
    const uint64_t now_ns = (pass + 1) * 3600 * kNsPerSec;  // as in measure()
    waitAll(*a.barrier, a.lanes * (2 * pass + 1));          // everyone ready
    const uint64_t t0 = rte_rdtsc_precise();
    uint64_t done = 0;
    while (done < a.c->packets) {
      uint16_t n = rte_eth_rx_burst(a.port, 0, pkts, kBurst);
      if (n == 0) break;
      uint16_t fwd = a.worker->processBurst(pkts, n, now_ns, inject);
      uint16_t sent = rte_eth_tx_burst(a.port, 0, pkts, fwd);
      if (sent < fwd) rte_pktmbuf_free_bulk(pkts + sent, fwd - sent);
      done += n;
    }
    waitAll(*a.barrier, a.lanes * (2 * pass + 2));  // the pass ends with the slowest lane
    a.cycles += rte_rdtsc_precise() - t0;
    a.packets += done;
  }
  return 0;
}

int runWorkers(const Config& c) {
  if (rte_lcore_count() < 2) {
    std::fprintf(stderr, "smtpguard-bench: --workers needs two lcores\n");
    return 1;
  }
  rte_mempool* pool =
      rte_pktmbuf_pool_create("bench", 2 * c.packets + 1024, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  if (pool == nullptr) return 1;
  uint16_t ports[2];
  rte_ring* rings[2];
  for (uint32_t k = 0; k < 2; ++k) {
    std::vector<Frame> frames;
    if (!buildMix(c.mix, c.packets, k + 1, frames)) {
      std::fprintf(stderr, "smtpguard-bench: unknown mix '%s'\n", c.mix.c_str());
      return 2;
    }
    const std::string name = "lane" + std::to_string(k);
    int p = makeRingPort(name.c_str(), frames, pool, rings[k]);
    if (p < 0) {
      std::fprintf(stderr, "smtpguard-bench: cannot build lane %u\n", k);
      return 1;
    }
    ports[k] = static_cast<uint16_t>(p);
  }
  PolicyHandle policy(2);
  std::unique_ptr<Worker> workers[2];
  for (uint8_t k = 0; k < 2; ++k) {
    WorkerConfig wc;
    wc.flow_capacity = c.flows;
    wc.lcore = k;
    workers[k] = std::make_unique<Worker>(wc, policy);
  }
  // One worker: lane 0 on the main lcore alone.
  std::atomic<uint32_t> barrier{0};
  LaneArgs one{ports[0], rings[0], workers[0].get(), &c, &barrier, 1};
  runLane(&one);
  // Two workers: lane 0 here, lane 1 on the next lcore, passes in step.
  std::atomic<uint32_t> barrier2{0};
  LaneArgs a{ports[0], rings[0], workers[0].get(), &c, &barrier2, 2};
  LaneArgs b{ports[1], rings[1], workers[1].get(), &c, &barrier2, 2};
  const unsigned second = rte_get_next_lcore(rte_lcore_id(), 1, 0);
  rte_eal_remote_launch(runLane, &b, second);
  runLane(&a);
  rte_eal_wait_lcore(second);
  const double hz = static_cast<double>(rte_get_tsc_hz());
  const double pps1 = static_cast<double>(one.packets) * hz / static_cast<double>(one.cycles);
  const double pps2 = static_cast<double>(a.packets + b.packets) * hz /
                      static_cast<double>(std::max(a.cycles, b.cycles));
  std::printf("mix %s: %u packets x %u passes per worker, burst %u, %u flows per worker\n",
              c.mix.c_str(), c.packets, c.passes, kBurst, c.flows);
  std::printf("  one worker    %8.2f Mpps\n", pps1 / 1e6);
  std::printf("  two workers   %8.2f Mpps (lcores %u and %u)\n", pps2 / 1e6, rte_lcore_id(),
              second);
  std::printf("  two / one: %.2fx packets per second (goal >= 1.8x)\n", pps2 / pps1);
  return 0;
}

int run(const Config& c) {
  if (c.client_hellos != 0) return runClientHello(c);
  if (c.memory) return runMemory();
  if (c.workers) return runWorkers(c);
  std::vector<Frame> frames;
  if (!buildMix(c.mix, c.packets, 0, frames)) {
    std::fprintf(stderr, "smtpguard-bench: unknown mix '%s'\n", c.mix.c_str());
    return 2;
  }
  rte_mempool* pool =
      rte_pktmbuf_pool_create("bench", c.packets + 1024, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  // RSTs and other generated packets of the policy run: built, then freed as if sent.
  rte_mempool* inject_pool =
      rte_pktmbuf_pool_create("bench_inject", 4095, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  rte_ring* ring = nullptr;
  const int port = pool == nullptr || inject_pool == nullptr
                       ? -1
                       : makeRingPort("bench_ring", frames, pool, ring);
  if (port < 0) {
    std::fprintf(stderr, "smtpguard-bench: out of memory for %u packets\n", c.packets);
    return 1;
  }
  auto port_id = static_cast<uint16_t>(port);

  PolicyHandle policy(1);  // no policy: the default port set, nothing enforced
  WorkerConfig wc;
  wc.flow_capacity = c.flows;
  Worker worker(wc, policy);
  BurstInjections inject;

  Result bare = measure(port_id, ring, c, [](rte_mbuf**, uint16_t n, uint64_t) { return n; });
  // testpmd's macswap (app/test-pmd/macswap.h): the cheapest forwarder that reads and writes
  // each frame's first line, which any inspecting pipeline must also pay for. As testpmd does,
  // it prefetches the next frame's first line and sets the mbuf's l2_len and l3_len; unlike
  // testpmd it keeps ol_flags, whose RX checksum flags the pipeline passes after it read.
  Result macswap = measure(port_id, ring, c, [](rte_mbuf** pkts, uint16_t n, uint64_t) {
    for (uint16_t i = 0; i < n; ++i) {
      if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void*));
      rte_mbuf* m = pkts[i];
      uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
      uint8_t tmp[6];
      std::memcpy(tmp, p, 6);
      std::memcpy(p, p + 6, 6);
      std::memcpy(p + 6, tmp, 6);
      m->l2_len = 14;
      m->l3_len = 20;
    }
    return n;
  });
  Result guard = measure(port_id, ring, c, [&](rte_mbuf** pkts, uint16_t n, uint64_t now_ns) {
    return worker.processBurst(pkts, n, now_ns, inject);
  });
  // The same traffic through a second worker whose policy handle runs --policy: what rule
  // evaluation adds, measured in the same run; the RSTs it injects are built and freed. In the
  // SYN flood every frame is rejected: there each carries an extra reference through the
  // pipeline and goes round again, so the ring keeps its size (a few cycles per packet more).
  PolicyHandle with_policy(1);
  std::unique_ptr<Worker> policed;
  Result ruled{};
  if (!c.policy.empty()) {
    std::string error;
    if (!applyPolicy(with_policy, compilePolicyFileNow(c.policy, error), error)) {
      std::fprintf(stderr, "smtpguard-bench: %s", error.c_str());
      return 2;
    }
    WorkerConfig pwc = wc;
    pwc.inject_pool = inject_pool;
    policed = std::make_unique<Worker>(pwc, with_policy);
    if (c.mix == "synflood") {
      ruled = measure(port_id, ring, c, [&](rte_mbuf** pkts, uint16_t n, uint64_t now_ns) {
        rte_mbuf* all[kBurst];
        std::memcpy(all, pkts, n * sizeof(rte_mbuf*));
        for (uint16_t i = 0; i < n; ++i) rte_mbuf_refcnt_set(pkts[i], 2);
        const uint16_t fwd = policed->processBurst(pkts, n, now_ns, inject);
        rte_pktmbuf_free_bulk(inject.back, inject.n_back);
        rte_pktmbuf_free_bulk(inject.onward, inject.n_onward);
        // The forwarded ones still hold two references, the dropped ones one.
        for (uint16_t i = 0; i < fwd; ++i) rte_mbuf_refcnt_set(pkts[i], 1);
        std::memcpy(pkts, all, n * sizeof(rte_mbuf*));
        return n;
      });
    } else {
      ruled = measure(port_id, ring, c, [&](rte_mbuf** pkts, uint16_t n, uint64_t now_ns) {
        const uint16_t fwd = policed->processBurst(pkts, n, now_ns, inject);
        rte_pktmbuf_free_bulk(inject.back, inject.n_back);
        rte_pktmbuf_free_bulk(inject.onward, inject.n_onward);
        return fwd;
      });
    }
  }
  // A second bare run brackets the pipeline run, so drift during the run shows.
  Result bare2 = measure(port_id, ring, c, [](rte_mbuf**, uint16_t n, uint64_t) { return n; });
  double bare_cpp = std::min(bare.cycles_per_packet, bare2.cycles_per_packet);

  std::printf("mix %s: %u packets x %u passes, burst %u, %u flows, TSC %.2f GHz\n", c.mix.c_str(),
              c.packets, c.passes, kBurst, c.flows, static_cast<double>(rte_get_tsc_hz()) / 1e9);
  std::printf("  %-22s %10s %14s\n", "loop", "Mpps", "cycles/packet");
  std::printf("  %-22s %10.2f %14.1f\n", "bare forward", bare.mpps, bare.cycles_per_packet);
  std::printf("  %-22s %10.2f %14.1f\n", "macswap forward", macswap.mpps,
              macswap.cycles_per_packet);
  std::printf("  %-22s %10.2f %14.1f\n", "smtpguard pipeline", guard.mpps, guard.cycles_per_packet);
  if (policed) {
    std::printf("  %-22s %10.2f %14.1f\n", "pipeline + policy", ruled.mpps,
                ruled.cycles_per_packet);
  }
  std::printf("  %-22s %10.2f %14.1f\n", "bare forward (again)", bare2.mpps,
              bare2.cycles_per_packet);
  std::printf("  pipeline / bare io: %.2fx cycles per packet; pipeline / macswap: %.2fx\n",
              guard.cycles_per_packet / bare_cpp,
              guard.cycles_per_packet / macswap.cycles_per_packet);
  std::printf("  pipeline's own cost over bare io: %.1f cycles/packet\n",
              guard.cycles_per_packet - bare_cpp);
  if (policed) {
    const CounterBlock& pk = policed->counters();
    std::printf("  policy %s adds %.1f%% cycles per packet (%llu dropped by it)\n",
                c.policy.c_str(), 100.0 * (ruled.cycles_per_packet / guard.cycles_per_packet - 1.0),
                static_cast<unsigned long long>(pk.get(Counter::kPacketsDropped)));
    if (c.mix == "synflood") {
      std::printf(
          "  SYN flood under the policy: %.1f cycles per SYN (%.2fx macswap), %.2f M new flows/s "
          "per core; %llu flows created, %llu evicted, %llu RSTs injected\n",
          ruled.cycles_per_packet, ruled.cycles_per_packet / macswap.cycles_per_packet, ruled.mpps,
          static_cast<unsigned long long>(pk.get(Counter::kFlowsCreated)),
          static_cast<unsigned long long>(pk.get(Counter::kFlowsEvicted)),
          static_cast<unsigned long long>(pk.get(Counter::kPacketsRstInjected)));
    }
  }
  const CounterBlock& k = worker.counters();
  std::printf(
      "  pipeline saw: %llu packets, %llu to/from an SMTP port, %llu malformed, %llu bad "
      "checksums, %llu flows\n",
      static_cast<unsigned long long>(k.get(Counter::kPacketsRx)),
      static_cast<unsigned long long>(k.get(Counter::kPacketsSmtpPort)),
      static_cast<unsigned long long>(k.get(Counter::kPacketsMalformed)),
      static_cast<unsigned long long>(k.get(Counter::kPacketsBadChecksum)),
      static_cast<unsigned long long>(k.get(Counter::kFlowsCreated)));
  if (c.counters) {
    for (const auto& [name, w] :
         {std::pair{"pipeline", &worker}, std::pair{"policy", policed.get()}}) {
      if (w == nullptr) continue;
      for (size_t i = 0; i < kCounterCount; ++i) {
        const uint64_t v = w->counters().get(static_cast<Counter>(i));
        if (v != 0)
          std::printf("  %s %-40s %llu\n", name, std::string(kCounterNames[i]).c_str(),
                      static_cast<unsigned long long>(v));
      }
    }
  }
  rte_eth_dev_stop(port_id);
  return 0;
}

}  // namespace
}  // namespace smtpguard::bench

int main(int argc, char** argv) {
  smtpguard::bench::Config c;
  if (!smtpguard::bench::parse(argc, argv, c)) {
    smtpguard::bench::usage();
    return 2;
  }
  // The control plane alone: no EAL.
  if (c.policy_load != 0) return smtpguard::bench::runPolicyLoadBench(c.policy_load);
  // 4 KiB pages by default, as everywhere in the tests; --hugepages needs 2 MiB pages reserved
  // (docs/benchmarks.md) and shows what TLB misses cost each loop.
  const char* eal[] = {"smtpguard-bench",
                       c.hugepages ? "--in-memory" : "--no-huge",
                       "--no-pci",
                       "--no-shconf",
                       "--no-telemetry",
                       "-l",
                       "0-1",
                       "-m",
                       "1024",
                       "--log-level=*:error"};
  if (rte_eal_init(static_cast<int>(std::size(eal)), const_cast<char**>(eal)) < 0) {
    std::fprintf(stderr, "smtpguard-bench: EAL init failed: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  int rc = smtpguard::bench::run(c);
  rte_eal_cleanup();
  return rc;
}
