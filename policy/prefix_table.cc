#include "policy/prefix_table.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

namespace smtpguard {

namespace {

__extension__ typedef unsigned __int128 Key;

// The address as a big-endian 128-bit number: two byte-swapped loads (a loop over the 16
// bytes cost a 128-bit shift each, on every lookup of the fast path).
Key toKey(const IpAddr& a) {
  uint64_t hi, lo;
  std::memcpy(&hi, a.b, 8);
  std::memcpy(&lo, a.b + 8, 8);
  if constexpr (std::endian::native == std::endian::little) {
    hi = __builtin_bswap64(hi);
    lo = __builtin_bswap64(lo);
  }
  return (Key{hi} << 64) | lo;
}

Key hostMask(unsigned len) {  // the bits past `len` set
  if (len >= 128) return 0;
  return (~Key{0}) >> len;
}

// ::ffff:0.0.0.0 .. ::ffff:255.255.255.255
constexpr Key kV4MappedLo = Key{0xffff} << 32;
constexpr Key kV4MappedHi = kV4MappedLo | 0xffffffffu;

}  // namespace

std::optional<IpAddr> parseIpAddr(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  char buf[48];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  uint8_t raw[16];
  if (text.find(':') == std::string_view::npos) {
    if (inet_pton(AF_INET, buf, raw) != 1) return std::nullopt;
    return IpAddr::fromV4(raw);
  }
  if (inet_pton(AF_INET6, buf, raw) != 1) return std::nullopt;
  return IpAddr::fromV6(raw);
}

IpAddr maskAddr(const IpAddr& a, unsigned len) {
  IpAddr out = a;
  for (unsigned i = 0; i < 16; ++i) {
    unsigned first_bit = i * 8;
    if (first_bit >= len) {
      out.b[i] = 0;
    } else if (len - first_bit < 8) {
      out.b[i] &= static_cast<uint8_t>(0xff00u >> (len - first_bit));
    }
  }
  return out;
}

std::optional<Prefix> parsePrefix(std::string_view text, std::string* why,
                                  std::optional<Prefix>* meant) {
  auto fail = [&](std::string reason) -> std::optional<Prefix> {
    if (why) *why = std::move(reason);
    return std::nullopt;
  };
  size_t slash = text.find('/');
  std::string_view addr_text = text.substr(0, slash);
  auto addr = parseIpAddr(addr_text);
  if (!addr) return fail("'" + std::string(addr_text) + "' is not an IPv4 or IPv6 address");
  bool v4 = addr_text.find(':') == std::string_view::npos;
  unsigned max_len = v4 ? 32 : 128;
  unsigned len = max_len;
  if (slash != std::string_view::npos) {
    std::string_view len_text = text.substr(slash + 1);
    if (len_text.empty() || len_text.size() > 3 ||
        !std::all_of(len_text.begin(), len_text.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return fail("the prefix length after '/' must be a number");
    len = 0;
    for (char c : len_text) len = len * 10 + static_cast<unsigned>(c - '0');
    if (len > max_len)
      return fail("prefix length /" + std::to_string(len) + " exceeds /" + std::to_string(max_len) +
                  " for " + (v4 ? "IPv4" : "IPv6"));
  }
  Prefix p;
  p.len = static_cast<uint8_t>(v4 ? 96 + len : len);
  p.addr = maskAddr(*addr, p.len);
  if (!(p.addr == *addr)) {
    if (meant) *meant = p;
    return fail("host bits are set after /" + std::to_string(len));
  }
  return p;
}

std::string formatPrefix(const Prefix& p) {
  char buf[64];
  formatIp(p.addr, buf, sizeof(buf));
  return std::string(buf) + "/" + std::to_string(p.writtenLen());
}

PrefixTable::PrefixTable() : starts_{0}, masks_{0} {}

SetMask PrefixTable::lookup(const IpAddr& a) const noexcept {
  Key k = toKey(a);
  // The last interval starting at or below k; starts_[0] == 0 so one always exists.
  auto it = std::upper_bound(starts_.begin(), starts_.end(), k);
  return masks_[static_cast<size_t>(it - starts_.begin()) - 1];
}

void PrefixTableBuilder::add(const Prefix& p, unsigned set) {
  if (set < kMaxPrefixSets) entries_.push_back({p, set});
}

PrefixTable PrefixTableBuilder::build() const {
  struct Event {
    Key at;
    unsigned set;
    int delta;
  };
  std::vector<Event> events;
  auto addRange = [&](Key lo, Key hi, unsigned set) {
    events.push_back({lo, set, +1});
    if (hi != ~Key{0}) events.push_back({hi + 1, set, -1});
  };
  for (const Entry& e : entries_) {
    Key lo = toKey(e.prefix.addr);
    Key hi = lo | hostMask(e.prefix.len);
    // An IPv6 prefix written as such (::/0, ::/64) does not cover IPv4: cut the v4-mapped block
    // out so `::/0` means "all of IPv6", as operators read it.
    if (!e.prefix.isV4() && lo <= kV4MappedLo && hi >= kV4MappedHi) {
      if (lo < kV4MappedLo) addRange(lo, kV4MappedLo - 1, e.set);
      if (hi > kV4MappedHi) addRange(kV4MappedHi + 1, hi, e.set);
      continue;
    }
    addRange(lo, hi, e.set);
  }
  std::sort(events.begin(), events.end(),
            [](const Event& a, const Event& b) { return a.at < b.at; });

  PrefixTable t;
  std::array<int, kMaxPrefixSets> depth{};
  SetMask mask = 0;
  for (size_t i = 0; i < events.size();) {
    Key at = events[i].at;
    for (; i < events.size() && events[i].at == at; ++i) {
      int& d = depth[events[i].set];
      d += events[i].delta;
      if (d > 0) {
        mask |= SetMask{1} << events[i].set;
      } else {
        mask &= ~(SetMask{1} << events[i].set);
      }
    }
    if (at == 0) {
      t.masks_[0] = mask;
    } else if (mask != t.masks_.back()) {
      t.starts_.push_back(at);
      t.masks_.push_back(mask);
    }
  }
  return t;
}

}  // namespace smtpguard
