#pragma once
// One worker per lcore: owns its counters, flow table, pools and event ring, and turns a
// burst of received mbufs into forward / drop / inject verdicts. Never allocates, throws,
// locks, logs or makes a syscall on the per-packet path (docs/architecture.md).

#include <cstdint>
#include <memory>

#include "flow/flow_table.h"
#include "flow/tcp_stream.h"
#include "pipeline/event_emitter.h"
#include "pipeline/flow_app.h"
#include "pipeline/mbuf_timestamp.h"
#include "pipeline/policy_handle.h"
#include "pipeline/port_map.h"
#include "pipeline/tcp_reset.h"
#include "policy/rate_limiter.h"
#include "smtp/smtp_session.h"
#include "stats/counter_block.h"
#include "tls/client_hello.h"
#include "tls/digest.h"
#include "tls/tls_fingerprint.h"
#include "tls/tls_reassembly.h"

struct rte_mbuf;
struct rte_mempool;
struct rte_ring;

namespace smtpguard {

// Largest burst processBurst() accepts (callers receive at most this many at a time).
inline constexpr uint16_t kMaxBurst = 64;

// Packets a burst generates (TCP RSTs): at most two per packet, both ends of its connection.
struct BurstInjections {
  // Toward the senders of the burst's packets: out of the port the burst came in on.
  rte_mbuf* back[2 * kMaxBurst];
  uint16_t n_back = 0;
  // Toward the receivers: out of the peer port, after the forwarded packets.
  rte_mbuf* onward[2 * kMaxBurst];
  uint16_t n_onward = 0;
};

struct WorkerConfig {
  uint32_t flow_capacity = 65536;
  FlowTimeouts timeouts{};
  // A packet carrying a timestamp uses its own time (replay, NIC timestamps), any other the
  // burst's time; generated packets carry the time of the packet that caused them.
  MbufTimestamp timestamp;
  rte_ring* events = nullptr;          // to the main lcore's writer; full ring = event dropped
  rte_mempool* inject_pool = nullptr;  // mbufs for generated packets; none: nothing injected
  uint8_t lcore = 0;
};

class Worker {
 public:
  // Control plane: allocates every table and pool (sized from config) up front. The worker
  // reads the running policy from `policy` and reports quiescent states to it as worker
  // config.lcore.
  Worker(const WorkerConfig& config, PolicyHandle& policy);
  ~Worker();
  // What the constructor allocates (and touches) for `flow_capacity` flows: checked against
  // the machine's memory before workers are made.
  static size_t memoryFor(uint32_t flow_capacity);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Decides a burst of at most kMaxBurst packets. Packets to forward are compacted, in arrival
  // order, at the front of pkts and their number returned; dropped packets are freed.
  // Generated packets (TCP RSTs) are written to `inject` (reset first).
  uint16_t processBurst(rte_mbuf** pkts, uint16_t n, uint64_t now_ns, BurstInjections& inject);

  // Ends every flow (end reason "shutdown"), so each gets its smtp_flow event. Replay calls it
  // at end of file, the live modes when stopping.
  void finish(uint64_t now_ns);

  CounterBlock& counters() { return counters_; }
  const CounterBlock& counters() const { return counters_; }

 private:
  enum class PacketVerdict : uint8_t { kForward, kDrop };
  // What a session verdict asks of the packet being processed.
  enum class SessionBlock : uint8_t { kNone, kDrop, kReject };

  // The SMTP engine's rare events become event records for the flow being fed.
  class SessionEvents final : public SmtpObserver {
   public:
    explicit SessionEvents(Worker& w) : w_(w) {}
    void bind(Flow& flow, uint64_t ts_ns) {
      flow_ = &flow;
      ts_ns_ = ts_ns;
      tls_kind_ = SmtpTlsKind::kNone;
      facts_changed_ = false;
    }
    SmtpTlsKind tlsKind() const { return tls_kind_; }
    // Whether the last chunk changed a fact session rules read (reply to STARTTLS, AUTH, ...).
    bool factsChanged() const { return facts_changed_; }

    void onStarttlsResult(uint16_t code) override;
    void onAuth(const SmtpAuthEvent& auth) override;
    void onAnomaly(SmtpAnomaly anomaly, std::string_view detail) override;
    void onTlsBegin(Direction dir, uint32_t offset, SmtpTlsKind kind) override;
    void onStarttlsAttempt() override { facts_changed_ = true; }
    void onHelo(std::string_view name, bool ehlo) override;
    void onMailFrom(std::string_view domain) override;

   private:
    Worker& w_;
    Flow* flow_ = nullptr;
    uint64_t ts_ns_ = 0;
    SmtpTlsKind tls_kind_ = SmtpTlsKind::kNone;
    bool facts_changed_ = false;
  };

  PacketVerdict handlePacket(rte_mbuf* m, uint64_t now_ns);
  PacketVerdict handleSmtpPort(Bytes frame, const PacketInfo& info, uint64_t now_ns);
  // At the first packet of a connection: the connection rules.
  PacketVerdict decideConnection(Flow& f, FlowDir dir, Bytes frame, const PacketInfo& info,
                                 uint64_t now_ns);
  // After the engines saw new session facts (`events`: SessionEvent bits): the session rules.
  void decideSession(Flow& f, uint64_t now_ns);
  // Pattern masks of another policy (a reload) mean nothing in this one: cleared, and the HELO
  // name, which is kept, scanned again. MAIL FROM and SNI are not kept: their pattern
  // conditions wait until the field is seen again.
  void refreshPatterns(const Flow& f, PatternMatches& m);
  void countRule(const Verdict& v);
  void emitVerdict(const Flow& f, const Verdict& v, bool enforced, uint64_t now_ns);
  SessionAttachment* attachment(Flow& f, bool create);

  // In-order payload of one direction of a flow, from TCP reassembly.
  void deliver(Flow& f, FlowDir dir, Bytes data, uint64_t now_ns);
  void gap(Flow& f, FlowDir dir);
  void feedTls(Flow& f, SessionAttachment& a, FlowDir dir, Bytes data, uint64_t now_ns);

  void onFlowEnd(Flow& f, EndReason reason, uint64_t now_ns);
  void emitClientHello(const Flow& f, SmtpTlsKind kind, const ClientFingerprints& fp,
                       uint64_t now_ns);
  EventEndpoints endpoints(const Flow& f) const;
  // Queues a TCP RST for the connection of `frame` (see tcp_reset.h); toward the packet's
  // sender it leaves back through the receiving port, toward its receiver onward.
  void injectReset(Bytes frame, const PacketInfo& info, ResetTarget target, uint64_t ts_ns);
  // Queues an ICMP administratively-prohibited back toward the packet's sender.
  void injectIcmp(Bytes frame, const PacketInfo& info, uint64_t ts_ns);
  // Takes an mbuf for a generated packet and queues it; nullptr when none can be had.
  uint8_t* allocInjected(bool back, size_t room, uint64_t ts_ns, rte_mbuf*& m);
  PortClass portClassOf(const Flow& f) const { return pol_->ports.classOf(f.server_port); }

  WorkerConfig config_;
  PolicyHandle& policy_;
  const PolicyBundle* pol_;  // read once per burst; valid until the burst's quiescent state
  CounterBlock counters_;
  ObjectPool<OooBuffer> ooo_pool_;
  ObjectPool<SmtpCold> smtp_pool_;
  ObjectPool<SessionAttachment> session_pool_;
  ObjectPool<ClientHelloBuffer> client_hello_pool_;
  ObjectPool<ServerHelloBuffer> server_hello_pool_;
  FlowTable<FlowApp> flows_;
  ClientHelloAssembler client_hellos_;
  ServerHelloAssembler server_hellos_;
  DigestContext digests_;
  EventEmitter events_;
  SessionEvents session_events_;
  // Scratch for the hello being finished (large: kept off the stack).
  std::unique_ptr<ClientHelloInfo> client_hello_;
  std::unique_ptr<ServerHelloInfo> server_hello_;
  BurstInjections* inject_ = nullptr;  // the burst being processed
  RateLimiter rate_limiter_;
  // What a session verdict asked of the packet being processed (read after its segment).
  SessionBlock session_block_ = SessionBlock::kNone;
};

}  // namespace smtpguard
