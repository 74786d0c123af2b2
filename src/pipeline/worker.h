#pragma once
// One worker per lcore: owns its counters, flow table, pools and event ring, and turns a
// burst of received mbufs into forward / drop / inject verdicts. Never allocates, throws,
// locks, logs or makes a syscall on the per-packet path (docs/architecture.md).

#include <cstdint>
#include <memory>

#include "common/placed_array.h"
#include "flow/flow_table.h"
#include "flow/tcp_stream.h"
#include "pipeline/event_emitter.h"
#include "pipeline/flow_app.h"
#include "pipeline/flow_query.h"
#include "pipeline/mbuf_timestamp.h"
#include "pipeline/policy_handle.h"
#include "pipeline/port_map.h"
#include "pipeline/tcp_reset.h"
#include "policy/rate_limiter.h"
#include "smtp/smtp_session.h"
#include "stats/counter_block.h"
#include "subscriber/subscriber_query.h"
#include "subscriber/subscriber_table.h"
#include "tls/client_hello.h"
#include "tls/digest.h"
#include "tls/tls_fingerprint.h"
#include "tls/tls_reassembly.h"

struct rte_mbuf;
struct rte_mempool;
struct rte_ring;
struct rte_ip_frag_tbl;
struct rte_ip_frag_death_row;

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

// IP fragments of TCP traffic (non-first fragments carry no ports, so every TCP fragment).
enum class FragmentMode : uint8_t {
  kReassemble,  // rte_ip_frag: the datagram is inspected whole, then sent on (refragmented)
  kDrop,        // dropped and counted
  kPass,        // forwarded uninspected, as before (counted in packets.fragments)
};

struct WorkerConfig {
  uint32_t flow_capacity = 65536;
  FlowTimeouts timeouts{};
  // The flow table's hash seed: random per start in the appliance (Runtime), so the bucket of
  // a tuple cannot be predicted from outside; fixed by default for tests.
  uint64_t hash_seed = FlowTableConfig{}.hash_seed;
  // A packet carrying a timestamp uses its own time (replay, NIC timestamps), any other the
  // burst's time; generated packets carry the time of the packet that caused them.
  MbufTimestamp timestamp;
  // false: the policy is evaluated and reported but nothing is dropped, reset or refused
  // (monitor mode, --policy-mode shadow); verdicts say "enforced":false and count in
  // policy.would_block, and every flow keeps being parsed.
  bool enforce = true;
  // IPv4 header and TCP checksums of SMTP-port packets (the NIC's verdict in ol_flags where it
  // checked, else software): a bad one never feeds the flow table or the engines, and is
  // dropped under an enforcing policy. Off: captures taken on a sending host with offload.
  bool verify_checksums = true;
  FragmentMode fragments = FragmentMode::kReassemble;
  uint32_t fragment_datagrams = 4096;            // datagrams under reassembly at once (per worker)
  uint64_t fragment_timeout_ns = 2'000'000'000;  // a datagram not complete by then is dropped
  uint16_t fragment_mtu = 1500;  // a reassembled datagram larger than this leaves refragmented
  rte_ring* events = nullptr;    // to the main lcore's writer; full ring = event dropped
  rte_mempool* inject_pool = nullptr;  // mbufs for generated packets; none: nothing injected
  uint8_t lcore = 0;
  int socket = -1;  // NUMA socket of the worker's lcore, for its event ring; -1: any
  // Subscribers whose statistics are kept (Space-Saving entries, docs/subscribers.md).
  uint32_t subscriber_slots = 4096;
  // Where the flow table and the pools live (default: the heap; the appliance: DPDK memory on
  // the worker's socket).
  MemorySource memory{};
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
  static size_t memoryFor(uint32_t flow_capacity, uint32_t subscriber_slots);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Decides a burst of at most kMaxBurst packets. Packets to forward are compacted, in arrival
  // order, at the front of pkts and their number returned; dropped packets are freed.
  // Generated packets (TCP RSTs) are written to `inject` (reset first).
  uint16_t processBurst(rte_mbuf** pkts, uint16_t n, uint64_t now_ns, BurstInjections& inject);

  // Between bursts, and on every poll of an idle link: ends up to `max_work` flows whose
  // timeout passed (their smtp_flow records go out) and reports a quiescent state, so that a
  // policy swap never waits for traffic. `now_ns` is the worker's clock (live: the TSC).
  void housekeep(uint64_t now_ns, uint32_t max_work);
  // Reports a quiescent state only: cheap enough for every poll iteration.
  void quiescent();
  // The worker stops reading the policy (its lcore leaves the poll loop): a reload under way
  // no longer waits for it.
  void goOffline();

  // Ends every flow (end reason "shutdown"), so each gets its smtp_flow event. Replay calls it
  // at end of file, the live modes when stopping.
  void finish(uint64_t now_ns);

  // Whether a frame the worker cannot inspect (replay: larger than any mbuf) must be dropped:
  // it is bound for an SMTP port under an enforcing policy. Counts nothing.
  bool dropsUninspectable(Bytes frame);

  // Whether IP fragments can be reassembled (its table was made; --fragments or the policy's
  // [policy] fragments says whether they are).
  bool reassembles() const { return frag_table_ != nullptr; }

  // Per-subscriber statistics: read on the control plane only while the worker is stopped
  // (replay's report, tests).
  const SubscriberTable& subscribers() const { return subscribers_; }
  // Questions about it from the control plane while the worker runs, answered by housekeep().
  SubscriberQueryBox& subscriberQueries() { return *subscriber_queries_; }

  CounterBlock& counters() { return counters_; }
  const CounterBlock& counters() const { return counters_; }

  // Questions from the control plane about the live flows, answered by housekeep() (see
  // flow_query.h): post on the control thread, read the answer once idle() again.
  FlowQueryBox& flowQueries() { return *flow_queries_; }

 private:
  // kHeld: the worker kept the mbuf (a fragment under reassembly, or one it sent on itself).
  enum class PacketVerdict : uint8_t { kForward, kDrop, kHeld };
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
    void onAuthResult(uint16_t code, bool success) override;
    void onMessageEnd() override;

   private:
    Worker& w_;
    Flow* flow_ = nullptr;
    uint64_t ts_ns_ = 0;
    SmtpTlsKind tls_kind_ = SmtpTlsKind::kNone;
    bool facts_changed_ = false;
  };

  // Scans the next slice of the table for the pending flow query; publishes the answer when
  // the scan reaches the end.
  void answerFlowQuery();
  FlowBrief brief(const Flow& f) const;

  PacketVerdict handlePacket(rte_mbuf* m, uint64_t now_ns);
  // A frame that cannot be parsed or read whole: forwarded, or dropped and counted when
  // dropsUninspectable().
  PacketVerdict uninspectable(Bytes frame);
  // After parsing: classification, checksums and the SMTP path of a contiguous frame.
  PacketVerdict handleParsed(uint64_t ol_flags, Bytes frame, const PacketInfo& info,
                             uint64_t now_ns);
  // A TCP fragment: reassembly (kHeld until the datagram is complete; then inspected whole and
  // sent on by the worker itself), or per config_.fragments.
  PacketVerdict handleFragment(rte_mbuf* m, const PacketInfo& info, uint64_t now_ns);
  // Sends a reassembled datagram on toward its receiver: whole when it fits fragment_mtu,
  // refragmented otherwise; frees it when nothing could be built.
  void sendReassembled(rte_mbuf* r, const PacketInfo& info, uint64_t ts_ns);
  struct FragTableFree {
    void operator()(rte_ip_frag_tbl* t) const;
  };
  using FragTablePtr = std::unique_ptr<rte_ip_frag_tbl, FragTableFree>;
  static FragTablePtr makeFragmentTable(const WorkerConfig& config);
  PacketVerdict handleSmtpPort(Bytes frame, const PacketInfo& info, uint64_t now_ns);
  // Whether a drop or reject of the running policy is carried out (a policy is loaded and
  // enforcement is on): then what cannot be inspected is dropped rather than let through.
  bool enforcing() const {
    return config_.enforce && pol_->snapshot != nullptr && !pol_->snapshot->shadowMode();
  }
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
  // A rare event of the flow's client for its statistics (docs/subscribers.md); detectors that
  // fire report subscriber_alert and may quarantine the client.
  void noteSubscriber(const Flow& f, SubStatSet stats, uint64_t now_ns,
                      const IpAddr* destination = nullptr);
  void noteSubscriber(const Flow& f, SubStat stat, uint64_t now_ns) {
    noteSubscriber(f, subStatBit(stat), now_ns);
  }
  void fireDetectors(const Flow& f, const SubscriberEntry& e, uint16_t fired, uint64_t now_ns);
  uint64_t subscriberKeyOf(const Flow& f) const {
    const PolicySnapshot* snap = pol_->snapshot.get();
    return subscriberKey(f.clientAddr(),
                         snap != nullptr ? snap->subscriberV6Prefix() : kDefaultSubscriberV6Prefix);
  }
  // The dynamic sets of the flow's client (quarantine) under the running policy.
  SetMask dynamicSets(const Flow& f, uint64_t now_ns) const;
  // A verdict's deciding rule (enforced, or left unenforced when enforcement is off), or the
  // shadow rule it matched on the way.
  void emitVerdict(const Flow& f, const Verdict& v, bool enforced, uint64_t now_ns);
  void emitShadow(const Flow& f, const Verdict& v, uint64_t now_ns);
  void emitVerdict(const Flow& f, uint16_t rule_index, Action action, Stage stage, bool enforced,
                   uint64_t now_ns);
  // A drop, reject or rate-limit verdict: enforced (the flow is blocked, its record goes out
  // now) or, when enforcement is off, reported as what would have been done.
  void block(Flow& f, const Verdict& v, uint64_t now_ns);
  // Keeps the verdict for the flow's record (the strongest one of the flow).
  void rememberVerdict(Flow& f, const Verdict& v, bool enforced);
  SessionAttachment* attachment(Flow& f, bool create);

  // In-order payload of one direction of a flow, from TCP reassembly.
  void deliver(Flow& f, FlowDir dir, Bytes data, uint64_t now_ns);
  void gap(Flow& f, FlowDir dir);
  void feedTls(Flow& f, SessionAttachment& a, FlowDir dir, Bytes data, uint64_t now_ns);

  void onFlowEnd(Flow& f, EndReason reason, uint64_t now_ns);
  // The flow's smtp_flow record, once: at its close (FIN both ways, RST), its block, or the end
  // of its entry, whichever comes first. The entry itself lingers (closing timeout) so late
  // packets still match it.
  struct RecordVerdict {
    std::string_view rule;
    Action action;
    bool enforced;
  };
  void reportFlow(Flow& f, EndReason reason, uint64_t now_ns,
                  const RecordVerdict* verdict = nullptr);
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
  // Whether a TCP packet goes to or comes from a port of the running policy's SMTP set.
  bool touchesSmtpPort(uint16_t src_port, uint16_t dst_port) const {
    return pol_->ports.classOf(dst_port) != PortClass::kNone ||
           pol_->ports.classOf(src_port) != PortClass::kNone;
  }
  // The pools a direction's stream borrows from: a history only toward the server (what a
  // credential or a command would travel in).
  StreamPools streamPools(FlowDir d) {
    return StreamPools{ooo_pool_, d == FlowDir::kToServer ? &history_pool_ : nullptr};
  }
  // Whether TLS began on the flow (SMTP rules then have nothing more to read in it).
  bool inTls(Flow& f) {
    const SessionAttachment* a = attachment(f, false);
    return a != nullptr && a->tls_kind != SmtpTlsKind::kNone;
  }

  // What each side of a flow advertised, beside the flow table (by its index): the receive
  // window a data segment must fall in (RFC 9293 §3.10.7.4), scaled per RFC 7323 §2.3 when
  // both SYNs carried the option. Tracked only when both SYNs were seen (a flow picked up
  // mid-stream cannot know the scale); otherwise StreamLimits' default applies.
  struct FlowWindow {
    static constexpr uint32_t kUnknown = UINT32_MAX;
    static constexpr uint8_t kSynUnseen = 0xfe;  // wscale: that side's SYN was not seen
    uint32_t window[2];  // by FlowDir of the data it limits (the receiver's advertisement)
    uint8_t wscale[2];   // by FlowDir of the side's own segments; kNoWindowScale: no option
    // For the flow record (IPFIX): every packet of the flow the worker saw, by FlowDir,
    // blocked ones included; IP octets (headers and payload, per the IP lengths), saturating.
    uint8_t tcp_flags;  // OR of the flags of every packet
    uint32_t packets[2];
    uint32_t octets[2];
  };
  static void countPacket(FlowWindow& w, FlowDir dir, const PacketInfo& info) {
    const auto d = static_cast<size_t>(dir);
    w.tcp_flags = static_cast<uint8_t>(w.tcp_flags | info.tcp_flags);
    if (w.packets[d] != UINT32_MAX) ++w.packets[d];
    w.octets[d] = w.octets[d] > UINT32_MAX - info.l3_len ? UINT32_MAX : w.octets[d] + info.l3_len;
  }
  // Records the window (and, on a SYN, the scale) the sender of a segment advertised.
  static void noteWindow(FlowWindow& w, FlowDir dir, const PacketInfo& info);
  // How far past the next expected byte a segment going `dir` may start.
  static uint32_t receiveWindow(const FlowWindow& w, FlowDir dir);

  // Connections that ended (timeout, eviction) in the middle of a client command line, or
  // blocked, under an enforcing policy: if the rest arrives on a flow picked up mid-stream, it
  // cannot be read as the command it belongs to (the line head is gone), so that flow is reset.
  // Direct-mapped by the table's seeded hash; entries last an hour (longer than any TCP sender
  // keeps retransmitting); a collision forgets the older entry.
  struct MidlineEnd {
    FlowKey key;
    uint64_t until_ns;  // 0: empty
  };
  static constexpr uint32_t kMidlineSlots = 4096;
  static constexpr uint64_t kMidlineKeepNs = 3600ull * 1000000000ull;
  void rememberMidline(const Flow& f, uint64_t now_ns);
  // Whether `f` (just created mid-stream) continues a remembered connection; forgets it.
  bool takeMidline(const Flow& f, uint64_t now_ns);

  WorkerConfig config_;
  PolicyHandle& policy_;
  const PolicyBundle* pol_;  // read once per burst; valid until the burst's quiescent state
  CounterBlock counters_;
  // Fragment reassembly (null without DPDK memory: unit tests, tools). Made first: rte_ip_frag
  // cannot fall back to the heap as the tables below can, so it takes DPDK memory before them.
  FragTablePtr frag_table_;
  ObjectPool<OooBuffer> ooo_pool_;
  ObjectPool<StreamHistory> history_pool_;
  ObjectPool<SmtpCold> smtp_pool_;
  ObjectPool<SessionAttachment> session_pool_;
  ObjectPool<ClientHelloBuffer> client_hello_pool_;
  ObjectPool<ServerHelloBuffer> server_hello_pool_;
  FlowTable<FlowApp> flows_;
  PlacedArray<FlowWindow> windows_;  // [flow table index]
  PlacedArray<MidlineEnd> midline_;  // [hash & (kMidlineSlots - 1)]
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
  SubscriberTable subscribers_;
  std::unique_ptr<SubscriberQueryBox> subscriber_queries_ = std::make_unique<SubscriberQueryBox>();
  bool conn_blocked_ = false;  // the last decideConnection() blocked (or would have)
  // The reassembly's death row (mbufs to free after the burst) and a contiguous copy of the
  // datagram being inspected.
  std::unique_ptr<rte_ip_frag_death_row> death_row_;
  PlacedArray<uint8_t> datagram_;
  std::unique_ptr<FlowQueryBox> flow_queries_ = std::make_unique<FlowQueryBox>();
  // What a session verdict asked of the packet being processed (read after its segment).
  SessionBlock session_block_ = SessionBlock::kNone;
};

}  // namespace smtpguard
