#pragma once
// ClientHello and ServerHello parsing: pure functions over the bytes of one complete handshake
// message (the 4-byte handshake header included, record headers already removed; see
// tls_reassembly.h for getting there from a TCP stream). No heap, no exceptions: every length is
// checked before the read it guards, and results land in fixed-size structs whose lists are
// bounded; what does not fit is counted and flagged, never written past the end.
//
// Layouts followed: RFC 8446 §4.1.2 (ClientHello), §4.1.3 (ServerHello), §4.2 (extensions);
// RFC 5246 §7.4.1.2 for pre-1.3 hellos, where the extensions block may be absent.

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "common/bytes.h"

namespace smtpguard {

// Bounds on what a hello keeps. Generous for real clients (OpenSSL's `ALL` cipher string offers
// ~140 suites, browsers offer < 20 extensions); a hostile hello gets truncated, not an overrun.
inline constexpr size_t kMaxCipherSuites = 160;
inline constexpr size_t kMaxExtensions = 64;
inline constexpr size_t kMaxSupportedGroups = 48;
inline constexpr size_t kMaxPointFormats = 16;
inline constexpr size_t kMaxSignatureAlgorithms = 64;
inline constexpr size_t kMaxSupportedVersions = 16;
inline constexpr size_t kMaxAlpnProtocols = 8;
inline constexpr size_t kAlpnStorageBytes = 128;
// RFC 6066 §3: HostName is opaque<1..2^16-1> on the wire but a DNS name (<= 253 chars); we keep
// at most 255 bytes and flag anything longer.
inline constexpr size_t kMaxServerNameBytes = 255;
inline constexpr size_t kMaxServerExtensions = 32;

// TLS extension types read here (IANA "TLS ExtensionType Values").
inline constexpr uint16_t kExtServerName = 0x0000;           // RFC 6066 §3
inline constexpr uint16_t kExtSupportedGroups = 0x000a;      // RFC 8422 §5.1.1, RFC 8446 §4.2.7
inline constexpr uint16_t kExtEcPointFormats = 0x000b;       // RFC 8422 §5.1.2
inline constexpr uint16_t kExtSignatureAlgorithms = 0x000d;  // RFC 8446 §4.2.3
inline constexpr uint16_t kExtAlpn = 0x0010;                 // RFC 7301 §3.1
inline constexpr uint16_t kExtSupportedVersions = 0x002b;    // RFC 8446 §4.2.1

inline constexpr uint8_t kHandshakeClientHello = 1;
inline constexpr uint8_t kHandshakeServerHello = 2;

// RFC 8701 §2: GREASE values are 0x?A?A with both bytes equal (0x0A0A, 0x1A1A, ... 0xFAFA).
// Both tests are evaluated (no short circuit): branch-free in the per-value loops.
constexpr bool isGrease(uint16_t v) {
  return ((v & 0x0f0f) == 0x0a0a) & ((v >> 8) == (v & 0xff));
}

// Eight uint16 lanes (GCC/Clang vector extension: SSE2 on x86-64, NEON on AArch64); a comparison
// gives -1 in the lanes where it holds. The per-value loops of the hello run 8 values at a time.
using U16x8 = uint16_t __attribute__((vector_size(16)));
using I16x8 = int16_t __attribute__((vector_size(16)));

inline I16x8 greaseLanes(U16x8 v) {  // isGrease() of each lane
  return ((v & 0x0f0f) == 0x0a0a) & ((v >> 8) == (v & 0xff));
}

inline int horizontalSum(I16x8 v) {
  int sum = 0;
  for (int i = 0; i < 8; ++i) sum += v[i];
  return sum;
}

// A list with a fixed capacity. `total` counts every value seen on the wire, so a truncated list
// says so (total > count) instead of silently looking shorter.
template <typename T, size_t N>
struct BoundedList {
  // Only [0, count) is meaningful. Zeroed once on construction, so that vector code may read
  // whole vectors past `count` (never past N) without touching indeterminate values.
  std::array<T, N> values{};
  uint16_t count = 0;
  uint16_t total = 0;

  void clear() { count = total = 0; }
  void push(T v) {
    if (count < N) values[count++] = v;
    if (total < UINT16_MAX) ++total;
  }
  // Appends `n` big-endian uint16 read from `p` (which holds 2 * n bytes) and returns how many of
  // the n are GREASE: one tight loop per list instead of a bounds check per value, 8 values at a
  // time while they fit.
  size_t appendBe16(const uint8_t* p, size_t n) requires(sizeof(T) == 2) {
    const size_t keep = std::min(n, N - count);
    T* out = values.data() + count;
    size_t i = 0;
    I16x8 grease{};
    for (; i + 8 <= keep; i += 8) {  // reads p[2i, 2i + 16) <= 2 * n, writes out[i, i + 8)
      U16x8 v;
      std::memcpy(&v, p + 2 * i, sizeof v);
      if constexpr (std::endian::native == std::endian::little) v = (v << 8) | (v >> 8);
      std::memcpy(out + i, &v, sizeof v);
      grease -= greaseLanes(v);
    }
    if (keep == n && n >= 8 && i < n) {
      // The last 8 values, overlapping some already done: stored again, counted once.
      const size_t last = n - 8;
      U16x8 v;
      std::memcpy(&v, p + 2 * last, sizeof v);
      if constexpr (std::endian::native == std::endian::little) v = (v << 8) | (v >> 8);
      std::memcpy(out + last, &v, sizeof v);
      const I16x8 lane{0, 1, 2, 3, 4, 5, 6, 7};
      grease -= greaseLanes(v) & (lane >= static_cast<int16_t>(i - last));
      i = n;
    }
    size_t grease_count = static_cast<size_t>(horizontalSum(grease));
    for (; i < n; ++i) {
      uint16_t v = loadBe16(p + 2 * i);
      if (i < keep) out[i] = v;
      grease_count += isGrease(v);
    }
    count = static_cast<uint16_t>(count + keep);
    total = static_cast<uint16_t>(std::min<size_t>(total + n, UINT16_MAX));
    return grease_count;
  }
  bool truncated() const { return total > count; }
  std::span<const T> view() const { return {values.data(), count}; }
  static constexpr size_t capacity() { return N; }
};

// Why a hello could not be read. One per rejection, each with a fixed reason.
enum class TlsParseStatus : uint8_t {
  kOk,
  kWrongType,     // the handshake message is not the hello we expected
  kTruncated,     // a length field points past the end of the message
  kBadLength,     // a length is outside what its field allows (odd cipher list, session id > 32)
  kBadExtension,  // the extension block's framing does not add up
};

std::string_view tlsParseStatusName(TlsParseStatus s);

// Anomalies that do not stop parsing; a bit set in `flags`.
enum HelloFlag : uint32_t {
  kHelloFlagListTruncated = 1u << 0,        // a list exceeded its bound; fingerprints see a prefix
  kHelloFlagDuplicateExtension = 1u << 1,   // RFC 8446 §4.2: "MUST NOT be more than one" per type
  kHelloFlagBadExtensionBody = 1u << 2,     // a known extension's inner lengths disagree
  kHelloFlagTrailingBytes = 1u << 3,        // bytes after the extensions block
  kHelloFlagMultipleServerNames = 1u << 4,  // RFC 6066 §3: one name per name_type
  kHelloFlagServerNameNotAscii = 1u << 5,   // RFC 6066 §3: HostName is ASCII, no trailing dot
  kHelloFlagServerNameTooLong = 1u << 6,    // longer than kMaxServerNameBytes; kept truncated
  kHelloFlagEmptyAlpnProtocol = 1u << 7,    // RFC 7301 §3.1: empty strings MUST NOT be included
  kHelloFlagHelloRetryRequest = 1u << 8,    // ServerHello with the HRR random (RFC 8446 §4.1.3)
  kHelloFlagServerNameEmpty = 1u << 9,      // server_name present without any usable host_name
};

struct ClientHelloInfo {
  uint16_t record_version = 0;     // first record header (set by the reassembler)
  uint16_t handshake_version = 0;  // legacy_version: what JA3 reports as SSLVersion
  uint32_t flags = 0;
  uint32_t message_length = 0;  // handshake body length
  uint8_t session_id_length = 0;
  bool has_extensions_block = false;
  bool has_server_name = false;  // the extension was present (JA4 "d"), even if unusable
  bool has_alpn = false;
  bool has_supported_versions = false;
  bool has_signature_algorithms = false;
  // Non-GREASE totals seen on the wire (JA4 counts), exact even when a list is truncated.
  uint16_t cipher_suites_non_grease = 0;
  uint16_t extensions_non_grease = 0;

  BoundedList<uint16_t, kMaxCipherSuites> cipher_suites;
  BoundedList<uint16_t, kMaxExtensions> extensions;  // every type, wire order, GREASE included
  BoundedList<uint16_t, kMaxSupportedGroups> supported_groups;
  BoundedList<uint8_t, kMaxPointFormats> ec_point_formats;
  BoundedList<uint16_t, kMaxSignatureAlgorithms> signature_algorithms;
  BoundedList<uint16_t, kMaxSupportedVersions> supported_versions;

  // First host_name of server_name (RFC 6066 §3), raw bytes; check the flags before trusting.
  uint8_t server_name_length = 0;
  std::array<char, kMaxServerNameBytes> server_name;

  // ALPN ProtocolNameList (RFC 7301 §3.1). `alpn_total` counts every protocol on the wire;
  // the first ones that fit are kept. The first protocol's length and end bytes are kept
  // separately so that JA4 is exact even when the storage is exhausted.
  uint8_t alpn_count = 0;
  uint16_t alpn_total = 0;
  uint8_t alpn_first_length = 0;
  uint8_t alpn_first_front = 0;
  uint8_t alpn_first_back = 0;
  std::array<uint8_t, kMaxAlpnProtocols> alpn_offset;
  std::array<uint8_t, kMaxAlpnProtocols> alpn_length;
  std::array<char, kAlpnStorageBytes> alpn_bytes;

  void clear();
  std::string_view serverName() const { return {server_name.data(), server_name_length}; }
  std::string_view alpn(size_t i) const {
    return i < alpn_count ? std::string_view{alpn_bytes.data() + alpn_offset[i], alpn_length[i]}
                          : std::string_view{};
  }
  // Highest non-GREASE supported_versions entry, or 0 when there is none.
  uint16_t highestSupportedVersion() const;
};

struct ServerHelloInfo {
  uint16_t record_version = 0;
  uint16_t legacy_version = 0;  // what JA3S reports as SSLVersion
  uint16_t negotiated_version =
      0;  // supported_versions when present (RFC 8446 §4.2.1), else legacy
  uint16_t cipher_suite = 0;
  uint8_t compression_method = 0;
  uint8_t session_id_length = 0;
  bool has_extensions_block = false;
  bool has_supported_versions = false;
  uint32_t flags = 0;
  uint32_t message_length = 0;
  BoundedList<uint16_t, kMaxServerExtensions> extensions;

  void clear();
};

// `message` starts at the handshake header (msg_type, uint24 length). Bytes after the declared
// length (the next handshake message) are ignored.
TlsParseStatus parseClientHello(Bytes message, ClientHelloInfo& out);
TlsParseStatus parseServerHello(Bytes message, ServerHelloInfo& out);

}  // namespace smtpguard
