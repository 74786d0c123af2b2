#pragma once
// Builds Ethernet [+ VLAN tags] + IPv4/IPv6 [+ options / extension headers / fragment fields]
// + TCP/UDP/other + payload frames for tests, with correct lengths and checksums. The result
// is a plain byte vector: corrupt it by index, using PacketLayout for where each layer starts.
//
//   auto frame = buildPacket({.src = "198.18.0.1", .dst = "198.18.1.1", .sport = 40000,
//                             .dport = 25, .flags = kTcpSyn, .seq = 1, .payload = "EHLO x\r\n"});
//
// Test code only: allocates freely and aborts on a bad address string.

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "packet/packet_parser.h"

namespace smtpguard::test {

inline constexpr uint16_t kEtherIpv4 = 0x0800;
inline constexpr uint16_t kEtherIpv6 = 0x86dd;
inline constexpr uint16_t kEtherArp = 0x0806;
inline constexpr uint16_t kTpidDot1q = 0x8100;
inline constexpr uint16_t kTpidDot1ad = 0x88a8;
inline constexpr uint16_t kTpidQinQLegacy = 0x9100;

inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoHopByHop = 0;
inline constexpr uint8_t kIpProtoRouting = 43;
inline constexpr uint8_t kIpProtoFragment = 44;
inline constexpr uint8_t kIpProtoEsp = 50;
inline constexpr uint8_t kIpProtoAh = 51;
inline constexpr uint8_t kIpProtoNoNext = 59;
inline constexpr uint8_t kIpProtoDestOpts = 60;

struct VlanTag {
  uint16_t tpid = kTpidDot1q;
  uint16_t tci = 0;
};

// One IPv6 extension header. `len` is the header's own length byte: (len + 1) * 8 bytes for
// hop-by-hop / routing / destination options, (len + 2) * 4 for AH; ignored for fragment
// (always 8 bytes, filled from PacketSpec's fragment fields). Bodies are zeros (Pad1 options).
struct Ipv6Ext {
  uint8_t type = kIpProtoHopByHop;
  uint8_t len = 0;
};

// Designated initialisers must follow this declaration order.
struct PacketSpec {
  std::string src = "198.18.0.1";  // IPv4 or IPv6 text; a ':' selects IPv6
  std::string dst = "198.18.1.1";
  uint16_t sport = 40000;
  uint16_t dport = 25;
  uint8_t flags = kTcpAck;
  uint32_t seq = 1;
  uint32_t ack = 0;
  uint16_t window = 65535;
  std::string payload{};
  uint8_t l4_proto = kIpProtoTcp;      // TCP, UDP, or anything else (payload is then the L4 bytes)
  std::vector<uint8_t> tcp_options{};  // raw; padded with EOL to a multiple of 4
  std::vector<VlanTag> vlans{};        // outermost first
  std::vector<uint8_t> ip_options{};   // IPv4 only, raw; padded with EOL to a multiple of 4
  std::vector<Ipv6Ext> ipv6_ext{};     // IPv6 only, in chain order
  uint16_t frag_offset = 0;            // in 8-byte units (IPv4 header or IPv6 fragment header)
  bool more_fragments = false;
  uint32_t ip_id = 0x1234;
  uint8_t ttl = 64;
  uint16_t ether_type = 0;  // 0: from the address family; otherwise payload follows L2 raw
  size_t pad_to = 0;        // zero-pad the frame to this many bytes (60: Ethernet minimum)
  std::array<uint8_t, 6> src_mac = {0x02, 0, 0, 0, 0, 0x01};
  std::array<uint8_t, 6> dst_mac = {0x02, 0, 0, 0, 0, 0x02};
};

// Where each layer starts in a built frame, for tests that corrupt or check offsets.
struct PacketLayout {
  size_t l3_offset = 0;
  size_t l4_offset = 0;       // after IPv4 options / IPv6 extension headers
  size_t payload_offset = 0;  // after the TCP/UDP header (== l4_offset for other protocols)
  size_t payload_len = 0;
  size_t l3_len = 0;     // IP header(s) + L4 per the IP length fields
  size_t frame_len = 0;  // including padding
  bool ipv6 = false;
};

namespace detail {

inline void put16(std::vector<uint8_t>& v, uint16_t x) {
  v.push_back(static_cast<uint8_t>(x >> 8));
  v.push_back(static_cast<uint8_t>(x));
}
inline void put32(std::vector<uint8_t>& v, uint32_t x) {
  put16(v, static_cast<uint16_t>(x >> 16));
  put16(v, static_cast<uint16_t>(x));
}
inline void append(std::vector<uint8_t>& v, const uint8_t* p, size_t n) {
  v.insert(v.end(), p, p + n);
}

// RFC 1071 one's-complement sum, continued across calls.
inline uint32_t sum16(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += loadBe16(p + i);
  if (n % 2 != 0) sum += static_cast<uint32_t>(p[n - 1]) << 8;
  return sum;
}
inline uint16_t foldSum(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

inline bool isV6Text(const std::string& s) {
  return s.find(':') != std::string::npos;
}

}  // namespace detail

// Parses "198.18.0.1" or "2001:db8::1" into the parser's address type (aborts if invalid).
inline IpAddr ipAddr(const std::string& text) {
  uint8_t raw[16] = {};
  if (detail::isV6Text(text)) {
    if (inet_pton(AF_INET6, text.c_str(), raw) != 1) {
      std::fprintf(stderr, "packet_builder: bad IPv6 address '%s'\n", text.c_str());
      std::abort();
    }
    return IpAddr::fromV6(raw);
  }
  if (inet_pton(AF_INET, text.c_str(), raw) != 1) {
    std::fprintf(stderr, "packet_builder: bad IPv4 address '%s'\n", text.c_str());
    std::abort();
  }
  return IpAddr::fromV4(raw);
}

// The frame for `spec`; fills `layout` when given.
inline std::vector<uint8_t> buildPacket(const PacketSpec& spec, PacketLayout* layout = nullptr) {
  using detail::put16;
  using detail::put32;
  const bool v6 = detail::isV6Text(spec.src);
  IpAddr src = ipAddr(spec.src);
  IpAddr dst = ipAddr(spec.dst);
  const uint8_t* src_raw = v6 ? src.b : src.b + 12;
  const uint8_t* dst_raw = v6 ? dst.b : dst.b + 12;
  const size_t addr_len = v6 ? 16 : 4;
  PacketLayout lay;
  lay.ipv6 = v6;

  // L2.
  std::vector<uint8_t> f;
  detail::append(f, spec.dst_mac.data(), 6);
  detail::append(f, spec.src_mac.data(), 6);
  for (const VlanTag& t : spec.vlans) {
    put16(f, t.tpid);
    put16(f, t.tci);
  }
  if (spec.ether_type != 0 && spec.ether_type != kEtherIpv4 && spec.ether_type != kEtherIpv6) {
    put16(f, spec.ether_type);
    lay.l3_offset = f.size();
    detail::append(f, reinterpret_cast<const uint8_t*>(spec.payload.data()), spec.payload.size());
    if (f.size() < spec.pad_to) f.resize(spec.pad_to, 0);
    lay.frame_len = f.size();
    if (layout != nullptr) *layout = lay;
    return f;
  }
  put16(f, v6 ? kEtherIpv6 : kEtherIpv4);
  lay.l3_offset = f.size();

  // L4, checksum filled once the pseudo-header is known.
  std::vector<uint8_t> l4;
  size_t l4_header_len = 0;
  size_t csum_at = SIZE_MAX;
  if (spec.l4_proto == kIpProtoTcp) {
    std::vector<uint8_t> opts = spec.tcp_options;
    while (opts.size() % 4 != 0) opts.push_back(0);
    l4_header_len = 20 + opts.size();
    put16(l4, spec.sport);
    put16(l4, spec.dport);
    put32(l4, spec.seq);
    put32(l4, spec.ack);
    l4.push_back(static_cast<uint8_t>((l4_header_len / 4) << 4));
    l4.push_back(spec.flags);
    put16(l4, spec.window);
    csum_at = l4.size();
    put16(l4, 0);
    put16(l4, 0);  // urgent pointer
    detail::append(l4, opts.data(), opts.size());
  } else if (spec.l4_proto == kIpProtoUdp) {
    l4_header_len = 8;
    put16(l4, spec.sport);
    put16(l4, spec.dport);
    put16(l4, static_cast<uint16_t>(8 + spec.payload.size()));
    csum_at = l4.size();
    put16(l4, 0);
  }
  detail::append(l4, reinterpret_cast<const uint8_t*>(spec.payload.data()), spec.payload.size());
  if (csum_at != SIZE_MAX) {
    // RFC 9293 §3.1 / RFC 8200 §8.1 pseudo-header.
    uint32_t sum = detail::sum16(src_raw, addr_len);
    sum = detail::sum16(dst_raw, addr_len, sum);
    sum += spec.l4_proto;
    sum += static_cast<uint32_t>(l4.size());
    uint16_t c = detail::foldSum(detail::sum16(l4.data(), l4.size(), sum));
    if (c == 0 && spec.l4_proto == kIpProtoUdp) c = 0xffff;  // 0 means "no checksum"
    storeBe16(l4.data() + csum_at, c);
  }

  // L3.
  if (!v6) {
    std::vector<uint8_t> opts = spec.ip_options;
    while (opts.size() % 4 != 0) opts.push_back(0);
    size_t ihl = 20 + opts.size();
    size_t total = ihl + l4.size();
    size_t h = f.size();
    f.push_back(static_cast<uint8_t>(0x40 | (ihl / 4)));
    f.push_back(0);
    put16(f, static_cast<uint16_t>(total));
    put16(f, static_cast<uint16_t>(spec.ip_id));
    put16(f,
          static_cast<uint16_t>((spec.more_fragments ? 0x2000 : 0) | (spec.frag_offset & 0x1fff)));
    f.push_back(spec.ttl);
    f.push_back(spec.l4_proto);
    put16(f, 0);
    detail::append(f, src_raw, 4);
    detail::append(f, dst_raw, 4);
    detail::append(f, opts.data(), opts.size());
    storeBe16(f.data() + h + 10, detail::foldSum(detail::sum16(f.data() + h, ihl)));
    lay.l3_len = total;
  } else {
    std::vector<uint8_t> ext;
    for (size_t i = 0; i < spec.ipv6_ext.size(); ++i) {
      const Ipv6Ext& e = spec.ipv6_ext[i];
      uint8_t next = i + 1 < spec.ipv6_ext.size() ? spec.ipv6_ext[i + 1].type : spec.l4_proto;
      size_t at = ext.size();
      if (e.type == kIpProtoFragment) {
        ext.push_back(next);
        ext.push_back(0);
        put16(ext, static_cast<uint16_t>((spec.frag_offset << 3) | (spec.more_fragments ? 1 : 0)));
        put32(ext, spec.ip_id);
        continue;
      }
      size_t len = e.type == kIpProtoAh ? (e.len + 2u) * 4 : (e.len + 1u) * 8;
      ext.resize(at + len, 0);
      ext[at] = next;
      ext[at + 1] = e.len;
      if (e.type == kIpProtoAh) storeBe32(ext.data() + at + 4, 0x100);  // SPI
    }
    size_t plen = ext.size() + l4.size();
    f.push_back(0x60);
    f.push_back(0);
    put16(f, 0);
    put16(f, static_cast<uint16_t>(plen));
    f.push_back(spec.ipv6_ext.empty() ? spec.l4_proto : spec.ipv6_ext[0].type);
    f.push_back(spec.ttl);
    detail::append(f, src_raw, 16);
    detail::append(f, dst_raw, 16);
    detail::append(f, ext.data(), ext.size());
    lay.l3_len = 40 + plen;
  }
  lay.l4_offset = f.size();
  lay.payload_offset = lay.l4_offset + l4_header_len;
  lay.payload_len = spec.payload.size();
  detail::append(f, l4.data(), l4.size());
  if (f.size() < spec.pad_to) f.resize(spec.pad_to, 0);
  lay.frame_len = f.size();
  if (layout != nullptr) *layout = lay;
  return f;
}

// The same flow seen from the other side: addresses, ports and seq/ack swapped.
inline PacketSpec reversed(PacketSpec spec) {
  std::swap(spec.src, spec.dst);
  std::swap(spec.sport, spec.dport);
  std::swap(spec.seq, spec.ack);
  std::swap(spec.src_mac, spec.dst_mac);
  return spec;
}

// A checksum check for tests that edit a frame and want it to stay valid (RFC 1071).
inline bool ipv4HeaderChecksumOk(const std::vector<uint8_t>& f, size_t l3_offset) {
  size_t ihl = static_cast<size_t>(f[l3_offset] & 0x0f) * 4;
  return detail::foldSum(detail::sum16(f.data() + l3_offset, ihl)) == 0;
}

// Whether the TCP/UDP checksum of a built (or edited) frame verifies, pseudo-header included.
inline bool l4ChecksumOk(const std::vector<uint8_t>& f, const PacketLayout& lay, uint8_t proto) {
  size_t addr_len = lay.ipv6 ? 16 : 4;
  size_t src_at = lay.l3_offset + (lay.ipv6 ? 8 : 12);
  size_t l4_len = lay.l3_offset + lay.l3_len - lay.l4_offset;
  uint32_t sum = detail::sum16(f.data() + src_at, 2 * addr_len);  // src and dst are adjacent
  sum += proto;
  sum += static_cast<uint32_t>(l4_len);
  return detail::foldSum(detail::sum16(f.data() + lay.l4_offset, l4_len, sum)) == 0;
}

}  // namespace smtpguard::test
