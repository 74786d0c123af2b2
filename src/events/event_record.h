#pragma once
// What a worker hands the event writer: the common EVE fields as binary, the type-specific
// members already rendered as a JSON fragment (JsonBuilder). Fixed size so it travels through
// an rte_ring of elements by copy, with no allocation on either side.

#include <cstdint>

#include "common/ip_addr.h"

namespace smtpguard {

enum class EventType : uint8_t {
  kSmtpStarttls,
  kSmtpAuth,
  kSmtpAnomaly,
  kSmtpFlow,
  kTlsClientHello,
  kPolicyVerdict,
  kSubscriberAlert,
};

constexpr const char* eventTypeName(EventType t) {
  switch (t) {
    case EventType::kSmtpStarttls:
      return "smtp_starttls";
    case EventType::kSmtpAuth:
      return "smtp_auth";
    case EventType::kSmtpAnomaly:
      return "smtp_anomaly";
    case EventType::kSmtpFlow:
      return "smtp_flow";
    case EventType::kTlsClientHello:
      return "tls_client_hello";
    case EventType::kPolicyVerdict:
      return "policy_verdict";
    case EventType::kSubscriberAlert:
      return "subscriber_alert";
  }
  return "unknown";
}

inline constexpr size_t kEventRecordSize = 1024;

struct EventRecord {
  uint64_t ts_ns;  // wall clock, ns since the epoch (packet time in replay)
  uint64_t flow_id;
  IpAddr src;  // the client (connection initiator)
  IpAddr dst;  // the server
  uint16_t src_port;
  uint16_t dst_port;
  EventType type;
  uint8_t lcore;
  uint16_t body_len;
  // Type-specific members: a JSON object's inside, without braces.
  char body[kEventRecordSize - 56];
};
static_assert(sizeof(EventRecord) == kEventRecordSize);

}  // namespace smtpguard
