#include "tls/tls_fingerprint.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

namespace smtpguard {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

// The formatters build text in integers and store them whole, which fixes the byte order.
static_assert(std::endian::native == std::endian::little, "x86-64 and AArch64 are little-endian");

// Four lower-case hex characters, in memory order.
inline uint32_t hex16(uint16_t v) {
  return kHexPairs[v >> 8] | static_cast<uint32_t>(kHexPairs[v & 0xff]) << 16;
}

// Four lower-case hex characters and a ','. One 8-byte store, so it may write 3 bytes past the
// returned end: every buffer it writes has kFormatSlack spare bytes.
inline char* putHex16Comma(char* p, uint16_t v) {
  const uint64_t w = hex16(v) | uint64_t{','} << 32;
  std::memcpy(p, &w, sizeof w);
  return p + 5;
}

// Decimal digits of 0..999 zero-padded to 3 and followed by '-', and each value's unpadded
// length: a list value and its separator are one or two 4-byte copies, and the write position
// moves by one addition per value (its length computed off that chain), so consecutive values
// do not wait on each other.
struct DashedDecimalTable {
  std::array<char, 4 * 1000> text{};
  std::array<uint8_t, 1000> length{};
  constexpr DashedDecimalTable() {
    for (int v = 0; v < 1000; ++v) {
      text[4 * v] = static_cast<char>('0' + v / 100);
      text[4 * v + 1] = static_cast<char>('0' + v / 10 % 10);
      text[4 * v + 2] = static_cast<char>('0' + v % 10);
      text[4 * v + 3] = '-';
      length[v] = static_cast<uint8_t>(v >= 100 ? 3 : v >= 10 ? 2 : 1);
    }
  }
};
constexpr DashedDecimalTable kDashed;

// `v` in decimal and a '-' at p; returns how many characters that is. Copies 4 bytes at a time,
// so it may write up to 2 bytes past them (after a value below 10): every buffer it writes has
// kFormatSlack spare bytes.
inline size_t putDecimalDash(char* p, uint32_t v) {
  if (v < 1000) {
    const size_t len = kDashed.length[v];
    std::memcpy(p, kDashed.text.data() + 4 * v + 3 - len, 4);  // the digits, '-', then garbage
    return len + 1;
  }
  const uint32_t q = v / 1000;  // 1..65 for a uint16
  const uint32_t r = v - q * 1000;
  const size_t len = kDashed.length[q];
  std::memcpy(p, kDashed.text.data() + 4 * q + 3 - len, 4);  // q's digits, then overwritten
  std::memcpy(p + len, kDashed.text.data() + 4 * r, 4);      // r padded to 3, and '-'
  return len + 4;
}

// `v` in decimal (a '-' after it, for the caller to overwrite); returns the end of the digits.
inline char* putDecimal(char* p, uint32_t v) {
  return p + putDecimalDash(p, v) - 1;
}

// JA3 README: values joined by '-', GREASE ignored "completely" (ciphers, extensions, curves).
// Each value is written followed by '-', and the position advances past it only if it is not
// GREASE; the last '-' is taken back.
template <typename T, size_t N>
char* putJa3List(char* p, const BoundedList<T, N>& list, bool skip_grease) {
  char* start = p;
  for (T v : list.view()) {
    const size_t n = putDecimalDash(p, v);
    p += skip_grease && isGrease(v) ? 0 : n;
  }
  return p - (p != start);
}

inline char* putHexList(char* p, const uint16_t* v, size_t n) {
  for (size_t i = 0; i < n; ++i) p = putHex16Comma(p, v[i]);
  return p - (n != 0);
}

// JA4 sections b and c: a list sorted, as "xxxx,xxxx,...,xxxx" (JA4.md: 4 hex characters, lower
// case, comma delimited), some values left out (GREASE; SNI and ALPN from the extensions).
//
// std::sort of the 10-40 values of a hello, then formatting, was ~80 ns of data-dependent
// branches. Here each value goes straight to its place, its rank: the number of values below it,
// counted for all lanes at once with one compare per vector of 8 and value, without a branch.
// A value left out becomes the largest key, so it is below nothing; its own write lands on the
// slot after the list or on an "ffff" slot, with the same text. Equal values would share a rank
// and leave a slot unwritten: the ranks then do not add up to 0 + 1 + ... + (kept - 1) and the
// list takes the scalar path, like a list of more than 64 values. (I16x8, U16x8, greaseLanes()
// and horizontalSum() come with client_hello.h.)

constexpr size_t kMaxRankedValues = 64;
constexpr int16_t kLeftOutKey = 0x7fff;  // 0xffff with the top bit flipped

// Lane `l` of `v` in every lane: two shuffles of the register (pshuflw/pshufhw, pshufd) instead
// of a store, a reload and a broadcast.
template <int l>
inline I16x8 splat(I16x8 v) {
  return __builtin_shuffle(v, I16x8{l, l, l, l, l, l, l, l});
}

// The four lower-case hex characters of each of 8 values, in memory order, into out[0..8):
// nibbles and their characters computed 8 values at a time instead of two table loads each.
inline void hex16x8(U16x8 v, uint32_t* out) {
  using I8x16 = int8_t __attribute__((vector_size(16)));
  const U16x8 hi = v >> 8;
  const U16x8 lo = v & 0xff;
  const U16x8 ab = (hi >> 4) | ((hi & 0xf) << 8);  // bytes: first, second character's nibble
  const U16x8 cd = (lo >> 4) | ((lo & 0xf) << 8);  // third, fourth
  I8x16 n[2] = {std::bit_cast<I8x16>(__builtin_shuffle(ab, cd, U16x8{0, 8, 1, 9, 2, 10, 3, 11})),
                std::bit_cast<I8x16>(__builtin_shuffle(ab, cd, U16x8{4, 12, 5, 13, 6, 14, 7, 15}))};
  for (I8x16& x : n)
    x += static_cast<int8_t>('0') + ((x > 9) & static_cast<int8_t>('a' - '0' - 10));
  std::memcpy(out, n, sizeof n);
}

// `values` is readable for 8 * kVectors entries, of which the first n (<= 8 * kVectors) count;
// `p` has room for 5 * 8 * kVectors bytes. Returns the end of the list, or nullptr when two kept
// values are equal.
template <size_t kVectors, typename LeftOut>
char* putRankedHex(char* p, const uint16_t* values, size_t n, LeftOut left_out) {
  // Keys: unsigned order as signed order (top bit flipped); left out and past-the-end lanes get
  // the largest key.
  I16x8 key[kVectors];
  I16x8 out[kVectors];
  alignas(16) uint32_t text[8 * kVectors];
#pragma GCC unroll 8
  for (size_t k = 0; k < kVectors; ++k) {
    U16x8 v;
    std::memcpy(&v, values + 8 * k, sizeof v);
    const I16x8 lane = I16x8{0, 1, 2, 3, 4, 5, 6, 7} + static_cast<int16_t>(8 * k);
    out[k] = left_out(v) | (lane >= static_cast<int16_t>(n));
    const I16x8 flipped = std::bit_cast<I16x8>(v) ^ static_cast<int16_t>(-0x8000);
    key[k] = (flipped & ~out[k]) | (out[k] & kLeftOutKey);
    hex16x8(std::bit_cast<U16x8>(key[k] ^ static_cast<int16_t>(-0x8000)), text + 8 * k);
  }
  // Each key against all: a largest key (left out, past the end) is below none, so whole
  // vectors are compared, without a test per lane; vectors wholly past the end are skipped.
  I16x8 rank[kVectors];
#pragma GCC unroll 8
  for (size_t k = 0; k < kVectors; ++k) rank[k] = I16x8{};
  auto countBelow = [&](I16x8 b) {
#pragma GCC unroll 8
    for (size_t k = 0; k < kVectors; ++k) rank[k] -= b < key[k];
  };
  for (size_t m = 0; m < kVectors && 8 * m < n; ++m) {
    countBelow(splat<0>(key[m]));
    countBelow(splat<1>(key[m]));
    countBelow(splat<2>(key[m]));
    countBelow(splat<3>(key[m]));
    countBelow(splat<4>(key[m]));
    countBelow(splat<5>(key[m]));
    countBelow(splat<6>(key[m]));
    countBelow(splat<7>(key[m]));
  }
  // Kept values, and the sum of their ranks.
  I16x8 sum{};
  I16x8 left{};
#pragma GCC unroll 8
  for (size_t k = 0; k < kVectors; ++k) {
    sum += rank[k] & ~out[k];
    left -= out[k];
  }
  const size_t kept = 8 * kVectors - static_cast<size_t>(horizontalSum(left));
  const size_t rank_sum = static_cast<size_t>(horizontalSum(sum));
  alignas(16) uint16_t ranks[8 * kVectors];
  std::memcpy(ranks, rank, sizeof ranks);

  // Commas first, then each value's 4 characters at 5 * rank: a rank counts keys strictly below,
  // so it is < n and every write stays within the 5 * 8 * kVectors bytes.
  std::memset(p, ',', 5 * 8 * kVectors);
  for (size_t i = 0; i < n; ++i) std::memcpy(p + 5 * size_t{ranks[i]}, &text[i], 4);
  if (rank_sum != kept * (kept - 1) / 2) return nullptr;
  return kept == 0 ? p : p + 5 * kept - 1;
}

// `values` (n of them, readable for kMaxRankedValues entries) sorted without the left-out ones;
// `p` has room for 5 * max(n, kMaxRankedValues) bytes.
template <typename LeftOut>
char* putSortedHexList(char* p, const uint16_t* values, size_t n, LeftOut left_out) {
  char* end = nullptr;
  if (n <= 8)
    end = putRankedHex<1>(p, values, n, left_out);
  else if (n <= 16)
    end = putRankedHex<2>(p, values, n, left_out);
  else if (n <= 32)
    end = putRankedHex<4>(p, values, n, left_out);
  else if (n <= kMaxRankedValues)
    end = putRankedHex<8>(p, values, n, left_out);
  if (end != nullptr) return end;
  // Over 64 values (OpenSSL's "ALL" offers ~140 suites) or a value listed twice.
  uint16_t kept[kMaxCipherSuites > kMaxExtensions ? kMaxCipherSuites : kMaxExtensions];
  size_t m = 0;
  for (size_t i = 0; i < n; ++i) {
    kept[m] = values[i];
    m += left_out(U16x8{} + values[i])[0] == 0;  // the lane test, on one value
  }
  std::sort(kept, kept + m);
  return putHexList(p, kept, m);
}

// JA4.md "TLS and DTLS Version".
inline void putJa4Version(char* p, uint16_t version) {
  const char* s = "00";  // "Unknown = 00"
  switch (version) {
    case 0x0304:
      s = "13";
      break;
    case 0x0303:
      s = "12";
      break;
    case 0x0302:
      s = "11";
      break;
    case 0x0301:
      s = "10";
      break;
    case 0x0300:
      s = "s3";
      break;
    case 0x0002:
      s = "s2";
      break;
    case 0xfeff:
      s = "d1";
      break;
    case 0xfefd:
      s = "d2";
      break;
    case 0xfefc:
      s = "d3";
      break;
    default:
      break;
  }
  p[0] = s[0];
  p[1] = s[1];
}

inline void putTwoDigits(char* p, unsigned n) {
  // JA4.md "Number of Ciphers": "If there's > 99 ... then output 99".
  if (n > 99) n = 99;
  p[0] = static_cast<char>('0' + n / 10);
  p[1] = static_cast<char>('0' + n % 10);
}

inline bool isAsciiAlnum(uint8_t c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

// JA4.md "ALPN Extension Value": first and last character of the first ALPN value; "00" when
// there is none or it is empty; when either end byte is not 0x30-0x39/0x41-0x5A/0x61-0x7A, the
// first and last characters of the value's hex representation instead.
inline void putJa4Alpn(char* p, const ClientHelloInfo& hello) {
  if (hello.alpn_total == 0 || hello.alpn_first_length == 0) {
    p[0] = p[1] = '0';
    return;
  }
  uint8_t front = hello.alpn_first_front;
  uint8_t back = hello.alpn_first_back;
  if (isAsciiAlnum(front) && isAsciiAlnum(back)) {
    p[0] = static_cast<char>(front);
    p[1] = static_cast<char>(back);
  } else {
    p[0] = kHexDigits[front >> 4];
    p[1] = kHexDigits[back & 0xf];
  }
}

// JA4.md: sha256 "truncated to 12 characters", lower case; empty lists give 000000000000.
inline bool putTruncatedSha256(char* p, std::string_view input, bool empty,
                               DigestContext& digests) {
  if (empty) {
    std::memset(p, '0', 12);
    return true;
  }
  Sha256Digest d;
  if (!digests.sha256(input, d)) return false;
  hexEncode(d.data(), 6, p);
  return true;
}

}  // namespace

uint16_t formatJa3(const ClientHelloInfo& hello, Ja3Text& out) {
  // JA3 README: "SSLVersion,Cipher,SSLExtension,EllipticCurve,EllipticCurvePointFormat", decimal,
  // SSLVersion being the ClientHello's version field (not the record's, not supported_versions).
  char* p = out.data();
  p = putDecimal(p, hello.handshake_version);
  *p++ = ',';
  p = putJa3List(p, hello.cipher_suites, true);
  *p++ = ',';
  p = putJa3List(p, hello.extensions, true);
  *p++ = ',';
  p = putJa3List(p, hello.supported_groups, true);
  *p++ = ',';
  p = putJa3List(p, hello.ec_point_formats, false);
  return static_cast<uint16_t>(p - out.data());
}

void buildJa4Parts(const ClientHelloInfo& hello, Ja4Transport transport, Ja4Parts& out) {
  // Section a: protocol, version, SNI, counts, ALPN.
  char* a = out.a.data();
  a[0] = static_cast<char>(transport);
  // JA4.md: "If extension 0x002b exists (supported_versions), then the version is the highest
  // value in the extension. Remember to ignore GREASE values. If the extension doesn't exist,
  // then the TLS version is the value of the Protocol Version" (the ClientHello's own field).
  uint16_t highest = hello.has_supported_versions ? hello.highestSupportedVersion() : 0;
  putJa4Version(a + 1, highest != 0 ? highest : hello.handshake_version);
  a[3] = hello.has_server_name ? 'd' : 'i';  // "SNI=d or no SNI=i"
  // GREASE values "don't count"; everything else does, SNI and ALPN included.
  putTwoDigits(a + 4, hello.cipher_suites_non_grease);
  putTwoDigits(a + 6, hello.extensions_non_grease);
  putJa4Alpn(a + 8, hello);

  // Section b: cipher hex codes, GREASE removed, sorted, comma-joined.
  static_assert(decltype(hello.cipher_suites)::capacity() >= kMaxRankedValues &&
                decltype(hello.extensions)::capacity() >= kMaxRankedValues);
  static_assert(sizeof out.b >= 5 * kMaxRankedValues && sizeof out.c >= 5 * kMaxRankedValues);
  out.b_length = static_cast<uint16_t>(
      putSortedHexList(out.b.data(), hello.cipher_suites.values.data(), hello.cipher_suites.count,
                       [](U16x8 v) { return greaseLanes(v); }) -
      out.b.data());

  // Section c: extensions sorted without GREASE, SNI (0000) and ALPN (0010); then '_' and the
  // signature algorithms "in the order that they appear", and no '_' when there are none.
  char* c = putSortedHexList(
      out.c.data(), hello.extensions.values.data(), hello.extensions.count,
      [](U16x8 v) -> I16x8 { return greaseLanes(v) | (v == kExtServerName) | (v == kExtAlpn); });
  out.c_has_extensions = c != out.c.data();
  char* underscore = c;
  *c++ = '_';
  char* sigalgs = c;
  for (uint16_t v : hello.signature_algorithms.view()) {
    char* next = putHex16Comma(c, v);
    c = isGrease(v) ? c : next;  // "ignore GREASE values anywhere it sees them"
  }
  c = c == sigalgs ? underscore : c - 1;  // none: no '_'; else drop the last ','
  out.c_length = static_cast<uint16_t>(c - out.c.data());
}

bool computeJa3(const ClientHelloInfo& hello, DigestContext& digests, Ja3& out) {
  out.length = formatJa3(hello, out.text);
  Md5Digest d;
  if (!digests.md5(out.string(), d)) return false;
  hexEncode(d.data(), d.size(), out.md5_hex.data());
  return true;
}

bool computeJa4(const ClientHelloInfo& hello, DigestContext& digests, Ja4& out,
                Ja4Transport transport) {
  Ja4Parts parts;
  buildJa4Parts(hello, transport, parts);
  char* p = out.text.data();
  std::memcpy(p, parts.a.data(), parts.a.size());
  p[10] = '_';
  p[23] = '_';
  return putTruncatedSha256(p + 11, parts.bView(), parts.b_length == 0, digests) &&
         putTruncatedSha256(p + 24, parts.cView(), !parts.c_has_extensions, digests);
}

bool computeJa3s(const ServerHelloInfo& hello, DigestContext& digests, Ja3s& out) {
  // JA3S (salesforce/ja3 python/ja3s.py): "SSLVersion,Cipher,SSLExtension" with the
  // ServerHello's version field and its extensions in order; no GREASE filter there (RFC 8701
  // §3: a client fails the handshake when the server selects a GREASE value).
  char* p = out.text.data();
  p = putDecimal(p, hello.legacy_version);
  *p++ = ',';
  p = putDecimal(p, hello.cipher_suite);
  *p++ = ',';
  p = putJa3List(p, hello.extensions, false);
  out.length = static_cast<uint16_t>(p - out.text.data());
  Md5Digest d;
  if (!digests.md5(out.string(), d)) return false;
  hexEncode(d.data(), d.size(), out.md5_hex.data());
  return true;
}

bool fingerprintClientHello(const ClientHelloInfo& hello, DigestContext& digests,
                            ClientFingerprints& out) {
  return computeJa3(hello, digests, out.ja3) && computeJa4(hello, digests, out.ja4);
}

std::string ja4Raw(const ClientHelloInfo& hello, Ja4Transport transport) {
  Ja4Parts parts;
  buildJa4Parts(hello, transport, parts);
  std::string s(parts.aView());
  s += '_';
  s += parts.bView();
  s += '_';
  s += parts.cView();
  return s;
}

}  // namespace smtpguard
