#include "smtp/smtp_line.h"

#include <array>
#include <cstdint>

namespace smtpguard {
namespace {

constexpr char upper(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
}

// `want` is upper case.
bool equalsNoCase(std::string_view s, std::string_view want) {
  if (s.size() != want.size()) return false;
  for (size_t i = 0; i < s.size(); ++i)
    if (upper(s[i]) != want[i]) return false;
  return true;
}

using smtp_detail::isBlank;
using smtp_detail::isCommandSpace;
using smtp_detail::isDigit;
using smtp_detail::trimLeft;
using smtp_detail::trimRight;

constexpr std::array<std::string_view, kAuthMechCount> kMechNames = {
    "",        "PLAIN",       "LOGIN",       "CRAM-MD5",      "DIGEST-MD5", "NTLM",      "GSSAPI",
    "XOAUTH2", "OAUTHBEARER", "SCRAM-SHA-1", "SCRAM-SHA-256", "EXTERNAL",   "ANONYMOUS", "OTHER",
};

constexpr std::array<std::string_view, kExtensionCount> kExtensionNames = {
    "STARTTLS",   "AUTH",       "PIPELINING",
    "CHUNKING",   "SIZE",       "8BITMIME",
    "SMTPUTF8",   "DSN",        "ENHANCEDSTATUSCODES",
    "BINARYMIME", "REQUIRETLS", "PRDR",
    "ETRN",       "VRFY",       "HELP",
    "OTHER",
};

// The folded-word dispatch (smtp_line.h) checked against the names, at compile time.
using smtp_detail::verbOf;
static_assert(verbOf("HELO") == SmtpVerb::kHelo && verbOf("ehlo") == SmtpVerb::kEhlo &&
              verbOf("MaIl") == SmtpVerb::kMail && verbOf("rcpt") == SmtpVerb::kRcpt &&
              verbOf("DATA") == SmtpVerb::kData && verbOf("BDAT") == SmtpVerb::kBdat &&
              verbOf("RSET") == SmtpVerb::kRset && verbOf("QUIT") == SmtpVerb::kQuit &&
              verbOf("NOOP") == SmtpVerb::kNoop && verbOf("VRFY") == SmtpVerb::kVrfy &&
              verbOf("EXPN") == SmtpVerb::kExpn && verbOf("HELP") == SmtpVerb::kHelp &&
              verbOf("AUTH") == SmtpVerb::kAuth && verbOf("StartTLS") == SmtpVerb::kStarttls &&
              verbOf("HEL0") == SmtpVerb::kUnknown && verbOf("H\x05LO") == SmtpVerb::kUnknown);

using smtp_detail::extensionOf;

constexpr bool everyExtensionNameMapsToItself() {
  for (size_t i = 0; i + 1 < kExtensionNames.size(); ++i)
    if (extensionOf(kExtensionNames[i]) != static_cast<SmtpExtension>(i)) return false;
  return extensionOf("OTHER") == SmtpExtension::kOther;
}
static_assert(everyExtensionNameMapsToItself());
static_assert(extensionOf("starttls") == SmtpExtension::kStarttls);
static_assert(extensionOf("8bitmime") == SmtpExtension::k8bitmime);
static_assert(extensionOf("\030BITMIME") == SmtpExtension::kOther);  // 0x18 is no case of 8

}  // namespace

std::string_view authMechName(SmtpAuthMech m) {
  size_t i = static_cast<size_t>(m);
  return i < kMechNames.size() ? kMechNames[i] : std::string_view{};
}

SmtpAuthMech authMechFromName(std::string_view name) {
  if (name.empty()) return SmtpAuthMech::kOther;
  // RFC 5802 §4: the -PLUS variant is the same mechanism with channel binding.
  constexpr std::string_view kPlus = "-PLUS";
  if (name.size() > kPlus.size() && equalsNoCase(name.substr(name.size() - kPlus.size()), kPlus))
    name.remove_suffix(kPlus.size());
  for (size_t i = 1; i + 1 < kMechNames.size(); ++i)
    if (equalsNoCase(name, kMechNames[i])) return static_cast<SmtpAuthMech>(i);
  return SmtpAuthMech::kOther;
}

AuthLineHead inspectAuthHead(std::string_view head, std::string_view tail) {
  const size_t n = head.size() + tail.size();
  auto at = [&](size_t i) { return i < head.size() ? head[i] : tail[i - head.size()]; };
  AuthLineHead r;
  size_t i = 0;
  while (i < n && isCommandSpace(at(i))) ++i;
  constexpr std::string_view kAuth = "AUTH";
  for (size_t k = 0; k < kAuth.size(); ++k, ++i) {
    if (i >= n) return r;  // undecided
    if (upper(at(i)) != kAuth[k]) {
      r.kind = AuthLineHead::Kind::kNotAuth;
      return r;
    }
  }
  if (i >= n) return r;
  if (!isCommandSpace(at(i))) {
    r.kind = AuthLineHead::Kind::kNotAuth;  // AUTHX...
    return r;
  }
  while (i < n && isCommandSpace(at(i))) ++i;
  r.mech_begin = i;
  while (i < n && !isBlank(at(i)) && at(i) != '\r') {
    if (i - r.mech_begin == kMaxMechLength) break;  // longer than any mechanism: stop keeping
    ++i;
  }
  r.mech_end = i;
  bool closed = i < n || i - r.mech_begin == kMaxMechLength;
  r.kind = closed ? AuthLineHead::Kind::kMechClosed : AuthLineHead::Kind::kMechOpen;
  return r;
}

std::string_view extensionName(SmtpExtension e) {
  size_t i = static_cast<size_t>(e);
  return i < kExtensionNames.size() ? kExtensionNames[i] : std::string_view{};
}

BdatArgs parseBdatArgs(std::string_view arg) {
  arg = trimRight(trimLeft(arg));
  BdatArgs r;
  size_t i = 0;
  bool too_big = false;
  constexpr uint64_t kMaxSize = INT64_MAX;
  while (i < arg.size() && isDigit(arg[i])) {
    uint64_t d = static_cast<uint64_t>(arg[i] - '0');
    if (r.size > (kMaxSize - d) / 10) too_big = true;
    if (!too_big) r.size = r.size * 10 + d;
    ++i;
  }
  if (i == 0 || too_big) return r;  // RFC 3030 §2: chunk-size is 1*DIGIT
  std::string_view rest = trimLeft(arg.substr(i));
  if (rest.empty()) {
    r.valid = true;
  } else if (i < arg.size() && isBlank(arg[i]) && equalsNoCase(rest, "LAST")) {
    r.valid = r.last = true;
  }
  return r;
}

std::string_view mailFromDomain(std::string_view arg) {
  size_t colon = arg.find(':');
  if (colon == std::string_view::npos) return {};
  std::string_view path = trimLeft(arg.substr(colon + 1));
  size_t end;
  if (!path.empty() && path.front() == '<') {
    path.remove_prefix(1);
    end = path.find('>');
  } else {
    end = 0;
    while (end < path.size() && !isBlank(path[end])) ++end;
  }
  if (end == std::string_view::npos) end = path.size();
  path = path.substr(0, end);
  // The last '@': a source route (RFC 5321 §4.1.2, "@a,@b:user@dom") puts others first.
  size_t at = path.rfind('@');
  return at == std::string_view::npos ? std::string_view{} : path.substr(at + 1);
}

}  // namespace smtpguard
