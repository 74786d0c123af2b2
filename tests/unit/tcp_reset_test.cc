#include "pipeline/tcp_reset.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "tests/common/packet_builder.h"

namespace smtpguard {
namespace {

using test::buildPacket;
using test::PacketSpec;

struct Built {
  std::vector<uint8_t> frame;
  PacketInfo info;
};

Built parsed(const PacketSpec& spec) {
  Built b{buildPacket(spec), {}};
  EXPECT_EQ(parsePacket(b.frame, b.info), ParseResult::kOk);
  return b;
}

// Where the layers of a parsed frame sit, for the builder's checksum checks.
test::PacketLayout layoutOf(const PacketInfo& info) {
  test::PacketLayout lay;
  lay.l3_offset = info.l3_offset;
  lay.l4_offset = info.l4_offset;
  lay.l3_len = info.l3_len;
  lay.ipv6 = info.ip_version == 6;
  return lay;
}

// Parses a built RST and checks both checksums, as a receiving stack would.
PacketInfo checkReset(const uint8_t* rst, size_t len) {
  std::vector<uint8_t> f(rst, rst + len);
  PacketInfo out;
  EXPECT_EQ(parsePacket(f, out), ParseResult::kOk);
  const test::PacketLayout lay = layoutOf(out);
  if (out.ip_version == 4) {
    EXPECT_TRUE(test::ipv4HeaderChecksumOk(f, out.l3_offset));
  }
  EXPECT_TRUE(test::l4ChecksumOk(f, lay, kIpProtoTcp));
  EXPECT_EQ(out.tcp_flags, kTcpRst | kTcpAck);
  EXPECT_EQ(out.payload_len, 0);
  return out;
}

// Test that a SYN is answered like a closed port: RST|ACK, seq 0, ack = ISN + 1, to the client.
TEST(TcpReset, SynGetsClosedPortAnswer) {
  Built syn = parsed({.src = "100.64.0.7",
                      .dst = "198.19.0.1",
                      .sport = 40000,
                      .dport = 25,
                      .flags = kTcpSyn,
                      .seq = 1000});
  uint8_t rst[kMaxResetFrame];
  size_t n = buildTcpReset(syn.frame, syn.info, ResetTarget::kSender, rst);
  ASSERT_EQ(n, 54u);
  PacketInfo r = checkReset(rst, n);
  EXPECT_EQ(r.src, syn.info.dst);
  EXPECT_EQ(r.dst, syn.info.src);
  EXPECT_EQ(r.src_port, 25);
  EXPECT_EQ(r.dst_port, 40000);
  EXPECT_EQ(r.seq, 0u);
  EXPECT_EQ(r.ack, 1001u);
  // MACs swapped: the RST leaves toward the client.
  EXPECT_EQ(0, std::memcmp(rst, syn.frame.data() + 6, 6));
  EXPECT_EQ(0, std::memcmp(rst + 6, syn.frame.data(), 6));
}

// Test that a dropped data segment resets both ends at exactly their next expected sequence.
TEST(TcpReset, DataSegmentResetsBothEndsInWindow) {
  Built auth = parsed({.src = "100.64.0.7",
                       .dst = "198.19.0.1",
                       .sport = 40000,
                       .dport = 587,
                       .flags = kTcpAck | kTcpPsh,
                       .seq = 5000,
                       .ack = 9000,
                       .payload = "AUTH PLAIN ZmFrZQ==\r\n"});
  uint8_t rst[kMaxResetFrame];
  PacketInfo to_client =
      checkReset(rst, buildTcpReset(auth.frame, auth.info, ResetTarget::kSender, rst));
  EXPECT_EQ(to_client.seq, 9000u);  // what the client expects from the server
  EXPECT_EQ(to_client.ack, 5000u + 21u);
  EXPECT_EQ(to_client.src_port, 587);
  PacketInfo to_server =
      checkReset(rst, buildTcpReset(auth.frame, auth.info, ResetTarget::kReceiver, rst));
  EXPECT_EQ(to_server.seq, 5000u);  // the dropped segment's own start: the server's rcv.nxt
  EXPECT_EQ(to_server.ack, 9000u);
  EXPECT_EQ(to_server.src, auth.info.src);
  EXPECT_EQ(to_server.dst_port, 587);
  EXPECT_EQ(0, std::memcmp(rst, auth.frame.data(), 12));  // MACs as the packet had them
}

// Test that IPv6 inside QinQ keeps both tags and gets a valid IPv6 RST.
TEST(TcpReset, Ipv6InQinQKeepsTags) {
  PacketSpec spec{.src = "2001:db8::7",
                  .dst = "2001:db8:1::25",
                  .sport = 40001,
                  .dport = 25,
                  .flags = kTcpAck,
                  .seq = 77,
                  .ack = 88,
                  .payload = "MAIL FROM:<a@b>\r\n"};
  spec.vlans = {{test::kTpidDot1ad, 100}, {test::kTpidDot1q, 200}};
  Built p = parsed(spec);
  uint8_t rst[kMaxResetFrame];
  size_t n = buildTcpReset(p.frame, p.info, ResetTarget::kSender, rst);
  ASSERT_EQ(n, kMaxResetFrame);
  PacketInfo r = checkReset(rst, n);
  EXPECT_EQ(r.vlan_count, 2);
  EXPECT_EQ(r.vlan_tci[0], 100);
  EXPECT_EQ(r.vlan_tci[1], 200);
  EXPECT_EQ(r.ip_version, 6);
  EXPECT_EQ(r.dst, p.info.src);
}

// Test that a non-TCP packet yields nothing.
TEST(TcpReset, NonTcpYieldsNothing) {
  PacketSpec spec{.dport = 53};
  spec.l4_proto = kIpProtoUdp;
  Built p = parsed(spec);
  uint8_t rst[kMaxResetFrame];
  EXPECT_EQ(buildTcpReset(p.frame, p.info, ResetTarget::kSender, rst), 0u);
}

// Test that an IPv4 SYN gets ICMP type 3 code 13 from its destination, quoting the IP header
// and 8 bytes of TCP, with valid IP and ICMP checksums.
TEST(IcmpProhibited, Ipv4QuotesHeaderAndEightBytes) {
  auto syn = test::buildPacket({.src = "100.64.0.7",
                                .dst = "198.19.0.1",
                                .sport = 40000,
                                .dport = 25,
                                .flags = kTcpSyn,
                                .seq = 1000});
  PacketInfo info;
  ASSERT_EQ(parsePacket(syn, info), ParseResult::kOk);
  uint8_t out[kMaxIcmpFrame];
  size_t n = buildIcmpProhibited(syn, info, out);
  ASSERT_EQ(n, 14u + 20 + 8 + 28);
  std::vector<uint8_t> f(out, out + n);
  PacketInfo icmp;
  ASSERT_EQ(parsePacket(f, icmp), ParseResult::kOk);
  EXPECT_EQ(icmp.l4_proto, 1);
  EXPECT_EQ(icmp.src, info.dst);
  EXPECT_EQ(icmp.dst, info.src);
  EXPECT_TRUE(test::ipv4HeaderChecksumOk(f, icmp.l3_offset));
  const uint8_t* body = out + icmp.l4_offset;
  EXPECT_EQ(body[0], 3);
  EXPECT_EQ(body[1], 13);
  EXPECT_EQ(test::detail::foldSum(test::detail::sum16(body, 8 + 28)), 0);
  EXPECT_EQ(0, std::memcmp(body + 8, syn.data() + info.l3_offset, 28));
}

// Test that IPv6 gets ICMPv6 type 1 code 1 whose checksum covers the pseudo-header.
TEST(IcmpProhibited, Ipv6ChecksumCoversPseudoHeader) {
  auto syn = test::buildPacket({.src = "2001:db8:4000::7",
                                .dst = "2001:db8:1::25",
                                .sport = 40000,
                                .dport = 25,
                                .flags = kTcpSyn,
                                .seq = 1});
  PacketInfo info;
  ASSERT_EQ(parsePacket(syn, info), ParseResult::kOk);
  uint8_t out[kMaxIcmpFrame];
  size_t n = buildIcmpProhibited(syn, info, out);
  ASSERT_EQ(n, 14u + 40 + 8 + 48);
  std::vector<uint8_t> f(out, out + n);
  PacketInfo icmp;
  ASSERT_EQ(parsePacket(f, icmp), ParseResult::kOk);
  EXPECT_EQ(icmp.l4_proto, 58);
  EXPECT_EQ(icmp.dst, info.src);
  EXPECT_TRUE(test::l4ChecksumOk(f, layoutOf(icmp), 58));
  EXPECT_EQ(out[icmp.l4_offset], 1);
  EXPECT_EQ(out[icmp.l4_offset + 1], 1);
}

}  // namespace
}  // namespace smtpguard
