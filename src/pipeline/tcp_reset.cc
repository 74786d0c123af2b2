#include "pipeline/tcp_reset.h"

#include <cstring>

namespace smtpguard {
namespace {

uint32_t sum16(const uint8_t* p, size_t n, uint32_t acc) {
  for (size_t i = 0; i + 1 < n; i += 2) acc += loadBe16(p + i);
  if (n & 1) acc += static_cast<uint32_t>(p[n - 1]) << 8;
  return acc;
}

uint16_t fold(uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(~acc);
}

// Sequence space the packet occupies: payload, plus one each for SYN and FIN.
uint32_t segmentLength(const PacketInfo& info) {
  uint32_t len = info.payload_len;
  if (info.tcp_flags & kTcpSyn) ++len;
  if (info.tcp_flags & kTcpFin) ++len;
  return len;
}

}  // namespace

size_t buildTcpReset(Bytes frame, const PacketInfo& info, ResetTarget target, uint8_t* out) {
  if (info.l4_proto != kIpProtoTcp || info.l3_offset < 14 || info.l3_offset > 22 ||
      frame.size() < info.l3_offset || (info.ip_version != 4 && info.ip_version != 6)) {
    return 0;
  }
  const bool to_sender = target == ResetTarget::kSender;
  // L2 as it was (VLAN tags and the final ethertype included), MACs swapped toward the sender.
  const size_t l2 = info.l3_offset;
  std::memcpy(out, frame.data(), l2);
  if (to_sender) {
    std::memcpy(out, frame.data() + 6, 6);
    std::memcpy(out + 6, frame.data(), 6);
  }
  const IpAddr& src = to_sender ? info.dst : info.src;
  const IpAddr& dst = to_sender ? info.src : info.dst;
  uint8_t* ip = out + l2;
  size_t ip_len;
  uint32_t pseudo;
  if (info.ip_version == 4) {
    ip_len = 20;
    std::memset(ip, 0, 20);
    ip[0] = 0x45;
    storeBe16(ip + 2, 40);
    storeBe16(ip + 6, 0x4000);  // DF
    ip[8] = 64;
    ip[9] = kIpProtoTcp;
    std::memcpy(ip + 12, src.b + 12, 4);
    std::memcpy(ip + 16, dst.b + 12, 4);
    storeBe16(ip + 10, fold(sum16(ip, 20, 0)));
    pseudo = sum16(ip + 12, 8, 0) + kIpProtoTcp + 20;
  } else {
    ip_len = 40;
    std::memset(ip, 0, 40);
    ip[0] = 0x60;
    storeBe16(ip + 4, 20);
    ip[6] = kIpProtoTcp;
    ip[7] = 64;
    std::memcpy(ip + 8, src.b, 16);
    std::memcpy(ip + 24, dst.b, 16);
    pseudo = sum16(ip + 8, 32, 0) + kIpProtoTcp + 20;
  }
  uint8_t* tcp = ip + ip_len;
  std::memset(tcp, 0, 20);
  storeBe16(tcp, to_sender ? info.dst_port : info.src_port);
  storeBe16(tcp + 2, to_sender ? info.src_port : info.dst_port);
  uint32_t seq, ack;
  if (to_sender) {
    seq = (info.tcp_flags & kTcpAck) ? info.ack : 0;
    ack = info.seq + segmentLength(info);
  } else {
    seq = info.seq;
    ack = info.ack;
  }
  storeBe32(tcp + 4, seq);
  storeBe32(tcp + 8, ack);
  tcp[12] = 0x50;
  tcp[13] = kTcpRst | kTcpAck;
  storeBe16(tcp + 16, fold(sum16(tcp, 20, pseudo)));
  return l2 + ip_len + 20;
}

size_t buildIcmpProhibited(Bytes frame, const PacketInfo& info, uint8_t* out) {
  if ((info.ip_version != 4 && info.ip_version != 6) || info.l3_offset < 14 ||
      info.l3_offset > 22 || info.l4_offset < info.l3_offset ||
      frame.size() < static_cast<size_t>(info.l4_offset) + 8) {
    return 0;
  }
  const size_t l2 = info.l3_offset;
  // The invoking packet's IP header and 8 bytes of its transport header.
  const size_t quoted = info.l4_offset + 8 - info.l3_offset;
  if (quoted > 48) return 0;
  std::memcpy(out, frame.data() + 6, 6);  // back toward the sender
  std::memcpy(out + 6, frame.data(), 6);
  std::memcpy(out + 12, frame.data() + 12, l2 - 12);
  uint8_t* ip = out + l2;
  if (info.ip_version == 4) {
    const size_t total = 20 + 8 + quoted;
    std::memset(ip, 0, 28);
    ip[0] = 0x45;
    storeBe16(ip + 2, static_cast<uint16_t>(total));
    ip[8] = 64;
    ip[9] = 1;  // ICMP
    std::memcpy(ip + 12, info.dst.b + 12, 4);
    std::memcpy(ip + 16, info.src.b + 12, 4);
    storeBe16(ip + 10, fold(sum16(ip, 20, 0)));
    uint8_t* icmp = ip + 20;
    icmp[0] = 3;   // destination unreachable
    icmp[1] = 13;  // communication administratively prohibited
    std::memcpy(icmp + 8, frame.data() + info.l3_offset, quoted);
    storeBe16(icmp + 2, fold(sum16(icmp, 8 + quoted, 0)));
    return l2 + total;
  }
  const size_t payload = 8 + quoted;
  std::memset(ip, 0, 48);
  ip[0] = 0x60;
  storeBe16(ip + 4, static_cast<uint16_t>(payload));
  ip[6] = 58;  // ICMPv6
  ip[7] = 64;
  std::memcpy(ip + 8, info.dst.b, 16);
  std::memcpy(ip + 24, info.src.b, 16);
  uint8_t* icmp = ip + 40;
  icmp[0] = 1;  // destination unreachable
  icmp[1] = 1;  // communication with destination administratively prohibited
  std::memcpy(icmp + 8, frame.data() + info.l3_offset, quoted);
  const uint32_t pseudo = sum16(ip + 8, 32, 0) + 58 + static_cast<uint32_t>(payload);
  storeBe16(icmp + 2, fold(sum16(icmp, payload, pseudo)));
  return l2 + 40 + payload;
}

}  // namespace smtpguard
