#pragma once
// An IP address of either family, and its text form. Shared by the fast path (flow keys), the
// policy (prefix tables) and the control plane (events, smtpguardctl), so it lives here and not
// in packet/: tools that print addresses link no parser.

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "common/bytes.h"

namespace smtpguard {

// An IPv4 or IPv6 address; IPv4 is held as the v4-mapped IPv6 form (::ffff:a.b.c.d) so flow
// keys and prefix tables handle both families with one type.
struct IpAddr {
  uint8_t b[16];

  static IpAddr fromV4(const uint8_t* p) {
    IpAddr a{};
    a.b[10] = 0xff;
    a.b[11] = 0xff;
    std::memcpy(a.b + 12, p, 4);
    return a;
  }
  static IpAddr fromV6(const uint8_t* p) {
    IpAddr a;
    std::memcpy(a.b, p, 16);
    return a;
  }
  bool isV4() const {
    static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(b, kPrefix, 12) == 0;
  }
  uint32_t v4() const { return loadBe32(b + 12); }  // host order, valid when isV4()
  friend bool operator==(const IpAddr& x, const IpAddr& y) {
    return std::memcmp(x.b, y.b, 16) == 0;
  }
  friend int compare(const IpAddr& x, const IpAddr& y) { return std::memcmp(x.b, y.b, 16); }
};

// Formats as dotted quad or RFC 5952 text. Control plane only (events, logs).
inline void formatIp(const IpAddr& a, char* out, size_t out_len) {
  if (out == nullptr || out_len == 0) return;
  char buf[48];  // the longest text is 39 characters
  size_t n = 0;
  if (a.isV4()) {
    for (int i = 0; i < 4; ++i) {
      if (i != 0) buf[n++] = '.';
      unsigned v = a.b[12 + i];
      if (v >= 100) buf[n++] = static_cast<char>('0' + v / 100);
      if (v >= 10) buf[n++] = static_cast<char>('0' + v / 10 % 10);
      buf[n++] = static_cast<char>('0' + v % 10);
    }
  } else {
    uint16_t w[8];
    for (int i = 0; i < 8; ++i) w[i] = loadBe16(a.b + 2 * i);
    // RFC 5952 §4.2: compress the longest run of two or more zero fields, the first on a tie.
    int best = -1;
    int best_len = 1;
    for (int i = 0; i < 8;) {
      if (w[i] != 0) {
        ++i;
        continue;
      }
      int j = i;
      while (j < 8 && w[j] == 0) ++j;
      if (j - i > best_len) {
        best = i;
        best_len = j - i;
      }
      i = j;
    }
    static constexpr char kHex[] = "0123456789abcdef";  // RFC 5952 §4.3: lowercase
    for (int i = 0; i < 8;) {
      if (i == best) {
        buf[n++] = ':';
        buf[n++] = ':';
        i += best_len;
        continue;
      }
      if (i != 0 && i != best + best_len) buf[n++] = ':';
      bool started = false;  // RFC 5952 §4.1: no leading zeros
      for (int shift = 12; shift >= 0; shift -= 4) {
        unsigned nibble = (w[i] >> shift) & 0xfu;
        if (nibble != 0 || started || shift == 0) {
          buf[n++] = kHex[nibble];
          started = true;
        }
      }
      ++i;
    }
  }
  size_t copy = n < out_len - 1 ? n : out_len - 1;
  std::memcpy(out, buf, copy);
  out[copy] = '\0';
}

}  // namespace smtpguard
