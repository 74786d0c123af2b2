#pragma once
// The vocabulary shared by the policy file, the compiled snapshot and the fast path: actions,
// enforcement stages, session facts and SMTP anomalies. Names here are the strings used in
// policy files, `smtpguardctl show`, events and docs/policy.md.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>

namespace smtpguard {

enum class Action : uint8_t {
  kAllow,      // pass
  kAlert,      // pass and emit an event
  kDrop,       // discard silently (the SYN, or the segment and the rest of the flow)
  kReject,     // TCP RST to the client (and to the server once established), or ICMP
  kRateLimit,  // token bucket on new connections: admitted -> allow, over the rate -> drop
};

constexpr std::string_view actionName(Action a) {
  switch (a) {
    case Action::kAllow:
      return "allow";
    case Action::kAlert:
      return "alert";
    case Action::kDrop:
      return "drop";
    case Action::kReject:
      return "reject";
    case Action::kRateLimit:
      return "rate_limit";
  }
  return "?";
}

enum class RejectWith : uint8_t {
  kTcpReset,  // RST to the client; once established, to the server as well
  kIcmp,      // ICMP/ICMPv6 administratively prohibited (RFC 792 type 3 code 13, RFC 4443 code 1)
};

constexpr std::string_view rejectWithName(RejectWith r) {
  return r == RejectWith::kIcmp ? "icmp" : "tcp_rst";
}

// When a rule decides. Connection rules use address and port conditions only and decide at
// the SYN; session rules use SMTP/TLS facts or patterns and decide at the session event that
// makes them true.
enum class Stage : uint8_t { kConnection, kSession };

constexpr std::string_view stageName(Stage s) {
  return s == Stage::kSession ? "session" : "connection";
}

// Session events the fast path reports; a session rule lists the ones that can make it match,
// so the fast path re-evaluates only when one of them happens.
struct SessionEvent {
  enum : uint8_t {
    kEhlo = 1u << 0,      // EHLO/HELO and its reply (STARTTLS offered or not)
    kStarttls = 1u << 1,  // STARTTLS command and its reply
    kTlsHello = 1u << 2,  // ClientHello parsed (SNI, JA3, JA4; TLS seen)
    kAuth = 1u << 3,      // AUTH command
    kMail = 1u << 4,      // MAIL FROM command
    kAnomaly = 1u << 5,   // the SMTP engine flagged an anomaly
    kAll = 0x3f,
  };
};

// Boolean session facts. Bit i of SessionFacts::flags is fact i.
// X(id, policy key, event that sets it)
// clang-format off
#define SMTPGUARD_SESSION_FACTS(X)                                      \
  X(kPlaintextAuth,     "plaintext_auth",     SessionEvent::kAuth)      \
  X(kMailInClear,       "mail_in_clear",      SessionEvent::kMail)      \
  X(kStarttlsOffered,   "starttls_offered",   SessionEvent::kEhlo)      \
  X(kStarttlsAttempted, "starttls_attempted", SessionEvent::kStarttls)  \
  X(kStarttlsAccepted,  "starttls_accepted",  SessionEvent::kStarttls)  \
  X(kStarttlsRefused,   "starttls_refused",   SessionEvent::kStarttls)  \
  X(kImplicitTls,       "implicit_tls",       SessionEvent::kTlsHello)  \
  X(kTlsSeen,           "tls_seen",           SessionEvent::kTlsHello)
// clang-format on

enum class Fact : uint8_t {
#define SMTPGUARD_FACT_ENUM(id, key, event) id,
  SMTPGUARD_SESSION_FACTS(SMTPGUARD_FACT_ENUM)
#undef SMTPGUARD_FACT_ENUM
      kCount
};
inline constexpr size_t kFactCount = static_cast<size_t>(Fact::kCount);

inline constexpr std::string_view kFactNames[kFactCount] = {
#define SMTPGUARD_FACT_NAME(id, key, event) key,
    SMTPGUARD_SESSION_FACTS(SMTPGUARD_FACT_NAME)
#undef SMTPGUARD_FACT_NAME
};
inline constexpr uint8_t kFactEvents[kFactCount] = {
#define SMTPGUARD_FACT_EVENT(id, key, event) event,
    SMTPGUARD_SESSION_FACTS(SMTPGUARD_FACT_EVENT)
#undef SMTPGUARD_FACT_EVENT
};

constexpr uint32_t factBit(Fact f) {
  return 1u << static_cast<unsigned>(f);
}

// SMTP anomalies by name, in the bit order of the SMTP engine's SmtpAnomaly
// (src/smtp/smtp_session.h): bit i of SessionFacts::anomalies is `1 << SmtpAnomaly(i)`, named
// kAnomalyNames[i], the same suffix as its smtp.anomaly.<name> counter. The policy keeps only
// the names so that it (and smtpguardctl) does not depend on the SMTP engine.
inline constexpr std::string_view kAnomalyNames[] = {
    "starttls_injection",        "plaintext_after_starttls", "plaintext_on_implicit_tls_port",
    "starttls_offered_not_used", "starttls_not_offered",     "starttls_masked",
    "command_line_too_long",
};
inline constexpr size_t kAnomalyCount = std::size(kAnomalyNames);

// The anomaly bit for a name, 0 if unknown. Control plane and tests.
constexpr uint64_t anomalyBit(std::string_view name) {
  for (size_t i = 0; i < kAnomalyCount; ++i)
    if (kAnomalyNames[i] == name) return uint64_t{1} << i;
  return 0;
}

}  // namespace smtpguard
