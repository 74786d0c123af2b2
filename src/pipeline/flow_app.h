#pragma once
// What the pipeline keeps per SMTP-port flow, beside the flow table's own fields.

#include <array>
#include <cstdint>

#include "flow/flow_table.h"
#include "smtp/smtp_session.h"
#include "tls/tls_reassembly.h"

namespace smtpguard {

// Hot: the SMTP engine's state, in the flow entry's 32-byte application slot.
struct FlowApp {
  SmtpHot smtp;
};
using Flow = FlowEntry<FlowApp>;
static_assert(sizeof(Flow) == 128, "hot per-flow state: two cache lines");

// Cold: attached (Flow::app_ref = handle + 1) when TLS begins on the flow, kept until the flow
// ends because the end-of-flow event reports what the server chose.
struct TlsAttachment {
  HelloState client;  // ClientHello gathering
  HelloState server;  // ServerHello gathering
  SmtpTlsKind kind = SmtpTlsKind::kNone;
  bool server_hello = false;
  uint16_t server_version = 0;  // negotiated (supported_versions when present)
  uint16_t cipher_suite = 0;
  std::array<char, 32> ja3s{};
};

}  // namespace smtpguard
