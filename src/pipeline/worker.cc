#include "pipeline/worker.h"

#include <arpa/inet.h>
#include <rte_ip.h>
#include <rte_ip_frag.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_prefetch.h>

#include <algorithm>
#include <bit>

#include "packet/checksum.h"
#include "packet/packet_parser.h"
#include "tls/tls_fingerprint.h"

namespace smtpguard {
namespace {

// Far enough ahead that the header line arrives before we need it, near enough to stay in L1.
constexpr uint16_t kPrefetchAhead = 4;
// A reassembled datagram (64 KiB of IP at most) with the largest L2 header we parse.
constexpr size_t kMaxDatagramFrame = 65535 + 64;
// Flows examined for expiry per burst: bounded work, amortised over traffic.
constexpr uint32_t kExpiryWorkPerBurst = 32;

// Pool sizes from the flow capacity (the constructor and memoryFor()). Out-of-order buffers use
// 16-bit handles; client-to-server histories (2 KiB) for the flows that speak in clear, so
// retransmissions are compared with what was inspected; lines and HELO names are kept for most
// SMTP flows; session state one per flow (a flow the policy looks into never goes uninspected
// for want of one); hello buffers only while one is split.
struct PoolSizes {
  explicit PoolSizes(uint32_t flows)
      : ooo(std::clamp<uint32_t>(flows / 8, 64, 65534)),
        history(std::clamp<uint32_t>(flows / 4, 64, 65534)),
        smtp(std::max<uint32_t>(flows / 4, 256)),
        session(std::max<uint32_t>(flows, 256)),
        hello(std::clamp<uint32_t>(flows / 64, 16, 1024)) {}
  uint32_t ooo, history, smtp, session, hello;
};

Counter malformedCounter(ParseResult r) {
  switch (r) {
    case ParseResult::kMalformedEthernet:
      return Counter::kMalformedEthernet;
    case ParseResult::kMalformedVlan:
      return Counter::kMalformedVlan;
    case ParseResult::kMalformedIpv4Header:
      return Counter::kMalformedIpv4Header;
    case ParseResult::kMalformedIpv4Length:
      return Counter::kMalformedIpv4Length;
    case ParseResult::kMalformedIpv6Header:
      return Counter::kMalformedIpv6Header;
    case ParseResult::kMalformedIpv6ExtHeader:
      return Counter::kMalformedIpv6ExtHeader;
    case ParseResult::kMalformedIpv6Mapped:
      return Counter::kMalformedIpv6Mapped;
    case ParseResult::kMalformedTcpHeader:
      return Counter::kMalformedTcpHeader;
    case ParseResult::kMalformedTcpOptions:
      return Counter::kMalformedTcpOptions;
    default:
      break;
  }
  return Counter::kMalformedEthernet;
}

Direction engineDir(FlowDir d) {
  return d == FlowDir::kToServer ? Direction::kClientToServer : Direction::kServerToClient;
}

// Checksums as the NIC found them where it checked (ol_flags), else computed here.
bool checksumsGood(uint64_t ol_flags, Bytes frame, const PacketInfo& info) {
  const uint64_t ip = ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
  const uint64_t l4 = ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
  if (ip == RTE_MBUF_F_RX_IP_CKSUM_BAD || l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD) return false;
  // GOOD: checked by the NIC; NONE: not in the frame but the data is intact (virtio).
  const bool ip_ok = ip == RTE_MBUF_F_RX_IP_CKSUM_GOOD || ip == RTE_MBUF_F_RX_IP_CKSUM_NONE ||
                     ipv4HeaderChecksumOk(frame, info);
  if (!ip_ok) return false;
  return l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD || l4 == RTE_MBUF_F_RX_L4_CKSUM_NONE ||
         tcpChecksumOk(frame, info);
}

// The rule's name in the snapshot; "default" when the policy's default decided.
std::string_view ruleName(const PolicySnapshot& snap, uint16_t index) {
  return index < snap.ruleCount() ? std::string_view(snap.ruleNames()[index]) : "default";
}

}  // namespace

Worker::Worker(const WorkerConfig& config, PolicyHandle& policy)
    : config_(config),
      policy_(policy),
      pol_(policy.current()),
      frag_table_(makeFragmentTable(config)),
      ooo_pool_(PoolSizes(config.flow_capacity).ooo, config.memory),
      history_pool_(PoolSizes(config.flow_capacity).history, config.memory),
      smtp_pool_(PoolSizes(config.flow_capacity).smtp, config.memory),
      session_pool_(PoolSizes(config.flow_capacity).session, config.memory),
      client_hello_pool_(PoolSizes(config.flow_capacity).hello, config.memory),
      server_hello_pool_(PoolSizes(config.flow_capacity).hello, config.memory),
      flows_(FlowTableConfig{.capacity = config.flow_capacity,
                             .timeouts = config.timeouts,
                             .table_id = config.lcore,
                             .hash_seed = config.hash_seed},
             StreamPools{ooo_pool_, &history_pool_}, counters_, config.memory),
      windows_(config.flow_capacity, config.memory),
      midline_(kMidlineSlots, config.memory),
      client_hellos_(client_hello_pool_, counters_),
      server_hellos_(server_hello_pool_, counters_),
      events_(config.events, counters_, config.lcore),
      session_events_(*this),
      client_hello_(std::make_unique<ClientHelloInfo>()),
      server_hello_(std::make_unique<ServerHelloInfo>()),
      rate_limiter_(config.flow_capacity),
      subscribers_(config.subscriber_slots, config.memory) {
  // The table is made whatever --fragments says, so that a policy's [policy] fragments =
  // "reassemble" can apply after a reload. Without it (no DPDK memory: unit tests, tools),
  // fragments pass as before; the appliance checks reassembles() at start-up.
  if (frag_table_ != nullptr) {
    death_row_ = std::make_unique<rte_ip_frag_death_row>();
    death_row_->cnt = 0;
    datagram_ = PlacedArray<uint8_t>(kMaxDatagramFrame, config.memory);
  }
  policy_.online(config.lcore, counters_);
}

size_t Worker::memoryFor(uint32_t flow_capacity, uint32_t subscriber_slots) {
  const PoolSizes p(flow_capacity);
  return sizeof(Worker) + FlowTable<FlowApp>::memoryFor(flow_capacity) +
         size_t{flow_capacity} * sizeof(FlowWindow) + kMidlineSlots * sizeof(MidlineEnd) +
         ObjectPool<OooBuffer>::memoryFor(p.ooo) + ObjectPool<StreamHistory>::memoryFor(p.history) +
         ObjectPool<SmtpCold>::memoryFor(p.smtp) +
         ObjectPool<SessionAttachment>::memoryFor(p.session) +
         ObjectPool<ClientHelloBuffer>::memoryFor(p.hello) +
         ObjectPool<ServerHelloBuffer>::memoryFor(p.hello) + sizeof(ClientHelloInfo) +
         sizeof(ServerHelloInfo) + RateLimiter::memoryFor(flow_capacity) +
         sizeof(*CounterBlock{}.flows_port) + SubscriberTable::memoryFor(subscriber_slots);
}

Worker::~Worker() {
  policy_.offline(config_.lcore);
}

void Worker::FragTableFree::operator()(rte_ip_frag_tbl* t) const {
  rte_ip_frag_table_destroy(t);
}

Worker::FragTablePtr Worker::makeFragmentTable(const WorkerConfig& config) {
  // Buckets of 8 entries (a power of two, as the library wants), at least two per datagram.
  const uint32_t datagrams = std::max<uint32_t>(config.fragment_datagrams, 16);
  const uint32_t buckets = std::bit_ceil((datagrams + 7) / 8);
  return FragTablePtr(rte_ip_frag_table_create(buckets, 8, datagrams, config.fragment_timeout_ns,
                                               config.socket < 0 ? SOCKET_ID_ANY : config.socket));
}

EventEndpoints Worker::endpoints(const Flow& f) const {
  return {f.clientAddr(), f.serverAddr(), f.clientPort(), f.server_port};
}

// --- SMTP engine events ---------------------------------------------------------------------

void Worker::SessionEvents::onStarttlsResult(uint16_t code) {
  facts_changed_ = true;
  w_.events_.emit(EventType::kSmtpStarttls, ts_ns_, w_.flows_.flowId(*flow_), w_.endpoints(*flow_),
                  [&](EventRecord& r) { r.starttls.reply_code = code; });
}

void Worker::SessionEvents::onAuth(const SmtpAuthEvent& auth) {
  facts_changed_ = true;
  if (!auth.tls_protected) w_.noteSubscriber(*flow_, SubStat::kPlaintextAuth, ts_ns_);
  // Only the mechanism's canonical name and whether TLS protected it: never a byte of the
  // credential (the engine does not hand one over).
  w_.events_.emit(EventType::kSmtpAuth, ts_ns_, w_.flows_.flowId(*flow_), w_.endpoints(*flow_),
                  [&](EventRecord& r) {
                    r.auth.mech = auth.mech;
                    r.auth.tls = auth.tls_protected;
                  });
}

void Worker::SessionEvents::onAuthResult(uint16_t code, bool success) {
  // RFC 4954 §6: 535 (credentials invalid), 454 and the other 4xx/5xx replies refuse the AUTH.
  if (!success && code >= 400) w_.noteSubscriber(*flow_, SubStat::kAuthFailures, ts_ns_);
}

void Worker::SessionEvents::onMessageEnd() {
  w_.noteSubscriber(*flow_, SubStat::kMessages, ts_ns_);
}

void Worker::SessionEvents::onAnomaly(SmtpAnomaly anomaly, std::string_view detail) {
  facts_changed_ = true;
  if (SessionAttachment* a = w_.attachment(*flow_, w_.pol_->snapshot != nullptr)) {
    a->anomalies = static_cast<uint8_t>(a->anomalies | (1u << static_cast<unsigned>(anomaly)));
  }
  w_.events_.emit(EventType::kSmtpAnomaly, ts_ns_, w_.flows_.flowId(*flow_), w_.endpoints(*flow_),
                  [&](EventRecord& r) {
                    r.anomaly.anomaly = anomaly;
                    r.anomaly.detail.set(detail);
                  });
}

void Worker::SessionEvents::onTlsBegin(Direction, uint32_t, SmtpTlsKind kind) {
  tls_kind_ = kind;
  facts_changed_ = true;
}

void Worker::SessionEvents::onHelo(std::string_view name, bool) {
  facts_changed_ = true;
  if (w_.pol_->snapshot == nullptr) return;
  if (SessionAttachment* a = w_.attachment(*flow_, true)) {
    scanField(*w_.pol_->snapshot, PatternField::kEhlo, name, w_.pol_->scratch[w_.config_.lcore],
              a->patterns);
  }
}

void Worker::SessionEvents::onMailFrom(std::string_view domain) {
  facts_changed_ = true;
  if (w_.pol_->snapshot == nullptr) return;
  if (SessionAttachment* a = w_.attachment(*flow_, true)) {
    a->mail_in_clear = true;
    w_.refreshPatterns(*flow_, a->patterns);
    scanField(*w_.pol_->snapshot, PatternField::kMailFromDomain, domain,
              w_.pol_->scratch[w_.config_.lcore], a->patterns);
  }
}

// --- per packet -------------------------------------------------------------------------------

inline Worker::PacketVerdict Worker::handlePacket(rte_mbuf* m, uint64_t now_ns) {
  if (!rte_pktmbuf_is_contiguous(m) && rte_pktmbuf_linearize(m) != 0) {
    // Chained mbufs too long for one segment (a jumbo frame): not inspected. Fail open,
    // except for an SMTP port under an enforcing policy.
    counters_.inc(Counter::kPacketsNonlinear);
    return uninspectable(Bytes(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len));
  }
  const uint8_t* frame = rte_pktmbuf_mtod(m, const uint8_t*);
  PacketInfo info;
  ParseResult r = parsePacket(Bytes(frame, m->data_len), info);
  if (isMalformed(r)) {
    // Fail open: counted by reason only (not as vlan/ipv4/tcp), forwarded untouched, unless
    // it is bound for an SMTP port under an enforcing policy (three VLAN tags, nine IPv6
    // extension headers and a TCP option of length 0 must not carry an AUTH past us).
    counters_.inc(Counter::kPacketsMalformed);
    counters_.inc(malformedCounter(r));
    return uninspectable(Bytes(frame, m->data_len));
  }
  if (info.vlan_count != 0) counters_.inc(Counter::kPacketsVlan);
  if (r == ParseResult::kNonIp) {
    counters_.inc(Counter::kPacketsNonIp);
    return PacketVerdict::kForward;
  }
  counters_.inc(info.ip_version == 4 ? Counter::kPacketsIpv4 : Counter::kPacketsIpv6);
  if (info.fragment) counters_.inc(Counter::kPacketsFragments);
  // A non-first fragment has no transport header to classify: a TCP one may belong to an SMTP
  // connection, so it goes to reassembly with the others.
  if (r == ParseResult::kFragment) {
    return info.l4_proto == kIpProtoTcp ? handleFragment(m, info, now_ns) : PacketVerdict::kForward;
  }
  if (info.l4_proto != kIpProtoTcp) {
    counters_.inc(info.l4_proto == kIpProtoUdp ? Counter::kPacketsUdp : Counter::kPacketsOtherL4);
    return PacketVerdict::kForward;
  }
  counters_.inc(Counter::kPacketsTcp);
  const bool smtp_port = touchesSmtpPort(info.src_port, info.dst_port);
  if (smtp_port) counters_.inc(Counter::kPacketsSmtpPort);
  // A first fragment's payload is cut short: the datagram is inspected once reassembled.
  if (info.fragment) return handleFragment(m, info, now_ns);
  if (!smtp_port) return PacketVerdict::kForward;  // the shortest pass-through
  return handleParsed(m->ol_flags, Bytes(frame, m->data_len), info, now_ns);
}

Worker::PacketVerdict Worker::uninspectable(Bytes frame) {
  if (!dropsUninspectable(frame)) return PacketVerdict::kForward;
  counters_.inc(Counter::kPacketsUninspectableDropped);
  return PacketVerdict::kDrop;
}

bool Worker::dropsUninspectable(Bytes frame) {
  pol_ = policy_.current();
  if (!enforcing()) return false;
  uint16_t sport = 0, dport = 0;
  return findTcpPorts(frame, sport, dport) && touchesSmtpPort(sport, dport);
}

Worker::PacketVerdict Worker::handleParsed(uint64_t ol_flags, Bytes frame, const PacketInfo& info,
                                           uint64_t now_ns) {
  if (config_.verify_checksums && !checksumsGood(ol_flags, frame, info)) {
    // The receiver discards it: neither the flow table nor the engines may take it as real
    // (a decoy, or an insertion: Ptacek and Newsham 1998, §3).
    counters_.inc(Counter::kPacketsBadChecksum);
    return enforcing() ? PacketVerdict::kDrop : PacketVerdict::kForward;
  }
  return handleSmtpPort(frame, info, now_ns);
}

Worker::PacketVerdict Worker::handleFragment(rte_mbuf* m, const PacketInfo& info, uint64_t now_ns) {
  // The running policy's [policy] fragments, else the command line's.
  FragmentMode mode = config_.fragments;
  if (const PolicySnapshot* snap = pol_->snapshot.get()) {
    switch (snap->fragments()) {
      case FragmentSetting::kReassemble:
        mode = FragmentMode::kReassemble;
        break;
      case FragmentSetting::kDrop:
        mode = FragmentMode::kDrop;
        break;
      case FragmentSetting::kPass:
        mode = FragmentMode::kPass;
        break;
      case FragmentSetting::kCommandLine:
        break;
    }
  }
  switch (mode) {
    case FragmentMode::kPass:
      return PacketVerdict::kForward;
    case FragmentMode::kDrop:
      counters_.inc(Counter::kIpFragmentsDropped);
      return PacketVerdict::kDrop;
    case FragmentMode::kReassemble:
      break;
  }
  if (frag_table_ == nullptr) return PacketVerdict::kForward;  // no table: as kPass
  uint8_t* l3 = rte_pktmbuf_mtod_offset(m, uint8_t*, info.l3_offset);
  const uint32_t dead_before = death_row_->cnt;
  rte_mbuf* r = nullptr;
  m->l2_len = static_cast<uint8_t>(info.l3_offset & 0x7f);  // at most 22 bytes here
  if (info.ip_version == 4) {
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(l3);
    m->l3_len = rte_ipv4_hdr_len(ip);
    r = rte_ipv4_frag_reassemble_packet(frag_table_.get(), death_row_.get(), m, now_ns, ip);
  } else {
    auto* ip6 = reinterpret_cast<rte_ipv6_hdr*>(l3);
    rte_ipv6_fragment_ext* fh = rte_ipv6_frag_get_ipv6_fragment_header(ip6);
    if (fh == nullptr) {
      // Extension headers before the fragment header: rte_ip_frag cannot reassemble it, and
      // a datagram that cannot be inspected does not pass (hosts rarely send these).
      counters_.inc(Counter::kIpFragmentsDropped);
      return PacketVerdict::kDrop;
    }
    m->l3_len = static_cast<uint16_t>(sizeof(*ip6) + sizeof(*fh));
    r = rte_ipv6_frag_reassemble_packet(frag_table_.get(), death_row_.get(), m, now_ns, ip6, fh);
  }
  // Fragments the library gave up on (overlapping or duplicate pieces, more than
  // RTE_LIBRTE_IP_FRAG_MAX_FRAG of them, a full table) wait on the death row: dropped.
  if (death_row_->cnt > dead_before) {
    counters_.inc(Counter::kIpFragmentsDropped, death_row_->cnt - dead_before);
  }
  if (r == nullptr) return PacketVerdict::kHeld;
  counters_.inc(Counter::kIpReassembled);
  if (info.ip_version == 4) {
    // The library zeroes the header checksum and asks the NIC for it: done here instead, so
    // that any port can send the datagram and the copy below verifies.
    auto* ip = rte_pktmbuf_mtod_offset(r, rte_ipv4_hdr*, r->l2_len);
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    r->ol_flags &= ~(RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_IPV4);
  }
  const auto* data = static_cast<const uint8_t*>(
      r->pkt_len <= datagram_.size() ? rte_pktmbuf_read(r, 0, r->pkt_len, datagram_.get())
                                     : nullptr);
  PacketInfo whole;
  if (data == nullptr || parsePacket(Bytes(data, r->pkt_len), whole) != ParseResult::kOk ||
      whole.fragment || whole.l4_proto != kIpProtoTcp) {
    counters_.inc(Counter::kIpFragmentsDropped);
    rte_pktmbuf_free(r);
    return PacketVerdict::kHeld;
  }
  const bool smtp_port = touchesSmtpPort(whole.src_port, whole.dst_port);
  // No NIC verdict applies to a reassembled datagram: its checksums are checked in software.
  const PacketVerdict v =
      smtp_port ? handleParsed(0, Bytes(data, r->pkt_len), whole, now_ns) : PacketVerdict::kForward;
  if (v == PacketVerdict::kForward) {
    sendReassembled(r, whole, config_.timestamp.read(m, now_ns));
  } else {
    rte_pktmbuf_free(r);
    counters_.inc(Counter::kPacketsDropped);
  }
  return PacketVerdict::kHeld;
}

void Worker::sendReassembled(rte_mbuf* r, const PacketInfo& info, uint64_t ts_ns) {
  constexpr uint16_t kMaxOut = 64;
  const uint16_t l2 = info.l3_offset;
  auto queue = [&](rte_mbuf* out) {
    if (inject_->n_onward >= 2 * kMaxBurst) {
      counters_.inc(Counter::kPacketsTxFailed);
      rte_pktmbuf_free(out);
      return;
    }
    config_.timestamp.write(out, ts_ns);
    inject_->onward[inject_->n_onward++] = out;
  };
  // Whole, when it fits the link: the receiver gets exactly the bytes inspected.
  if (r->pkt_len - l2 <= config_.fragment_mtu && rte_pktmbuf_linearize(r) == 0) {
    queue(r);
    return;
  }
  uint8_t l2_header[32];
  if (l2 > sizeof l2_header || config_.inject_pool == nullptr) {
    counters_.inc(Counter::kPacketsTxFailed);
    rte_pktmbuf_free(r);
    return;
  }
  rte_memcpy(l2_header, rte_pktmbuf_mtod(r, const uint8_t*), l2);
  rte_pktmbuf_adj(r, l2);
  rte_mbuf* out[kMaxOut];
  const int32_t n = info.ip_version == 4
                        ? rte_ipv4_fragment_packet(r, out, kMaxOut, config_.fragment_mtu,
                                                   config_.inject_pool, config_.inject_pool)
                        : rte_ipv6_fragment_packet(r, out, kMaxOut, config_.fragment_mtu,
                                                   config_.inject_pool, config_.inject_pool);
  rte_pktmbuf_free(r);  // the fragments hold references to its data
  if (n <= 0) {
    counters_.inc(Counter::kPacketsTxFailed);
    return;
  }
  for (int32_t i = 0; i < n; ++i) {
    auto* head = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(out[i], l2));
    if (head == nullptr) {
      counters_.inc(Counter::kPacketsTxFailed);
      rte_pktmbuf_free(out[i]);
      continue;
    }
    rte_memcpy(head, l2_header, l2);
    if (info.ip_version == 4) {
      auto* ip = reinterpret_cast<rte_ipv4_hdr*>(head + l2);
      ip->hdr_checksum = 0;
      ip->hdr_checksum = rte_ipv4_cksum(ip);
    }
    queue(out[i]);
  }
}

Worker::PacketVerdict Worker::handleSmtpPort(Bytes frame, const PacketInfo& info, uint64_t now_ns) {
  auto on_end = [this, now_ns](Flow& f, EndReason reason) { onFlowEnd(f, reason, now_ns); };
  auto is_server_port = [this](uint16_t p) { return pol_->ports.classOf(p) != PortClass::kNone; };
  auto found = flows_.lookupOrCreate(info, now_ns, is_server_port, on_end);
  if (found.entry == nullptr) return PacketVerdict::kForward;  // a RST for no flow we know
  Flow& f = *found.entry;
  const FlowDir dir = found.dir;
  FlowWindow& win = windows_[flows_.indexOf(f)];
  if (found.created)
    win = FlowWindow{{FlowWindow::kUnknown, FlowWindow::kUnknown},
                     {FlowWindow::kSynUnseen, FlowWindow::kSynUnseen},
                     0,
                     {0, 0},
                     {0, 0}};
  countPacket(win, dir, info);
  if (f.app_ref & AppRef::kBlocked) {
    // A blocked connection stays blocked; a rejected client retrying its SYN (our RST was
    // lost) is reset again.
    if ((f.app_ref & AppRef::kReject) && (info.tcp_flags & (kTcpSyn | kTcpAck)) == kTcpSyn) {
      injectReset(frame, info, ResetTarget::kSender, now_ns);
    }
    return PacketVerdict::kDrop;
  }
  if (!(f.app_ref & AppRef::kDecided)) {
    f.app_ref |= AppRef::kDecided;
    // The rest of a command line whose head went with an earlier flow on this tuple: it cannot
    // be inspected as what it is, so the connection is reset (fail closed).
    if (found.created && f.midstream() && enforcing() && takeMidline(f, now_ns)) {
      counters_.inc(Counter::kFlowsMidlineRefused);
      f.app_ref |= AppRef::kBlocked | AppRef::kReject;
      injectReset(frame, info, ResetTarget::kSender, now_ns);
      injectReset(frame, info, ResetTarget::kReceiver, now_ns);
      return PacketVerdict::kDrop;
    }
    conn_blocked_ = false;
    const PacketVerdict pv = decideConnection(f, dir, frame, info, now_ns);
    // A new connection of the client (or one picked up mid-stream): its statistics.
    // One update of the client's entry for all of them.
    if (portClassOf(f) == PortClass::kRelay) {
      const IpAddr server = f.serverAddr();
      noteSubscriber(f,
                     subStatBit(SubStat::kConnections) | subStatBit(SubStat::kPort25Attempts) |
                         (conn_blocked_ ? subStatBit(SubStat::kPort25Blocked) : SubStatSet{0}),
                     now_ns, &server);
    } else {
      noteSubscriber(f, subStatBit(SubStat::kConnections), now_ns);
    }
    if (pv == PacketVerdict::kDrop) return PacketVerdict::kDrop;
    // Resource exhaustion fails closed for enforcement: with no line state left for a new
    // session, it is refused (its client reset, as a busy server would) rather than let
    // through uninspected; sessions under way keep theirs.
    if (enforcing() && found.created && smtp_pool_.inUse() == smtp_pool_.capacity() &&
        !pol_->snapshot->exhaustionPasses()) {
      counters_.inc(Counter::kFlowsRefusedNoState);
      f.app_ref |= AppRef::kBlocked | AppRef::kReject;
      injectReset(frame, info,
                  dir == FlowDir::kToServer ? ResetTarget::kSender : ResetTarget::kReceiver,
                  now_ns);
      return PacketVerdict::kDrop;
    }
  }
  // Reset here, after the lookup: a flow ended meanwhile (evicted) may have set it.
  session_block_ = SessionBlock::kNone;
  noteWindow(win, dir, info);
  // The inline rule (Handley, Paxson and Kreibich 2001): under an enforcing policy, while the
  // flow is still in clear, only bytes the engines inspected (or exact copies of them) leave.
  // Holes are then held, not skipped: a segment past one waits (dropped; the sender sends it
  // again) until the hole fills or the receiver's ACK proves it lost.
  const bool strict = enforcing() && !inTls(f);
  const StreamLimits limits{.max_ahead = receiveWindow(win, dir),
                            .holes = strict ? HolePolicy::kHold : HolePolicy::kSkip};
  const SegmentStatus st = f.streamOf(dir).onSegment(
      TcpSegment{info.seq, info.tcp_flags, frame.subspan(info.payload_offset, info.payload_len)},
      streamPools(dir), limits, counters_, [&](Bytes data) { deliver(f, dir, data, now_ns); },
      [&](uint32_t) { gap(f, dir); });
  if (info.tcp_flags & kTcpAck) {
    // The receiver's ACK of the other direction: the one way out of a hole it proves lost.
    const FlowDir other = dir == FlowDir::kToServer ? FlowDir::kToClient : FlowDir::kToServer;
    f.streamOf(other).onPeerAck(
        info.ack, streamPools(other), counters_,
        [&](Bytes data) { deliver(f, other, data, now_ns); }, [&](uint32_t) { gap(f, other); });
  }
  // FIN both ways or a RST: the record goes out now, not when the entry times out.
  if (f.state == TcpState::kClosed && !(f.app_ref & AppRef::kReported)) {
    reportFlow(f, (f.flags & Flow::kRstSeen) ? EndReason::kRst : EndReason::kFin, now_ns);
  }
  if (session_block_ == SessionBlock::kNone) {
    if (!strict) return PacketVerdict::kForward;
    switch (st) {
      case SegmentStatus::kInconsistent:  // a copy that differs from what was inspected
      case SegmentStatus::kOutOfWindow:   // never accepted, never inspected
      case SegmentStatus::kRefused:       // could not be held
      case SegmentStatus::kBuffered:      // inspected only once the hole before it fills
        counters_.inc(Counter::kStreamUninspectedDropped);
        return PacketVerdict::kDrop;
      default:
        return PacketVerdict::kForward;
    }
  }
  // A session verdict: this segment (carrying, say, the AUTH command) never leaves; with
  // reject both ends are reset at the sequence numbers they expect.
  if (session_block_ == SessionBlock::kReject) {
    injectReset(frame, info, ResetTarget::kSender, now_ns);
    injectReset(frame, info, ResetTarget::kReceiver, now_ns);
  }
  return PacketVerdict::kDrop;
}

void Worker::noteWindow(FlowWindow& w, FlowDir dir, const PacketInfo& info) {
  const size_t self = static_cast<size_t>(dir);
  const size_t limits = 1 - self;  // the sender's window limits the data coming to it
  if (info.tcp_flags & kTcpSyn) {
    // A SYN's window is never scaled (RFC 7323 §2.2).
    w.wscale[self] = info.wscale;
    w.window[limits] = info.window;
    return;
  }
  if (!(info.tcp_flags & kTcpAck) || w.wscale[0] == FlowWindow::kSynUnseen ||
      w.wscale[1] == FlowWindow::kSynUnseen)
    return;
  // Scaling is in force only when both sides offered it.
  const bool scaled = w.wscale[0] != kNoWindowScale && w.wscale[1] != kNoWindowScale;
  w.window[limits] = uint32_t{info.window} << (scaled ? w.wscale[self] : 0);
}

uint32_t Worker::receiveWindow(const FlowWindow& w, FlowDir dir) {
  const uint32_t win = w.window[static_cast<size_t>(dir)];
  if (win == FlowWindow::kUnknown) return kDefaultMaxAhead;
  // At least a segment's worth: a zero window still takes a probe, and a receiver that shrank
  // its window (RFC 9293 §3.8.6.2.1 discourages it) may see data sent before it did.
  return std::max<uint32_t>(win, 1460);
}

Worker::PacketVerdict Worker::decideConnection(Flow& f, FlowDir dir, Bytes frame,
                                               const PacketInfo& info, uint64_t now_ns) {
  const PolicySnapshot* snap = pol_->snapshot.get();
  if (snap == nullptr) return PacketVerdict::kForward;
  const ConnFacts conn{f.clientAddr(), f.serverAddr(), f.server_port, dynamicSets(f, now_ns)};
  const smtpguard::Verdict v = evaluateConnection(*snap, conn, now_ns / 1000000000u);
  countRule(v);
  if (v.shadow()) emitShadow(f, v, now_ns);
  switch (v.action) {
    case Action::kAllow:
      return PacketVerdict::kForward;
    case Action::kAlert:
      emitVerdict(f, v, true, now_ns);
      rememberVerdict(f, v, true);
      return PacketVerdict::kForward;
    case Action::kRateLimit:
      if (admitRateLimited(*snap, v, conn.src, rate_limiter_, now_ns)) {
        return PacketVerdict::kForward;
      }
      if (config_.enforce) counters_.inc(Counter::kPolicyRateLimited);
      noteSubscriber(f, SubStat::kRateLimited, now_ns);
      block(f, v, now_ns);
      return config_.enforce ? PacketVerdict::kDrop : PacketVerdict::kForward;
    case Action::kDrop:
      block(f, v, now_ns);
      return config_.enforce ? PacketVerdict::kDrop : PacketVerdict::kForward;
    case Action::kReject:
      block(f, v, now_ns);
      if (!config_.enforce) return PacketVerdict::kForward;
      f.app_ref |= AppRef::kReject;
      // The client gives up at once instead of waiting for a timeout. Picked up mid-stream,
      // the server is reset too.
      if (v.reject_with == RejectWith::kIcmp && dir == FlowDir::kToServer) {
        injectIcmp(frame, info, now_ns);
        return PacketVerdict::kDrop;
      }
      injectReset(frame, info,
                  dir == FlowDir::kToServer ? ResetTarget::kSender : ResetTarget::kReceiver,
                  now_ns);
      if (f.state == TcpState::kEstablished) {
        injectReset(frame, info,
                    dir == FlowDir::kToServer ? ResetTarget::kReceiver : ResetTarget::kSender,
                    now_ns);
      }
      return PacketVerdict::kDrop;
  }
  return PacketVerdict::kForward;
}

void Worker::decideSession(Flow& f, uint64_t now_ns) {
  const PolicySnapshot* snap = pol_->snapshot.get();
  if (snap == nullptr || (f.app_ref & AppRef::kBlocked)) return;
  const uint64_t generation = snap->generation();
  SessionAttachment* a = attachment(f, false);
  if (a != nullptr && a->rules_generation != generation) {
    // A reload since the flow's last verdict: rule indices of the old policy name other rules
    // in this one. The flow is evaluated afresh (docs/policy.md, "Running a policy").
    a->rules_generation = generation;
    a->alerted_rule = kNoRule;
    a->shadowed_rule = kNoRule;
  }
  const SmtpSummary s = smtpSummary(f.app.smtp, smtp_pool_);
  SessionFacts facts;
  facts.conn = {f.clientAddr(), f.serverAddr(), f.server_port, dynamicSets(f, now_ns)};
  // The engine stops parsing when TLS begins, so every AUTH it saw was in clear.
  if (s.auth_mechs != 0) facts.flags |= factBit(Fact::kPlaintextAuth);
  if (a != nullptr && a->mail_in_clear) facts.flags |= factBit(Fact::kMailInClear);
  if (s.starttls_offered) facts.flags |= factBit(Fact::kStarttlsOffered);
  if (s.starttls_attempted) facts.flags |= factBit(Fact::kStarttlsAttempted);
  if (s.starttls_result == SmtpStarttlsResult::kAccepted) {
    facts.flags |= factBit(Fact::kStarttlsAccepted);
  }
  if (s.starttls_result == SmtpStarttlsResult::kRefused) {
    facts.flags |= factBit(Fact::kStarttlsRefused);
  }
  const SmtpTlsKind tls = a != nullptr && a->tls_kind != SmtpTlsKind::kNone ? a->tls_kind : s.tls;
  if (tls == SmtpTlsKind::kImplicit) facts.flags |= factBit(Fact::kImplicitTls);
  if (tls != SmtpTlsKind::kNone) facts.flags |= factBit(Fact::kTlsSeen);
  if (a != nullptr) {
    facts.anomalies = a->anomalies;
    facts.patterns = a->patterns;
    if (a->has_ja) {
      facts.ja3 = std::string_view(a->ja3.data(), a->ja3.size());
      facts.ja4 = std::string_view(a->ja4.data(), a->ja4.size());
    }
  }
  if (a != nullptr) {
    refreshPatterns(f, a->patterns);
    facts.patterns = a->patterns;
  } else {
    refreshPatterns(f, facts.patterns);
  }
  const smtpguard::Verdict v = evaluateSession(*snap, facts, now_ns / 1000000000u);
  // A session rule keeps matching once its facts hold: act, count and report it once.
  if ((v.stage == Stage::kSession || v.shadow()) && a == nullptr) {
    a = attachment(f, true);
    if (a != nullptr) a->rules_generation = generation;
  }
  if (v.shadow() && snap->rule(v.shadow_index).stage == Stage::kSession &&
      (a == nullptr || a->shadowed_rule != v.shadow_index)) {
    if (a != nullptr) a->shadowed_rule = v.shadow_index;
    bumpCounter(counters_.rule_shadow[pol_->rule_slot[v.shadow_index]]);
    emitShadow(f, v, now_ns);
  }
  if (v.stage != Stage::kSession) return;  // the SYN verdict stands
  if (a != nullptr) {
    if (a->alerted_rule == v.rule_index) return;
    a->alerted_rule = v.rule_index;
  }
  if (v.rule_index < pol_->rule_slot.size())
    bumpCounter(counters_.rule_hits[pol_->rule_slot[v.rule_index]]);
  switch (v.action) {
    case Action::kAllow:
    case Action::kRateLimit:  // rate limits apply to new connections only
      return;
    case Action::kAlert:
      emitVerdict(f, v, true, now_ns);
      rememberVerdict(f, v, true);
      return;
    case Action::kDrop:
    case Action::kReject:
      block(f, v, now_ns);
      if (config_.enforce) {
        session_block_ = v.action == Action::kReject ? SessionBlock::kReject : SessionBlock::kDrop;
      }
      return;
  }
}

void Worker::block(Flow& f, const smtpguard::Verdict& v, uint64_t now_ns) {
  conn_blocked_ = true;
  if (!config_.enforce) {
    // Monitor mode or --policy-mode shadow: said, counted, remembered for the flow's record,
    // and the flow goes on (and on being parsed) as if the policy had allowed it.
    counters_.inc(Counter::kPolicyWouldBlock);
    emitVerdict(f, v, false, now_ns);
    rememberVerdict(f, v, false);
    return;
  }
  counters_.inc(Counter::kPolicyBlocked);
  f.app_ref |= AppRef::kBlocked;
  emitVerdict(f, v, true, now_ns);
  // The flow ends here for its record; its entry stays so that its later packets are dropped.
  const RecordVerdict rv{ruleName(*pol_->snapshot, v.rule_index), v.action, true};
  if (!(f.app_ref & AppRef::kReported)) reportFlow(f, EndReason::kPolicy, now_ns, &rv);
}

void Worker::rememberVerdict(Flow& f, const smtpguard::Verdict& v, bool enforced) {
  SessionAttachment* a = attachment(f, true);
  if (a == nullptr) return;  // counted in pool.exhausted; the record then names no verdict
  // A block outranks an alert; the first verdict of a rank stays.
  auto rank = [](Action act) {
    return act == Action::kAlert ? 1 : (act == Action::kAllow ? 0 : 2);
  };
  if (a->has_verdict && rank(a->verdict_action) >= rank(v.action)) return;
  a->has_verdict = true;
  a->verdict_slot = v.rule_index < pol_->rule_slot.size() ? pol_->rule_slot[v.rule_index] : kNoRule;
  a->verdict_action = v.action;
  a->verdict_enforced = enforced;
}

SetMask Worker::dynamicSets(const Flow& f, uint64_t now_ns) const {
  const PolicySnapshot* snap = pol_->snapshot.get();
  if (snap == nullptr || snap->quarantineSet() == 0) return 0;
  return policy_.quarantine().contains(subscriberKeyOf(f), now_ns) ? snap->quarantineSet() : 0;
}

void Worker::noteSubscriber(const Flow& f, SubStatSet stat, uint64_t now_ns,
                            const IpAddr* destination) {
  const PolicySnapshot* snap = pol_->snapshot.get();
  const uint64_t evictions = subscribers_.evictions();
  uint16_t fired = 0;
  const SubscriberEntry& e =
      snap != nullptr ? subscribers_.record(subscriberKeyOf(f), stat, now_ns, destination,
                                            snap->windowPlan(), snap->detectorRules(), fired)
                      : subscribers_.record(subscriberKeyOf(f), stat, now_ns, destination,
                                            WindowPlan{}, {}, fired);
  if (subscribers_.evictions() != evictions) counters_.inc(Counter::kSubscribersEvicted);
  if (fired != 0) fireDetectors(f, e, fired, now_ns);
}

void Worker::fireDetectors(const Flow& f, const SubscriberEntry& e, uint16_t fired,
                           uint64_t now_ns) {
  const PolicySnapshot& snap = *pol_->snapshot;
  char source[64];
  const size_t source_len =
      formatSubscriberKey(e.key, snap.subscriberV6Prefix(), source, sizeof source);
  for (size_t d = 0; d < snap.detectorCount(); ++d) {
    if (!(fired & (1u << d))) continue;
    const DetectorInfo& det = snap.detector(d);
    const DetectorRule& rule = snap.detectorRules()[d];
    uint64_t until = 0;
    const bool quarantine = det.quarantine && !det.shadow && config_.enforce;
    if (quarantine) {
      until = now_ns + det.quarantine_ns;
      if (policy_.quarantine().add(e.key, until, now_ns)) {
        counters_.inc(Counter::kSubscribersQuarantined);
      } else {
        counters_.inc(Counter::kSubscribersQuarantineFull);
        until = 0;
      }
    }
    counters_.inc(det.shadow ? Counter::kSubscribersShadowAlerts : Counter::kSubscribersAlerts);
    const SubscriberWindow& win = e.window[rule.window_slot];
    events_.emit(
        EventType::kSubscriberAlert, now_ns, flows_.flowId(f), endpoints(f), [&](EventRecord& r) {
          SubscriberAlertRecord& al = r.alert;
          al.source.set(std::string_view(source, source_len));
          al.detector.set(det.name);
          al.stat = det.stat;
          al.count = e.windowStat(rule.window_slot, det.stat);
          al.threshold = det.threshold;
          al.window_s = win.len_s;
          al.window_start = win.start_s;
          al.quarantine_action = det.quarantine;
          al.shadow = det.shadow;
          al.quarantined_until = until / 1000000000u;
          al.first_seen_ms = e.first_ns / 1000000u;
          al.last_seen_ms = e.last_ns / 1000000u;
          for (size_t s = 0; s < kSubStatCount; ++s) al.totals[s] = e.stat(static_cast<SubStat>(s));
          al.n_samples =
              static_cast<uint8_t>(std::min<size_t>(e.n_samples, kRecordSampleDestinations));
          std::copy_n(e.samples, al.n_samples, al.samples);
        });
  }
}

void Worker::countRule(const smtpguard::Verdict& v) {
  if (v.rule_index != kNoRule && v.rule_index < pol_->rule_slot.size()) {
    bumpCounter(counters_.rule_hits[pol_->rule_slot[v.rule_index]]);
  }
  if (v.shadow() && v.shadow_index < pol_->rule_slot.size()) {
    bumpCounter(counters_.rule_shadow[pol_->rule_slot[v.shadow_index]]);
  }
}

void Worker::emitVerdict(const Flow& f, const smtpguard::Verdict& v, bool enforced,
                         uint64_t now_ns) {
  emitVerdict(f, v.rule_index, v.action, v.stage, enforced, now_ns);
}

void Worker::emitShadow(const Flow& f, const smtpguard::Verdict& v, uint64_t now_ns) {
  emitVerdict(f, v.shadow_index, v.shadow_action, v.stage, false, now_ns);
}

void Worker::emitVerdict(const Flow& f, uint16_t rule_index, Action action, Stage stage,
                         bool enforced, uint64_t now_ns) {
  const PolicySnapshot& snap = *pol_->snapshot;
  const std::string_view rule = ruleName(snap, rule_index);
  events_.emit(EventType::kPolicyVerdict, now_ns, flows_.flowId(f), endpoints(f),
               [&](EventRecord& r) {
                 r.verdict.action = action;
                 r.verdict.stage = stage;
                 r.verdict.enforced = enforced;
                 r.verdict.rule.set(rule);
                 r.verdict.policy.set(snap.name());
               });
}

void Worker::refreshPatterns(const Flow& f, PatternMatches& m) {
  const PolicySnapshot& snap = *pol_->snapshot;
  if (m.generation == snap.generation()) return;
  m = PatternMatches{snap.generation(), {}};
  const SmtpSummary s = smtpSummary(f.app.smtp, smtp_pool_);
  if (!s.helo.empty()) {
    scanField(snap, PatternField::kEhlo, s.helo, pol_->scratch[config_.lcore], m);
  }
}

SessionAttachment* Worker::attachment(Flow& f, bool create) {
  if (uint32_t ref = AppRef::attachment(f); ref != 0) return &session_pool_.get(ref - 1);
  if (!create) return nullptr;
  PoolHandle h = session_pool_.acquire();
  if (h == kNoHandle) {
    counters_.inc(Counter::kPoolExhausted);
    return nullptr;
  }
  AppRef::setAttachment(f, h + 1);
  return &session_pool_.get(h);
}

void Worker::deliver(Flow& f, FlowDir dir, Bytes data, uint64_t now_ns) {
  SessionAttachment* a = attachment(f, false);
  if (a != nullptr && a->tls_kind != SmtpTlsKind::kNone) {
    feedTls(f, *a, dir, data, now_ns);
    return;
  }
  SmtpContext ctx{counters_, smtp_pool_, session_events_, portClassOf(f)};
  session_events_.bind(f, now_ns);
  SmtpChunkResult result;
  smtpOnData(f.app.smtp, ctx, engineDir(dir), data, result);
  if (session_events_.factsChanged() || result.auth_in_clear || result.mail_in_clear) {
    decideSession(f, now_ns);
  }
  if (result.tls_offset != SmtpChunkResult::kNoTls && result.tls_offset <= data.size()) {
    a = attachment(f, true);
    // Without a free attachment the flow goes on uninspected: the engine ignores TLS bytes.
    if (a == nullptr) return;
    a->tls_kind = session_events_.tlsKind();
    // A record header split across chunks: its first bytes came earlier and were held.
    if (result.tls_head_len != 0) {
      feedTls(f, *a, dir, Bytes(result.tls_head.data(), result.tls_head_len), now_ns);
    }
    feedTls(f, *a, dir, data.subspan(result.tls_offset), now_ns);
  }
}

void Worker::gap(Flow& f, FlowDir dir) {
  SessionAttachment* a = attachment(f, false);
  if (a != nullptr && a->tls_kind != SmtpTlsKind::kNone) {
    // Bytes of a hello under way are lost: it can never be parsed.
    if (dir == FlowDir::kToServer) {
      client_hellos_.abandon(a->client);
    } else {
      server_hellos_.abandon(a->server);
    }
    return;
  }
  SmtpContext ctx{counters_, smtp_pool_, session_events_, portClassOf(f)};
  smtpOnGap(f.app.smtp, ctx, engineDir(dir));
}

void Worker::feedTls(Flow& f, SessionAttachment& a, FlowDir dir, Bytes data, uint64_t now_ns) {
  if (data.empty()) return;
  if (dir == FlowDir::kToServer) {
    if (client_hellos_.feed(a.client, data, *client_hello_) != HelloResult::kParsed) return;
    ClientFingerprints fp;
    if (!fingerprintClientHello(*client_hello_, digests_, fp)) return;
    std::copy(fp.ja3.md5_hex.begin(), fp.ja3.md5_hex.end(), a.ja3.begin());
    std::copy(fp.ja4.text.begin(), fp.ja4.text.end(), a.ja4.begin());
    a.has_ja = true;
    emitClientHello(f, a.tls_kind, fp, now_ns);
    if (pol_->snapshot != nullptr) {
      const ClientHelloInfo& h = *client_hello_;
      if (h.has_server_name && h.server_name_length > 0) {
        refreshPatterns(f, a.patterns);
        scanField(*pol_->snapshot, PatternField::kSni, h.serverName(), pol_->scratch[config_.lcore],
                  a.patterns);
      }
      decideSession(f, now_ns);
    }
    return;
  }
  if (server_hellos_.feed(a.server, data, *server_hello_) == HelloResult::kParsed) {
    Ja3s ja3s;
    a.server_hello = true;
    a.server_version = server_hello_->negotiated_version;
    a.cipher_suite = server_hello_->cipher_suite;
    if (computeJa3s(*server_hello_, digests_, ja3s)) {
      std::copy(ja3s.md5_hex.begin(), ja3s.md5_hex.end(), a.ja3s.begin());
    }
  }
}

void Worker::emitClientHello(const Flow& f, SmtpTlsKind kind, const ClientFingerprints& fp,
                             uint64_t now_ns) {
  if (!events_.enabled()) return;
  const ClientHelloInfo& h = *client_hello_;
  events_.emit(
      EventType::kTlsClientHello, now_ns, flows_.flowId(f), endpoints(f), [&](EventRecord& r) {
        ClientHelloRecord& c = r.hello;
        c.from = kind;
        c.version = h.highestSupportedVersion();
        const std::string_view sni =
            h.has_server_name && h.server_name_length > 0 ? h.serverName() : std::string_view();
        c.setStrings(
            sni, h.alpn_count,
            [&](size_t i) {
              return std::string_view(h.alpn_bytes.data() + h.alpn_offset[i], h.alpn_length[i]);
            },
            fp.ja3.string());
        std::copy_n(fp.ja4.view().data(), sizeof c.ja4, c.ja4);
        std::copy_n(fp.ja3.hash().data(), sizeof c.ja3_hash, c.ja3_hash);
      });
}

void Worker::onFlowEnd(Flow& f, EndReason reason, uint64_t now_ns) {
  // Data still held behind a hole is delivered now (with its gaps), so the engines see every
  // byte the flow carried before the summary is taken.
  for (FlowDir d : {FlowDir::kToServer, FlowDir::kToClient}) {
    f.streamOf(d).flush(
        streamPools(d), [&](Bytes data) { deliver(f, d, data, now_ns); },
        [&](uint32_t) { gap(f, d); });
  }
  if (!(f.app_ref & AppRef::kReported)) reportFlow(f, reason, now_ns);
  if ((reason == EndReason::kTimeout || reason == EndReason::kEvicted) && enforcing() &&
      ((f.app_ref & AppRef::kBlocked) || smtpClientMidCommand(f.app.smtp)))
    rememberMidline(f, now_ns);
  smtpRelease(f.app.smtp, smtp_pool_);
  if (SessionAttachment* a = attachment(f, false)) {
    client_hellos_.abandon(a->client);
    server_hellos_.abandon(a->server);
    session_pool_.release(AppRef::attachment(f) - 1);
  }
  f.app_ref = 0;
}

void Worker::rememberMidline(const Flow& f, uint64_t now_ns) {
  MidlineEnd& slot = midline_[hashFlowKey(f.key, config_.hash_seed) & (kMidlineSlots - 1)];
  slot.key = f.key;
  slot.until_ns = now_ns + kMidlineKeepNs;
}

bool Worker::takeMidline(const Flow& f, uint64_t now_ns) {
  MidlineEnd& slot = midline_[hashFlowKey(f.key, config_.hash_seed) & (kMidlineSlots - 1)];
  if (slot.until_ns == 0 || slot.until_ns < now_ns ||
      std::memcmp(&slot.key, &f.key, sizeof(FlowKey)) != 0)
    return false;
  slot.until_ns = 0;
  return true;
}

void Worker::reportFlow(Flow& f, EndReason reason, uint64_t now_ns, const RecordVerdict* verdict) {
  f.app_ref |= AppRef::kReported;
  if (!events_.enabled()) return;
  const SmtpSummary s = smtpSummary(f.app.smtp, smtp_pool_);
  const SessionAttachment* a = attachment(f, false);
  const SessionAttachment* tls = a != nullptr && a->server_hello ? a : nullptr;
  RecordVerdict kept{};
  if (verdict == nullptr && a != nullptr && a->has_verdict) {
    kept = {a->verdict_slot < pol_->slot_names.size()
                ? std::string_view(pol_->slot_names[a->verdict_slot])
                : std::string_view("default"),
            a->verdict_action, a->verdict_enforced};
    verdict = &kept;
  }
  // First packet to last: the idle time before a timeout is not part of the session.
  const uint64_t last_ns = f.lastSeenNs();
  events_.emit(EventType::kSmtpFlow, now_ns, flows_.flowId(f), endpoints(f), [&](EventRecord& r) {
    FlowRecord& fr = r.flow;
    fr.start_ns = f.created_ns;
    fr.end_ns = last_ns > f.created_ns ? last_ns : f.created_ns;
    fr.bytes_toserver = f.bytesOf(FlowDir::kToServer);
    fr.bytes_toclient = f.bytesOf(FlowDir::kToClient);
    fr.extensions = s.extensions;
    fr.auth_mechs = s.auth_mechs;
    fr.messages = s.messages;
    fr.starttls_result = s.starttls_result;
    fr.tls = s.tls;
    fr.reason = reason;
    fr.starttls_offered = s.starttls_offered;
    fr.starttls_attempted = s.starttls_attempted;
    fr.midstream = f.midstream();
    fr.helo.set(s.helo);
    fr.has_server_hello = tls != nullptr;
    if (tls != nullptr) {
      fr.tls_version = tls->server_version;
      fr.cipher_suite = tls->cipher_suite;
      std::copy_n(tls->ja3s.data(), sizeof fr.ja3s, fr.ja3s);
    }
    fr.has_verdict = verdict != nullptr;
    if (verdict != nullptr) {
      fr.verdict_action = verdict->action;
      fr.verdict_enforced = verdict->enforced;
      fr.verdict_rule.set(verdict->rule);
    }
    const FlowWindow& win = windows_[flows_.indexOf(f)];
    fr.tcp_flags = win.tcp_flags;
    fr.packets_toserver = win.packets[0];
    fr.packets_toclient = win.packets[1];
    fr.octets_toserver = win.octets[0];
    fr.octets_toclient = win.octets[1];
    fr.has_ja = a != nullptr && a->has_ja;
    if (fr.has_ja) {
      std::copy_n(a->ja3.data(), sizeof fr.ja3, fr.ja3);
      std::copy_n(a->ja4.data(), sizeof fr.ja4, fr.ja4);
    }
  });
}

uint8_t* Worker::allocInjected(bool back, size_t room, uint64_t ts_ns, rte_mbuf*& m) {
  const uint16_t count = back ? inject_->n_back : inject_->n_onward;
  if (config_.inject_pool == nullptr || count >= 2 * kMaxBurst) return nullptr;
  m = rte_pktmbuf_alloc(config_.inject_pool);
  if (m == nullptr) {
    counters_.inc(Counter::kPoolExhausted);
    return nullptr;
  }
  auto* out = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(room)));
  if (out == nullptr) {
    rte_pktmbuf_free(m);
    return nullptr;
  }
  config_.timestamp.write(m, ts_ns);
  return out;
}

// Trims the mbuf to the frame actually built and queues it (len 0: nothing built).
static bool queueInjected(BurstInjections& inj, bool back, rte_mbuf* m, size_t len) {
  if (len == 0) {
    rte_pktmbuf_free(m);
    return false;
  }
  m->data_len = static_cast<uint16_t>(len);
  m->pkt_len = static_cast<uint32_t>(len);
  if (back) {
    inj.back[inj.n_back++] = m;
  } else {
    inj.onward[inj.n_onward++] = m;
  }
  return true;
}

void Worker::injectReset(Bytes frame, const PacketInfo& info, ResetTarget target, uint64_t ts_ns) {
  const bool back = target == ResetTarget::kSender;
  rte_mbuf* m = nullptr;
  uint8_t* out = allocInjected(back, kMaxResetFrame, ts_ns, m);
  if (out == nullptr) return;
  if (queueInjected(*inject_, back, m, buildTcpReset(frame, info, target, out))) {
    counters_.inc(Counter::kPacketsRstInjected);
  }
}

void Worker::injectIcmp(Bytes frame, const PacketInfo& info, uint64_t ts_ns) {
  rte_mbuf* m = nullptr;
  uint8_t* out = allocInjected(true, kMaxIcmpFrame, ts_ns, m);
  if (out == nullptr) return;
  if (queueInjected(*inject_, true, m, buildIcmpProhibited(frame, info, out))) {
    counters_.inc(Counter::kPacketsIcmpInjected);
  }
}

void Worker::housekeep(uint64_t now_ns, uint32_t max_work) {
  pol_ = policy_.current();
  if (death_row_ != nullptr && death_row_->cnt != 0)
    rte_ip_frag_free_death_row(death_row_.get(), 3);
  flows_.expire(now_ns, max_work,
                [this, now_ns](Flow& f, EndReason reason) { onFlowEnd(f, reason, now_ns); });
  if (flow_queries_->pending()) answerFlowQuery();
  if (subscriber_queries_->pending()) subscriber_queries_->answer(subscribers_);
  policy_.quiescent(config_.lcore);
}

namespace {

// Table entries a flow query scans per housekeeping tick: a 64k-flow table in 8 ticks, about
// 1 MiB of entries read per tick.
constexpr uint32_t kFlowQuerySlice = 8192;

bool matchesFilter(const FlowFilter& q, const Flow& f) {
  if (q.port != 0 && f.server_port != q.port) return false;
  if (q.state >= 0 && static_cast<int16_t>(f.state) != q.state) return false;
  if (q.has_addr && !(f.clientAddr() == q.addr) && !(f.serverAddr() == q.addr)) return false;
  return true;
}

}  // namespace

FlowBrief Worker::brief(const Flow& f) const {
  FlowBrief b;
  b.id = flows_.flowId(f);
  b.client = f.clientAddr();
  b.server = f.serverAddr();
  b.client_port = f.clientPort();
  b.server_port = f.server_port;
  b.state = static_cast<uint8_t>(f.state);
  b.midstream = f.midstream();
  b.blocked = (f.app_ref & AppRef::kBlocked) != 0;
  const SmtpSummary sum = smtpSummary(f.app.smtp, smtp_pool_);
  b.tls = static_cast<uint8_t>(sum.tls);
  b.auth_mechs = sum.auth_mechs;
  b.messages = sum.messages;
  b.bytes_to_server = f.bytesOf(FlowDir::kToServer);
  b.bytes_to_client = f.bytesOf(FlowDir::kToClient);
  b.first_ns = f.created_ns;
  b.last_ns = f.lastSeenNs();
  b.worker = config_.lcore;
  return b;
}

void Worker::answerFlowQuery() {
  FlowQueryBox& box = *flow_queries_;
  FlowAnswer& a = box.work();
  const FlowQuery& q = box.query();
  if (!box.started) {
    box.started = true;
    box.cursor = 0;
    a.matched = 0;
    a.n = 0;
  }
  // The best `limit` so far as a heap whose top is the worst of them.
  auto better = [order = q.order](const FlowBrief& x, const FlowBrief& y) {
    return flowRanksBefore(order, x, y);
  };
  const uint32_t end = box.cursor + kFlowQuerySlice;
  flows_.forEachIn(box.cursor, end, [&](const Flow& f) {
    if (!matchesFilter(q.filter, f)) return;
    ++a.matched;
    if (q.limit == 0) return;
    const FlowBrief b = brief(f);
    if (a.n < q.limit) {
      a.flows[a.n++] = b;
      std::push_heap(a.flows, a.flows + a.n, better);
    } else if (better(b, a.flows[0])) {
      std::pop_heap(a.flows, a.flows + a.n, better);
      a.flows[a.n - 1] = b;
      std::push_heap(a.flows, a.flows + a.n, better);
    }
  });
  box.cursor = end;
  if (box.cursor < flows_.capacity()) return;
  std::sort_heap(a.flows, a.flows + a.n, better);
  a.live = flows_.size();
  box.publish();
}

void Worker::quiescent() {
  policy_.quiescent(config_.lcore);
}

void Worker::goOffline() {
  policy_.offline(config_.lcore);
}

void Worker::finish(uint64_t now_ns) {
  pol_ = policy_.current();
  // Datagrams still incomplete are dropped: their fragments go back to their pool now, while it
  // still exists.
  if (frag_table_ != nullptr) {
    frag_table_.reset();
    frag_table_ = makeFragmentTable(config_);
  }
  flows_.drain([this, now_ns](Flow& f, EndReason reason) { onFlowEnd(f, reason, now_ns); });
}

// --- per burst --------------------------------------------------------------------------------

uint16_t Worker::processBurst(rte_mbuf** pkts, uint16_t n, uint64_t now_ns,
                              BurstInjections& inject) {
  inject.n_back = 0;
  inject.n_onward = 0;
  inject_ = &inject;
  // The policy in force for this burst; the quiescent state after it lets a reload free it.
  pol_ = policy_.current();
  if (n > kMaxBurst) n = kMaxBurst;
  if (n == 0) {
    policy_.quiescent(config_.lcore);
    return 0;
  }
  rte_mbuf* drop[kMaxBurst];
  uint16_t n_fwd = 0, n_drop = 0;
  counters_.inc(Counter::kPacketsRx, n);
  // Replay's clock is its packets: expiry follows the burst's first packet time.
  const uint64_t burst_ns = config_.timestamp.read(pkts[0], now_ns);
  flows_.expire(burst_ns, kExpiryWorkPerBurst,
                [this, burst_ns](Flow& f, EndReason reason) { onFlowEnd(f, reason, burst_ns); });

  // Sort the burst into verdict arrays, prefetching kPrefetchAhead packets ahead; forwarded
  // packets are compacted in place (n_fwd <= i always), dropped ones freed in one call.
  auto sortOne = [&](rte_mbuf* m) {
    switch (handlePacket(m, config_.timestamp.read(m, now_ns))) {
      case PacketVerdict::kForward:
        pkts[n_fwd++] = m;
        break;
      case PacketVerdict::kDrop:
        drop[n_drop++] = m;
        break;
      case PacketVerdict::kHeld:  // a fragment under reassembly
        counters_.inc(Counter::kIpFragmentsHeld);
        break;
    }
  };
  // A frame's first line holds its headers; a TCP payload after 54 to 78 bytes of headers
  // starts on the second, which the SMTP engine reads next.
  auto prefetchFrame = [](const rte_mbuf* m) {
    const char* d = rte_pktmbuf_mtod(m, const char*);
    rte_prefetch0(d);
    if (m->data_len > RTE_CACHE_LINE_SIZE) rte_prefetch0(d + RTE_CACHE_LINE_SIZE);
  };
  uint16_t i = 0;
  for (; i < n && i < kPrefetchAhead; ++i) prefetchFrame(pkts[i]);
  for (i = 0; i + kPrefetchAhead < n; ++i) {
    prefetchFrame(pkts[i + kPrefetchAhead]);
    sortOne(pkts[i]);
  }
  for (; i < n; ++i) sortOne(pkts[i]);

  if (n_drop > 0) {
    rte_pktmbuf_free_bulk(drop, n_drop);
    counters_.inc(Counter::kPacketsDropped, n_drop);
  }
  if (death_row_ != nullptr && death_row_->cnt != 0)
    rte_ip_frag_free_death_row(death_row_.get(), 3);
  policy_.quiescent(config_.lcore);
  return n_fwd;
}

}  // namespace smtpguard
