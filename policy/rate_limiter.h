#pragma once
// Rate limits on new connections: a token bucket per (rule, source prefix), held in a small
// fixed-capacity table owned by one lcore. Fast-path state: admit() takes the time explicitly
// (TSC-derived nanoseconds), never allocates, never locks, and is deterministic for tests.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/ip_addr.h"

namespace smtpguard {

// The compiled parameters of one rate_limit rule.
struct RateParams {
  uint64_t interval_ns = 0;    // one token every interval_ns (1e9 / rate-per-second)
  uint32_t burst = 1;          // bucket depth: back-to-back connections allowed from idle
  uint8_t v4_prefix_len = 32;  // key: the source masked to /v4_prefix_len (IPv4) ...
  uint8_t v6_prefix_len = 64;  // ... or /v6_prefix_len (IPv6)
};

// A token bucket in its GCRA form: one timestamp instead of (tokens, last refill). tat_ns is
// the time at which the bucket will be full again; a connection is admitted while
// tat_ns - now <= (burst - 1) * interval, and each admission pushes tat_ns one interval on.
// Equivalent to a bucket of depth `burst` refilled at one token per interval.
struct TokenBucket {
  uint64_t tat_ns = 0;

  bool admit(const RateParams& p, uint64_t now_ns) noexcept {
    uint64_t base = tat_ns > now_ns ? tat_ns : now_ns;
    uint64_t allowance = uint64_t{p.burst > 0 ? p.burst - 1 : 0} * p.interval_ns;
    if (base - now_ns > allowance) return false;
    tat_ns = base + p.interval_ns;
    return true;
  }
  // Idle long enough to be full: forgetting it loses nothing.
  bool full(uint64_t now_ns) const noexcept { return tat_ns <= now_ns; }
};

struct RateKey {
  IpAddr prefix{};       // source address masked to the rule's prefix length
  uint32_t rule_id = 0;  // stable across reloads: a hash of the rule name
  friend bool operator==(const RateKey& a, const RateKey& b) {
    return a.rule_id == b.rule_id && a.prefix == b.prefix;
  }
};

RateKey rateKey(const IpAddr& src, const RateParams& p, uint32_t rule_id) noexcept;

// Open addressing with a short probe window. When the window is full, a bucket that has
// refilled is reused first (no state lost); failing that the one closest to full is evicted and
// counted, so a table too small for the subscriber count errs towards admitting, never towards
// blocking a customer who did nothing.
class RateLimiter {
 public:
  static constexpr size_t kProbeWindow = 8;

  // Control plane: capacity is rounded up to a power of two (at least kProbeWindow).
  explicit RateLimiter(size_t capacity, uint64_t seed = 0x9e3779b97f4a7c15ull);
  // What the constructor allocates for `capacity`.
  static size_t memoryFor(size_t capacity);

  bool admit(const RateKey& key, const RateParams& p, uint64_t now_ns) noexcept;

  size_t capacity() const { return slots_.size(); }
  size_t size() const { return used_; }
  uint64_t evictions() const { return evictions_; }

 private:
  struct Slot {          // 32 bytes: two per cache line
    IpAddr prefix;       // 0
    uint32_t rule_id;    // 16
    uint32_t used;       // 20
    TokenBucket bucket;  // 24
  };
  static_assert(sizeof(Slot) == 32);

  size_t hash(const RateKey& key) const noexcept;

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t used_ = 0;
  uint64_t evictions_ = 0;
  uint64_t seed_;
};

}  // namespace smtpguard
