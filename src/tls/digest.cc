#include "tls/digest.h"

#include <openssl/evp.h>

#include <stdexcept>
#include <string>

namespace smtpguard {
namespace {

EVP_MD* fetchOrThrow(const char* name) {
  EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  if (md == nullptr)
    throw std::runtime_error(std::string("OpenSSL: digest ") + name +
                             " is not available from the loaded providers (JA3/JA4 need MD5 "
                             "and SHA-256 from the default provider)");
  return md;
}

EVP_MD_CTX* newCtxOrThrow() {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) throw std::runtime_error("OpenSSL: EVP_MD_CTX_new failed");
  return ctx;
}

template <size_t N>
bool digestInto(EVP_MD_CTX* ctx, const EVP_MD* md, std::string_view data,
                std::array<uint8_t, N>& out) {
  // EVP_DigestInit_ex2 with the EVP_MD the context already holds only re-initialises the
  // provider's state: no fetch, no allocation.
  unsigned int len = 0;
  return EVP_DigestInit_ex2(ctx, md, nullptr) == 1 &&
         EVP_DigestUpdate(ctx, data.data(), data.size()) == 1 &&
         EVP_DigestFinal_ex(ctx, out.data(), &len) == 1 && len == N;
}

}  // namespace

void DigestContext::MdFree::operator()(EVP_MD* md) const {
  EVP_MD_free(md);
}
void DigestContext::MdCtxFree::operator()(EVP_MD_CTX* ctx) const {
  EVP_MD_CTX_free(ctx);
}

DigestContext::DigestContext()
    : md5_(fetchOrThrow("MD5")),
      sha256_(fetchOrThrow("SHA2-256")),
      md5_ctx_(newCtxOrThrow()),
      sha256_ctx_(newCtxOrThrow()) {
  // Warm both contexts so the first ClientHello on the fast path allocates nothing.
  Md5Digest m;
  Sha256Digest s;
  if (!md5("", m) || !sha256("", s))
    throw std::runtime_error("OpenSSL: MD5/SHA-256 self-check failed");
}

DigestContext::~DigestContext() = default;

bool DigestContext::md5(std::string_view data, Md5Digest& out) {
  return digestInto(md5_ctx_.get(), md5_.get(), data, out);
}

bool DigestContext::sha256(std::string_view data, Sha256Digest& out) {
  return digestInto(sha256_ctx_.get(), sha256_.get(), data, out);
}

}  // namespace smtpguard
