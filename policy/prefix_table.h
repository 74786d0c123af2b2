#pragma once
// IPv4 and IPv6 prefix sets compiled into sorted, disjoint address intervals, each carrying a
// bitmask of the sets that contain it. A lookup is one binary search over 128-bit keys: no heap,
// no locks, no DPDK (smtpguardctl builds the same table without an EAL).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip_addr.h"

namespace smtpguard {

// Bit i is set when the address is in prefix set i. Set 0 is the policy's `inside` networks.
using SetMask = uint64_t;
inline constexpr size_t kMaxPrefixSets = 64;

// A prefix over the 16-byte IpAddr form; an IPv4 /n is stored as the v4-mapped /(96+n).
struct Prefix {
  IpAddr addr{};
  uint8_t len = 0;  // 0..128 over the 16-byte form

  bool isV4() const { return len >= 96 && addr.isV4(); }
  // The length as written: /24 for IPv4, /48 for IPv6.
  unsigned writtenLen() const { return isV4() ? len - 96u : len; }
  friend bool operator==(const Prefix&, const Prefix&) = default;
};

// Parses "100.64.0.0/10", "2001:db8::/32" or a bare address (a host prefix). On failure
// returns nullopt and says why in `why`; when only host bits are wrong, `meant` is set to the
// prefix that was probably meant (100.64.1.0/10 -> 100.64.0.0/10).
std::optional<Prefix> parsePrefix(std::string_view text, std::string* why = nullptr,
                                  std::optional<Prefix>* meant = nullptr);
std::optional<IpAddr> parseIpAddr(std::string_view text);
std::string formatPrefix(const Prefix& p);

// Zeroes the bits past `len` (over the 16-byte form).
IpAddr maskAddr(const IpAddr& a, unsigned len);

class PrefixTable {
 public:
  PrefixTable();  // empty: every address maps to 0

  SetMask lookup(const IpAddr& a) const noexcept;
  size_t intervalCount() const { return starts_.size(); }

 private:
  friend class PrefixTableBuilder;
  __extension__ typedef unsigned __int128 Key;
  std::vector<Key> starts_;     // ascending; starts_[0] == 0
  std::vector<SetMask> masks_;  // masks_[i] covers [starts_[i], starts_[i+1])
};

class PrefixTableBuilder {
 public:
  // set < kMaxPrefixSets. Overlapping and duplicate prefixes are fine: membership is a union.
  void add(const Prefix& p, unsigned set);
  PrefixTable build() const;
  size_t prefixCount() const { return entries_.size(); }

 private:
  struct Entry {
    Prefix prefix;
    unsigned set;
  };
  std::vector<Entry> entries_;
};

}  // namespace smtpguard
