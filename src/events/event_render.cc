#include "events/event_render.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>
#include <ctime>

#include "events/json_builder.h"
#include "flow/flow_table.h"
#include "policy/policy_types.h"
#include "smtp/smtp_line.h"
#include "subscriber/subscriber_stats.h"

namespace smtpguard {

std::string formatEveTimestamp(uint64_t ts_ns) {
  time_t secs = static_cast<time_t>(ts_ns / 1000000000ull);
  unsigned usec = static_cast<unsigned>((ts_ns % 1000000000ull) / 1000u);
  tm t{};
  gmtime_r(&secs, &t);
  char buf[48];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
  std::snprintf(buf + n, sizeof buf - n, ".%06u+0000", usec);
  return buf;
}

const char* tlsKindName(SmtpTlsKind k) {
  switch (k) {
    case SmtpTlsKind::kStarttls:
      return "starttls";
    case SmtpTlsKind::kImplicit:
      return "implicit";
    case SmtpTlsKind::kNone:
      break;
  }
  return "none";
}

const char* starttlsResultName(SmtpStarttlsResult r) {
  switch (r) {
    case SmtpStarttlsResult::kAccepted:
      return "accepted";
    case SmtpStarttlsResult::kRefused:
      return "refused";
    case SmtpStarttlsResult::kOther:
      return "other";
    case SmtpStarttlsResult::kNone:
      break;
  }
  return "none";
}

std::string_view tlsVersionName(uint16_t v, char (&buf)[8]) {
  switch (v) {
    case 0x0300:
      return "SSLv3";
    case 0x0301:
      return "TLS 1.0";
    case 0x0302:
      return "TLS 1.1";
    case 0x0303:
      return "TLS 1.2";
    case 0x0304:
      return "TLS 1.3";
    default:
      break;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  buf[0] = '0';
  buf[1] = 'x';
  for (int i = 0; i < 4; ++i) buf[2 + i] = kHex[(v >> (12 - 4 * i)) & 15];
  return {buf, 6};
}

std::string ja3String(const ClientHelloRecord& h) {
  if (!h.ja3_string_kept) return {};
  std::string s = std::to_string(h.ja3_version);
  size_t at = h.ja3Offset();
  for (unsigned list = 0; list < 4; ++list) {
    s += ',';
    for (unsigned i = 0; i < h.ja3_lists[list] && at + 2 <= ClientHelloRecord::kArena; ++i) {
      uint16_t v;
      std::memcpy(&v, h.arena + at, 2);
      at += 2;
      if (i != 0) s += '-';
      s += std::to_string(v);
    }
  }
  return s;
}

namespace {

// An address as inet_ntop(3) writes it (the sample destinations always were).
std::string_view addrText(const IpAddr& a, char (&buf)[INET6_ADDRSTRLEN]) {
  const char* r = a.isV4() ? inet_ntop(AF_INET, a.b + 12, buf, sizeof buf)
                           : inet_ntop(AF_INET6, a.b, buf, sizeof buf);
  return r == nullptr ? std::string_view() : std::string_view(buf);
}

const char* starttlsReplyResult(uint16_t code) {
  return code == 220 ? "accepted" : (code >= 400 && code < 600 ? "refused" : "other");
}

void renderFlow(const FlowRecord& r, JsonBuilder& b) {
  char vbuf[8];
  b.beginObject("smtp");
  if (r.helo.len > 0) b.str("helo", r.helo.view());
  uint16_t ext_bits[16];
  size_t n_ext = 0;
  for (unsigned i = 0; i < 16; ++i)
    if (r.extensions & (1u << i)) ext_bits[n_ext++] = static_cast<uint16_t>(i);
  b.strArray("extensions", n_ext,
             [&](size_t i) { return extensionName(static_cast<SmtpExtension>(ext_bits[i])); });
  b.beginObject("starttls")
      .boolean("offered", r.starttls_offered)
      .boolean("attempted", r.starttls_attempted)
      .str("result", starttlsResultName(r.starttls_result))
      .endObject();
  uint16_t mech_bits[16];
  size_t n_mech = 0;
  for (unsigned i = 1; i < 16; ++i)
    if (r.auth_mechs & (1u << i)) mech_bits[n_mech++] = static_cast<uint16_t>(i);
  b.strArray("auth_mechanisms", n_mech,
             [&](size_t i) { return authMechName(static_cast<SmtpAuthMech>(mech_bits[i])); });
  b.str("tls", tlsKindName(r.tls)).num("messages", r.messages);
  b.endObject();
  if (r.has_server_hello) {
    b.beginObject("tls")
        .str("version", tlsVersionName(r.tls_version, vbuf))
        .num("cipher_suite", r.cipher_suite)
        .str("ja3s", std::string_view(r.ja3s, sizeof r.ja3s))
        .endObject();
  }
  if (r.has_verdict) {
    b.beginObject("policy")
        .str("rule", r.verdict_rule.view())
        .str("action", actionName(r.verdict_action))
        .boolean("enforced", r.verdict_enforced)
        .endObject();
  }
  const uint64_t duration_ns = r.end_ns > r.start_ns ? r.end_ns - r.start_ns : 0;
  b.beginObject("flow")
      .num("bytes_toserver", r.bytes_toserver)
      .num("bytes_toclient", r.bytes_toclient)
      .num("age", duration_ns / 1000000000u)
      .num("duration_ms", duration_ns / 1000000u)
      .boolean("midstream", r.midstream)
      .str("reason", endReasonName(r.reason))
      .endObject();
}

void renderHello(const ClientHelloRecord& h, JsonBuilder& b) {
  char vbuf[8];
  b.beginObject("tls");
  b.str("from", tlsKindName(h.from));
  b.str("version", tlsVersionName(h.version, vbuf));
  if (h.sni_len > 0) b.str("sni", h.sni());
  b.strArray("alpn", h.alpn_count, [&](size_t i) { return h.alpnName(i); });
  b.str("ja4", std::string_view(h.ja4, sizeof h.ja4));
  b.beginObject("ja3").str("hash", std::string_view(h.ja3_hash, sizeof h.ja3_hash));
  if (h.ja3_string_kept) b.str("string", ja3String(h));
  b.endObject().endObject();
}

void renderAlert(const SubscriberAlertRecord& a, JsonBuilder& b) {
  b.beginObject("subscriber")
      .str("source", a.source.view())
      .str("detector", a.detector.view())
      .str("stat", kSubStatNames[static_cast<size_t>(a.stat)])
      .num("count", a.count)
      .num("threshold", a.threshold)
      .num("window_s", a.window_s)
      .num("window_start", a.window_start)
      .str("action", a.quarantine_action ? "quarantine" : "alert")
      .boolean("shadow", a.shadow)
      .num("quarantined_until", a.quarantined_until)
      .num("first_seen_ms", a.first_seen_ms)
      .num("last_seen_ms", a.last_seen_ms);
  b.beginObject("totals");
  for (size_t s = 0; s < kSubStatCount; ++s) b.num(kSubStatNames[s], a.totals[s]);
  b.endObject();
  char addr[kRecordSampleDestinations][INET6_ADDRSTRLEN];
  const size_t n =
      a.n_samples < kRecordSampleDestinations ? a.n_samples : kRecordSampleDestinations;
  b.strArray("sample_destinations", n, [&](size_t i) { return addrText(a.samples[i], addr[i]); });
  b.endObject();
}

void renderBody(const EventRecord& ev, JsonBuilder& b) {
  switch (ev.type) {
    case EventType::kSmtpStarttls:
      b.beginObject("smtp").beginObject("starttls");
      b.str("result", starttlsReplyResult(ev.starttls.reply_code))
          .num("reply_code", ev.starttls.reply_code);
      b.endObject().endObject();
      break;
    case EventType::kSmtpAuth:
      b.beginObject("smtp").beginObject("auth");
      b.str("mechanism", authMechName(ev.auth.mech)).boolean("tls", ev.auth.tls);
      b.endObject().endObject();
      break;
    case EventType::kSmtpAnomaly:
      b.beginObject("smtp").beginObject("anomaly");
      b.str("name", anomalyName(ev.anomaly.anomaly)).str("detail", ev.anomaly.detail.view());
      b.endObject().endObject();
      break;
    case EventType::kSmtpFlow:
      renderFlow(ev.flow, b);
      break;
    case EventType::kTlsClientHello:
      renderHello(ev.hello, b);
      break;
    case EventType::kPolicyVerdict:
      b.beginObject("policy")
          .str("rule", ev.verdict.rule.view())
          .str("action", actionName(ev.verdict.action))
          .str("stage", stageName(ev.verdict.stage))
          .boolean("enforced", ev.verdict.enforced)
          .str("policy", ev.verdict.policy.view())
          .endObject();
      break;
    case EventType::kSubscriberAlert:
      renderAlert(ev.alert, b);
      break;
  }
}

}  // namespace

std::string renderEvent(const EventRecord& ev) {
  char src[64], dst[64];
  formatIp(ev.src, src, sizeof src);
  formatIp(ev.dst, dst, sizeof dst);
  char body[kEventBodyCapacity];
  JsonBuilder b(body, sizeof body);
  renderBody(ev, b);
  std::string line;
  line.reserve(256 + b.size());
  line += "{\"timestamp\":\"" + formatEveTimestamp(ev.ts_ns) + "\"";
  line += ",\"flow_id\":" + std::to_string(ev.flow_id);
  line += ",\"event_type\":\"";
  line += eventTypeName(ev.type);
  line += "\",\"src_ip\":\"";
  line += src;
  line += "\",\"src_port\":" + std::to_string(ev.src_port);
  line += ",\"dest_ip\":\"";
  line += dst;
  line += "\",\"dest_port\":" + std::to_string(ev.dst_port);
  line += ",\"proto\":\"TCP\"";
  if (b.size() > 0) {
    line += ',';
    line += b.view();
  }
  line += '}';
  return line;
}

}  // namespace smtpguard
