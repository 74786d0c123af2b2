#pragma once
// L2-L4 parsing over a byte span: Ethernet, 802.1Q / 802.1ad (QinQ), IPv4 (options,
// fragments), IPv6 (hop-by-hop, routing, destination options, fragment), TCP (options).
// Pure: knows nothing of mbufs, ports or lcores. Every read is preceded by a length check;
// a rejection says which layer lied (ParseResult) and is never an assertion.

#include <cstdint>
#include <cstring>

#include "common/bytes.h"
#include "common/ip_addr.h"

namespace smtpguard {

enum class ParseResult : uint8_t {
  kOk,                      // parsed through L4 (TCP fully; UDP/other: ports only where present)
  kNonIp,                   // an ethertype other than IPv4/IPv6 (ARP, LLDP, ...): not an error
  kFragment,                // a non-first fragment: L3 parsed, no L4 header to read
  kMalformedEthernet,       // shorter than an Ethernet header
  kMalformedVlan,           // a VLAN tag cut short, or more than two tags
  kMalformedIpv4Header,     // short header, version != 4, IHL < 5, IHL past the packet
  kMalformedIpv4Length,     // total length < IHL or past the captured bytes
  kMalformedIpv6Header,     // short header, version != 6, payload length past the bytes
  kMalformedIpv6ExtHeader,  // an extension header chain running off the end
  kMalformedIpv6Mapped,     // an IPv4-mapped source or destination (RFC 4291 §2.5.5.2: never on
                            // the wire); it would share the flow key of the IPv4 connection
  kMalformedTcpHeader,      // short header, data offset < 5 or past the IP payload
  kMalformedTcpOptions,     // an option whose length is 0/1 or runs past the header
};

inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;

inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoUdp = 17;

struct PacketInfo {
  uint16_t l3_offset = 0;       // first byte of the IPv4/IPv6 header
  uint16_t l4_offset = 0;       // first byte of the TCP/UDP header
  uint16_t payload_offset = 0;  // first byte of TCP payload
  uint16_t payload_len = 0;     // TCP payload length per the IP lengths (L2 padding excluded)
  uint16_t l3_len = 0;          // IP header(s) + payload per the IP lengths
  uint16_t vlan_tci[2] = {0, 0};
  uint8_t vlan_count = 0;
  uint8_t ip_version = 0;  // 4 or 6, 0 when not IP
  uint8_t l4_proto = 0;    // IPPROTO number of the transport (after IPv6 extensions)
  uint8_t tcp_flags = 0;
  uint8_t ttl = 0;        // IPv4 TTL or IPv6 hop limit
  bool fragment = false;  // any fragment, first or not
  IpAddr src{};
  IpAddr dst{};
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint16_t window = 0;
  // TCP window scale option (RFC 7323 §2.2), shift count capped at 14; kNoWindowScale when the
  // segment has none (it is read from SYNs only).
  uint8_t wscale = 0xff;
};

inline constexpr uint8_t kNoWindowScale = 0xff;

ParseResult parsePacket(Bytes frame, PacketInfo& out);

// For a frame parsePacket rejected (or could not see whole): the TCP ports behind any number
// of VLAN tags (up to 16), IPv4 options or IPv6 extension headers (up to 64), ignoring what
// follows them (TCP options, lengths past the bytes). False when no TCP header start is
// there. Lets the fast path tell whether a frame it cannot inspect belongs to an SMTP port.
bool findTcpPorts(Bytes frame, uint16_t& src_port, uint16_t& dst_port);

// A few words for logs and docs: "ipv4 header: IHL < 5".
const char* parseResultText(ParseResult r);

inline bool isMalformed(ParseResult r) {
  return r != ParseResult::kOk && r != ParseResult::kNonIp && r != ParseResult::kFragment;
}

}  // namespace smtpguard
