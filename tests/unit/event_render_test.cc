#include "events/event_render.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <string_view>

#include "tests/common/event_fixture.h"

namespace smtpguard {
namespace {

constexpr std::string_view kCommon =
    "{\"timestamp\":\"2026-01-01T00:00:00.123456+0000\",\"flow_id\":42,\"event_type\":\"";
constexpr std::string_view kEnds =
    "\",\"src_ip\":\"100.64.0.7\",\"src_port\":40000,\"dest_ip\":\"198.19.0.1\",\"dest_port\":25,"
    "\"proto\":\"TCP\",";

std::string line(std::string_view type, std::string_view body) {
  return std::string(kCommon) + std::string(type) + std::string(kEnds) + std::string(body) + "}";
}

void fill(char* dst, std::string_view s) {
  std::memcpy(dst, s.data(), s.size());
}

// Test that a STARTTLS reply renders its result from the code, as docs/events.md shows.
TEST(EventRender, SmtpStarttls) {
  EventRecord ev = sampleEventRecord(EventType::kSmtpStarttls);
  ev.starttls.reply_code = 454;
  EXPECT_EQ(
      renderEvent(ev),
      line("smtp_starttls", "\"smtp\":{\"starttls\":{\"result\":\"refused\",\"reply_code\":454}}"));
  ev.starttls.reply_code = 220;
  EXPECT_EQ(renderEvent(ev),
            line("smtp_starttls",
                 "\"smtp\":{\"starttls\":{\"result\":\"accepted\",\"reply_code\":220}}"));
}

// Test that an AUTH renders the mechanism's canonical name and nothing else: the record has no
// room for the client's bytes.
TEST(EventRender, SmtpAuth) {
  EventRecord ev = sampleEventRecord(EventType::kSmtpAuth);
  ev.auth.mech = SmtpAuthMech::kPlain;
  ev.auth.tls = false;
  EXPECT_EQ(renderEvent(ev),
            line("smtp_auth", "\"smtp\":{\"auth\":{\"mechanism\":\"PLAIN\",\"tls\":false}}"));
  ev.auth.mech = SmtpAuthMech::kOther;
  EXPECT_EQ(renderEvent(ev),
            line("smtp_auth", "\"smtp\":{\"auth\":{\"mechanism\":\"OTHER\",\"tls\":false}}"));
}

// Test that an anomaly renders its name and its (escaped) detail.
TEST(EventRender, SmtpAnomaly) {
  EventRecord ev = sampleEventRecord(EventType::kSmtpAnomaly);
  ev.anomaly.anomaly = SmtpAnomaly::kStarttlsMasked;
  ev.anomaly.detail.set("XXXXXXX\"");
  EXPECT_EQ(renderEvent(ev), line("smtp_anomaly",
                                  "\"smtp\":{\"anomaly\":{\"name\":\"starttls_masked\","
                                  "\"detail\":\"XXXXXXX\\\"\"}}"));
}

// Test that a ClientHello renders SNI, ALPN, JA4 and JA3 (its string rebuilt from the numbers
// the record keeps), in the documented order.
TEST(EventRender, TlsClientHello) {
  EventRecord ev = sampleEventRecord(EventType::kTlsClientHello);
  ClientHelloRecord& h = ev.hello;
  h.from = SmtpTlsKind::kStarttls;
  h.version = 0x0304;
  const char* alpn[] = {"smtp", "h2"};
  h.setStrings(
      "smtp.example.com", 2, [&](size_t i) { return std::string_view(alpn[i]); },
      "771,4865-4866-49195,0-23-65281-10,29-23-24,0");
  fill(h.ja4, "t13d1514sp_8daaf6152771_bc9a4605e104");
  fill(h.ja3_hash, "7f805430de1e7d98b1de033adb58cf46");
  EXPECT_EQ(
      renderEvent(ev),
      line("tls_client_hello",
           "\"tls\":{\"from\":\"starttls\",\"version\":\"TLS 1.3\",\"sni\":\"smtp.example.com\","
           "\"alpn\":[\"smtp\",\"h2\"],\"ja4\":\"t13d1514sp_8daaf6152771_bc9a4605e104\","
           "\"ja3\":{\"hash\":\"7f805430de1e7d98b1de033adb58cf46\","
           "\"string\":\"771,4865-4866-49195,0-23-65281-10,29-23-24,0\"}}"));
}

// Test that empty JA3 lists, no SNI and an unknown version render as before.
TEST(EventRender, TlsClientHelloWithoutSniAndEmptyLists) {
  EventRecord ev = sampleEventRecord(EventType::kTlsClientHello);
  ClientHelloRecord& h = ev.hello;
  h.from = SmtpTlsKind::kImplicit;
  h.version = 0x7f1c;
  h.setStrings(
      {}, 0, [](size_t) { return std::string_view(); }, "769,47,,,");
  fill(h.ja4, "t10i010000_c1ab2b8b8b11_000000000000");
  fill(h.ja3_hash, "00000000000000000000000000000000");
  EXPECT_EQ(renderEvent(ev),
            line("tls_client_hello",
                 "\"tls\":{\"from\":\"implicit\",\"version\":\"0x7f1c\",\"alpn\":[],"
                 "\"ja4\":\"t10i010000_c1ab2b8b8b11_000000000000\","
                 "\"ja3\":{\"hash\":\"00000000000000000000000000000000\","
                 "\"string\":\"769,47,,,\"}}"));
}

// Test that a JA3 string whose numbers do not fit beside the SNI is left out, not cut.
TEST(EventRender, Ja3StringThatDoesNotFitIsLeftOut) {
  EventRecord ev = sampleEventRecord(EventType::kTlsClientHello);
  ClientHelloRecord& h = ev.hello;
  std::string ja3 = "771,";
  for (int i = 0; i < 100; ++i) ja3 += (i ? "-" : "") + std::to_string(1000 + i);
  ja3 += ",0,29,0";
  h.setStrings(
      std::string(255, 'a'), 0, [](size_t) { return std::string_view(); }, ja3);
  EXPECT_FALSE(h.ja3_string_kept);
  EXPECT_EQ(ja3String(h), "");
  h.setStrings(
      "a", 0, [](size_t) { return std::string_view(); }, ja3);
  EXPECT_TRUE(h.ja3_string_kept);
  EXPECT_EQ(ja3String(h), ja3);
}

// Test that a flow record renders smtp, tls, policy and flow objects as docs/events.md shows.
TEST(EventRender, SmtpFlow) {
  EventRecord ev = sampleEventRecord(EventType::kSmtpFlow);
  FlowRecord& f = ev.flow;
  f.start_ns = 1767225600ull * 1000000000ull;
  f.end_ns = f.start_ns + 3012ull * 1000000ull;
  f.bytes_toserver = 1234;
  f.bytes_toclient = 5678;
  f.extensions = static_cast<uint16_t>((1u << static_cast<unsigned>(SmtpExtension::kStarttls)) |
                                       (1u << static_cast<unsigned>(SmtpExtension::kAuth)) |
                                       (1u << static_cast<unsigned>(SmtpExtension::kPipelining)));
  f.auth_mechs = 1u << static_cast<unsigned>(SmtpAuthMech::kLogin);
  f.messages = 2;
  f.starttls_offered = true;
  f.starttls_attempted = true;
  f.starttls_result = SmtpStarttlsResult::kAccepted;
  f.tls = SmtpTlsKind::kStarttls;
  f.reason = EndReason::kFin;
  f.helo.set("client.example.test");
  f.has_server_hello = true;
  f.tls_version = 0x0304;
  f.cipher_suite = 4865;
  fill(f.ja3s, "15af977ce25de452b96affa2addb1036");
  f.has_verdict = true;
  f.verdict_action = Action::kReject;
  f.verdict_enforced = true;
  f.verdict_rule.set("block-relay-inside");
  EXPECT_EQ(renderEvent(ev),
            line("smtp_flow",
                 "\"smtp\":{\"helo\":\"client.example.test\","
                 "\"extensions\":[\"STARTTLS\",\"AUTH\",\"PIPELINING\"],"
                 "\"starttls\":{\"offered\":true,\"attempted\":true,\"result\":\"accepted\"},"
                 "\"auth_mechanisms\":[\"LOGIN\"],\"tls\":\"starttls\",\"messages\":2},"
                 "\"tls\":{\"version\":\"TLS 1.3\",\"cipher_suite\":4865,"
                 "\"ja3s\":\"15af977ce25de452b96affa2addb1036\"},"
                 "\"policy\":{\"rule\":\"block-relay-inside\",\"action\":\"reject\","
                 "\"enforced\":true},"
                 "\"flow\":{\"bytes_toserver\":1234,\"bytes_toclient\":5678,\"age\":3,"
                 "\"duration_ms\":3012,\"midstream\":false,\"reason\":\"fin\"}"));
}

// Test that a verdict renders rule, action, stage, enforcement and the policy's name.
TEST(EventRender, PolicyVerdict) {
  EventRecord ev = sampleEventRecord(EventType::kPolicyVerdict);
  ev.verdict.action = Action::kReject;
  ev.verdict.stage = Stage::kConnection;
  ev.verdict.enforced = true;
  ev.verdict.rule.set("block-relay-inside");
  ev.verdict.policy.set("isp-port25");
  EXPECT_EQ(renderEvent(ev),
            line("policy_verdict",
                 "\"policy\":{\"rule\":\"block-relay-inside\",\"action\":\"reject\","
                 "\"stage\":\"connection\",\"enforced\":true,\"policy\":\"isp-port25\"}"));
}

// Test that a subscriber alert renders every documented member, totals in stat order and the
// sample destinations as addresses.
TEST(EventRender, SubscriberAlert) {
  EventRecord ev = sampleEventRecord(EventType::kSubscriberAlert);
  SubscriberAlertRecord& a = ev.alert;
  a.source.set("100.64.0.66");
  a.detector.set("port25-spray");
  a.stat = SubStat::kPort25Destinations;
  a.count = 21;
  a.threshold = 20;
  a.window_s = 300;
  a.window_start = 1796000100;
  a.quarantine_action = true;
  a.quarantined_until = 1796086421;
  a.first_seen_ms = 1796000121000;
  a.last_seen_ms = 1796000141000;
  const uint32_t totals[] = {21, 21, 0, 21, 0, 0, 0, 0};
  static_assert(sizeof totals / sizeof totals[0] == kSubStatCount);
  std::memcpy(a.totals, totals, sizeof totals);
  a.n_samples = 2;
  const uint8_t d1[4] = {198, 51, 100, 1};
  a.samples[0] = IpAddr::fromV4(d1);
  uint8_t d2[16] = {0x20, 0x01, 0x0d, 0xb8};
  d2[15] = 1;
  std::memcpy(a.samples[1].b, d2, 16);
  EXPECT_EQ(renderEvent(ev),
            line("subscriber_alert",
                 "\"subscriber\":{\"source\":\"100.64.0.66\",\"detector\":\"port25-spray\","
                 "\"stat\":\"port25_destinations\",\"count\":21,\"threshold\":20,"
                 "\"window_s\":300,\"window_start\":1796000100,\"action\":\"quarantine\","
                 "\"shadow\":false,\"quarantined_until\":1796086421,"
                 "\"first_seen_ms\":1796000121000,\"last_seen_ms\":1796000141000,"
                 "\"totals\":{\"connections\":21,\"port25_attempts\":21,\"port25_blocked\":0,"
                 "\"port25_destinations\":21,\"plaintext_auth\":0,\"auth_failures\":0,"
                 "\"rate_limited\":0,\"messages\":0},"
                 "\"sample_destinations\":[\"198.51.100.1\",\"2001:db8::1\"]}"));
}

// Test that the record is as small as stated in its header, and fixed.
TEST(EventRender, RecordSize) {
  EXPECT_EQ(sizeof(EventRecord), 536u);
}

}  // namespace
}  // namespace smtpguard
