#pragma once
// Renders typed event records (event_record.h) as JSON lines whose common fields follow
// Suricata's EVE format (timestamp, flow_id, event_type, src_ip, src_port, dest_ip, dest_port,
// proto), so existing pipelines ingest them; docs/events.md is the contract. Runs on the main
// lcore only: workers never build JSON.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "events/event_record.h"
#include "smtp/smtp_session.h"

namespace smtpguard {

// The type-specific members of one line are bounded as they always were: a member that would
// take the body past this many bytes is left out whole (JsonBuilder), the line stays valid.
inline constexpr size_t kEventBodyCapacity = 968;

// ISO 8601 with microseconds and a numeric zone, as EVE writes it:
// 2026-01-01T00:00:00.000123+0000.
std::string formatEveTimestamp(uint64_t ts_ns);

// One line, without the trailing newline.
std::string renderEvent(const EventRecord& ev);

// Names shared by the JSON renderer and the IPFIX exporter.
const char* tlsKindName(SmtpTlsKind k);
const char* starttlsResultName(SmtpStarttlsResult r);
// "TLS 1.3" for known versions, "0x7f1c" otherwise (drafts, GREASE, garbage).
std::string_view tlsVersionName(uint16_t v, char (&buf)[8]);
// The JA3 string of a ClientHello record ("" when it was not kept).
std::string ja3String(const ClientHelloRecord& h);

}  // namespace smtpguard
