#include "smtp/smtp_line.h"

#include <array>
#include <utility>

namespace smtpguard {
namespace {

constexpr char upper(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
}
constexpr bool isBlank(char c) {
  return c == ' ' || c == '\t';
}
constexpr bool isDigit(char c) {
  return c >= '0' && c <= '9';
}
constexpr bool isAlpha(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

// `want` is upper case.
bool equalsNoCase(std::string_view s, std::string_view want) {
  if (s.size() != want.size()) return false;
  for (size_t i = 0; i < s.size(); ++i)
    if (upper(s[i]) != want[i]) return false;
  return true;
}

std::string_view trimRight(std::string_view s) {
  while (!s.empty() && (isBlank(s.back()) || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string_view trimLeft(std::string_view s) {
  while (!s.empty() && isBlank(s.front())) s.remove_prefix(1);
  return s;
}

constexpr std::array<std::pair<std::string_view, SmtpVerb>, 14> kVerbs = {{
    {"HELO", SmtpVerb::kHelo},
    {"EHLO", SmtpVerb::kEhlo},
    {"MAIL", SmtpVerb::kMail},
    {"RCPT", SmtpVerb::kRcpt},
    {"DATA", SmtpVerb::kData},
    {"BDAT", SmtpVerb::kBdat},
    {"RSET", SmtpVerb::kRset},
    {"QUIT", SmtpVerb::kQuit},
    {"NOOP", SmtpVerb::kNoop},
    {"VRFY", SmtpVerb::kVrfy},
    {"EXPN", SmtpVerb::kExpn},
    {"HELP", SmtpVerb::kHelp},
    {"STARTTLS", SmtpVerb::kStarttls},
    {"AUTH", SmtpVerb::kAuth},
}};

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

}  // namespace

SmtpCommand parseCommand(std::string_view line) {
  line = trimRight(trimLeft(line));
  SmtpCommand cmd;
  if (line.empty()) return cmd;
  size_t end = 0;
  while (end < line.size() && !isBlank(line[end])) ++end;
  std::string_view verb = line.substr(0, end);
  cmd.verb = SmtpVerb::kUnknown;
  for (const auto& [name, v] : kVerbs)
    if (equalsNoCase(verb, name)) {
      cmd.verb = v;
      break;
    }
  cmd.arg = trimLeft(line.substr(end));
  return cmd;
}

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
  while (i < n && isBlank(at(i))) ++i;
  constexpr std::string_view kAuth = "AUTH";
  for (size_t k = 0; k < kAuth.size(); ++k, ++i) {
    if (i >= n) return r;  // undecided
    if (upper(at(i)) != kAuth[k]) {
      r.kind = AuthLineHead::Kind::kNotAuth;
      return r;
    }
  }
  if (i >= n) return r;
  char sep = at(i);
  if (!isBlank(sep) && sep != '\r') {
    r.kind = AuthLineHead::Kind::kNotAuth;  // AUTHX...
    return r;
  }
  while (i < n && isBlank(at(i))) ++i;
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

SmtpReplyLine parseReplyLine(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  SmtpReplyLine r;
  if (line.size() < 3 || !isDigit(line[0]) || !isDigit(line[1]) || !isDigit(line[2])) return r;
  r.code = static_cast<uint16_t>((line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0'));
  if (line.size() == 3) {
    r.valid = r.final = true;
    return r;
  }
  if (line[3] != ' ' && line[3] != '-') return r;
  r.valid = true;
  r.final = line[3] == ' ';
  r.text = line.substr(4);
  return r;
}

std::string_view extensionName(SmtpExtension e) {
  size_t i = static_cast<size_t>(e);
  return i < kExtensionNames.size() ? kExtensionNames[i] : std::string_view{};
}

std::string_view ehloKeyword(std::string_view text) {
  text = trimLeft(text);
  size_t end = 0;
  while (end < text.size() && !isBlank(text[end]) && text[end] != '=' && text[end] != '\r') ++end;
  return text.substr(0, end);
}

SmtpExtension extensionFromKeyword(std::string_view keyword) {
  for (size_t i = 0; i + 1 < kExtensionNames.size(); ++i)
    if (equalsNoCase(keyword, kExtensionNames[i])) return static_cast<SmtpExtension>(i);
  return SmtpExtension::kOther;
}

bool isMaskedStarttls(std::string_view keyword) {
  if (keyword.size() != 8 || !isAlpha(keyword[7])) return false;
  for (size_t i = 0; i < 7; ++i)
    if (upper(keyword[i]) != 'X') return false;
  return true;
}

BdatArgs parseBdatArgs(std::string_view arg) {
  arg = trimRight(trimLeft(arg));
  BdatArgs r;
  size_t i = 0;
  while (i < arg.size() && isDigit(arg[i])) {
    uint64_t d = static_cast<uint64_t>(arg[i] - '0');
    r.size = r.size > (UINT64_MAX - d) / 10 ? UINT64_MAX : r.size * 10 + d;
    ++i;
  }
  if (i == 0) return r;  // RFC 3030 §2: chunk-size is 1*DIGIT
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

std::string_view heloName(std::string_view arg) {
  arg = trimLeft(arg);
  size_t end = 0;
  while (end < arg.size() && !isBlank(arg[end]) && arg[end] != '\r') ++end;
  return arg.substr(0, end);
}

}  // namespace smtpguard
