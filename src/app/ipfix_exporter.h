#pragma once
// IPFIX (RFC 7011) export of smtp_flow records with libfixbuf, on the control plane: the main
// lcore hands typed records over (add(), never blocking: a bounded queue, overflow dropped and
// counted); an exporter thread of its own encodes them and talks to the collector, so a slow,
// absent or unreachable collector never holds up the main lcore, let alone a worker.
// Templates (docs/export.md): one for IPv4 flows, one for IPv6, each with standard elements,
// RFC 5103 reverse counters and enterprise elements under PEN 32473. Over UDP the templates go
// out again every kTemplateRefreshS; over TCP at every (re)connection, which follows a failure
// after a back-off doubling from 1 s to 30 s. TCP connects and writes are bounded in time: a
// collector that drops SYNs or stops reading costs records (counted), never a hang.

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
// A TCP collector must accept the connection within this (the kernel's own timeout is minutes),
// and take each message within kIpfixSendTimeoutS; else the exporter reconnects with back-off.
inline constexpr double kIpfixConnectTimeoutS = 3;
inline constexpr double kIpfixSendTimeoutS = 5;
// stop() waits this long for the last records to go out.
inline constexpr double kIpfixStopWaitS = 10;

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
  // Exports what is queued (as far as the collector takes it) and stops the thread, waiting
  // at most kIpfixStopWaitS: a thread still held by the network then (a TCP collector that
  // stopped answering mid-send) is left behind, what it held counted as dropped, so that
  // shutdown never hangs on a collector.
  void stop();

  uint64_t exported() const;
  uint64_t dropped() const;

  struct Row;    // one flow, as the templates lay it out
  struct State;  // what the exporter thread shares with the main lcore; outlives a left thread

 private:
  std::shared_ptr<State> state_;
  std::thread thread_;
  // SNI by flow id, from tls_client_hello records, until the flow's record; bounded.
  std::unordered_map<uint64_t, std::string> sni_;
  std::deque<uint64_t> sni_order_;
};

}  // namespace smtpguard
