#include "app/version.h"

#include <hs.h>
#include <openssl/crypto.h>
#include <rte_version.h>

#ifndef SMTPGUARD_VERSION
#error "SMTPGUARD_VERSION comes from meson's project version (src/app/meson.build)"
#endif

namespace smtpguard {

std::string versionText() {
  // rte_version() and hs_version() need no EAL and no database.
  return std::string("smtpguard ") + SMTPGUARD_VERSION + "\n" + rte_version() + "\nHyperscan " +
         hs_version() + "\n" + OpenSSL_version(OPENSSL_VERSION) + "\n";
}

}  // namespace smtpguard
