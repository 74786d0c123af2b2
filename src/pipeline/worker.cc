#include "pipeline/worker.h"

#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_prefetch.h>

#include "packet/packet_parser.h"

namespace smtpguard {
namespace {

// Far enough ahead that the header line arrives before we need it, near enough to stay in L1.
constexpr uint16_t kPrefetchAhead = 4;

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
    case ParseResult::kMalformedTcpHeader:
      return Counter::kMalformedTcpHeader;
    case ParseResult::kMalformedTcpOptions:
      return Counter::kMalformedTcpOptions;
    default:
      break;
  }
  return Counter::kMalformedEthernet;
}

}  // namespace

Worker::Worker(const WorkerConfig& config, const PortMap& ports) : config_(config), ports_(ports) {}

Worker::~Worker() = default;

inline Worker::Verdict Worker::handlePacket(rte_mbuf* m, uint64_t now_ns) {
  (void)now_ns;
  if (!rte_pktmbuf_is_contiguous(m) && rte_pktmbuf_linearize(m) != 0) {
    // Chained mbufs too long for one segment: headers cannot be read in place. Fail open.
    counters_.inc(Counter::kPacketsNonlinear);
    return Verdict::kForward;
  }
  PacketInfo info;
  ParseResult r = parsePacket(Bytes(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len), info);
  if (isMalformed(r)) {
    // Fail open: counted by reason only (not as vlan/ipv4/tcp), forwarded untouched.
    counters_.inc(Counter::kPacketsMalformed);
    counters_.inc(malformedCounter(r));
    return Verdict::kForward;
  }
  if (info.vlan_count != 0) counters_.inc(Counter::kPacketsVlan);
  if (r == ParseResult::kNonIp) {
    counters_.inc(Counter::kPacketsNonIp);
    return Verdict::kForward;
  }
  counters_.inc(info.ip_version == 4 ? Counter::kPacketsIpv4 : Counter::kPacketsIpv6);
  if (info.fragment) counters_.inc(Counter::kPacketsFragments);
  // A non-first fragment has no transport header to classify: forwarded untouched.
  if (r == ParseResult::kFragment) return Verdict::kForward;
  if (info.l4_proto != kIpProtoTcp) {
    counters_.inc(info.l4_proto == kIpProtoUdp ? Counter::kPacketsUdp : Counter::kPacketsOtherL4);
    return Verdict::kForward;
  }
  counters_.inc(Counter::kPacketsTcp);
  PortClass cls = ports_.classOf(info.dst_port);
  if (cls == PortClass::kNone && ports_.classOf(info.src_port) == PortClass::kNone) {
    return Verdict::kForward;  // the shortest pass-through: not an SMTP port either way
  }
  counters_.inc(Counter::kPacketsSmtpPort);
  return Verdict::kForward;
}

inline uint64_t Worker::packetTime(const rte_mbuf* m, uint64_t burst_ns) const {
  return (m->ol_flags & config_.timestamp_flag) != 0
             ? *RTE_MBUF_DYNFIELD(m, config_.timestamp_offset, const uint64_t*)
             : burst_ns;
}

uint16_t Worker::processBurst(rte_mbuf** pkts, uint16_t n, uint64_t now_ns, rte_mbuf** inject,
                              uint16_t inject_cap, uint16_t& n_inject) {
  (void)inject;
  (void)inject_cap;
  n_inject = 0;
  if (n > kMaxBurst) n = kMaxBurst;
  rte_mbuf* drop[kMaxBurst];
  uint16_t n_fwd = 0, n_drop = 0;
  counters_.inc(Counter::kPacketsRx, n);

  // Sort the burst into verdict arrays, prefetching kPrefetchAhead packets ahead; forwarded
  // packets are compacted in place (n_fwd <= i always), dropped ones freed in one call.
  auto sortOne = [&](rte_mbuf* m) {
    if (handlePacket(m, packetTime(m, now_ns)) == Verdict::kForward) {
      pkts[n_fwd++] = m;
    } else {
      drop[n_drop++] = m;
    }
  };
  uint16_t i = 0;
  for (; i < n && i < kPrefetchAhead; ++i) rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));
  for (i = 0; i + kPrefetchAhead < n; ++i) {
    rte_prefetch0(rte_pktmbuf_mtod(pkts[i + kPrefetchAhead], void*));
    sortOne(pkts[i]);
  }
  for (; i < n; ++i) sortOne(pkts[i]);

  if (n_drop > 0) {
    rte_pktmbuf_free_bulk(drop, n_drop);
    counters_.inc(Counter::kPacketsDropped, n_drop);
  }
  return n_fwd;
}

}  // namespace smtpguard
