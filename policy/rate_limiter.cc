#include "policy/rate_limiter.h"

#include <cstring>

namespace smtpguard {

namespace {

uint64_t mix(uint64_t x) {  // splitmix64 finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

}  // namespace

RateKey rateKey(const IpAddr& src, const RateParams& p, uint32_t rule_id) noexcept {
  unsigned len = src.isV4() ? 96u + (p.v4_prefix_len > 32 ? 32u : p.v4_prefix_len)
                            : (p.v6_prefix_len > 128 ? 128u : p.v6_prefix_len);
  RateKey k;
  k.rule_id = rule_id;
  for (unsigned i = 0; i < 16; ++i) {
    unsigned first_bit = i * 8;
    if (first_bit + 8 <= len) {
      k.prefix.b[i] = src.b[i];
    } else if (first_bit < len) {
      k.prefix.b[i] = static_cast<uint8_t>(src.b[i] & (0xff00u >> (len - first_bit)));
    }
  }
  return k;
}

size_t RateLimiter::memoryFor(size_t capacity) {
  size_t n = kProbeWindow;
  while (n < capacity) n <<= 1;
  return n * sizeof(Slot);
}

RateLimiter::RateLimiter(size_t capacity, uint64_t seed) : seed_(seed) {
  size_t n = kProbeWindow;
  while (n < capacity) n <<= 1;
  slots_.assign(n, Slot{});
  mask_ = n - 1;
}

size_t RateLimiter::hash(const RateKey& key) const noexcept {
  uint64_t a, b;
  std::memcpy(&a, key.prefix.b, 8);
  std::memcpy(&b, key.prefix.b + 8, 8);
  return static_cast<size_t>(mix(a ^ seed_) ^ mix(b + key.rule_id));
}

bool RateLimiter::admit(const RateKey& key, const RateParams& p, uint64_t now_ns) noexcept {
  size_t start = hash(key);
  Slot* empty = nullptr;
  Slot* refilled = nullptr;
  Slot* oldest = nullptr;
  for (size_t i = 0; i < kProbeWindow; ++i) {
    Slot& s = slots_[(start + i) & mask_];
    if (!s.used) {  // slots are never emptied, so the key cannot sit past a free one
      empty = &s;
      break;
    }
    if (s.rule_id == key.rule_id && s.prefix == key.prefix) return s.bucket.admit(p, now_ns);
    if (!refilled && s.bucket.full(now_ns)) refilled = &s;
    if (!oldest || s.bucket.tat_ns < oldest->bucket.tat_ns) oldest = &s;
  }
  Slot* s = empty ? empty : refilled ? refilled : oldest;
  if (s == empty) {
    ++used_;
  } else if (s == oldest && !refilled) {
    ++evictions_;
  }
  s->prefix = key.prefix;
  s->rule_id = key.rule_id;
  s->used = 1;
  s->bucket = TokenBucket{};
  return s->bucket.admit(p, now_ns);
}

}  // namespace smtpguard
