#pragma once
// What one SMTP line means: command verbs (RFC 5321 §4.1.1), reply lines (RFC 5321 §4.2), EHLO
// keywords (RFC 5321 §4.1.1.1), SASL mechanisms (RFC 4954, RFC 4422) and BDAT arguments
// (RFC 3030). Pure functions over one line without its LF; they keep no state and never read
// outside the view they are given. The session engine (smtp_session.h) decides which line is
// which.

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>
#include <utility>

namespace smtpguard {

// Longest command or reply line the engine keeps, CR included, LF excluded: the text-line limit
// of RFC 5321 §4.5.3.1.6 (1000). Real servers send longer EHLO and banner lines than the 512 of
// §4.5.3.1.5, and accept longer commands (Postfix: 2048), so a longer line is still read by its
// head. AUTH lines are exempt: RFC 4954 §4 allows 12288 octets, and the engine never keeps more
// than the mechanism of one.
inline constexpr size_t kMaxLineLength = 1000;

// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets with its CRLF. A longer one is
// counted and flagged (command_line_too_long): a server with a shorter buffer may split it and
// run what follows the split as a command of its own.
inline constexpr size_t kMaxCommandLine = 512;

// RFC 4422 §3.1: a SASL mechanism name is at most 20 characters.
inline constexpr size_t kMaxMechLength = 20;

enum class SmtpVerb : uint8_t {
  kNone,  // empty line
  kUnknown,
  kHelo,
  kEhlo,
  kMail,
  kRcpt,
  kData,
  kBdat,
  kRset,
  kQuit,
  kNoop,
  kVrfy,
  kExpn,
  kHelp,
  kStarttls,
  kAuth,
};

struct SmtpCommand {
  SmtpVerb verb = SmtpVerb::kNone;
  std::string_view arg;  // after the verb and its separating blanks, trailing blanks removed
};

// Verbs are case-insensitive (RFC 5321 §2.4). White space before and after the verb is skipped
// as servers skip it (Postfix's smtpd_token() takes any isspace(): blanks, VT, FF, CR), so that
// a command the server runs cannot escape us.
inline SmtpCommand parseCommand(std::string_view line);

enum class SmtpAuthMech : uint8_t {
  kNone,  // no AUTH seen
  kPlain,
  kLogin,
  kCramMd5,
  kDigestMd5,
  kNtlm,
  kGssapi,
  kXoauth2,
  kOauthbearer,
  kScramSha1,
  kScramSha256,
  kExternal,
  kAnonymous,
  kOther,
};
inline constexpr size_t kAuthMechCount = static_cast<size_t>(SmtpAuthMech::kOther) + 1;

constexpr uint16_t authMechBit(SmtpAuthMech m) {
  return static_cast<uint16_t>(1u << static_cast<unsigned>(m));
}

// Canonical IANA name ("PLAIN", "CRAM-MD5"), "OTHER" for kOther, "" for kNone.
std::string_view authMechName(SmtpAuthMech m);

// Case-insensitive; the channel-binding -PLUS variants map to their base mechanism.
SmtpAuthMech authMechFromName(std::string_view name);

// Where an AUTH command's mechanism ends, judged from the first bytes of a client line that may
// not have arrived whole. The initial response (RFC 4954 §4) starts after the mechanism, so a
// caller keeping a line head may keep [0, mech_end) and never a byte more.
struct AuthLineHead {
  enum class Kind : uint8_t {
    kNotAuth,     // the line is some other command
    kUndecided,   // too few bytes to tell
    kMechOpen,    // AUTH, mechanism not finished yet: every byte so far may be kept
    kMechClosed,  // AUTH, mechanism ends at mech_end (a blank, CR or its 20-character limit)
  };
  Kind kind = Kind::kUndecided;
  size_t mech_begin = 0;
  size_t mech_end = 0;
};

// The line is head followed by tail (a buffered part and the new bytes): nothing is copied.
AuthLineHead inspectAuthHead(std::string_view head, std::string_view tail);

struct SmtpReplyLine {
  bool valid = false;  // three digits then SP, '-' or the end (RFC 5321 §4.2)
  bool final = false;  // the last line of the reply (SP or nothing after the code)
  uint16_t code = 0;
  std::string_view text;  // after the separator
};

inline SmtpReplyLine parseReplyLine(std::string_view line);

// Service extensions a server advertises in its EHLO reply (RFC 5321 §4.1.1.1); bit positions
// of SmtpSummary::extensions.
enum class SmtpExtension : uint8_t {
  kStarttls,             // RFC 3207
  kAuth,                 // RFC 4954 (and the pre-standard "AUTH=")
  kPipelining,           // RFC 2920
  kChunking,             // RFC 3030
  kSize,                 // RFC 1870
  k8bitmime,             // RFC 6152
  kSmtputf8,             // RFC 6531
  kDsn,                  // RFC 3461
  kEnhancedStatusCodes,  // RFC 2034
  kBinarymime,           // RFC 3030
  kRequiretls,           // RFC 8689
  kPrdr,
  kEtrn,  // RFC 1985
  kVrfy,
  kHelp,
  kOther,  // any keyword not listed above
};
inline constexpr size_t kExtensionCount = static_cast<size_t>(SmtpExtension::kOther) + 1;

constexpr uint16_t extensionBit(SmtpExtension e) {
  return static_cast<uint16_t>(1u << static_cast<unsigned>(e));
}

std::string_view extensionName(SmtpExtension e);

// The keyword of one EHLO reply line's text: up to a blank or '=' ("AUTH=PLAIN" is AUTH).
inline std::string_view ehloKeyword(std::string_view text);

inline SmtpExtension extensionFromKeyword(std::string_view keyword);

// extensionFromKeyword(ehloKeyword(text)) for a text whose keyword is not empty, without scanning
// the keyword first: a known keyword has one of five lengths, so it is enough to test those.
inline SmtpExtension ehloExtension(std::string_view text);

// A STARTTLS keyword rewritten by a middlebox: eight characters, the first seven 'X', the last a
// letter ("XXXXXXXA": Cisco ASA ESMTP inspection keeps only the length and last letter).
inline bool isMaskedStarttls(std::string_view keyword);

struct BdatArgs {
  bool valid = false;
  bool last = false;
  uint64_t size = 0;
};

// "<chunk-size> [LAST]" (RFC 3030 §2). A size beyond 2^63-1 is invalid: no server holds it in its
// off_t, so to the server it is a syntax error (501) and the octets after it are not a chunk.
BdatArgs parseBdatArgs(std::string_view arg);

// The domain of "FROM:<local@domain> [params]" (RFC 5321 §4.1.2); empty for the null path <>.
std::string_view mailFromDomain(std::string_view arg);

// The first word of a HELO/EHLO argument: the client's name for itself.
inline std::string_view heloName(std::string_view arg);

// ---------------------------------------------------------------------------------------------
// Inline definitions: the session engine runs these on every line, so they are defined here to
// be inlined into its loops rather than called.

namespace smtp_detail {

// SP and HTAB, and the VT and FF that servers' isspace() also skips between tokens.
constexpr bool isBlank(char c) {
  return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}
// What may stand before a verb or between it and its argument: a blank, or a CR that does not end
// the line (only LF does, RFC 5321 §2.3.8 notwithstanding, in every server we follow).
constexpr bool isCommandSpace(char c) {
  return isBlank(c) || c == '\r';
}
constexpr bool isDigit(char c) {
  return c >= '0' && c <= '9';
}
constexpr bool isAlpha(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

constexpr std::string_view trimLeft(std::string_view s) {
  while (!s.empty() && isBlank(s.front())) s.remove_prefix(1);
  return s;
}

constexpr std::string_view trimCommandSpace(std::string_view s) {
  while (!s.empty() && isCommandSpace(s.front())) s.remove_prefix(1);
  return s;
}

constexpr std::string_view trimRight(std::string_view s) {
  while (!s.empty() && (isBlank(s.back()) || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Characters that end a token: one table load per byte instead of a chain of compares.
enum CharClass : uint8_t { kClassBlank = 1, kClassCr = 2, kClassEquals = 4 };
inline constexpr std::array<uint8_t, 256> kCharClass = [] {
  std::array<uint8_t, 256> t{};
  t[' '] = t['\t'] = t['\v'] = t['\f'] = kClassBlank;
  t['\r'] = kClassCr;
  t['='] = kClassEquals;
  return t;
}();

// Index of the first byte of s at or after `from` in one of the classes, or s.size().
constexpr size_t spanUntil(std::string_view s, size_t from, uint8_t classes) {
  while (from < s.size() && (kCharClass[static_cast<uint8_t>(s[from])] & classes) == 0) ++from;
  return from;
}

// Verbs and keywords are told apart by loading their bytes as one integer instead of comparing
// them with a table one name at a time. A folded word is the little-endian value of an
// upper-case name with the case bit (0x20) masked off its letters; a load ANDed with the mask
// equals it exactly when the bytes spell the name in any letter case. Non-letters ('8', '-')
// keep a full mask: 0x18 must not pass for '8'.
struct FoldedWord {
  uint64_t value = 0;
  uint64_t mask = 0;
};

constexpr FoldedWord foldWord(std::string_view upper_name) {
  FoldedWord w;
  for (size_t i = 0; i < upper_name.size() && i < 8; ++i) {
    const uint64_t m = isAlpha(upper_name[i]) ? 0xdf : 0xff;
    w.value |= (static_cast<uint8_t>(upper_name[i]) & m) << (8 * i);
    w.mask |= m << (8 * i);
  }
  return w;
}

// At the call sites: consteval, so a name is folded by the compiler, never per packet.
consteval FoldedWord fold(std::string_view upper_name) {
  return foldWord(upper_name);
}

// The N bytes at p, which the caller checked exist, as a little-endian integer: one load.
template <size_t N>
constexpr uint64_t loadLe(const char* p) {
  static_assert(N <= 8);
  uint64_t v = 0;
  if (std::is_constant_evaluated()) {
    for (size_t i = 0; i < N; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << 8 * i;
    return v;
  }
  std::memcpy(&v, p, N);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

template <size_t N>
constexpr bool matches(const char* p, FoldedWord w) {
  return (loadLe<N>(p) & w.mask) == w.value;
}

// Four letters in any case, the shape of every verb but STARTTLS and of most EHLO keywords:
// one mask for all of them.
inline constexpr uint64_t kFold4 = 0xdfdfdfdf;

// Four-letter names found with one multiply and one compare instead of a tree of compares: the
// folded word times a multiplier picks, by its top bits, the one slot the name can be in. The
// multipliers were found by search; a table whose names collide does not compile.
template <class T, unsigned kBits>
struct Word4Table {
  struct Slot {
    uint32_t word;  // folded name, 0 in an empty slot (no folded name is 0)
    T value;
  };
  uint32_t mul;
  std::array<Slot, size_t{1} << kBits> slots;

  constexpr T find(uint32_t folded, T none) const {
    const Slot& s = slots[static_cast<uint32_t>(folded * mul) >> (32 - kBits)];
    return s.word == folded ? s.value : none;
  }
};

template <class T, unsigned kBits, size_t N>
consteval Word4Table<T, kBits> makeWord4Table(uint32_t mul,
                                              const std::pair<std::string_view, T> (&names)[N],
                                              T none) {
  Word4Table<T, kBits> t{mul, {}};
  for (auto& slot : t.slots) slot = {0, none};
  for (const auto& [name, value] : names) {
    const auto word = static_cast<uint32_t>(foldWord(name).value);
    auto& slot = t.slots[static_cast<uint32_t>(word * mul) >> (32 - kBits)];
    if (name.size() != 4 || slot.value != none) throw "not four letters, or a shared slot";
    slot = {word, value};
  }
  return t;
}

inline constexpr auto kVerbs4 = [] {
  constexpr std::pair<std::string_view, SmtpVerb> kNames[] = {
      {"HELO", SmtpVerb::kHelo}, {"EHLO", SmtpVerb::kEhlo}, {"MAIL", SmtpVerb::kMail},
      {"RCPT", SmtpVerb::kRcpt}, {"DATA", SmtpVerb::kData}, {"BDAT", SmtpVerb::kBdat},
      {"RSET", SmtpVerb::kRset}, {"QUIT", SmtpVerb::kQuit}, {"NOOP", SmtpVerb::kNoop},
      {"VRFY", SmtpVerb::kVrfy}, {"EXPN", SmtpVerb::kExpn}, {"HELP", SmtpVerb::kHelp},
      {"AUTH", SmtpVerb::kAuth},
  };
  return makeWord4Table<SmtpVerb, 4>(0xa6ecc31f, kNames, SmtpVerb::kUnknown);
}();

inline constexpr auto kExtensions4 = [] {
  constexpr std::pair<std::string_view, SmtpExtension> kNames[] = {
      {"AUTH", SmtpExtension::kAuth}, {"SIZE", SmtpExtension::kSize},
      {"PRDR", SmtpExtension::kPrdr}, {"ETRN", SmtpExtension::kEtrn},
      {"VRFY", SmtpExtension::kVrfy}, {"HELP", SmtpExtension::kHelp},
  };
  return makeWord4Table<SmtpExtension, 3>(0xb9fad67f, kNames, SmtpExtension::kOther);
}();

// RFC 5321 §4.1.1: every verb is four letters but STARTTLS (RFC 3207).
constexpr SmtpVerb verbOf(std::string_view verb) {
  if (verb.size() == 4)
    return kVerbs4.find(static_cast<uint32_t>(loadLe<4>(verb.data()) & kFold4), SmtpVerb::kUnknown);
  if (verb.size() == 8 && matches<8>(verb.data(), fold("STARTTLS"))) return SmtpVerb::kStarttls;
  return SmtpVerb::kUnknown;
}

// Known keywords by length: at most four masked compares decide each.
constexpr SmtpExtension extension3(const char* k) {
  return matches<3>(k, fold("DSN")) ? SmtpExtension::kDsn : SmtpExtension::kOther;
}

constexpr SmtpExtension extension4(const char* k) {
  return kExtensions4.find(static_cast<uint32_t>(loadLe<4>(k) & kFold4), SmtpExtension::kOther);
}

constexpr SmtpExtension extension8(const char* k) {
  const uint64_t v = loadLe<8>(k);
  // Every eight-letter name but 8BITMIME and SMTPUTF8 is letters only: one fold for those two.
  const uint64_t letters = v & fold("STARTTLS").mask;
  if (letters == fold("STARTTLS").value) return SmtpExtension::kStarttls;
  if (letters == fold("CHUNKING").value) return SmtpExtension::kChunking;
  if ((v & fold("8BITMIME").mask) == fold("8BITMIME").value) return SmtpExtension::k8bitmime;
  if ((v & fold("SMTPUTF8").mask) == fold("SMTPUTF8").value) return SmtpExtension::kSmtputf8;
  return SmtpExtension::kOther;
}

constexpr SmtpExtension extension10(const char* k) {
  // Two loads, the first eight letters and the last two; all three names are letters only.
  const uint64_t head = loadLe<8>(k) & fold("PIPELINI").mask;
  const uint64_t tail = loadLe<2>(k + 8) & fold("NG").mask;
  if (head == fold("PIPELINI").value && tail == fold("NG").value) return SmtpExtension::kPipelining;
  if (head == fold("BINARYMI").value && tail == fold("ME").value) return SmtpExtension::kBinarymime;
  if (head == fold("REQUIRET").value && tail == fold("LS").value) return SmtpExtension::kRequiretls;
  return SmtpExtension::kOther;
}

constexpr SmtpExtension extension19(const char* k) {
  return matches<8>(k, fold("ENHANCED")) && matches<8>(k + 8, fold("STATUSCO")) &&
                 matches<3>(k + 16, fold("DES"))
             ? SmtpExtension::kEnhancedStatusCodes
             : SmtpExtension::kOther;
}

// Dispatch on the length first.
constexpr SmtpExtension extensionOf(std::string_view keyword) {
  switch (keyword.size()) {
    case 3:
      return extension3(keyword.data());
    case 4:
      return extension4(keyword.data());
    case 8:
      return extension8(keyword.data());
    case 10:
      return extension10(keyword.data());
    case 19:
      return extension19(keyword.data());
    default:
      return SmtpExtension::kOther;
  }
}

}  // namespace smtp_detail

inline SmtpCommand parseCommand(std::string_view line) {
  using namespace smtp_detail;
  line = trimRight(trimCommandSpace(line));
  SmtpCommand cmd;
  if (line.empty()) return cmd;
  // A known four-letter verb followed by white space or the end ends at 4: no scan for it.
  size_t end = 4;
  const bool four = line.size() == 4 || (line.size() > 4 && isCommandSpace(line[4]));
  cmd.verb = four ? verbOf(line.substr(0, 4)) : SmtpVerb::kUnknown;
  if (cmd.verb == SmtpVerb::kUnknown) {
    end = spanUntil(line, 0, kClassBlank | kClassCr);
    cmd.verb = verbOf(line.substr(0, end));
  }
  cmd.arg = trimCommandSpace(line.substr(end));
  return cmd;
}

inline SmtpReplyLine parseReplyLine(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  SmtpReplyLine r;
  if (line.size() < 3) return r;
  // Digit values as unsigned: a non-digit wraps above 9. One test for the three.
  const unsigned d0 = static_cast<uint8_t>(line[0]) - unsigned{'0'};
  const unsigned d1 = static_cast<uint8_t>(line[1]) - unsigned{'0'};
  const unsigned d2 = static_cast<uint8_t>(line[2]) - unsigned{'0'};
  if ((d0 > 9) | (d1 > 9) | (d2 > 9)) return r;
  r.code = static_cast<uint16_t>(d0 * 100 + d1 * 10 + d2);
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

inline std::string_view ehloKeyword(std::string_view text) {
  using namespace smtp_detail;
  text = trimLeft(text);
  return text.substr(0, spanUntil(text, 0, kClassBlank | kClassCr | kClassEquals));
}

inline SmtpExtension extensionFromKeyword(std::string_view keyword) {
  return smtp_detail::extensionOf(keyword);
}

inline SmtpExtension ehloExtension(std::string_view text) {
  using namespace smtp_detail;
  const char* k = text.data();
  const size_t n = text.size();
  // Known names have lengths 3, 4, 8, 10 and 19 and contain no blank, CR or '='. Tried in
  // increasing order, the first of those lengths where the keyword may end (a blank, CR, '=' or
  // the end of the text) is the only one where a name can match: had the keyword been shorter
  // and a name, an earlier length would have ended it.
  auto endsAt = [&](size_t len) {
    return len == n || (kCharClass[static_cast<uint8_t>(k[len])] &
                        (kClassBlank | kClassCr | kClassEquals)) != 0;
  };
  if (n < 3) return SmtpExtension::kOther;
  if (endsAt(3)) return extension3(k);
  if (n >= 4 && endsAt(4)) return extension4(k);
  if (n >= 8 && endsAt(8)) return extension8(k);
  if (n >= 10 && endsAt(10)) return extension10(k);
  if (n >= 19 && endsAt(19)) return extension19(k);
  return SmtpExtension::kOther;
}

inline bool isMaskedStarttls(std::string_view keyword) {
  using namespace smtp_detail;
  return keyword.size() == 8 && isAlpha(keyword[7]) && matches<7>(keyword.data(), fold("XXXXXXX"));
}

inline std::string_view heloName(std::string_view arg) {
  using namespace smtp_detail;
  arg = trimLeft(arg);
  return arg.substr(0, spanUntil(arg, 0, kClassBlank | kClassCr));
}

}  // namespace smtpguard
