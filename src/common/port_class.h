#pragma once
// How a destination port is treated; the mapping port -> class is policy (docs/policy.md).

#include <cstdint>

namespace smtpguard {

enum class PortClass : uint8_t {
  kNone = 0,     // not an SMTP port: pass-through
  kRelay,        // 25: MTA to MTA (RFC 5321)
  kSubmission,   // 587, 2525: submission with STARTTLS (RFC 6409, RFC 3207)
  kImplicitTls,  // 465: TLS from the first byte (RFC 8314)
};

constexpr const char* portClassName(PortClass c) {
  switch (c) {
    case PortClass::kRelay:
      return "relay";
    case PortClass::kSubmission:
      return "submission";
    case PortClass::kImplicitTls:
      return "implicit_tls";
    case PortClass::kNone:
      break;
  }
  return "none";
}

}  // namespace smtpguard
