#pragma once
// TLS fingerprints of parsed hellos: JA3 and JA4 for the client, JA3S for the server. Strings are
// formatted by hand into fixed buffers sized for the worst case the bounded hello allows, so
// nothing here allocates, throws or truncates. Definitions followed (docs/tls-fingerprints.md):
//   JA3, JA3S: salesforce/ja3 README and python/ja3s.py
//   JA4:       FoxIO-LLC/ja4 technical_details/JA4.md

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tls/client_hello.h"
#include "tls/digest.h"

namespace smtpguard {

// A uint16 in decimal is at most 5 digits, a uint8 3; each value is followed by '-' or ','.
inline constexpr size_t kJa3StringCapacity = 6 + kMaxCipherSuites * 6 + 1 + kMaxExtensions * 6 + 1 +
                                             kMaxSupportedGroups * 6 + 1 + kMaxPointFormats * 4;
inline constexpr size_t kJa3sStringCapacity = 6 + 6 + kMaxServerExtensions * 6;
// The formatters store 4 or 8 bytes at a time and may write 3 bytes past the string's end.
inline constexpr size_t kFormatSlack = 4;
using Ja3Text = std::array<char, kJa3StringCapacity + kFormatSlack>;
inline constexpr size_t kJa4Length = 36;  // "t13d1516h2_8daaf6152771_e5627efa2ab1"
inline constexpr size_t kHashHexLength = 32;

struct Ja3 {
  Ja3Text text;
  uint16_t length = 0;
  std::array<char, kHashHexLength> md5_hex;
  std::string_view string() const { return {text.data(), length}; }
  std::string_view hash() const { return {md5_hex.data(), md5_hex.size()}; }
};

struct Ja3s {
  std::array<char, kJa3sStringCapacity + kFormatSlack> text;
  uint16_t length = 0;
  std::array<char, kHashHexLength> md5_hex;
  std::string_view string() const { return {text.data(), length}; }
  std::string_view hash() const { return {md5_hex.data(), md5_hex.size()}; }
};

struct Ja4 {
  std::array<char, kJa4Length> text;
  std::string_view view() const { return {text.data(), text.size()}; }
};

// JA4.md: 'q' QUIC, 'd' DTLS, 't' TLS over TCP. smtpguard only sees TCP; the others exist so the
// formatter matches the specification.
enum class Ja4Transport : char { kTcp = 't', kQuic = 'q', kDtls = 'd' };

// The three JA4 sections before hashing ("JA4_r" in JA4.md, "Raw Output"): `a` in clear,
// `b` the sorted cipher list, `c` the sorted extension list then '_' and the signature
// algorithms in wire order. Empty `b` or `c` hash to "000000000000".
struct Ja4Parts {
  std::array<char, 10> a;
  std::array<char, kMaxCipherSuites * 5 + kFormatSlack> b;
  std::array<char, kMaxExtensions * 5 + 1 + kMaxSignatureAlgorithms * 5 + kFormatSlack> c;
  uint16_t b_length = 0;
  uint16_t c_length = 0;
  bool c_has_extensions = false;  // JA4.md: no extensions (after removing SNI/ALPN) -> zeros
  std::string_view aView() const { return {a.data(), a.size()}; }
  std::string_view bView() const { return {b.data(), b_length}; }
  std::string_view cView() const { return {c.data(), c_length}; }
};

struct ClientFingerprints {
  Ja3 ja3;
  Ja4 ja4;
};

// Formatting alone (no digest): exposed for tests, the benchmark and raw outputs.
uint16_t formatJa3(const ClientHelloInfo& hello, Ja3Text& out);
void buildJa4Parts(const ClientHelloInfo& hello, Ja4Transport transport, Ja4Parts& out);

// Fast path. False only if the digest failed (OpenSSL error); the outputs are then unusable.
bool computeJa3(const ClientHelloInfo& hello, DigestContext& digests, Ja3& out);
bool computeJa4(const ClientHelloInfo& hello, DigestContext& digests, Ja4& out,
                Ja4Transport transport = Ja4Transport::kTcp);
bool computeJa3s(const ServerHelloInfo& hello, DigestContext& digests, Ja3s& out);
bool fingerprintClientHello(const ClientHelloInfo& hello, DigestContext& digests,
                            ClientFingerprints& out);

// Control plane and tests only (allocates): "a_b_c" with the raw sections, JA4.md's JA4_r.
std::string ja4Raw(const ClientHelloInfo& hello, Ja4Transport transport = Ja4Transport::kTcp);

}  // namespace smtpguard
