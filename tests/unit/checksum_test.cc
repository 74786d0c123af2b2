// Tests of the IPv4 header and TCP checksum checks (src/packet/checksum.h) on frames built by
// the test packet builder, whose checksums come from its own RFC 1071 code.
#include "packet/checksum.h"

#include <gtest/gtest.h>

#include "tests/common/packet_builder.h"

namespace smtpguard {
namespace {
using namespace test;

PacketInfo parsed(const std::vector<uint8_t>& f) {
  PacketInfo info;
  EXPECT_EQ(parsePacket(Bytes(f.data(), f.size()), info), ParseResult::kOk);
  return info;
}

bool allOk(const std::vector<uint8_t>& f) {
  const PacketInfo info = parsed(f);
  const Bytes b(f.data(), f.size());
  return ipv4HeaderChecksumOk(b, info) && tcpChecksumOk(b, info);
}

// Test that frames of every shape the builder makes pass: IPv4 and IPv6, odd payload lengths,
// options, VLAN tags, extension headers, Ethernet padding past the IP length.
TEST(Checksum, GoodFramesPass) {
  std::vector<PacketSpec> specs = {
      {.payload = "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"},
      {.payload = "odd"},
      {.payload = ""},
      {.src = "2001:db8::1", .dst = "2001:db8::2", .payload = "EHLO x\r\n"},
      {.src = "2001:db8::1",
       .dst = "2001:db8::2",
       .payload = "odd",
       .ipv6_ext = {{.type = kIpProtoHopByHop}, {.type = kIpProtoDestOpts, .len = 1}}},
      {.payload = "x",
       .tcp_options = {2, 4, 5, 0xb4, 1, 1, 4, 2},
       .vlans = {{}, {}},
       .ip_options = {1, 1, 1, 1}},
      {.flags = kTcpSyn, .pad_to = 60},
  };
  for (const PacketSpec& s : specs) EXPECT_TRUE(allOk(buildPacket(s))) << s.payload;
}

// Test that a change of any byte the checksums cover is caught: every byte of the IPv4 header
// and of the TCP header and payload, flipped in turn.
TEST(Checksum, EveryCoveredByteFlippedFails) {
  for (const std::string src : {"198.18.0.1", "2001:db8::1"}) {
    const std::string dst = src.find(':') != std::string::npos ? "2001:db8::2" : "198.18.1.1";
    PacketLayout lay;
    const auto good = buildPacket({.src = src, .dst = dst, .payload = "MAIL FROM:<a@b>\r\n"}, &lay);
    const size_t first = lay.ipv6 ? lay.l4_offset : lay.l3_offset;
    for (size_t i = first; i < lay.l3_offset + lay.l3_len; ++i) {
      if (lay.ipv6 == false && i >= lay.l3_offset + 2 && i < lay.l3_offset + 4) continue;
      auto f = good;
      f[i] ^= 0x20;
      PacketInfo info;
      if (parsePacket(Bytes(f.data(), f.size()), info) != ParseResult::kOk) continue;
      const Bytes b(f.data(), f.size());
      EXPECT_FALSE(ipv4HeaderChecksumOk(b, info) && tcpChecksumOk(b, info))
          << src << " byte " << i << " flipped";
    }
  }
}

// Test that the pseudo-header counts: the same segment claimed by another source address fails.
TEST(Checksum, PseudoHeaderAddressesCount) {
  auto f = buildPacket({.payload = "RCPT TO:<x@y>\r\n"});
  PacketInfo info = parsed(f);
  info.src = ipAddr("198.18.0.2");
  EXPECT_FALSE(tcpChecksumOk(Bytes(f.data(), f.size()), info));
}

// Test that Ethernet padding past the IP total length is not summed.
TEST(Checksum, PaddingIgnored) {
  auto f = buildPacket({.payload = "a", .pad_to = 60});
  f.back() = 0x55;  // garbage in the padding
  EXPECT_TRUE(allOk(f));
}

}  // namespace
}  // namespace smtpguard
