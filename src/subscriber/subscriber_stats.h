#pragma once
// What smtpguard keeps per subscriber (docs/subscribers.md): the statistics by name, the
// subscriber key (an IPv4 address or an IPv6 prefix, /64 by default) and a distinct counter
// for destinations that is exact up to 32 values and a HyperLogLog beyond. Pure: no DPDK, no
// heap after construction.

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "packet/packet_parser.h"

namespace smtpguard {

// X(id, name). The names are the policy's `stat` values, the report's columns and the
// telemetry's `by=` values.
// clang-format off
#define SMTPGUARD_SUBSCRIBER_STATS(X)                \
  X(kConnections,        "connections")              \
  X(kPort25Attempts,     "port25_attempts")          \
  X(kPort25Blocked,      "port25_blocked")           \
  X(kPort25Destinations, "port25_destinations")      \
  X(kPlaintextAuth,      "plaintext_auth")           \
  X(kAuthFailures,       "auth_failures")            \
  X(kRateLimited,        "rate_limited")             \
  X(kMessages,           "messages")
// clang-format on

enum class SubStat : uint8_t {
#define SMTPGUARD_SUBSTAT_ENUM(id, name) id,
  SMTPGUARD_SUBSCRIBER_STATS(SMTPGUARD_SUBSTAT_ENUM)
#undef SMTPGUARD_SUBSTAT_ENUM
      kCount
};
inline constexpr size_t kSubStatCount = static_cast<size_t>(SubStat::kCount);

inline constexpr std::string_view kSubStatNames[kSubStatCount] = {
#define SMTPGUARD_SUBSTAT_NAME(id, name) name,
    SMTPGUARD_SUBSCRIBER_STATS(SMTPGUARD_SUBSTAT_NAME)
#undef SMTPGUARD_SUBSTAT_NAME
};

// kCount when unknown.
constexpr SubStat subStatFromName(std::string_view name) {
  for (size_t i = 0; i < kSubStatCount; ++i)
    if (kSubStatNames[i] == name) return static_cast<SubStat>(i);
  return SubStat::kCount;
}

// A subscriber is a 64-bit key: an IPv4 address is 0x0000ffff'<address>, an IPv6 address the
// first `v6_prefix_len` bits (at most 64) of its address. IPv4 keys therefore alias the IPv6
// prefixes 0:ffff::/32, inside ::/8 (reserved by RFC 4291, never routed). 0 is no key.
inline constexpr uint8_t kDefaultSubscriberV6Prefix = 64;
inline uint64_t subscriberKey(const IpAddr& a, unsigned v6_prefix_len) {
  if (a.isV4()) return (uint64_t{0xffff} << 32) | a.v4();
  uint64_t hi = 0;
  for (int i = 0; i < 8; ++i) hi = (hi << 8) | a.b[i];
  if (v6_prefix_len < 64) hi &= v6_prefix_len == 0 ? 0 : ~uint64_t{0} << (64 - v6_prefix_len);
  return hi == 0 ? 1 : hi;  // ::/64 itself (not a subscriber) must not read as "no key"
}
inline bool subscriberKeyIsV4(uint64_t key) {
  return (key >> 32) == 0xffff;
}
// "100.64.0.7" or "2001:db8:1:2::/64". The buffer form allocates nothing (fast path; 48 bytes
// always suffice); the string form is for the control plane.
size_t formatSubscriberKey(uint64_t key, unsigned v6_prefix_len, char* buf, size_t cap);
std::string formatSubscriberKey(uint64_t key, unsigned v6_prefix_len);

// 64-bit mix (splitmix64's finaliser): hashes keys and destination addresses.
constexpr uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}
inline uint32_t addrHash32(const IpAddr& a) {
  uint64_t hi, lo;
  std::memcpy(&hi, a.b, 8);
  std::memcpy(&lo, a.b + 8, 8);
  return static_cast<uint32_t>(mix64(hi ^ mix64(lo)) >> 32);
}

// Distinct values (32-bit hashes) in 128 bytes: the first kExact are kept exactly; the next one
// turns the same bytes into a HyperLogLog of 128 registers (Flajolet et al. 2007), standard
// error 1.04/sqrt(128) = 9.2%, with linear counting below 2.5 x 128 (docs/subscribers.md).
class DistinctCounter {
 public:
  static constexpr unsigned kExact = 32;
  static constexpr unsigned kRegisterBits = 7;
  static constexpr unsigned kRegisters = 1u << kRegisterBits;

  // Whether the value was new (exact mode) or raised a register (HLL mode).
  bool add(uint32_t h) {
    if (!hll_) {
      for (unsigned i = 0; i < n_; ++i)
        if (hashes_[i] == h) return false;
      if (n_ < kExact) {
        hashes_[n_++] = h;
        return true;
      }
      upgrade();
    }
    return addRegister(h);
  }
  uint32_t estimate() const;
  bool exact() const { return !hll_; }
  // The union with `o` (merging workers' tables on the control plane).
  void merge(const DistinctCounter& o) {
    if (!o.hll_) {
      for (unsigned i = 0; i < o.n_; ++i) add(o.hashes_[i]);
      return;
    }
    if (!hll_) upgrade();
    for (unsigned i = 0; i < kRegisters; ++i)
      registers_[i] = registers_[i] > o.registers_[i] ? registers_[i] : o.registers_[i];
  }
  void clear() {
    n_ = 0;
    hll_ = false;
  }

 private:
  void upgrade() {
    uint32_t saved[kExact];
    const unsigned n = n_;
    std::memcpy(saved, hashes_, sizeof saved);
    std::memset(registers_, 0, sizeof registers_);
    hll_ = true;
    for (unsigned i = 0; i < n; ++i) addRegister(saved[i]);
  }
  bool addRegister(uint32_t h) {
    const unsigned idx = h >> (32 - kRegisterBits);
    const uint32_t rest = h << kRegisterBits;
    const auto rank =
        static_cast<uint8_t>(rest == 0 ? 32 - kRegisterBits + 1 : std::countl_zero(rest) + 1);
    if (rank <= registers_[idx]) return false;
    registers_[idx] = rank;
    return true;
  }

  union {
    uint32_t hashes_[kExact];
    uint8_t registers_[kRegisters];
  };
  uint16_t n_ = 0;
  bool hll_ = false;
};
static_assert(sizeof(uint32_t) * DistinctCounter::kExact == DistinctCounter::kRegisters);

}  // namespace smtpguard
