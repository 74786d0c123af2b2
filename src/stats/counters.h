#pragma once
// The one declared list of counters. Every name here is the exact string that appears in the
// stats JSON, in telemetry, in Prometheus (dots become underscores, prefixed `smtpguard_`) and
// in docs/counters.md. Workers own one CounterBlock each and increment without atomics; readers
// sum the blocks with relaxed loads (see counter_block.h).
//
// Counters whose name carries a value (`flows.port.<N>`, `policy.rule.<name>`) live in the
// indexed families of CounterBlock, named at export time.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace smtpguard {

// clang-format off
#define SMTPGUARD_COUNTERS(X)                                                        \
  /* packets (foundation) */                                                          \
  X(kPacketsRx,               "packets.rx")                                           \
  X(kPacketsTx,               "packets.tx")                                           \
  X(kPacketsTxFailed,         "packets.tx_failed")                                    \
  X(kPacketsNonlinear,        "packets.nonlinear")                                    \
  X(kPacketsOversize,         "packets.oversize")                                     \
  X(kPacketsDropped,          "packets.dropped")                                      \
  X(kPacketsMalformed,        "packets.malformed")                                    \
  X(kPacketsNonIp,            "packets.non_ip")                                       \
  X(kPacketsVlan,             "packets.vlan")                                         \
  X(kPacketsIpv4,             "packets.ipv4")                                         \
  X(kPacketsIpv6,             "packets.ipv6")                                         \
  X(kPacketsFragments,        "packets.fragments")                                    \
  X(kPacketsTcp,              "packets.tcp")                                          \
  X(kPacketsUdp,              "packets.udp")                                          \
  X(kPacketsOtherL4,          "packets.other_l4")                                     \
  X(kPacketsSmtpPort,         "packets.smtp_port")                                    \
  X(kPacketsRstInjected,      "packets.rst_injected")                                 \
  X(kPacketsIcmpInjected,     "packets.icmp_injected")                                \
  X(kPacketsBadChecksum,      "packets.bad_checksum")                                 \
  X(kPacketsUninspectableDropped, "packets.uninspectable_dropped")                    \
  X(kIpFragmentsHeld,         "ip.fragments_held")                                    \
  X(kIpFragmentsDropped,      "ip.fragments_dropped")                                 \
  X(kIpReassembled,           "ip.reassembled")                                       \
  /* why a packet was malformed: one of these per packets.malformed */               \
  X(kMalformedEthernet,       "packets.malformed.ethernet")                           \
  X(kMalformedVlan,           "packets.malformed.vlan")                               \
  X(kMalformedIpv4Header,     "packets.malformed.ipv4_header")                        \
  X(kMalformedIpv4Length,     "packets.malformed.ipv4_length")                        \
  X(kMalformedIpv6Header,     "packets.malformed.ipv6_header")                        \
  X(kMalformedIpv6ExtHeader,  "packets.malformed.ipv6_ext_header")                    \
  X(kMalformedIpv6Mapped,     "packets.malformed.ipv6_mapped_address")                \
  X(kMalformedTcpHeader,      "packets.malformed.tcp_header")                         \
  X(kMalformedTcpOptions,     "packets.malformed.tcp_options")                        \
  /* flows and TCP */                                                                 \
  X(kFlowsCreated,            "flows.created")                                        \
  X(kFlowsActive,             "flows.active")                                         \
  X(kFlowsEvicted,            "flows.evicted")                                        \
  X(kFlowsTimedOut,           "flows.timed_out")                                      \
  X(kFlowsMidstream,          "flows.midstream")                                      \
  X(kFlowsMidstreamRecycled,  "flows.midstream_recycled")                             \
  X(kFlowsRefusedNoState,     "flows.refused_no_state")                               \
  X(kFlowsMidlineRefused,     "flows.midline_refused")                                \
  X(kFlowsTableFull,          "flows.table_full")                                     \
  X(kTcpRetransmit,           "tcp.retransmit")                                       \
  X(kTcpRetransmitUnverified, "tcp.retransmit_unverified")                            \
  X(kTcpOutOfOrder,           "tcp.out_of_order")                                     \
  X(kTcpDesync,               "tcp.desync")                                           \
  X(kTcpSegmentOutOfWindow,   "tcp.segment_out_of_window")                            \
  X(kTcpSegmentRefused,       "tcp.segment_refused")                                  \
  X(kTcpRstOutOfWindow,       "tcp.rst_out_of_window")                                \
  X(kStreamInconsistentRetransmission, "stream.inconsistent_retransmission")          \
  X(kTcpResync,               "tcp.resync")                                           \
  X(kStreamUninspectedDropped, "stream.uninspected_dropped")                          \
  X(kPoolExhausted,           "pool.exhausted")                                       \
  /* SMTP */                                                                          \
  X(kSmtpStarttlsOffered,     "smtp.starttls.offered")                                \
  X(kSmtpStarttlsAttempted,   "smtp.starttls.attempted")                              \
  X(kSmtpStarttlsAccepted,    "smtp.starttls.accepted")                               \
  X(kSmtpStarttlsRefused,     "smtp.starttls.refused")                                \
  X(kSmtpTlsImplicit,         "smtp.tls.implicit")                                    \
  X(kSmtpTlsClientHello,      "smtp.tls.client_hello")                                \
  X(kSmtpAuth,                "smtp.auth")                                            \
  X(kSmtpAuthPlaintext,       "smtp.auth.plaintext")                                  \
  X(kSmtpAuthPlaintextPlain,  "smtp.auth.plaintext.PLAIN")                            \
  X(kSmtpAuthPlaintextLogin,  "smtp.auth.plaintext.LOGIN")                            \
  X(kSmtpAuthPlaintextCramMd5,"smtp.auth.plaintext.CRAM-MD5")                         \
  X(kSmtpAuthPlaintextDigestMd5,"smtp.auth.plaintext.DIGEST-MD5")                     \
  X(kSmtpAuthPlaintextNtlm,   "smtp.auth.plaintext.NTLM")                             \
  X(kSmtpAuthPlaintextGssapi, "smtp.auth.plaintext.GSSAPI")                           \
  X(kSmtpAuthPlaintextXoauth2,"smtp.auth.plaintext.XOAUTH2")                          \
  X(kSmtpAuthPlaintextOauthbearer,"smtp.auth.plaintext.OAUTHBEARER")                  \
  X(kSmtpAuthPlaintextScramSha1,"smtp.auth.plaintext.SCRAM-SHA-1")                    \
  X(kSmtpAuthPlaintextScramSha256,"smtp.auth.plaintext.SCRAM-SHA-256")                \
  X(kSmtpAuthPlaintextExternal,"smtp.auth.plaintext.EXTERNAL")                        \
  X(kSmtpAuthPlaintextAnonymous,"smtp.auth.plaintext.ANONYMOUS")                      \
  X(kSmtpAuthPlaintextOther,  "smtp.auth.plaintext.OTHER")                            \
  X(kSmtpAuthSuccess,         "smtp.auth.success")                                    \
  X(kSmtpAuthFailure,         "smtp.auth.failure")                                    \
  X(kSmtpMessages,            "smtp.messages")                                        \
  X(kSmtpCommands,            "smtp.commands")                                        \
  X(kSmtpReplies,             "smtp.replies")                                         \
  X(kSmtpLinesOverlong,       "smtp.lines.overlong")                                  \
  X(kSmtpAnomalyStarttlsInjection,      "smtp.anomaly.starttls_injection")            \
  X(kSmtpAnomalyPlaintextAfterStarttls, "smtp.anomaly.plaintext_after_starttls")      \
  X(kSmtpAnomalyPlaintextOnImplicitTls, "smtp.anomaly.plaintext_on_implicit_tls_port") \
  X(kSmtpAnomalyStarttlsOfferedNotUsed, "smtp.anomaly.starttls_offered_not_used")     \
  X(kSmtpAnomalyStarttlsNotOffered,     "smtp.anomaly.starttls_not_offered")          \
  X(kSmtpAnomalyStarttlsMasked,         "smtp.anomaly.starttls_masked")               \
  X(kSmtpAnomalyCommandLineTooLong,     "smtp.anomaly.command_line_too_long")         \
  /* TLS */                                                                           \
  X(kTlsMalformed,            "tls.malformed")                                        \
  X(kTlsServerHello,          "tls.server_hello")                                     \
  /* events */                                                                        \
  X(kEventsEmitted,           "events.emitted")                                       \
  X(kEventsDropped,           "events.dropped")                                       \
  X(kEventsWriteFailed,       "events.write_failed")                                  \
  X(kEventsRedisSent,         "events.redis_sent")                                    \
  X(kEventsRedisDropped,      "events.redis_dropped")                                 \
  X(kEventsSyslogSent,        "events.syslog_sent")                                   \
  X(kEventsSyslogDropped,     "events.syslog_dropped")                                \
  /* IPFIX export (docs/export.md) */                                                 \
  X(kIpfixExported,           "ipfix.exported")                                       \
  X(kIpfixDropped,            "ipfix.dropped")                                        \
  /* policy */                                                                        \
  X(kPolicyBlocked,           "policy.blocked")                                       \
  X(kPolicyRateLimited,       "policy.rate_limited")                                  \
  X(kPolicyWouldBlock,        "policy.would_block")                                   \
  X(kPolicyReloads,           "policy.reloads")                                       \
  X(kPolicyReloadFailures,    "policy.reload_failures")                            \
  /* subscribers (docs/subscribers.md) */                                             \
  X(kSubscribersAlerts,       "subscribers.alerts")                                   \
  X(kSubscribersShadowAlerts, "subscribers.shadow_alerts")                            \
  X(kSubscribersQuarantined,  "subscribers.quarantined")                              \
  X(kSubscribersQuarantineFull, "subscribers.quarantine_full")                        \
  X(kSubscribersEvicted,      "subscribers.evicted")
// clang-format on

enum class Counter : uint16_t {
#define SMTPGUARD_COUNTER_ENUM(id, name) id,
  SMTPGUARD_COUNTERS(SMTPGUARD_COUNTER_ENUM)
#undef SMTPGUARD_COUNTER_ENUM
      kCount
};

inline constexpr size_t kCounterCount = static_cast<size_t>(Counter::kCount);

inline constexpr std::array<std::string_view, kCounterCount> kCounterNames = {
#define SMTPGUARD_COUNTER_NAME(id, name) std::string_view{name},
    SMTPGUARD_COUNTERS(SMTPGUARD_COUNTER_NAME)
#undef SMTPGUARD_COUNTER_NAME
};

constexpr std::string_view counterName(Counter c) {
  return kCounterNames[static_cast<size_t>(c)];
}

// Gauges are summed like counters but may go down (flows.active).
constexpr bool isGauge(Counter c) {
  return c == Counter::kFlowsActive;
}

}  // namespace smtpguard
