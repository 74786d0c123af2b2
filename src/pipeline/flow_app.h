#pragma once
// What the pipeline keeps per SMTP-port flow, beside the flow table's own fields.

#include <array>
#include <cstdint>

#include "flow/flow_table.h"
#include "policy/policy_snapshot.h"
#include "smtp/smtp_session.h"
#include "tls/tls_reassembly.h"

namespace smtpguard {

// Hot: the SMTP engine's state, in the flow entry's 32-byte application slot.
struct FlowApp {
  SmtpHot smtp;
};
using Flow = FlowEntry<FlowApp>;
static_assert(sizeof(Flow) == 128, "hot per-flow state: two cache lines");

// Flow::app_ref, the application's 32 bits of the entry: the policy decision in the top bits,
// the handle (+1, 0 = none) of the flow's SessionAttachment below.
struct AppRef {
  static constexpr uint32_t kDecided = 1u << 31;   // the connection verdict was taken
  static constexpr uint32_t kBlocked = 1u << 30;   // every further packet is dropped
  static constexpr uint32_t kReject = 1u << 29;    // ... and a SYN retransmission is reset again
  static constexpr uint32_t kReported = 1u << 28;  // the smtp_flow record went out
  static constexpr uint32_t kHandleMask = (1u << 24) - 1;

  static uint32_t attachment(const Flow& f) { return f.app_ref & kHandleMask; }
  static void setAttachment(Flow& f, uint32_t handle_plus_one) {
    f.app_ref = (f.app_ref & ~kHandleMask) | handle_plus_one;
  }
};

// Cold: attached when the flow first needs more than the hot state holds (TLS begins, a
// pattern field or an anomaly the policy may act on), kept until the flow ends because the
// end-of-flow event and later session verdicts read it.
struct SessionAttachment {
  HelloState client;  // ClientHello gathering
  HelloState server;  // ServerHello gathering
  SmtpTlsKind tls_kind = SmtpTlsKind::kNone;
  bool server_hello = false;
  bool mail_in_clear = false;
  uint8_t anomalies = 0;        // 1 << SmtpAnomaly, every anomaly of the flow so far
  uint16_t server_version = 0;  // negotiated (supported_versions when present)
  uint16_t cipher_suite = 0;
  uint16_t alerted_rule = kNoRule;   // the last session verdict acted on: once per flow
  uint16_t shadowed_rule = kNoRule;  // the last shadow session rule reported: likewise
  uint64_t rules_generation = 0;     // the policy whose rules the two indices above name
  // The strongest verdict of the flow, for its record: the rule's counter slot (names are
  // stable across reloads), its action, whether it was enforced.
  bool has_verdict = false;
  bool verdict_enforced = false;
  Action verdict_action = Action::kAllow;
  uint16_t verdict_slot = kNoRule;  // kNoRule: the policy's default decided
  PatternMatches patterns;          // for the snapshot generation they carry
  std::array<char, 32> ja3s{};
  std::array<char, 32> ja3{};  // hex MD5, once the ClientHello is parsed
  std::array<char, 36> ja4{};
  bool has_ja = false;
};

}  // namespace smtpguard
