#pragma once
// What one SMTP line means: command verbs (RFC 5321 §4.1.1), reply lines (RFC 5321 §4.2), EHLO
// keywords (RFC 5321 §4.1.1.1), SASL mechanisms (RFC 4954, RFC 4422) and BDAT arguments
// (RFC 3030). Pure functions over one line without its LF; they keep no state and never read
// outside the view they are given. The session engine (smtp_session.h) decides which line is
// which.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace smtpguard {

// Longest command or reply line the engine reads, CR included, LF excluded. RFC 5321
// §4.5.3.1.4-5 set 512 for commands and replies; real servers send longer EHLO and banner lines,
// so the text-line limit of §4.5.3.1.6 (1000) is used for both. AUTH lines are exempt: RFC 4954
// §4 allows 12288 octets, and the engine never keeps more than the mechanism of one.
inline constexpr size_t kMaxLineLength = 1000;

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

// Verbs are case-insensitive (RFC 5321 §2.4). Leading blanks are skipped because some servers
// tolerate them, and a command the server runs must not escape us.
SmtpCommand parseCommand(std::string_view line);

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

SmtpReplyLine parseReplyLine(std::string_view line);

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
std::string_view ehloKeyword(std::string_view text);

SmtpExtension extensionFromKeyword(std::string_view keyword);

// A STARTTLS keyword rewritten by a middlebox: eight characters, the first seven 'X', the last a
// letter ("XXXXXXXA": Cisco ASA ESMTP inspection keeps only the length and last letter).
bool isMaskedStarttls(std::string_view keyword);

struct BdatArgs {
  bool valid = false;
  bool last = false;
  uint64_t size = 0;  // saturates at UINT64_MAX: the server waits for every octet too
};

// "<chunk-size> [LAST]" (RFC 3030 §2).
BdatArgs parseBdatArgs(std::string_view arg);

// The domain of "FROM:<local@domain> [params]" (RFC 5321 §4.1.2); empty for the null path <>.
std::string_view mailFromDomain(std::string_view arg);

// The first word of a HELO/EHLO argument: the client's name for itself.
std::string_view heloName(std::string_view arg);

}  // namespace smtpguard
