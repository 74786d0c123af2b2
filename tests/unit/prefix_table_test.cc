#include "policy/prefix_table.h"

#include <gtest/gtest.h>

#include <string>

namespace smtpguard {
namespace {

IpAddr ip(const char* text) {
  auto a = parseIpAddr(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(IpAddr{});
}

Prefix prefix(const char* text) {
  auto p = parsePrefix(text);
  EXPECT_TRUE(p.has_value()) << text;
  return p.value_or(Prefix{});
}

// Test that IPv4 prefixes are held v4-mapped and print back as written.
TEST(PrefixTable, ParsesAndFormatsBothFamilies) {
  Prefix v4 = prefix("100.64.0.0/10");
  EXPECT_TRUE(v4.isV4());
  EXPECT_EQ(v4.len, 96 + 10);
  EXPECT_EQ(v4.writtenLen(), 10u);
  EXPECT_EQ(formatPrefix(v4), "100.64.0.0/10");
  Prefix v6 = prefix("2001:db8:4000::/36");
  EXPECT_FALSE(v6.isV4());
  EXPECT_EQ(formatPrefix(v6), "2001:db8:4000::/36");
  EXPECT_EQ(formatPrefix(prefix("198.18.0.25")), "198.18.0.25/32");
  EXPECT_EQ(formatPrefix(prefix("2001:db8::25")), "2001:db8::25/128");
}

// Test that bad prefixes are refused with a reason, and host bits suggest the intended prefix.
TEST(PrefixTable, RejectsBadPrefixesWithReasons) {
  struct Case {
    const char* text;
    const char* why;
  } cases[] = {
      {"300.1.1.1", "'300.1.1.1' is not an IPv4 or IPv6 address"},
      {"10.0.0.0/33", "prefix length /33 exceeds /32 for IPv4"},
      {"2001:db8::/129", "prefix length /129 exceeds /128 for IPv6"},
      {"10.0.0.0/", "the prefix length after '/' must be a number"},
      {"10.0.0.0/1a", "the prefix length after '/' must be a number"},
      {"", "'' is not an IPv4 or IPv6 address"},
      {"100.64.1.0/10", "host bits are set after /10"},
  };
  for (const Case& c : cases) {
    std::string why;
    std::optional<Prefix> meant;
    EXPECT_FALSE(parsePrefix(c.text, &why, &meant).has_value()) << c.text;
    EXPECT_EQ(why, c.why) << c.text;
  }
  std::optional<Prefix> meant;
  parsePrefix("100.64.1.0/10", nullptr, &meant);
  ASSERT_TRUE(meant.has_value());
  EXPECT_EQ(formatPrefix(*meant), "100.64.0.0/10");
}

// Test that an empty table maps every address to no set.
TEST(PrefixTable, EmptyTableMatchesNothing) {
  PrefixTable t;
  EXPECT_EQ(t.lookup(ip("198.18.0.1")), 0u);
  EXPECT_EQ(t.lookup(ip("::")), 0u);
  EXPECT_EQ(t.lookup(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")), 0u);
}

// Test that nested and overlapping prefixes yield the union of their sets at every boundary.
TEST(PrefixTable, OverlappingSetsUnionAtBoundaries) {
  PrefixTableBuilder b;
  b.add(prefix("100.64.0.0/10"), 0);    // inside
  b.add(prefix("100.72.14.0/24"), 1);   // a customer block
  b.add(prefix("100.72.14.25/32"), 2);  // one MTA
  b.add(prefix("100.72.0.0/16"), 1);    // overlaps set 1 again
  PrefixTable t = b.build();
  EXPECT_EQ(t.lookup(ip("100.63.255.255")), 0u);
  EXPECT_EQ(t.lookup(ip("100.64.0.0")), 0b001u);
  EXPECT_EQ(t.lookup(ip("100.71.255.255")), 0b001u);
  EXPECT_EQ(t.lookup(ip("100.72.0.0")), 0b011u);
  EXPECT_EQ(t.lookup(ip("100.72.14.24")), 0b011u);
  EXPECT_EQ(t.lookup(ip("100.72.14.25")), 0b111u);
  EXPECT_EQ(t.lookup(ip("100.72.14.26")), 0b011u);
  EXPECT_EQ(t.lookup(ip("100.72.255.255")), 0b011u);
  EXPECT_EQ(t.lookup(ip("100.73.0.0")), 0b001u);
  EXPECT_EQ(t.lookup(ip("100.127.255.255")), 0b001u);
  EXPECT_EQ(t.lookup(ip("100.128.0.0")), 0u);
}

// Test that IPv4 and IPv6 live in one table without leaking into each other.
TEST(PrefixTable, FamiliesDoNotLeak) {
  PrefixTableBuilder b;
  b.add(prefix("0.0.0.0/0"), 0);
  b.add(prefix("2001:db8::/32"), 1);
  b.add(prefix("::/0"), 2);
  PrefixTable t = b.build();
  EXPECT_EQ(t.lookup(ip("198.18.0.1")), 0b001u) << "::/0 must not cover IPv4";
  EXPECT_EQ(t.lookup(ip("2001:db8::1")), 0b110u);
  EXPECT_EQ(t.lookup(ip("2001:db9::1")), 0b100u);
  EXPECT_EQ(t.lookup(ip("::1")), 0b100u);
  EXPECT_EQ(t.lookup(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")), 0b100u);
}

// Test that the top of the address space (no end boundary) and the bottom are handled.
TEST(PrefixTable, EdgesOfTheAddressSpace) {
  PrefixTableBuilder b;
  b.add(prefix("ffff::/16"), 3);
  b.add(prefix("::/8"), 4);
  PrefixTable t = b.build();
  EXPECT_EQ(t.lookup(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")), 1u << 3);
  EXPECT_EQ(t.lookup(ip("fffe:ffff::")), 0u);
  EXPECT_EQ(t.lookup(ip("::")), 1u << 4);
  EXPECT_EQ(t.lookup(ip("::ffff:1.2.3.4")), 0u) << "IPv4 is carved out of ::/8";
  EXPECT_EQ(t.lookup(ip("100::")), 0u);
}

// Test that adjacent intervals with the same membership are merged, keeping the table small.
TEST(PrefixTable, AdjacentEqualIntervalsMerge) {
  PrefixTableBuilder b;
  b.add(prefix("198.18.0.0/24"), 0);
  b.add(prefix("198.18.1.0/24"), 0);
  b.add(prefix("198.18.2.0/23"), 0);
  PrefixTable t = b.build();
  EXPECT_EQ(t.intervalCount(), 3u);  // [::, 198.18.0.0), [198.18.0.0/22], [198.18.4.0, end]
  EXPECT_EQ(t.lookup(ip("198.18.3.255")), 1u);
  EXPECT_EQ(t.lookup(ip("198.18.4.0")), 0u);
}

// Test that set 63 (the last bit of the mask) works.
TEST(PrefixTable, HighestSetBit) {
  PrefixTableBuilder b;
  b.add(prefix("198.19.0.0/16"), 63);
  b.add(prefix("198.19.0.0/16"), 64);  // out of range: ignored
  PrefixTable t = b.build();
  EXPECT_EQ(t.lookup(ip("198.19.200.1")), SetMask{1} << 63);
}

}  // namespace
}  // namespace smtpguard
