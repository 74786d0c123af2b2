#include "policy/rate_limiter.h"

#include <gtest/gtest.h>

#include "policy/prefix_table.h"

namespace smtpguard {
namespace {

constexpr uint64_t kSecond = 1000000000ull;

IpAddr ip(const char* text) {
  return parseIpAddr(text).value_or(IpAddr{});
}

RateParams perMinute(uint64_t n, uint32_t burst, uint8_t v4_len = 32, uint8_t v6_len = 64) {
  return RateParams{60 * kSecond / n, burst, v4_len, v6_len};
}

// Test that a burst of N new connections from one subscriber gets exactly `burst` through.
TEST(RateLimiter, BurstFromOneSubscriberAdmitsExactlyBurst) {
  RateLimiter rl(1024);
  RateParams p = perMinute(60, 20);
  RateKey key = rateKey(ip("100.72.14.25"), p, 7);
  int admitted = 0;
  for (int i = 0; i < 100; ++i) admitted += rl.admit(key, p, 1000 * kSecond) ? 1 : 0;
  EXPECT_EQ(admitted, 20);
}

// Test that tokens come back at the configured rate and never beyond the burst.
TEST(RateLimiter, RefillsAtRate) {
  RateLimiter rl(64);
  RateParams p = perMinute(60, 5);  // one per second
  RateKey key = rateKey(ip("198.18.0.10"), p, 1);
  uint64_t t = 50 * kSecond;
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(rl.admit(key, p, t));
  EXPECT_FALSE(rl.admit(key, p, t));
  EXPECT_FALSE(rl.admit(key, p, t + kSecond - 1));
  EXPECT_TRUE(rl.admit(key, p, t + kSecond));
  EXPECT_FALSE(rl.admit(key, p, t + kSecond));
  // Idle for an hour: full again, but only `burst` deep.
  int admitted = 0;
  for (int i = 0; i < 50; ++i) admitted += rl.admit(key, p, t + 3600 * kSecond) ? 1 : 0;
  EXPECT_EQ(admitted, 5);
}

// Test that a steady stream at exactly the rate is always admitted.
TEST(RateLimiter, SteadyStreamAtRateNeverRefused) {
  RateLimiter rl(64);
  RateParams p{kSecond / 10, 1, 32, 64};  // 10/s, no burst
  RateKey key = rateKey(ip("198.18.0.11"), p, 1);
  for (uint64_t i = 0; i < 1000; ++i)
    EXPECT_TRUE(rl.admit(key, p, 5 * kSecond + i * p.interval_ns));
}

// Test that the key is the source masked to the rule's prefix length, per family.
TEST(RateLimiter, KeyedByPrefix) {
  RateParams p = perMinute(60, 2, 24, 56);
  EXPECT_EQ(rateKey(ip("198.18.7.1"), p, 1), rateKey(ip("198.18.7.254"), p, 1));
  EXPECT_FALSE(rateKey(ip("198.18.7.1"), p, 1) == rateKey(ip("198.18.8.1"), p, 1));
  EXPECT_EQ(rateKey(ip("2001:db8:4a10:ff::1"), p, 1), rateKey(ip("2001:db8:4a10:00::2"), p, 1));
  EXPECT_FALSE(rateKey(ip("2001:db8:4a10:100::1"), p, 1) == rateKey(ip("2001:db8:4a10::1"), p, 1));
  EXPECT_FALSE(rateKey(ip("198.18.7.1"), p, 1) == rateKey(ip("198.18.7.1"), p, 2));

  // One /24 shares one bucket: three hosts, burst 2.
  RateLimiter rl(64);
  EXPECT_TRUE(rl.admit(rateKey(ip("198.18.7.1"), p, 1), p, kSecond));
  EXPECT_TRUE(rl.admit(rateKey(ip("198.18.7.2"), p, 1), p, kSecond));
  EXPECT_FALSE(rl.admit(rateKey(ip("198.18.7.3"), p, 1), p, kSecond));
  EXPECT_TRUE(rl.admit(rateKey(ip("198.18.8.3"), p, 1), p, kSecond));
}

// Test that subscribers do not share buckets, and that the table never grows past capacity.
TEST(RateLimiter, SubscribersAreIndependent) {
  RateLimiter rl(4096);
  RateParams p = perMinute(6, 3);
  uint8_t raw[4] = {100, 64, 0, 0};
  for (int host = 0; host < 1000; ++host) {
    raw[2] = static_cast<uint8_t>(host >> 8);
    raw[3] = static_cast<uint8_t>(host);
    RateKey key = rateKey(IpAddr::fromV4(raw), p, 9);
    int admitted = 0;
    for (int i = 0; i < 10; ++i) admitted += rl.admit(key, p, kSecond) ? 1 : 0;
    EXPECT_EQ(admitted, 3) << host;
  }
  EXPECT_EQ(rl.size(), 1000u);
  EXPECT_EQ(rl.evictions(), 0u);
}

// Test that a full table reuses refilled buckets first and evicts (admitting) only when it must.
TEST(RateLimiter, FullTableEvictsTowardsAdmitting) {
  RateLimiter rl(8);  // one probe window: every key collides
  RateParams p{kSecond, 1, 32, 64};
  uint8_t raw[4] = {198, 18, 0, 0};
  auto key = [&](int i) {
    raw[3] = static_cast<uint8_t>(i);
    return rateKey(IpAddr::fromV4(raw), p, 1);
  };
  for (int i = 0; i < 8; ++i) EXPECT_TRUE(rl.admit(key(i), p, 10 * kSecond));
  EXPECT_EQ(rl.size(), 8u);
  // All eight are busy: a ninth evicts one and is admitted.
  EXPECT_TRUE(rl.admit(key(8), p, 10 * kSecond));
  EXPECT_EQ(rl.evictions(), 1u);
  // Later every bucket has refilled: reuse without counting an eviction.
  EXPECT_TRUE(rl.admit(key(9), p, 20 * kSecond));
  EXPECT_EQ(rl.evictions(), 1u);
  EXPECT_EQ(rl.size(), 8u);
}

// Test that the bucket arithmetic survives time zero and a clock that stands still.
TEST(RateLimiter, TokenBucketAtTimeZero) {
  TokenBucket b;
  RateParams p{kSecond, 2, 32, 64};
  EXPECT_TRUE(b.admit(p, 0));
  EXPECT_TRUE(b.admit(p, 0));
  EXPECT_FALSE(b.admit(p, 0));
  EXPECT_TRUE(b.admit(p, kSecond));
}

}  // namespace
}  // namespace smtpguard
