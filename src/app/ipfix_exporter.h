#pragma once
// IPFIX (RFC 7011) export of smtp_flow records with libfixbuf, on the control plane: the main
// lcore hands typed records over (add(), never blocking: a bounded queue, overflow dropped and
// counted); an exporter thread of its own encodes them and talks to the collector, so a slow,
// absent or unreachable collector never holds up the main lcore, let alone a worker.
// Templates (docs/export.md): one for IPv4 flows, one for IPv6, each with standard elements,
// RFC 5103 reverse counters and enterprise elements under PEN 32473. Over UDP the templates go
// out again every kTemplateRefreshS; over TCP at every (re)connection, which follows a failure
// after a back-off doubling from 1 s to 30 s.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "app/ipfix_target.h"
#include "events/event_record.h"

namespace smtpguard {

// The Private Enterprise Number of our own elements: 32473 is IANA's number reserved for
// documentation and examples (RFC 5612). An operator with a PEN of their own may rebuild with
// it; no element here has a standard or vendor equivalent collectors already decode, except
// SNI and JA3 (CERT's 6871/294, 6871/464), which we do not borrow so the whole record stays
// under one number.
inline constexpr uint32_t kIpfixPen = 32473;
inline constexpr double kTemplateRefreshS = 30;

class IpfixExporter {
 public:
  explicit IpfixExporter(IpfixTarget target);
  ~IpfixExporter();
  IpfixExporter(const IpfixExporter&) = delete;
  IpfixExporter& operator=(const IpfixExporter&) = delete;

  // Starts the exporter thread; false (with the reason) if libfixbuf cannot build the
  // templates. The collector need not be up.
  bool start(std::string& error);
  // Main lcore: a tls_client_hello record (its SNI is kept for the flow's record; the flow
  // record itself carries JA3 and JA4) or an smtp_flow record (queued for export).
  void add(const EventRecord& rec);
  // Main lcore: wakes the exporter thread for what was queued.
  void flush();
  // Exports what is queued (as far as the collector takes it) and stops the thread.
  void stop();

  uint64_t exported() const { return exported_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

  struct Row;  // one flow, as the templates lay it out

 private:
  void run();

  IpfixTarget target_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<EventRecord> queue_;  // smtp_flow records not yet taken by the thread
  bool stopping_ = false;
  // SNI by flow id, from tls_client_hello records, until the flow's record; bounded.
  std::unordered_map<uint64_t, std::string> sni_;
  std::deque<uint64_t> sni_order_;
  std::deque<std::string> queue_sni_;  // beside queue_
  std::atomic<uint64_t> exported_{0};
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace smtpguard
