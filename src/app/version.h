#pragma once
// `smtpguard --version`: this program's version (meson's project version) and the versions of
// the libraries it runs with, read from the libraries themselves (not their headers).

#include <string>

namespace smtpguard {

std::string versionText();

}  // namespace smtpguard
