#pragma once
// RAII owner of the OpenSSL 3 digests used for TLS fingerprints (MD5 for JA3/JA3S, SHA-256 for
// JA4). One DigestContext per lcore: built on the control plane, used on the fast path.
//
// Why not EVP_md5() / EVP_Digest(): in OpenSSL 3 those go through an implicit fetch (a
// provider lookup under a lock) and a fresh EVP_MD_CTX on every call, which costs about twice
// the hash itself for inputs this short. We fetch each EVP_MD once (OpenSSL 3 crypto(7),
// "Explicit fetching") and keep one EVP_MD_CTX per algorithm, so that re-initialising it with
// the same EVP_MD reuses the provider context instead of allocating a new one.

#include <openssl/types.h>

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

namespace smtpguard {

inline constexpr size_t kMd5Bytes = 16;
inline constexpr size_t kSha256Bytes = 32;
using Md5Digest = std::array<uint8_t, kMd5Bytes>;
using Sha256Digest = std::array<uint8_t, kSha256Bytes>;

class DigestContext {
 public:
  // Control plane: throws std::runtime_error naming the digest the providers do not offer
  // (MD5 is absent from a FIPS-only configuration, for instance).
  DigestContext();
  ~DigestContext();
  DigestContext(const DigestContext&) = delete;
  DigestContext& operator=(const DigestContext&) = delete;

  // Fast path: no allocation once warm, no exceptions. False only if OpenSSL reports an error.
  bool md5(std::string_view data, Md5Digest& out);
  bool sha256(std::string_view data, Sha256Digest& out);

 private:
  struct MdFree {
    void operator()(EVP_MD* md) const;
  };
  struct MdCtxFree {
    void operator()(EVP_MD_CTX* ctx) const;
  };
  std::unique_ptr<EVP_MD, MdFree> md5_;
  std::unique_ptr<EVP_MD, MdFree> sha256_;
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> md5_ctx_;
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> sha256_ctx_;
};

// Two lower-case hex characters per byte value, as the uint16 that holds them in memory order:
// one 2-byte store per byte instead of two table lookups.
struct HexPairs {
  std::array<uint16_t, 256> pairs{};
  constexpr HexPairs() {
    constexpr char kDigits[] = "0123456789abcdef";
    for (int b = 0; b < 256; ++b)
      pairs[b] = std::bit_cast<uint16_t>(std::array<char, 2>{kDigits[b >> 4], kDigits[b & 0xf]});
  }
  uint16_t operator[](size_t b) const { return pairs[b]; }
};
inline constexpr HexPairs kHexPairs;

// Lower-case hex of `bytes` into `out` (2 chars per byte); writes exactly 2 * n.
inline void hexEncode(const uint8_t* bytes, size_t n, char* out) {
  for (size_t i = 0; i < n; ++i) std::memcpy(out + 2 * i, &kHexPairs.pairs[bytes[i]], 2);
}

}  // namespace smtpguard
