// replay CAPTURE: frames from a capture file become mbufs and cross the same burst pipeline as
// live traffic, on one lcore. Deterministic: the clock is the packets' timestamps, events are
// drained after every burst, so the same capture always yields the same output.
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_mempool.h>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "app/modes.h"
#include "app/runtime.h"
#include "drivers/capture_reader.h"
#include "drivers/capture_writer.h"
#include "subscriber/subscriber_report.h"

namespace smtpguard {
namespace {

// Frames go into mbufs of the default size (2 KiB of data); larger ones (captures taken on hosts
// with segment offload hold frames far beyond the MTU) into mbufs of the largest size, from a
// second pool made only when the capture has such a frame: start-up and exit (DPDK zeroes
// what it frees) pay for 64 KiB mbufs only then.
constexpr uint16_t kReplayDataRoom = UINT16_MAX;
constexpr unsigned kReplayPoolSize = 511;      // a burst in flight plus injected packets
constexpr unsigned kReplayJumboPoolSize = 63;  // a burst of jumbo frames in flight
constexpr uint16_t kReplayBurst = 32;
// The fewest bytes a flow takes in a capture file: a 16-byte record header and a frame of 40
// bytes (raw IPv4 and TCP headers, no link layer).
constexpr uint64_t kMinFlowBytes = 56;

// Without --flows (or [flows] capacity), a flow table no larger than the capture can fill:
// memory and start-up follow the work (a 276-frame sample needs 1,024 entries, not 65,536).
// With --loop N each pass's flows may still be in the table while the next pass's arrive (they
// expire at most 32 a burst), so N times that; never more than the default. The table never
// fills where the default one would not, so the output is the same. Captures read from a pipe
// keep the default.
uint32_t replayFlows(const Options& opts) {
  if (opts.flows_given) return opts.flows;
  struct stat st {};
  if (stat(opts.capture.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return opts.flows;
  const uint64_t most =
      static_cast<uint64_t>(st.st_size) / kMinFlowBytes * std::max<uint64_t>(opts.loop, 1);
  uint32_t flows = 1024;  // the pools' own minimum sizes make anything less no cheaper
  while (flows < most && flows < opts.flows) flows <<= 1;
  return std::min(flows, opts.flows);
}

void emit(CaptureWriter& writer, Worker& worker, rte_mbuf** pkts, uint16_t n,
          const MbufTimestamp& timestamp, uint64_t fallback_ts) {
  static uint8_t chained[UINT16_MAX];  // a refragmented datagram's piece: header + data mbufs
  for (uint16_t i = 0; i < n; ++i) {
    const rte_mbuf* m = pkts[i];
    if (writer.isOpen()) {
      const auto len = static_cast<uint16_t>(std::min<uint32_t>(m->pkt_len, sizeof chained));
      const auto* data = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, len, chained));
      writer.write(timestamp.read(m, fallback_ts), Bytes(data, len));
    }
  }
  worker.counters().inc(Counter::kPacketsTx, n);
  rte_pktmbuf_free_bulk(pkts, n);
}

// --subscribers / --subscribers-csv: the workers' tables merged, most active first.
bool writeSubscriberReports(const Options& opts, Runtime& rt, uint64_t now_ns) {
  std::vector<const SubscriberTable*> tables;
  for (size_t w = 0; w < rt.workerCount(); ++w) tables.push_back(&rt.worker(w).subscribers());
  const PolicyBundle* pol = rt.policy().current();
  const unsigned v6 = pol != nullptr && pol->snapshot != nullptr
                          ? pol->snapshot->subscriberV6Prefix()
                          : kDefaultSubscriberV6Prefix;
  const SubscriberReport report =
      buildSubscriberReport(tables, &rt.policy().quarantine(), now_ns, v6);
  bool ok = true;
  auto put = [&](const std::string& path, const std::string& text) {
    FILE* f = std::fopen(path.c_str(), "w");
    bool good = f != nullptr && std::fwrite(text.data(), 1, text.size(), f) == text.size();
    if (f != nullptr && std::fclose(f) != 0) good = false;
    if (!good) {
      std::fprintf(stderr, "smtpguard: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
      ok = false;
    }
  };
  if (!opts.subscribers.empty()) put(opts.subscribers, subscriberReportJson(report));
  if (!opts.subscribers_csv.empty()) put(opts.subscribers_csv, subscriberReportCsv(report));
  return ok;
}

}  // namespace

int runReplay(const Options& opts) {
  CaptureReader reader;
  if (!reader.open(opts.capture)) {
    std::fprintf(stderr, "smtpguard: %s\n", reader.error().c_str());
    return 1;
  }
  CaptureWriter writer;
  if (!opts.write.empty() && !writer.open(opts.write)) {
    std::fprintf(stderr, "smtpguard: %s\n", writer.error().c_str());
    return 1;
  }
  rte_mempool* pool =
      rte_pktmbuf_pool_create("sg_replay", kReplayPoolSize, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                              static_cast<int>(rte_socket_id()));
  rte_mempool* jumbo_pool = nullptr;  // made at the first frame that needs it
  if (pool == nullptr) {
    // The ring handler is a DPDK plugin (librte_mempool_ring), not linked: a package without
    // it fails here, not for want of memory.
    std::fprintf(stderr,
                 "smtpguard: cannot create the replay mbuf pool: %s (out of memory, or DPDK's "
                 "mempool_ring driver is missing: librte-mempool-ring23)\n",
                 rte_strerror(rte_errno));
    return 1;
  }
  Options sized = opts;
  sized.flows = replayFlows(opts);
  Runtime rt(sized);
  std::string error;
  if (!rt.setup({{.inject_pool = pool, .socket = static_cast<int>(rte_socket_id())}}, error)) {
    std::fprintf(stderr, "smtpguard: %s\n", error.c_str());
    return 1;
  }
  Worker& worker = rt.worker(0);
  const MbufTimestamp& timestamp = rt.timestamp();
  const size_t max_frame = kReplayDataRoom - RTE_PKTMBUF_HEADROOM;

  auto started = std::chrono::steady_clock::now();
  rte_mbuf* burst[kReplayBurst];
  BurstInjections inject;
  uint16_t n = 0;
  uint64_t last_ts = 0;
  uint64_t oversize = 0;
  auto flush = [&]() {
    uint16_t fwd = worker.processBurst(burst, n, last_ts, inject);
    // --write holds what would leave the appliance, both ports together: the forwarded
    // packets, then RSTs toward receivers, then RSTs back toward senders.
    emit(writer, worker, burst, fwd, timestamp, last_ts);
    emit(writer, worker, inject.onward, inject.n_onward, timestamp, last_ts);
    emit(writer, worker, inject.back, inject.n_back, timestamp, last_ts);
    rt.drainEvents();
    n = 0;
    if (g_reopen.exchange(false, std::memory_order_relaxed)) rt.reopenOutputs();
    // SIGHUP, SIGUSR2: between bursts the main lcore is the only reader, so the swap is
    // immediate.
    if (g_reload.exchange(false, std::memory_order_relaxed)) rt.reloadPolicy(0);
  };
  // --loop N: the capture again and again, each pass shifted in time past the previous one,
  // so its connections are new connections (a benchmark or a long reload test).
  CaptureFrame frame;
  std::string read_error;
  uint64_t shift = 0;
  for (uint32_t pass = 0; pass < opts.loop && !g_stop.load(std::memory_order_relaxed); ++pass) {
    if (pass > 0 && !reader.open(opts.capture)) {
      read_error = reader.error();
      break;
    }
    uint64_t first_ts = 0, pass_last = 0;
    bool first = true;
    while (!g_stop.load(std::memory_order_relaxed) && reader.next(frame)) {
      if (first) {
        first_ts = frame.ts_ns;
        first = false;
      }
      pass_last = frame.ts_ns;
      const uint64_t ts = frame.ts_ns + shift;
      if (frame.data.size() > max_frame) {
        // Larger than any mbuf of ours (only seen in captures of offloaded segments):
        // counted and passed through untouched, as an inline appliance would fail open.
        ++oversize;
        worker.counters().inc(Counter::kPacketsRx);
        worker.counters().inc(Counter::kPacketsOversize);
        if (worker.dropsUninspectable(frame.data)) {
          // To an SMTP port under an enforcing policy: what cannot be inspected does not pass.
          worker.counters().inc(Counter::kPacketsUninspectableDropped);
          worker.counters().inc(Counter::kPacketsDropped);
          continue;
        }
        worker.counters().inc(Counter::kPacketsTx);
        if (writer.isOpen()) writer.write(ts, frame.data);
        continue;
      }
      const size_t room = RTE_MBUF_DEFAULT_BUF_SIZE - RTE_PKTMBUF_HEADROOM;
      if (frame.data.size() > room && jumbo_pool == nullptr) {
        jumbo_pool = rte_pktmbuf_pool_create("sg_replay_jumbo", kReplayJumboPoolSize, 0, 0,
                                             kReplayDataRoom, static_cast<int>(rte_socket_id()));
        if (jumbo_pool == nullptr) {
          std::fprintf(stderr, "smtpguard: cannot create the replay pool for large frames: %s\n",
                       rte_strerror(rte_errno));
          return 1;
        }
      }
      rte_mbuf* m = rte_pktmbuf_alloc(frame.data.size() > room ? jumbo_pool : pool);
      if (m == nullptr) {
        std::fprintf(stderr, "smtpguard: replay mbuf pool exhausted\n");
        return 1;
      }
      auto len = static_cast<uint16_t>(frame.data.size());
      std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), frame.data.data(), len);
      m->data_len = len;
      m->pkt_len = len;
      timestamp.write(m, ts);
      last_ts = ts;
      burst[n++] = m;
      if (n == kReplayBurst) flush();
    }
    if (!reader.error().empty()) {
      read_error = reader.error();
      break;
    }
    // An hour between passes: longer than every flow timeout, so each pass starts afresh.
    shift += pass_last - first_ts + 3600ull * 1000000000ull;
  }
  if (n > 0) flush();
  // End of file ends every flow still open, so each gets its smtp_flow event.
  worker.finish(last_ts);
  if (!read_error.empty()) {
    std::fprintf(stderr, "smtpguard: %s (stopped there; counters cover what was read)\n",
                 read_error.c_str());
  }
  if (oversize > 0) {
    std::fprintf(stderr, "smtpguard: skipped %llu frames larger than %zu bytes\n",
                 static_cast<unsigned long long>(oversize), max_frame);
  }
  double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  bool outputs_ok = true;
  if (!writer.close()) {
    std::fprintf(stderr, "smtpguard: %s\n", writer.error().c_str());
    outputs_ok = false;
  }
  if (!opts.subscribers.empty() || !opts.subscribers_csv.empty()) {
    outputs_ok = writeSubscriberReports(opts, rt, last_ts) && outputs_ok;
  }
  outputs_ok = rt.finish(elapsed) && outputs_ok;
  rte_mempool_free(pool);
  rte_mempool_free(jumbo_pool);
  return read_error.empty() && outputs_ok ? 0 : 1;
}

}  // namespace smtpguard
