#include "packet/packet_parser.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace smtpguard {
namespace {

constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr uint16_t kTpid8021q = 0x8100;
constexpr uint16_t kTpid8021ad = 0x88a8;
constexpr uint16_t kTpidQinQLegacy = 0x9100;  // pre-802.1ad outer tag, still seen in the wild

constexpr size_t kEthernetHeaderLen = 14;
constexpr size_t kVlanTagLen = 4;
constexpr uint8_t kMaxVlanTags = 2;
constexpr size_t kIpv4MinHeaderLen = 20;
constexpr size_t kIpv6HeaderLen = 40;
constexpr size_t kIpv6FragmentHeaderLen = 8;
constexpr size_t kTcpMinHeaderLen = 20;
constexpr size_t kUdpHeaderLen = 8;
// Bounds the work an attacker can make us do per packet; real chains have two or three.
constexpr int kMaxIpv6ExtHeaders = 8;
// Offsets are uint16_t. A frame is one mbuf segment in practice (<= 64 KiB), so looking at
// no more than this many bytes loses nothing and keeps every offset representable.
constexpr size_t kMaxFrameLen = 0xffff;

constexpr uint8_t kIpProtoHopByHop = 0;
constexpr uint8_t kIpProtoRouting = 43;
constexpr uint8_t kIpProtoFragment = 44;
constexpr uint8_t kIpProtoAh = 51;
constexpr uint8_t kIpProtoDestOpts = 60;

constexpr uint8_t kTcpOptEol = 0;
constexpr uint8_t kTcpOptNop = 1;
constexpr uint8_t kTcpOptWindowScale = 3;

constexpr uint16_t kIpv4MoreFragments = 0x2000;
constexpr uint16_t kIpv4FragOffsetMask = 0x1fff;

bool isVlanTpid(uint16_t t) {
  return t == kTpid8021q || t == kTpid8021ad || t == kTpidQinQLegacy;
}

uint16_t u16(size_t v) {
  return static_cast<uint16_t>(v);
}

// RFC 9293 §3.2: options are EOL, NOP, or kind + length (>= 2, covering kind and length).
// A window scale option (kind 3, length 3) sets `wscale` (RFC 7323 §2.3: at most 14).
bool tcpOptionsValid(const uint8_t* opt, size_t len, uint8_t& wscale) {
  size_t i = 0;
  while (i < len) {
    uint8_t kind = opt[i];
    if (kind == kTcpOptEol) return true;  // the rest is padding
    if (kind == kTcpOptNop) {
      ++i;
      continue;
    }
    if (len - i < 2) return false;  // no room for the length byte
    uint8_t olen = opt[i + 1];
    if (olen < 2 || olen > len - i) return false;
    if (kind == kTcpOptWindowScale && olen == 3) wscale = std::min<uint8_t>(opt[i + 2], 14);
    i += olen;
  }
  return true;
}

// Transport in [l4, end), where end is per the IP lengths. In a first fragment the L4 header
// may legitimately lie in a later fragment, so a short header is kFragment, not malformed.
ParseResult parseL4(const uint8_t* p, size_t l4, size_t end, bool first_fragment, PacketInfo& out) {
  size_t avail = end - l4;
  if (out.l4_proto == kIpProtoTcp) {
    if (avail < kTcpMinHeaderLen) {
      return first_fragment ? ParseResult::kFragment : ParseResult::kMalformedTcpHeader;
    }
    const uint8_t* tcp = p + l4;
    size_t hlen = static_cast<size_t>(tcp[12] >> 4) * 4;
    if (hlen < kTcpMinHeaderLen) return ParseResult::kMalformedTcpHeader;
    if (hlen > avail) {
      return first_fragment ? ParseResult::kFragment : ParseResult::kMalformedTcpHeader;
    }
    out.l4_offset = u16(l4);
    out.src_port = loadBe16(tcp);
    out.dst_port = loadBe16(tcp + 2);
    out.seq = loadBe32(tcp + 4);
    out.ack = loadBe32(tcp + 8);
    out.tcp_flags = tcp[13];
    out.window = loadBe16(tcp + 14);
    out.payload_offset = u16(l4 + hlen);
    out.payload_len = u16(avail - hlen);
    if (!tcpOptionsValid(tcp + kTcpMinHeaderLen, hlen - kTcpMinHeaderLen, out.wscale)) {
      return ParseResult::kMalformedTcpOptions;
    }
    return ParseResult::kOk;
  }
  out.l4_offset = u16(l4);
  // UDP shorter than its header: nothing to key a flow on, but nothing we track either, so
  // it is reported as kOk without ports rather than as a separate malformed class.
  if (out.l4_proto == kIpProtoUdp && avail >= kUdpHeaderLen) {
    out.src_port = loadBe16(p + l4);
    out.dst_port = loadBe16(p + l4 + 2);
  }
  return ParseResult::kOk;
}

ParseResult parseIpv4(const uint8_t* p, size_t l3, size_t size, PacketInfo& out) {
  size_t avail = size - l3;
  if (avail < kIpv4MinHeaderLen) return ParseResult::kMalformedIpv4Header;
  const uint8_t* ip = p + l3;
  if ((ip[0] >> 4) != 4) return ParseResult::kMalformedIpv4Header;
  size_t hlen = static_cast<size_t>(ip[0] & 0x0f) * 4;
  if (hlen < kIpv4MinHeaderLen) return ParseResult::kMalformedIpv4Header;
  if (hlen > avail) return ParseResult::kMalformedIpv4Header;
  size_t total = loadBe16(ip + 2);
  if (total < hlen) return ParseResult::kMalformedIpv4Length;
  // Bytes past total length are Ethernet padding, so only "too long" is a lie.
  if (total > avail) return ParseResult::kMalformedIpv4Length;

  out.ip_version = 4;
  out.ttl = ip[8];
  out.l4_proto = ip[9];
  out.src = IpAddr::fromV4(ip + 12);
  out.dst = IpAddr::fromV4(ip + 16);
  out.l3_len = u16(total);
  uint16_t frag = loadBe16(ip + 6);
  uint16_t frag_offset = frag & kIpv4FragOffsetMask;
  out.fragment = (frag & kIpv4MoreFragments) != 0 || frag_offset != 0;
  if (frag_offset != 0) return ParseResult::kFragment;
  return parseL4(p, l3 + hlen, l3 + total, out.fragment, out);
}

ParseResult parseIpv6(const uint8_t* p, size_t l3, size_t size, PacketInfo& out) {
  size_t avail = size - l3;
  if (avail < kIpv6HeaderLen) return ParseResult::kMalformedIpv6Header;
  const uint8_t* ip = p + l3;
  if ((ip[0] >> 4) != 6) return ParseResult::kMalformedIpv6Header;
  size_t plen = loadBe16(ip + 4);
  // RFC 2675: 0 announces a jumbogram (or an empty packet); neither is SMTP traffic, and
  // jumbograms cannot fit our uint16_t offsets.
  if (plen == 0) return ParseResult::kMalformedIpv6Header;
  if (plen > avail - kIpv6HeaderLen) return ParseResult::kMalformedIpv6Header;

  out.ip_version = 6;
  out.ttl = ip[7];
  out.src = IpAddr::fromV6(ip + 8);
  out.dst = IpAddr::fromV6(ip + 24);
  // Addresses are held v4-mapped for IPv4: an IPv6 packet carrying one would be taken for
  // the IPv4 connection's (a decoy merged into its stream).
  if (out.src.isV4() || out.dst.isV4()) return ParseResult::kMalformedIpv6Mapped;
  out.l3_len = u16(kIpv6HeaderLen + plen);

  size_t end = l3 + kIpv6HeaderLen + plen;
  size_t pos = l3 + kIpv6HeaderLen;
  uint8_t next = ip[6];
  bool first_fragment = false;
  int ext_count = 0;
  // RFC 8200 §4: walk the chain until a header that is not an extension header.
  for (;;) {
    size_t hlen = 0;
    switch (next) {
      case kIpProtoHopByHop:
      case kIpProtoRouting:
      case kIpProtoDestOpts:
        if (end - pos < 2) return ParseResult::kMalformedIpv6ExtHeader;
        hlen = (static_cast<size_t>(p[pos + 1]) + 1) * 8;  // RFC 8200 §4.3: 8-octet units
        break;
      case kIpProtoAh:
        if (end - pos < 2) return ParseResult::kMalformedIpv6ExtHeader;
        hlen = (static_cast<size_t>(p[pos + 1]) + 2) * 4;  // RFC 4302 §2.2: 4-octet units
        break;
      case kIpProtoFragment: {
        if (end - pos < kIpv6FragmentHeaderLen) return ParseResult::kMalformedIpv6ExtHeader;
        uint16_t off_m = loadBe16(p + pos + 2);
        bool more = (off_m & 1) != 0;
        bool later = (off_m >> 3) != 0;
        // RFC 6946: offset 0 without M is an atomic fragment, i.e. not fragmented at all.
        if (more || later) out.fragment = true;
        if (later) {
          out.l4_proto = p[pos];  // the first header of the fragmentable part
          return ParseResult::kFragment;
        }
        first_fragment = more;
        hlen = kIpv6FragmentHeaderLen;
        break;
      }
      default:  // transport, ESP (50), no-next-header (59) or unknown: the chain ends here
        out.l4_proto = next;
        return parseL4(p, pos, end, first_fragment, out);
    }
    if (++ext_count > kMaxIpv6ExtHeaders) return ParseResult::kMalformedIpv6ExtHeader;
    if (hlen > end - pos) return ParseResult::kMalformedIpv6ExtHeader;
    next = p[pos];
    pos += hlen;
  }
}

}  // namespace

ParseResult parsePacket(Bytes frame, PacketInfo& out) {
  // Reset in place: `out = PacketInfo{}` builds the value on the stack with narrow stores and
  // copies it with wide loads, which stall on store forwarding (with the same in smtpOnData, 6% of
  // an SMTP packet's cost in smtpguard-bench before this).
  static_assert(std::is_trivially_copyable_v<PacketInfo>);
  std::memset(static_cast<void*>(&out), 0, sizeof out);
  out.wscale = kNoWindowScale;
  const uint8_t* p = frame.data();
  size_t size = frame.size() < kMaxFrameLen ? frame.size() : kMaxFrameLen;
  if (size < kEthernetHeaderLen) return ParseResult::kMalformedEthernet;

  uint16_t type = loadBe16(p + 12);
  size_t pos = kEthernetHeaderLen;
  // Untagged IPv4 first: most frames then skip the three VLAN tests.
  if (type == kEtherTypeIpv4) {
    out.l3_offset = u16(pos);
    return parseIpv4(p, pos, size, out);
  }
  while (isVlanTpid(type)) {
    if (out.vlan_count == kMaxVlanTags) return ParseResult::kMalformedVlan;  // 3+ tags
    if (size - pos < kVlanTagLen) return ParseResult::kMalformedVlan;        // cut short
    out.vlan_tci[out.vlan_count++] = loadBe16(p + pos);
    type = loadBe16(p + pos + 2);
    pos += kVlanTagLen;
  }
  out.l3_offset = u16(pos);
  if (type == kEtherTypeIpv4) return parseIpv4(p, pos, size, out);
  if (type == kEtherTypeIpv6) return parseIpv6(p, pos, size, out);
  return ParseResult::kNonIp;
}

bool findTcpPorts(Bytes frame, uint16_t& src_port, uint16_t& dst_port) {
  // Wider limits than parsePacket's, but still bounded: this runs only on frames it rejected.
  constexpr int kMaxTags = 16;
  constexpr int kMaxExtHeaders = 64;
  const uint8_t* p = frame.data();
  const size_t size = frame.size() < kMaxFrameLen ? frame.size() : kMaxFrameLen;
  if (size < kEthernetHeaderLen) return false;
  uint16_t type = loadBe16(p + 12);
  size_t pos = kEthernetHeaderLen;
  for (int tags = 0; isVlanTpid(type); ++tags) {
    if (tags == kMaxTags || size - pos < kVlanTagLen) return false;
    type = loadBe16(p + pos + 2);
    pos += kVlanTagLen;
  }
  uint8_t proto = 0;
  if (type == kEtherTypeIpv4) {
    if (size - pos < kIpv4MinHeaderLen) return false;
    const size_t ihl = static_cast<size_t>(p[pos] & 0x0f) * 4;
    if (ihl < kIpv4MinHeaderLen || size - pos < ihl) return false;
    if ((loadBe16(p + pos + 6) & kIpv4FragOffsetMask) != 0) return false;  // no L4 header
    proto = p[pos + 9];
    pos += ihl;
  } else if (type == kEtherTypeIpv6) {
    if (size - pos < kIpv6HeaderLen) return false;
    proto = p[pos + 6];
    pos += kIpv6HeaderLen;
    for (int n = 0; proto == kIpProtoHopByHop || proto == kIpProtoRouting ||
                    proto == kIpProtoDestOpts || proto == kIpProtoFragment || proto == kIpProtoAh;
         ++n) {
      if (n == kMaxExtHeaders || size - pos < 8) return false;
      size_t hlen = (static_cast<size_t>(p[pos + 1]) + 1) * 8;
      if (proto == kIpProtoFragment) {
        if ((loadBe16(p + pos + 2) >> 3) != 0) return false;  // a later fragment
        hlen = kIpv6FragmentHeaderLen;
      } else if (proto == kIpProtoAh) {
        hlen = (static_cast<size_t>(p[pos + 1]) + 2) * 4;
      }
      if (size - pos < hlen) return false;
      proto = p[pos];
      pos += hlen;
    }
  } else {
    return false;
  }
  if (proto != kIpProtoTcp || size - pos < 4) return false;
  src_port = loadBe16(p + pos);
  dst_port = loadBe16(p + pos + 2);
  return true;
}

const char* parseResultText(ParseResult r) {
  switch (r) {
    case ParseResult::kOk:
      return "ok";
    case ParseResult::kNonIp:
      return "not ip";
    case ParseResult::kFragment:
      return "non-first fragment";
    case ParseResult::kMalformedEthernet:
      return "ethernet: frame shorter than header";
    case ParseResult::kMalformedVlan:
      return "vlan: tag cut short or more than two tags";
    case ParseResult::kMalformedIpv4Header:
      return "ipv4 header: short, version != 4, or bad IHL";
    case ParseResult::kMalformedIpv4Length:
      return "ipv4 length: total length < IHL or past the packet";
    case ParseResult::kMalformedIpv6Header:
      return "ipv6 header: short, version != 6, or bad payload length";
    case ParseResult::kMalformedIpv6ExtHeader:
      return "ipv6 extension header: chain runs off the end or too long";
    case ParseResult::kMalformedIpv6Mapped:
      return "ipv6 header: IPv4-mapped address";
    case ParseResult::kMalformedTcpHeader:
      return "tcp header: short, or data offset < 5 or past the payload";
    case ParseResult::kMalformedTcpOptions:
      return "tcp options: length < 2 or past the header";
  }
  return "unknown";
}

}  // namespace smtpguard
