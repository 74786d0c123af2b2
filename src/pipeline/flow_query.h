#pragma once
// A control-plane question about a worker's live flows (smtpguardctl flows/top, the telemetry
// command /smtpguard/flows), answered by the worker itself between bursts: its flow table has
// one writer and no lock. The control thread posts a query; the worker scans a slice of its
// table on each housekeeping tick, keeps the best `limit` matches, and publishes the answer.
// Two sequence numbers with release/acquire order the hand-over; nothing on the per-packet path.

#include <atomic>
#include <cstdint>

#include "packet/packet_parser.h"

namespace smtpguard {

// Most flows one worker returns for one query.
inline constexpr uint16_t kMaxFlowAnswer = 256;

enum class FlowOrder : uint8_t {
  kBytes,  // most payload bytes (both directions) first
  kAge,    // oldest (first packet) first
  kIdle,   // idle longest first
};

struct FlowFilter {
  uint16_t port = 0;      // server (SMTP) port; 0: any
  int16_t state = -1;     // TcpState; -1: any
  bool has_addr = false;  // client or server address equals `addr`
  IpAddr addr{};
};

struct FlowQuery {
  FlowFilter filter;
  FlowOrder order = FlowOrder::kBytes;
  uint16_t limit = 20;  // at most kMaxFlowAnswer
};

// One live flow as the control plane shows it. No payload, no credential: addresses, ports,
// state, byte counts, times and what the SMTP engine learnt of the session.
struct FlowBrief {
  uint64_t id = 0;  // the flow id of its events
  IpAddr client{};
  IpAddr server{};
  uint16_t client_port = 0;
  uint16_t server_port = 0;
  uint8_t state = 0;  // TcpState
  bool midstream = false;
  bool blocked = false;     // a policy verdict blocks it
  uint8_t tls = 0;          // SmtpTlsKind: TLS began (STARTTLS or implicit)
  uint16_t auth_mechs = 0;  // authMechBit() set of the AUTH commands seen
  uint16_t messages = 0;
  uint32_t bytes_to_server = 0;
  uint32_t bytes_to_client = 0;
  uint64_t first_ns = 0;
  uint64_t last_ns = 0;
  uint16_t worker = 0;
};

// Whether `x` ranks before `y` under `order` (the worker's heap and the control plane's merge
// rank the same way).
inline bool flowRanksBefore(FlowOrder order, const FlowBrief& x, const FlowBrief& y) {
  switch (order) {
    case FlowOrder::kAge:
      return x.first_ns < y.first_ns;
    case FlowOrder::kIdle:
      return x.last_ns < y.last_ns;
    case FlowOrder::kBytes:
      break;
  }
  return uint64_t{x.bytes_to_server} + x.bytes_to_client >
         uint64_t{y.bytes_to_server} + y.bytes_to_client;
}

struct FlowAnswer {
  uint32_t live = 0;     // flows in the table when the scan ended
  uint32_t matched = 0;  // flows the filter matched during the scan
  uint16_t n = 0;        // best `limit` of them, in order
  FlowBrief flows[kMaxFlowAnswer];
};

class FlowQueryBox {
 public:
  // --- control thread ---
  // Whether the last query was answered (a new one may be posted).
  bool idle() const {
    return answered_.load(std::memory_order_acquire) == posted_.load(std::memory_order_relaxed);
  }
  // Only when idle().
  void post(const FlowQuery& q) {
    query_ = q;
    if (query_.limit > kMaxFlowAnswer) query_.limit = kMaxFlowAnswer;
    posted_.fetch_add(1, std::memory_order_release);
  }
  // Valid once idle() after a post(), until the next post().
  const FlowAnswer& answer() const { return answer_; }

  // --- worker ---
  bool pending() const {
    return posted_.load(std::memory_order_acquire) != answered_.load(std::memory_order_relaxed);
  }
  const FlowQuery& query() const { return query_; }
  FlowAnswer& work() { return answer_; }
  uint32_t cursor = 0;   // next table index to scan
  bool started = false;  // the scan of the pending query began
  void publish() {
    cursor = 0;
    started = false;
    answered_.store(posted_.load(std::memory_order_relaxed), std::memory_order_release);
  }

 private:
  std::atomic<uint32_t> posted_{0};
  std::atomic<uint32_t> answered_{0};
  FlowQuery query_;
  FlowAnswer answer_;
};

}  // namespace smtpguard
