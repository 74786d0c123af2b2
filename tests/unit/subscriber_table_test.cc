#include "subscriber/subscriber_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <unordered_map>
#include <vector>

#include "subscriber/quarantine_set.h"

namespace smtpguard {
namespace {

IpAddr v4(uint32_t a) {
  uint8_t b[4] = {static_cast<uint8_t>(a >> 24), static_cast<uint8_t>(a >> 16),
                  static_cast<uint8_t>(a >> 8), static_cast<uint8_t>(a)};
  return IpAddr::fromV4(b);
}

constexpr uint64_t kSec = 1000000000ull;

// Test that IPv4 sources are keyed by address and IPv6 sources by their configured prefix.
TEST(SubscriberKey, V4AddressAndV6Prefix) {
  EXPECT_EQ(subscriberKey(v4(0x64400007), 64), 0x0000ffff64400007ull);
  EXPECT_EQ(formatSubscriberKey(subscriberKey(v4(0x64400007), 64), 64), "100.64.0.7");
  uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 0xaa, 0xbb, 0, 0, 0, 0, 0, 1};
  uint8_t b6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 0x11, 0x22, 0, 0, 0, 0, 0, 9};
  EXPECT_EQ(subscriberKey(IpAddr::fromV6(a6), 64), subscriberKey(IpAddr::fromV6(b6), 64));
  EXPECT_EQ(formatSubscriberKey(subscriberKey(IpAddr::fromV6(a6), 64), 64), "2001:db8:1:2::/64");
  EXPECT_EQ(subscriberKey(IpAddr::fromV6(a6), 48), 0x20010db800010000ull);
}

// Test that the distinct counter is exact up to 32 values and within 3 standard errors beyond.
TEST(DistinctCounter, ExactThenHyperLogLog) {
  DistinctCounter c;
  for (uint32_t i = 0; i < 32; ++i) {
    c.add(addrHash32(v4(0x0a000000 + i)));
    c.add(addrHash32(v4(0x0a000000 + i)));
  }
  EXPECT_TRUE(c.exact());
  EXPECT_EQ(c.estimate(), 32u);
  for (uint32_t n : {100u, 500u, 5000u, 100000u}) {
    DistinctCounter h;
    for (uint32_t i = 0; i < n; ++i) h.add(addrHash32(v4(0xc6336400 + i * 7)));
    EXPECT_FALSE(h.exact());
    const double err = std::abs(double(h.estimate()) - n) / n;
    EXPECT_LT(err, 3 * 0.092) << n << " estimated " << h.estimate();
  }
}

// Test that a table of K entries keeps, on a 1M-source stream, every source with more than N/K
// events, with weight - error <= true count <= weight, and the exact top 10.
TEST(SubscriberTable, HeavyHittersWithinSpaceSavingBound) {
  constexpr uint32_t kK = 1024;
  constexpr uint32_t kSources = 1000000;
  SubscriberTable t(kK);
  std::unordered_map<uint64_t, uint64_t> exact;
  exact.reserve(kSources + 64);
  uint64_t x = 12345;
  auto next = [&]() { return x = mix64(x + 0x9e3779b97f4a7c15ull); };
  // Every source once (the long tail), then 50 heavy sources with 200..20,000 events each,
  // interleaved with another million events of random tail sources.
  std::vector<uint64_t> stream;
  stream.reserve(3'200'000);
  for (uint32_t i = 0; i < kSources; ++i) stream.push_back(subscriberKey(v4(0x0a000000 + i), 64));
  for (uint32_t h = 0; h < 50; ++h) {
    for (uint32_t j = 0; j < 200 + 400 * h; ++j)
      stream.push_back(subscriberKey(v4(0x64400000 + h), 64));
  }
  for (uint32_t i = 0; i < 1000000; ++i)
    stream.push_back(subscriberKey(v4(0x0a000000 + static_cast<uint32_t>(next() % kSources)), 64));
  // A fixed shuffle: heavy hitters arrive spread over the stream.
  for (size_t i = stream.size() - 1; i > 0; --i) std::swap(stream[i], stream[next() % (i + 1)]);
  for (uint64_t k : stream) {
    t.record(k, SubStat::kConnections, 1);
    ++exact[k];
  }
  ASSERT_TRUE(t.consistent());
  ASSERT_EQ(t.events(), stream.size());
  EXPECT_EQ(t.size(), kK);
  const uint64_t bound = t.events() / kK;
  for (const auto& [k, n] : exact) {
    const SubscriberEntry* e = t.find(k);
    if (n > bound) {
      ASSERT_NE(e, nullptr) << "heavy source with " << n << " events missing";
    }
    if (e != nullptr) {
      EXPECT_LE(e->error, bound);
      EXPECT_LE(e->weight - e->error, n);
      EXPECT_GE(e->weight, n);
      EXPECT_EQ(e->count[0], e->weight - e->error);
    }
  }
  std::vector<std::pair<uint64_t, uint64_t>> by_exact(exact.begin(), exact.end());
  std::partial_sort(by_exact.begin(), by_exact.begin() + 10, by_exact.end(),
                    [](auto& a, auto& b) { return a.second > b.second; });
  std::vector<SubscriberEntry> by_est(t.entries().begin(), t.entries().end());
  std::sort(by_est.begin(), by_est.end(), [](auto& a, auto& b) { return a.weight > b.weight; });
  for (int i = 0; i < 10; ++i) EXPECT_EQ(by_est[i].key, by_exact[i].first) << i;
  EXPECT_EQ(t.memoryBytes(), SubscriberTable::memoryFor(kK));
}

// Test that recording several statistics in one call counts exactly what one call per statistic
// would (weights, errors, counts, windows, destinations, detectors, evictions), while newcomers
// keep evicting through a small table, and that the weight summary stays consistent.
TEST(SubscriberTable, SetOfStatsEqualsOneCallEach) {
  constexpr uint32_t kK = 64;
  SubscriberTable one(kK), each(kK);
  WindowPlan plan;
  plan.len_s[0] = 60;
  const DetectorRule rules[] = {{SubStat::kPort25Blocked, 5, 0},
                                {SubStat::kPort25Destinations, 3, 0},
                                {SubStat::kConnections, 7, 0}};
  uint64_t x = 99;
  auto next = [&]() { return x = mix64(x + 0x9e3779b97f4a7c15ull); };
  for (uint32_t i = 0; i < 20000; ++i) {
    // A few heavy sources among many light ones, so that entries are evicted and move up.
    const uint32_t src = next() % 4 == 0 ? static_cast<uint32_t>(next() % 8)
                                         : 100 + static_cast<uint32_t>(next() % 5000);
    const uint64_t key = subscriberKey(v4(0x64400000 + src), 64);
    const IpAddr dest = v4(0xc6336400 + static_cast<uint32_t>(next() % 16));
    const bool blocked = next() % 2 == 0;
    const uint64_t ts = (1000 + i / 50) * kSec;
    uint16_t fired_one = 0, f1 = 0, f2 = 0, f3 = 0;
    SubStatSet set = subStatBit(SubStat::kConnections) | subStatBit(SubStat::kPort25Attempts);
    if (blocked) set |= subStatBit(SubStat::kPort25Blocked);
    one.record(key, set, ts, &dest, plan, rules, fired_one);
    each.record(key, SubStat::kConnections, ts, nullptr, plan, rules, f1);
    each.record(key, SubStat::kPort25Attempts, ts, &dest, plan, rules, f2);
    if (blocked) each.record(key, SubStat::kPort25Blocked, ts, nullptr, plan, rules, f3);
    ASSERT_EQ(fired_one, f1 | f2 | f3) << i;
  }
  ASSERT_TRUE(one.consistent());
  ASSERT_TRUE(each.consistent());
  EXPECT_EQ(one.events(), each.events());
  EXPECT_EQ(one.evictions(), each.evictions());
  ASSERT_EQ(one.size(), each.size());
  for (const SubscriberEntry& a : one.entries()) {
    const SubscriberEntry* b = each.find(a.key);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(a.weight, b->weight);
    EXPECT_EQ(a.error, b->error);
    for (size_t s = 0; s < kSubStatCount; ++s) EXPECT_EQ(a.count[s], b->count[s]) << s;
    EXPECT_EQ(a.stat(SubStat::kPort25Destinations), b->stat(SubStat::kPort25Destinations));
    EXPECT_EQ(a.window[0].count[1], b->window[0].count[1]);
    EXPECT_EQ(a.window[0].fired, b->window[0].fired);
  }
}

// Test that an empty set of statistics counts nothing and leaves the weight summary whole.
TEST(SubscriberTable, EmptySetCountsNothing) {
  SubscriberTable t(4);
  const uint64_t a = subscriberKey(v4(0x64400001), 64), b = subscriberKey(v4(0x64400002), 64);
  t.record(a, SubStat::kConnections, kSec);
  t.record(b, SubStat::kConnections, kSec);
  uint16_t fired = 0;
  t.record(a, SubStatSet{0}, 2 * kSec, nullptr, WindowPlan{}, {}, fired);
  EXPECT_TRUE(t.consistent());
  EXPECT_EQ(t.events(), 2u);
  ASSERT_NE(t.find(a), nullptr);
  EXPECT_EQ(t.find(a)->weight, 1u);
  t.record(a, SubStat::kConnections, 3 * kSec);
  EXPECT_TRUE(t.consistent());
  EXPECT_EQ(t.find(a)->weight, 2u);
}

// Test that a detector fires once per tumbling window, when the count exceeds the threshold,
// and again in the next window.
TEST(SubscriberTable, DetectorFiresOncePerWindow) {
  SubscriberTable t(16);
  WindowPlan plan;
  plan.len_s[0] = 300;
  const DetectorRule rules[] = {{SubStat::kPort25Destinations, 20, 0},
                                {SubStat::kAuthFailures, 3, 0}};
  const uint64_t key = subscriberKey(v4(0x64400001), 64);
  uint16_t fired = 0;
  int fires = 0;
  const uint64_t t0 = 3000 * kSec;  // a window boundary
  for (uint32_t i = 0; i < 40; ++i) {
    IpAddr d = v4(0xc6336400 + i);
    t.record(key, SubStat::kPort25Attempts, t0 + i * kSec, &d, plan, rules, fired);
    if (fired & 1) {
      ++fires;
      EXPECT_EQ(i, 20u);  // the 21st distinct destination
    }
  }
  EXPECT_EQ(fires, 1);
  // Repeats of one destination never fire the distinct detector.
  IpAddr d = v4(0xc6336400);
  for (int i = 0; i < 5; ++i) {
    t.record(key, SubStat::kAuthFailures, t0 + 100 * kSec, nullptr, plan, rules, fired);
    EXPECT_EQ(fired, i == 3 ? 2 : 0) << i;
  }
  // Next window: counts start again.
  for (uint32_t i = 0; i < 21; ++i) {
    IpAddr n = v4(0xc6336500 + i);
    t.record(key, SubStat::kPort25Attempts, t0 + 300 * kSec + i, &n, plan, rules, fired);
    EXPECT_EQ(fired & 1, i == 20 ? 1 : 0);
  }
  const SubscriberEntry* e = t.find(key);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->count[static_cast<size_t>(SubStat::kPort25Attempts)], 61u);
  EXPECT_FALSE(e->destinations.exact());  // 61 > 32: the HyperLogLog estimates
  EXPECT_NEAR(e->stat(SubStat::kPort25Destinations), 61.0, 61 * 3 * 0.092);
  EXPECT_EQ(e->n_samples, kSampleDestinations);
  EXPECT_EQ(e->samples[0], d);
}

// Test that quarantined keys expire on the given time, can be removed, and are found by any
// reader; a full probe run reuses expired slots.
TEST(QuarantineSet, AddExpireRemove) {
  QuarantineSet q(QuarantineSet::kProbe);  // one probe run covers the table
  EXPECT_TRUE(q.add(7, 100, 0));
  EXPECT_TRUE(q.contains(7, 99));
  EXPECT_FALSE(q.contains(7, 100));
  EXPECT_FALSE(q.contains(8, 0));
  EXPECT_TRUE(q.add(7, 200, 150));
  EXPECT_TRUE(q.contains(7, 150));
  EXPECT_TRUE(q.remove(7, 150));
  EXPECT_FALSE(q.contains(7, 150));
  EXPECT_FALSE(q.remove(7, 150));
  for (uint64_t k = 1; k <= QuarantineSet::kProbe; ++k) EXPECT_TRUE(q.add(k + 100, 1000, 0)) << k;
  EXPECT_EQ(q.list(0).size(), QuarantineSet::kProbe);
  EXPECT_FALSE(q.add(999, 2000, 500));  // full of live keys
  EXPECT_TRUE(q.add(999, 2000, 1000));  // their time passed
  EXPECT_TRUE(q.contains(999, 1500));
  EXPECT_EQ(q.list(1500).size(), 1u);
}

}  // namespace
}  // namespace smtpguard
