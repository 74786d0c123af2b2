#include "packet/packet_parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "tests/common/packet_builder.h"

namespace smtpguard {
namespace {

using test::buildPacket;
using test::Ipv6Ext;
using test::PacketLayout;
using test::PacketSpec;
using test::VlanTag;

constexpr const char* kV6Src = "2001:db8::1";
constexpr const char* kV6Dst = "2001:db8:0:1::25";

// MSS 1460, SACK permitted, timestamps, NOP, window scale 7: a typical Linux SYN.
const std::vector<uint8_t> kSynOptions = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0,
                                          0, 1, 0,    0,    0, 0, 1, 3,  3, 7};

ParseResult parse(const std::vector<uint8_t>& f, PacketInfo& info, size_t len) {
  return parsePacket(Bytes(f.data(), len), info);
}
ParseResult parse(const std::vector<uint8_t>& f, PacketInfo& info) {
  return parse(f, info, f.size());
}

struct ValidCase {
  const char* name;
  PacketSpec spec;
  ParseResult want;
  bool want_fragment = false;
};

std::vector<ValidCase> validCases() {
  PacketSpec v4{.flags = kTcpAck | kTcpPsh, .seq = 1000, .ack = 2000, .payload = "EHLO x\r\n"};
  PacketSpec v6 = v4;
  v6.src = kV6Src;
  v6.dst = kV6Dst;
  auto with = [](PacketSpec s, auto&& edit) {
    edit(s);
    return s;
  };
  std::vector<ValidCase> c;
  c.push_back({"plain", v4, ParseResult::kOk});
  c.push_back({"syn_no_payload_padded_to_60",
               with(v4,
                    [](PacketSpec& s) {
                      s.flags = kTcpSyn;
                      s.payload = "";
                      s.pad_to = 60;
                    }),
               ParseResult::kOk});
  c.push_back({"tcp_options",
               with(v4,
                    [](PacketSpec& s) {
                      s.flags = kTcpSyn;
                      s.tcp_options = kSynOptions;
                    }),
               ParseResult::kOk});
  c.push_back({"tcp_options_eol_then_garbage",
               with(v4,
                    [](PacketSpec& s) {
                      s.tcp_options = {1, 0, 0xff, 0xff};
                    }),
               ParseResult::kOk});
  c.push_back({"dot1q",
               with(v4,
                    [](PacketSpec& s) {
                      s.vlans = {{test::kTpidDot1q, 100}};
                    }),
               ParseResult::kOk});
  c.push_back({"dot1ad_single",
               with(v4,
                    [](PacketSpec& s) {
                      s.vlans = {{test::kTpidDot1ad, 0x2064}};
                    }),
               ParseResult::kOk});
  c.push_back({"qinq_88a8",
               with(v4,
                    [](PacketSpec& s) {
                      s.vlans = {{test::kTpidDot1ad, 10}, {test::kTpidDot1q, 0xe020}};
                    }),
               ParseResult::kOk});
  c.push_back({"qinq_9100",
               with(v4,
                    [](PacketSpec& s) {
                      s.vlans = {{test::kTpidQinQLegacy, 7}, {test::kTpidDot1q, 8}};
                    }),
               ParseResult::kOk});
  c.push_back({"ipv4_options",
               with(v4, [](PacketSpec& s) { s.ip_options = {1, 1, 1, 1, 0x94, 4, 0, 0}; }),
               ParseResult::kOk});
  c.push_back({"ipv4_max_options",
               with(v4, [](PacketSpec& s) { s.ip_options = std::vector<uint8_t>(40, 1); }),
               ParseResult::kOk});
  c.push_back({"ipv4_first_fragment", with(v4, [](PacketSpec& s) { s.more_fragments = true; }),
               ParseResult::kOk, true});
  c.push_back({"ipv4_middle_fragment",
               with(v4,
                    [](PacketSpec& s) {
                      s.more_fragments = true;
                      s.frag_offset = 185;
                    }),
               ParseResult::kFragment, true});
  c.push_back({"ipv4_last_fragment", with(v4, [](PacketSpec& s) { s.frag_offset = 370; }),
               ParseResult::kFragment, true});
  c.push_back({"ipv4_udp",
               with(v4,
                    [](PacketSpec& s) {
                      s.l4_proto = kIpProtoUdp;
                      s.dport = 53;
                    }),
               ParseResult::kOk});
  c.push_back({"ipv4_icmp",
               with(v4,
                    [](PacketSpec& s) {
                      s.l4_proto = test::kIpProtoIcmp;
                      s.payload = std::string("\x08\0\0\0", 4);
                    }),
               ParseResult::kOk});
  c.push_back({"arp",
               with(v4,
                    [](PacketSpec& s) {
                      s.ether_type = test::kEtherArp;
                      s.payload = std::string(28, '\1');
                    }),
               ParseResult::kNonIp});
  c.push_back({"arp_in_vlan",
               with(v4,
                    [](PacketSpec& s) {
                      s.ether_type = test::kEtherArp;
                      s.vlans = {{test::kTpidDot1q, 5}};
                      s.payload = std::string(28, '\1');
                    }),
               ParseResult::kNonIp});
  c.push_back({"llc_length_field",
               with(v4,
                    [](PacketSpec& s) {
                      s.ether_type = 0x0026;
                      s.payload = std::string(38, 'x');
                    }),
               ParseResult::kNonIp});
  c.push_back({"ipv6", v6, ParseResult::kOk});
  c.push_back({"ipv6_syn_options",
               with(v6,
                    [](PacketSpec& s) {
                      s.flags = kTcpSyn;
                      s.tcp_options = kSynOptions;
                    }),
               ParseResult::kOk});
  c.push_back({"ipv6_dot1q",
               with(v6,
                    [](PacketSpec& s) {
                      s.vlans = {{test::kTpidDot1q, 3}};
                    }),
               ParseResult::kOk});
  c.push_back({"ipv6_hop_by_hop",
               with(v6,
                    [](PacketSpec& s) {
                      s.ipv6_ext = {{test::kIpProtoHopByHop, 0}};
                    }),
               ParseResult::kOk});
  c.push_back({"ipv6_hop_by_hop_long",
               with(v6,
                    [](PacketSpec& s) {
                      s.ipv6_ext = {{test::kIpProtoHopByHop, 3}};
                    }),
               ParseResult::kOk});
  c.push_back({"ipv6_routing",
               with(v6,
                    [](PacketSpec& s) {
                      s.ipv6_ext = {{test::kIpProtoRouting, 2}};
                    }),
               ParseResult::kOk});
  c.push_back({"ipv6_dest_opts",
               with(v6,
                    [](PacketSpec& s) {
                      s.ipv6_ext = {{test::kIpProtoDestOpts, 1}};
                    }),
               ParseResult::kOk});
  c.push_back({"ipv6_ah",
               with(v6,
                    [](PacketSpec& s) {
                      s.ipv6_ext = {{test::kIpProtoAh, 4}};
                    }),
               ParseResult::kOk});
  c.push_back({"ipv6_atomic_fragment",
               with(v6, [](PacketSpec& s) { s.ipv6_ext = {{test::kIpProtoFragment}}; }),
               ParseResult::kOk});
  c.push_back({"ipv6_first_fragment",
               with(v6,
                    [](PacketSpec& s) {
                      s.ipv6_ext = {{test::kIpProtoFragment}};
                      s.more_fragments = true;
                    }),
               ParseResult::kOk, true});
  c.push_back({"ipv6_middle_fragment",
               with(v6,
                    [](PacketSpec& s) {
                      s.ipv6_ext = {{test::kIpProtoFragment}};
                      s.more_fragments = true;
                      s.frag_offset = 181;
                    }),
               ParseResult::kFragment, true});
  c.push_back({"ipv6_last_fragment",
               with(v6,
                    [](PacketSpec& s) {
                      s.ipv6_ext = {{test::kIpProtoHopByHop}, {test::kIpProtoFragment}};
                      s.frag_offset = 362;
                    }),
               ParseResult::kFragment, true});
  c.push_back({"ipv6_chain",
               with(v6,
                    [](PacketSpec& s) {
                      s.ipv6_ext = {{test::kIpProtoHopByHop, 0}, {test::kIpProtoDestOpts, 1},
                                    {test::kIpProtoRouting, 0},  {test::kIpProtoFragment},
                                    {test::kIpProtoAh, 4},       {test::kIpProtoDestOpts, 0}};
                      s.more_fragments = true;
                    }),
               ParseResult::kOk, true});
  c.push_back({"ipv6_eight_ext_headers",
               with(v6,
                    [](PacketSpec& s) {
                      s.ipv6_ext = std::vector<Ipv6Ext>(8, Ipv6Ext{test::kIpProtoDestOpts, 0});
                    }),
               ParseResult::kOk});
  c.push_back({"ipv6_udp",
               with(v6,
                    [](PacketSpec& s) {
                      s.l4_proto = kIpProtoUdp;
                      s.dport = 53;
                    }),
               ParseResult::kOk});
  c.push_back({"ipv6_icmp", with(v6, [](PacketSpec& s) { s.l4_proto = 58; }), ParseResult::kOk});
  c.push_back({"ipv6_esp", with(v6, [](PacketSpec& s) { s.l4_proto = test::kIpProtoEsp; }),
               ParseResult::kOk});
  c.push_back({"ipv6_no_next_header",
               with(v6,
                    [](PacketSpec& s) {
                      s.ipv6_ext = {{test::kIpProtoDestOpts}};
                      s.l4_proto = test::kIpProtoNoNext;
                    }),
               ParseResult::kOk});
  return c;
}

// Checks every field the parser fills against what the builder put there.
void expectFields(const ValidCase& c, const PacketLayout& lay, const PacketInfo& info) {
  const PacketSpec& s = c.spec;
  EXPECT_EQ(info.vlan_count, s.vlans.size());
  for (size_t i = 0; i < s.vlans.size() && i < 2; ++i) EXPECT_EQ(info.vlan_tci[i], s.vlans[i].tci);
  EXPECT_EQ(info.l3_offset, lay.l3_offset);
  if (c.want == ParseResult::kNonIp) {
    EXPECT_EQ(info.ip_version, 0);
    return;
  }
  EXPECT_EQ(info.ip_version, lay.ipv6 ? 6 : 4);
  EXPECT_EQ(info.src, test::ipAddr(s.src));
  EXPECT_EQ(info.dst, test::ipAddr(s.dst));
  EXPECT_EQ(info.ttl, s.ttl);
  EXPECT_EQ(info.l3_len, lay.l3_len);
  EXPECT_EQ(info.l4_proto, s.l4_proto);
  EXPECT_EQ(info.fragment, c.want_fragment);
  if (c.want == ParseResult::kFragment) {
    EXPECT_EQ(info.l4_offset, 0);
    EXPECT_EQ(info.src_port, 0);
    EXPECT_EQ(info.payload_len, 0);
    return;
  }
  EXPECT_EQ(info.l4_offset, lay.l4_offset);
  bool ports = s.l4_proto == kIpProtoTcp || s.l4_proto == kIpProtoUdp;
  EXPECT_EQ(info.src_port, ports ? s.sport : 0);
  EXPECT_EQ(info.dst_port, ports ? s.dport : 0);
  if (s.l4_proto == kIpProtoTcp) {
    EXPECT_EQ(info.seq, s.seq);
    EXPECT_EQ(info.ack, s.ack);
    EXPECT_EQ(info.tcp_flags, s.flags);
    EXPECT_EQ(info.window, s.window);
    EXPECT_EQ(info.payload_offset, lay.payload_offset);
    EXPECT_EQ(info.payload_len, lay.payload_len);
  } else {
    EXPECT_EQ(info.payload_len, 0);
  }
}

// Test that a valid frame of every layer combination parses with every field as built.
TEST(PacketParser, ValidFramesOfEveryLayerCombination) {
  for (const ValidCase& c : validCases()) {
    SCOPED_TRACE(c.name);
    PacketLayout lay;
    auto f = buildPacket(c.spec, &lay);
    PacketInfo info;
    ASSERT_EQ(parse(f, info), c.want) << parseResultText(parse(f, info));
    expectFields(c, lay, info);
  }
}

// Test that bytes after the IP datagram (Ethernet padding, trailers) never count as payload.
TEST(PacketParser, TrailingBytesAreNotPayload) {
  for (const ValidCase& c : validCases()) {
    SCOPED_TRACE(c.name);
    PacketLayout lay;
    auto f = buildPacket(c.spec, &lay);
    f.resize(f.size() + 23, 0xaa);
    PacketInfo info;
    ASSERT_EQ(parse(f, info), c.want);
    expectFields(c, lay, info);
  }
}

// The result a frame cut after `n` bytes must give: the first layer whose length no longer
// fits says so; once the whole IP datagram is present the cut only removes padding.
ParseResult expectedForCut(const ValidCase& c, const PacketLayout& lay, size_t n) {
  if (n < 14) return ParseResult::kMalformedEthernet;
  if (n < lay.l3_offset) return ParseResult::kMalformedVlan;
  if (c.want == ParseResult::kNonIp) return ParseResult::kNonIp;
  size_t have = n - lay.l3_offset;
  if (lay.ipv6) return have < lay.l3_len ? ParseResult::kMalformedIpv6Header : c.want;
  size_t ihl = lay.l4_offset - lay.l3_offset;
  if (have < ihl) return ParseResult::kMalformedIpv4Header;
  return have < lay.l3_len ? ParseResult::kMalformedIpv4Length : c.want;
}

// Test that cutting every frame at every byte never reads past the cut and names the layer cut.
TEST(PacketParser, EveryTruncationGivesTheCutLayer) {
  for (const ValidCase& c : validCases()) {
    SCOPED_TRACE(c.name);
    PacketLayout lay;
    auto f = buildPacket(c.spec, &lay);
    for (size_t n = 0; n <= f.size(); ++n) {
      // A copy of exactly n bytes, so ASan flags any read past the cut.
      std::vector<uint8_t> cut(f.begin(), f.begin() + static_cast<long>(n));
      PacketInfo info;
      ParseResult want = expectedForCut(c, lay, n);
      ASSERT_EQ(parse(cut, info), want) << "cut at " << n << " of " << f.size();
      if (want == c.want) expectFields(c, lay, info);
    }
  }
}

struct LieCase {
  const char* name;
  PacketSpec spec;
  std::function<void(std::vector<uint8_t>&, const PacketLayout&)> lie;
  ParseResult want;
};

void setIpv6PayloadLen(std::vector<uint8_t>& f, const PacketLayout& l, size_t v) {
  storeBe16(f.data() + l.l3_offset + 4, static_cast<uint16_t>(v));
}
void setIpv4TotalLen(std::vector<uint8_t>& f, const PacketLayout& l, size_t v) {
  storeBe16(f.data() + l.l3_offset + 2, static_cast<uint16_t>(v));
}
void setTcpDataOffset(std::vector<uint8_t>& f, const PacketLayout& l, uint8_t words) {
  f[l.l4_offset + 12] = static_cast<uint8_t>(words << 4);
}

std::vector<LieCase> lieCases() {
  PacketSpec v4{.payload = "DATA\r\n"};
  PacketSpec v4_bare{};  // no payload: any length pointing past the headers runs off the end
  PacketSpec v6{.src = kV6Src, .dst = kV6Dst, .payload = "DATA\r\n"};
  PacketSpec v6_chain = v6;
  v6_chain.ipv6_ext = {{test::kIpProtoHopByHop}, {test::kIpProtoDestOpts}};
  auto opts = [](PacketSpec s, std::vector<uint8_t> o) {
    s.tcp_options = std::move(o);
    return s;
  };
  auto none = [](std::vector<uint8_t>&, const PacketLayout&) {};
  using R = ParseResult;
  std::vector<LieCase> c = {
      {"three_vlan_tags",
       [] {
         PacketSpec s;
         s.vlans = {{test::kTpidDot1ad, 1}, {test::kTpidDot1q, 2}, {test::kTpidDot1q, 3}};
         return s;
       }(),
       none, R::kMalformedVlan},
      {"three_tags_legacy_outer",
       [] {
         PacketSpec s;
         s.vlans = {{test::kTpidQinQLegacy, 1}, {test::kTpidQinQLegacy, 2}, {test::kTpidDot1q, 3}};
         return s;
       }(),
       none, R::kMalformedVlan},
      {"ipv4_version_6", v4, [](auto& f, auto& l) { f[l.l3_offset] = 0x65; },
       R::kMalformedIpv4Header},
      {"ipv4_ihl_0", v4, [](auto& f, auto& l) { f[l.l3_offset] = 0x40; }, R::kMalformedIpv4Header},
      {"ipv4_ihl_4", v4, [](auto& f, auto& l) { f[l.l3_offset] = 0x44; }, R::kMalformedIpv4Header},
      {"ipv4_ihl_past_packet", v4_bare, [](auto& f, auto& l) { f[l.l3_offset] = 0x4f; },
       R::kMalformedIpv4Header},
      {"ipv4_ihl_past_total_length", v4,
       [](auto& f, auto& l) {
         f[l.l3_offset] = 0x46;
         setIpv4TotalLen(f, l, 20);
       },
       R::kMalformedIpv4Length},
      {"ipv4_total_length_past_packet", v4,
       [](auto& f, auto& l) { setIpv4TotalLen(f, l, l.l3_len + 1); }, R::kMalformedIpv4Length},
      {"ipv4_total_length_max", v4, [](auto& f, auto& l) { setIpv4TotalLen(f, l, 0xffff); },
       R::kMalformedIpv4Length},
      {"ipv4_total_length_below_ihl", v4, [](auto& f, auto& l) { setIpv4TotalLen(f, l, 19); },
       R::kMalformedIpv4Length},
      {"ipv4_total_length_zero", v4, [](auto& f, auto& l) { setIpv4TotalLen(f, l, 0); },
       R::kMalformedIpv4Length},
      {"ipv4_no_room_for_tcp", v4, [](auto& f, auto& l) { setIpv4TotalLen(f, l, 20); },
       R::kMalformedTcpHeader},
      {"ipv4_tcp_header_cut_by_total_length", v4,
       [](auto& f, auto& l) { setIpv4TotalLen(f, l, 30); }, R::kMalformedTcpHeader},
      // A tiny first fragment: the TCP header is in the next fragment, so not a lie.
      {"ipv4_first_fragment_without_tcp_header",
       [] {
         PacketSpec s;
         s.more_fragments = true;
         return s;
       }(),
       [](auto& f, auto& l) { setIpv4TotalLen(f, l, 28); }, R::kFragment},
      {"ipv4_first_fragment_tcp_options_in_next_fragment",
       [] {
         PacketSpec s;
         s.more_fragments = true;
         s.tcp_options = kSynOptions;
         return s;
       }(),
       [](auto& f, auto& l) { setIpv4TotalLen(f, l, 40); }, R::kFragment},
      {"ipv4_udp_shorter_than_header",
       [] {
         PacketSpec s;
         s.l4_proto = kIpProtoUdp;
         return s;
       }(),
       [](auto& f, auto& l) { setIpv4TotalLen(f, l, 24); }, R::kOk},
      {"tcp_data_offset_0", v4, [](auto& f, auto& l) { setTcpDataOffset(f, l, 0); },
       R::kMalformedTcpHeader},
      {"tcp_data_offset_4", v4, [](auto& f, auto& l) { setTcpDataOffset(f, l, 4); },
       R::kMalformedTcpHeader},
      {"tcp_data_offset_past_packet", v4_bare, [](auto& f, auto& l) { setTcpDataOffset(f, l, 15); },
       R::kMalformedTcpHeader},
      // The padding would hold a 60-byte header, but it is not part of the datagram.
      {"tcp_data_offset_into_padding",
       [] {
         PacketSpec s;
         s.pad_to = 200;
         return s;
       }(),
       [](auto& f, auto& l) { setTcpDataOffset(f, l, 15); }, R::kMalformedTcpHeader},
      {"tcp_data_offset_past_ipv6_payload", v6, [](auto& f, auto& l) { setTcpDataOffset(f, l, 7); },
       R::kMalformedTcpHeader},
      {"tcp_option_length_0", opts(v4, {2, 0, 0, 0}), none, R::kMalformedTcpOptions},
      {"tcp_option_length_1", opts(v4, {1, 1, 3, 1}), none, R::kMalformedTcpOptions},
      {"tcp_option_past_header", opts(v4, {1, 1, 2, 4, 5, 0xb4, 8, 10}), none,
       R::kMalformedTcpOptions},
      {"tcp_option_length_byte_missing", opts(v4, {1, 1, 1, 2}), none, R::kMalformedTcpOptions},
      {"tcp_option_max_length", opts(v4, {1, 1, 1, 1, 30, 255, 0, 0}), none,
       R::kMalformedTcpOptions},
      {"ipv6_tcp_bad_option", opts(v6, {4, 0, 1, 1}), none, R::kMalformedTcpOptions},
      {"ipv6_version_4", v6, [](auto& f, auto& l) { f[l.l3_offset] = 0x40; },
       R::kMalformedIpv6Header},
      {"ipv6_payload_length_past_bytes", v6,
       [](auto& f, auto& l) { setIpv6PayloadLen(f, l, l.l3_len - 40 + 1); },
       R::kMalformedIpv6Header},
      {"ipv6_payload_length_max", v6, [](auto& f, auto& l) { setIpv6PayloadLen(f, l, 0xffff); },
       R::kMalformedIpv6Header},
      {"ipv6_jumbo_payload_length_0", v6_chain,
       [](auto& f, auto& l) { setIpv6PayloadLen(f, l, 0); }, R::kMalformedIpv6Header},
      {"ipv6_tcp_cut_by_payload_length", v6, [](auto& f, auto& l) { setIpv6PayloadLen(f, l, 12); },
       R::kMalformedTcpHeader},
      {"ipv6_v4_mapped_source", PacketSpec{.src = "::ffff:198.18.0.1", .dst = kV6Dst}, none,
       R::kMalformedIpv6Mapped},
      {"ipv6_v4_mapped_destination", PacketSpec{.src = kV6Src, .dst = "::ffff:198.18.1.25"}, none,
       R::kMalformedIpv6Mapped},
      {"ipv6_ext_length_past_payload", v6_chain,
       [](auto& f, auto& l) { f[l.l3_offset + 41] = 200; }, R::kMalformedIpv6ExtHeader},
      {"ipv6_chain_cut_before_second_header", v6_chain,
       [](auto& f, auto& l) { setIpv6PayloadLen(f, l, 8); }, R::kMalformedIpv6ExtHeader},
      {"ipv6_chain_cut_inside_second_length", v6_chain,
       [](auto& f, auto& l) { setIpv6PayloadLen(f, l, 9); }, R::kMalformedIpv6ExtHeader},
      {"ipv6_chain_cut_inside_second_body", v6_chain,
       [](auto& f, auto& l) { setIpv6PayloadLen(f, l, 12); }, R::kMalformedIpv6ExtHeader},
      {"ipv6_fragment_header_cut",
       [] {
         PacketSpec s{.src = kV6Src, .dst = kV6Dst};
         s.ipv6_ext = {{test::kIpProtoFragment}};
         return s;
       }(),
       [](auto& f, auto& l) { setIpv6PayloadLen(f, l, 4); }, R::kMalformedIpv6ExtHeader},
      {"ipv6_ah_length_past_payload",
       [] {
         PacketSpec s{.src = kV6Src, .dst = kV6Dst};
         s.ipv6_ext = {{test::kIpProtoAh, 4}};
         return s;
       }(),
       [](auto& f, auto& l) { f[l.l3_offset + 41] = 100; }, R::kMalformedIpv6ExtHeader},
      {"ipv6_nine_ext_headers",
       [] {
         PacketSpec s{.src = kV6Src, .dst = kV6Dst};
         s.ipv6_ext = std::vector<Ipv6Ext>(9, Ipv6Ext{test::kIpProtoDestOpts, 0});
         return s;
       }(),
       none, R::kMalformedIpv6ExtHeader},
      // A hop-by-hop header whose next header points back at hop-by-hop, forever.
      {"ipv6_ext_loop",
       [] {
         PacketSpec s{.src = kV6Src, .dst = kV6Dst};
         s.ipv6_ext = std::vector<Ipv6Ext>(12, Ipv6Ext{test::kIpProtoHopByHop, 0});
         return s;
       }(),
       none, R::kMalformedIpv6ExtHeader},
      {"ipv6_first_fragment_without_tcp_header",
       [] {
         PacketSpec s{.src = kV6Src, .dst = kV6Dst};
         s.ipv6_ext = {{test::kIpProtoFragment}};
         s.more_fragments = true;
         return s;
       }(),
       [](auto& f, auto& l) { setIpv6PayloadLen(f, l, 16); }, R::kFragment},
  };
  return c;
}

// Test that each lying length or option is rejected as the layer that lied, and never crashes.
TEST(PacketParser, LyingHeadersNameTheLayerThatLied) {
  for (const LieCase& c : lieCases()) {
    SCOPED_TRACE(c.name);
    PacketLayout lay;
    auto f = buildPacket(c.spec, &lay);
    c.lie(f, lay);
    PacketInfo info;
    ParseResult got = parse(f, info);
    EXPECT_EQ(got, c.want) << parseResultText(got);
    // Every prefix of a lie is also handled without reading past it.
    for (size_t n = 0; n < f.size(); ++n) {
      std::vector<uint8_t> cut(f.begin(), f.begin() + static_cast<long>(n));
      parse(cut, info);
      if (info.payload_len != 0) {
        EXPECT_LE(info.payload_offset + info.payload_len, n);
      }
    }
  }
}

// Test that a valid option set still fills the TCP fields when options are rejected, for counters.
TEST(PacketParser, BadOptionsStillReportPorts) {
  auto f = buildPacket({.sport = 1111, .dport = 25, .tcp_options = {2, 0, 0, 0}});
  PacketInfo info;
  ASSERT_EQ(parse(f, info), ParseResult::kMalformedTcpOptions);
  EXPECT_EQ(info.src_port, 1111);
  EXPECT_EQ(info.dst_port, 25);
  EXPECT_TRUE(isMalformed(ParseResult::kMalformedTcpOptions));
}

// Test that UDP shorter than its header is kOk without ports rather than a malformed class.
TEST(PacketParser, ShortUdpHasNoPorts) {
  PacketLayout lay;
  auto f = buildPacket({.sport = 5353, .dport = 53, .l4_proto = kIpProtoUdp}, &lay);
  setIpv4TotalLen(f, lay, 20 + 7);
  PacketInfo info;
  ASSERT_EQ(parse(f, info), ParseResult::kOk);
  EXPECT_EQ(info.l4_proto, kIpProtoUdp);
  EXPECT_EQ(info.src_port, 0);
  EXPECT_EQ(info.dst_port, 0);
}

// Test that an IPv6 non-first fragment reports the protocol of the fragmented part.
TEST(PacketParser, Ipv6NonFirstFragmentReportsFragmentNextHeader) {
  PacketSpec s{.src = kV6Src, .dst = kV6Dst, .l4_proto = kIpProtoUdp};
  s.ipv6_ext = {{test::kIpProtoFragment}};
  s.frag_offset = 10;
  auto f = buildPacket(s);
  PacketInfo info;
  ASSERT_EQ(parse(f, info), ParseResult::kFragment);
  EXPECT_TRUE(info.fragment);
  EXPECT_EQ(info.l4_proto, kIpProtoUdp);
}

// Test that a result from a previous packet never leaks into the next parse.
TEST(PacketParser, ResetsInfoBetweenPackets) {
  PacketInfo info;
  auto tcp = buildPacket({.payload = "x", .vlans = {{test::kTpidDot1q, 9}}});
  ASSERT_EQ(parse(tcp, info), ParseResult::kOk);
  auto arp = buildPacket({.payload = std::string(28, '\0'), .ether_type = test::kEtherArp});
  ASSERT_EQ(parse(arp, info), ParseResult::kNonIp);
  EXPECT_EQ(info.vlan_count, 0);
  EXPECT_EQ(info.src_port, 0);
  EXPECT_EQ(info.payload_len, 0);
  EXPECT_EQ(info.ip_version, 0);
}

// Test that the builder's IPv4 header and TCP/UDP checksums verify, so others can rely on them.
TEST(PacketBuilder, ChecksumsVerify) {
  for (const ValidCase& c : validCases()) {
    if (c.want == ParseResult::kNonIp) continue;
    SCOPED_TRACE(c.name);
    PacketLayout lay;
    auto f = buildPacket(c.spec, &lay);
    if (!lay.ipv6) {
      EXPECT_TRUE(test::ipv4HeaderChecksumOk(f, lay.l3_offset));
    }
    if (c.spec.l4_proto == kIpProtoTcp || c.spec.l4_proto == kIpProtoUdp) {
      EXPECT_TRUE(test::l4ChecksumOk(f, lay, c.spec.l4_proto));
    }
  }
}

// Test that a known SYN comes out byte-for-byte as a reference capture would have it.
TEST(PacketBuilder, MatchesReferenceIpv4Header) {
  auto f = buildPacket({.src = "192.168.0.1", .dst = "192.168.0.199", .flags = kTcpSyn});
  ASSERT_EQ(f.size(), 54u);
  // Header checksum computed independently (RFC 1071) for id 0x1234, ttl 64, length 40.
  const uint8_t want[] = {0x45, 0,    0,   40,  0x12, 0x34, 0,   0,   64, 6,
                          0xe6, 0x83, 192, 168, 0,    1,    192, 168, 0,  199};
  EXPECT_TRUE(std::equal(std::begin(want), std::end(want), f.begin() + 14));
}

// Test that reversed() swaps the flow's direction.
TEST(PacketBuilder, ReversedSwapsDirection) {
  PacketSpec s{.sport = 40000, .dport = 25, .seq = 7, .ack = 9};
  PacketSpec r = test::reversed(s);
  EXPECT_EQ(r.src, s.dst);
  EXPECT_EQ(r.sport, 25);
  EXPECT_EQ(r.dport, 40000);
  EXPECT_EQ(r.seq, 9u);
  EXPECT_EQ(r.ack, 7u);
}

std::string fmt(const std::string& text) {
  char buf[64];
  formatIp(test::ipAddr(text), buf, sizeof(buf));
  return buf;
}

// Test that addresses format as dotted quad or RFC 5952 canonical text.
TEST(FormatIp, Rfc5952Canonical) {
  EXPECT_EQ(fmt("198.18.0.1"), "198.18.0.1");
  EXPECT_EQ(fmt("0.0.0.0"), "0.0.0.0");
  EXPECT_EQ(fmt("255.255.255.255"), "255.255.255.255");
  EXPECT_EQ(fmt("::"), "::");
  EXPECT_EQ(fmt("::1"), "::1");
  EXPECT_EQ(fmt("1::"), "1::");
  EXPECT_EQ(fmt("2001:DB8:0:0:0:0:0:1"), "2001:db8::1");
  EXPECT_EQ(fmt("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");     // first of equal runs
  EXPECT_EQ(fmt("2001:0:0:1:0:0:0:1"), "2001:0:0:1::1");           // longest run
  EXPECT_EQ(fmt("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");  // one zero: not compressed
  EXPECT_EQ(fmt("2001:0db8:00aa:0bbb:cccc:0d00:e:f"), "2001:db8:aa:bbb:cccc:d00:e:f");
  EXPECT_EQ(fmt("fe80::"), "fe80::");
  EXPECT_EQ(fmt("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
}

// Test that a short output buffer is truncated and still terminated.
TEST(FormatIp, TruncatesToBuffer) {
  char buf[5] = {'x', 'x', 'x', 'x', 'x'};
  formatIp(test::ipAddr("198.18.0.1"), buf, sizeof(buf));
  EXPECT_STREQ(buf, "198.");
  formatIp(test::ipAddr("198.18.0.1"), buf, 0);  // must not write
  EXPECT_EQ(buf[0], '1');
}

// Test that every result has its own non-empty text.
TEST(PacketParser, EveryResultHasDistinctText) {
  std::set<std::string> seen;
  for (int r = 0; r <= static_cast<int>(ParseResult::kMalformedTcpOptions); ++r) {
    std::string t = parseResultText(static_cast<ParseResult>(r));
    EXPECT_FALSE(t.empty());
    EXPECT_TRUE(seen.insert(t).second) << t;
  }
}

}  // namespace
}  // namespace smtpguard
