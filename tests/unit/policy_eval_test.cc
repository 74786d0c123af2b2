#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "policy/policy_compiler.h"
#include "policy/policy_snapshot.h"

namespace smtpguard {
namespace {

constexpr uint64_t kNow = 1795000000;  // 2026-11-18
constexpr uint64_t kSecond = 1000000000ull;

std::shared_ptr<const PolicySnapshot> compile(const std::string& text) {
  Diagnostics diags;
  auto snap = compilePolicyText(text, "test.toml", diags);
  EXPECT_NE(snap, nullptr) << formatDiagnostics(diags);
  return snap;
}

IpAddr ip(const char* text) {
  return parseIpAddr(text).value_or(IpAddr{});
}

ConnFacts conn(const char* src, const char* dst, uint16_t dport) {
  return ConnFacts{ip(src), ip(dst), dport};
}

SessionFacts session(const char* src, const char* dst, uint16_t dport, uint32_t flags = 0) {
  SessionFacts f;
  f.conn = conn(src, dst, dport);
  f.flags = flags;
  return f;
}

std::string ruleName(const PolicySnapshot& p, const Verdict& v) {
  return v.rule_index == kNoRule ? "(default)" : std::string(p.ruleNames()[v.rule_index]);
}

const char* kPort25 = R"(
[networks]
inside = ["100.64.0.0/10", "2001:db8:4000::/36"]
[sets]
mtas = ["100.72.14.25", "2001:db8:4a10:25::/64"]
[[rule]]
name = "mta-relay"
src = ["mtas"]
port_class = ["relay"]
action = "allow"
[[rule]]
name = "block-relay"
src = ["inside"]
port_class = ["relay"]
action = "reject"
[[rule]]
name = "icmp-2525"
src = ["inside"]
ports = [2525]
action = "reject"
reject_with = "icmp"
)";

// Test that the first matching rule decides, for both families, and the default covers the rest.
TEST(PolicyEval, FirstMatchWins) {
  auto p = compile(kPort25);
  ASSERT_TRUE(p);
  Verdict v = evaluateConnection(*p, conn("100.72.14.25", "198.18.0.25", 25), kNow);
  EXPECT_EQ(ruleName(*p, v), "mta-relay");
  EXPECT_EQ(v.action, Action::kAllow);
  EXPECT_EQ(v.stage, Stage::kConnection);

  v = evaluateConnection(*p, conn("100.72.14.26", "198.18.0.25", 25), kNow);
  EXPECT_EQ(ruleName(*p, v), "block-relay");
  EXPECT_EQ(v.action, Action::kReject);
  EXPECT_EQ(v.reject_with, RejectWith::kTcpReset);

  v = evaluateConnection(*p, conn("2001:db8:4a10:25::9", "2001:db8:ffff::25", 25), kNow);
  EXPECT_EQ(ruleName(*p, v), "mta-relay");
  v = evaluateConnection(*p, conn("2001:db8:4a10:26::9", "2001:db8:ffff::25", 25), kNow);
  EXPECT_EQ(ruleName(*p, v), "block-relay");

  v = evaluateConnection(*p, conn("100.64.1.1", "198.18.0.25", 2525), kNow);
  EXPECT_EQ(ruleName(*p, v), "icmp-2525");
  EXPECT_EQ(v.reject_with, RejectWith::kIcmp);

  // Outside the subscriber space: nothing matches, the default (allow) applies.
  v = evaluateConnection(*p, conn("198.18.0.7", "100.64.1.1", 25), kNow);
  EXPECT_EQ(v.rule_index, kNoRule);
  EXPECT_EQ(v.action, Action::kAllow);
  EXPECT_FALSE(v.shadow());
}

// Test that ports outside every class are not policed, and the port accessors follow [ports].
TEST(PolicyEval, PortClassesAndNonSmtpPorts) {
  auto p = compile(R"(
[ports]
relay = [25, 26]
submission = [587]
[networks]
inside = ["100.64.0.0/10"]
[[rule]]
name = "block-relay"
src = ["inside"]
port_class = ["relay"]
action = "reject"
)");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->portClass(25), PortClass::kRelay);
  EXPECT_EQ(p->portClass(26), PortClass::kRelay);
  EXPECT_EQ(p->portClass(587), PortClass::kSubmission);
  EXPECT_EQ(p->portClass(465), PortClass::kImplicitTls);  // not named: keeps its default
  EXPECT_EQ(p->portClass(2525), PortClass::kNone);        // submission redefined without it
  EXPECT_EQ(p->portClass(80), PortClass::kNone);
  std::vector<uint16_t> ports(p->smtpPorts().begin(), p->smtpPorts().end());
  EXPECT_EQ(ports, (std::vector<uint16_t>{25, 26, 465, 587}));

  EXPECT_EQ(ruleName(*p, evaluateConnection(*p, conn("100.64.0.9", "198.18.0.25", 26), kNow)),
            "block-relay");
  Verdict v = evaluateConnection(*p, conn("100.64.0.9", "198.18.0.80", 80), kNow);
  EXPECT_EQ(v.rule_index, kNoRule);
  EXPECT_EQ(v.action, Action::kAllow);
}

// Test that the default action applies only to SMTP ports no rule matches.
TEST(PolicyEval, DefaultAction) {
  auto p = compile(R"(
[policy]
default = "drop"
[[rule]]
name = "submission"
port_class = ["submission"]
action = "allow"
)");
  ASSERT_TRUE(p);
  EXPECT_EQ(evaluateConnection(*p, conn("198.18.0.1", "198.18.1.1", 587), kNow).action,
            Action::kAllow);
  Verdict v = evaluateConnection(*p, conn("198.18.0.1", "198.18.1.1", 25), kNow);
  EXPECT_EQ(v.action, Action::kDrop);
  EXPECT_EQ(v.rule_index, kNoRule);
  EXPECT_EQ(evaluateConnection(*p, conn("198.18.0.1", "198.18.1.1", 443), kNow).action,
            Action::kAllow);
}

// Test that a shadow rule is recorded but does not stop evaluation: the next rule decides.
TEST(PolicyEval, ShadowRuleCountsWithoutEnforcing) {
  auto p = compile(R"(
[networks]
inside = ["100.64.0.0/10"]
[[rule]]
name = "try-block-submission"
src = ["inside"]
port_class = ["submission"]
action = "reject"
mode = "shadow"
[[rule]]
name = "allow-submission"
src = ["inside"]
port_class = ["submission"]
action = "allow"
)");
  ASSERT_TRUE(p);
  Verdict v = evaluateConnection(*p, conn("100.64.3.3", "198.18.0.25", 587), kNow);
  EXPECT_EQ(ruleName(*p, v), "allow-submission");
  EXPECT_EQ(v.action, Action::kAllow);
  ASSERT_TRUE(v.shadow());
  EXPECT_EQ(p->ruleNames()[v.shadow_index], "try-block-submission");
  EXPECT_EQ(v.shadow_action, Action::kReject);
}

// Test that a policy in shadow mode enforces nothing yet reports what would have decided.
TEST(PolicyEval, ShadowPolicyEnforcesNothing) {
  auto p = compile(R"(
[policy]
mode = "shadow"
default = "reject"
[networks]
inside = ["198.18.0.0/16"]
[[rule]]
name = "block-relay"
src = ["inside"]
port_class = ["relay"]
action = "reject"
[[rule]]
name = "auth-in-clear"
plaintext_auth = true
action = "drop"
)");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->shadowMode());
  Verdict v = evaluateConnection(*p, conn("198.18.0.9", "198.19.0.25", 25), kNow);
  EXPECT_EQ(v.action, Action::kAllow);
  EXPECT_EQ(v.rule_index, kNoRule);
  ASSERT_TRUE(v.shadow());
  EXPECT_EQ(p->ruleNames()[v.shadow_index], "block-relay");
  EXPECT_EQ(v.shadow_action, Action::kReject);
  // The default is not enforced either.
  EXPECT_EQ(evaluateConnection(*p, conn("198.19.0.9", "198.19.0.25", 587), kNow).action,
            Action::kAllow);

  v = evaluateSession(*p, session("198.19.0.9", "198.19.0.25", 587, factBit(Fact::kPlaintextAuth)),
                      kNow);
  EXPECT_EQ(v.action, Action::kAllow);
  ASSERT_TRUE(v.shadow());
  EXPECT_EQ(p->ruleNames()[v.shadow_index], "auth-in-clear");
}

// Test that an expired exception stops matching at its expiry and the next rule decides.
TEST(PolicyEval, ExpiredExceptionStopsMatching) {
  auto p = compile(R"(
[networks]
inside = ["100.64.0.0/10"]
[sets]
mta = ["100.72.14.25"]
[[rule]]
name = "mta-exception"
src = ["mta"]
port_class = ["relay"]
action = "allow"
expires = 2026-12-01
ticket = "BIZ-1"
[[rule]]
name = "block-relay"
src = ["inside"]
port_class = ["relay"]
action = "reject"
)");
  ASSERT_TRUE(p);
  const uint64_t expiry = 1796083200;  // 2026-12-01T00:00:00Z
  EXPECT_EQ(p->rule(0).expires_unix, static_cast<int64_t>(expiry));
  EXPECT_EQ(p->ruleInfo(0).expires_text, "2026-12-01");
  EXPECT_EQ(p->ruleInfo(0).ticket, "BIZ-1");
  ConnFacts c = conn("100.72.14.25", "198.18.0.25", 25);
  EXPECT_EQ(ruleName(*p, evaluateConnection(*p, c, expiry - 1)), "mta-exception");
  EXPECT_EQ(ruleName(*p, evaluateConnection(*p, c, expiry)), "block-relay");
  EXPECT_TRUE(p->rule(0).expiredAt(expiry));
  EXPECT_FALSE(p->rule(0).expiredAt(expiry - 1));
}

// Test that an offset date-time expiry is converted to UTC.
TEST(PolicyEval, ExpiryWithOffset) {
  auto p = compile(R"(
[[rule]]
name = "x"
port_class = ["relay"]
action = "allow"
expires = 2026-12-01T02:00:00+02:00
ticket = "T"
)");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->rule(0).expires_unix, 1796083200);
}

const char* kSubmission = R"(
[networks]
inside = ["100.64.0.0/10"]
[[rule]]
name = "auth-before-tls"
src = ["inside"]
port_class = ["submission"]
plaintext_auth = true
action = "reject"
[[rule]]
name = "mail-before-tls"
src = ["inside"]
port_class = ["submission"]
mail_in_clear = true
action = "reject"
[[rule]]
name = "allow-submission"
src = ["inside"]
port_class = ["submission"]
action = "allow"
)";

// Test that session rules are passed over at the SYN and decide at the event that makes them
// true, while connection rules below them decide the SYN.
TEST(PolicyEval, StagesSynThenSessionEvent) {
  auto p = compile(kSubmission);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->rule(0).stage, Stage::kSession);
  EXPECT_EQ(p->rule(0).events, SessionEvent::kAuth);
  EXPECT_EQ(p->rule(1).stage, Stage::kSession);
  EXPECT_EQ(p->rule(1).events, SessionEvent::kMail);
  EXPECT_EQ(p->rule(2).stage, Stage::kConnection);
  EXPECT_EQ(p->rule(2).events, 0);

  Verdict syn = evaluateConnection(*p, conn("100.64.0.5", "198.18.0.25", 587), kNow);
  EXPECT_EQ(ruleName(*p, syn), "allow-submission");

  // EHLO with no telling facts: the connection rule is the first match, nothing new.
  Verdict v = evaluateSession(*p, session("100.64.0.5", "198.18.0.25", 587), kNow);
  EXPECT_EQ(v.stage, Stage::kConnection);
  EXPECT_EQ(ruleName(*p, v), "allow-submission");

  // AUTH before TLS: decided now, reset both sides.
  v = evaluateSession(*p, session("100.64.0.5", "198.18.0.25", 587, factBit(Fact::kPlaintextAuth)),
                      kNow);
  EXPECT_EQ(v.stage, Stage::kSession);
  EXPECT_EQ(ruleName(*p, v), "auth-before-tls");
  EXPECT_EQ(v.action, Action::kReject);

  // MAIL in the clear after STARTTLS was refused.
  v = evaluateSession(*p,
                      session("100.64.0.5", "198.18.0.25", 2525,
                              factBit(Fact::kMailInClear) | factBit(Fact::kStarttlsRefused)),
                      kNow);
  EXPECT_EQ(ruleName(*p, v), "mail-before-tls");
  EXPECT_EQ(v.stage, Stage::kSession);

  // The same facts on the relay port: no rule for it, the default stands.
  v = evaluateSession(*p, session("100.64.0.5", "198.18.0.25", 25, factBit(Fact::kPlaintextAuth)),
                      kNow);
  EXPECT_EQ(v.rule_index, kNoRule);
  EXPECT_EQ(v.stage, Stage::kConnection);
}

// Test that a fact required false matches until it becomes true, and such a rule may decide
// at any event.
TEST(PolicyEval, NegatedFacts) {
  auto p = compile(R"(
[[rule]]
name = "offered-not-used"
port_class = ["submission"]
starttls_offered = true
starttls_attempted = false
mail_in_clear = true
action = "alert"
[[rule]]
name = "no-tls-yet"
port_class = ["implicit_tls"]
tls_seen = false
action = "alert"
)");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->rule(0).events, SessionEvent::kEhlo | SessionEvent::kMail);
  EXPECT_EQ(p->rule(1).events, SessionEvent::kAll);
  uint32_t offered_mail = factBit(Fact::kStarttlsOffered) | factBit(Fact::kMailInClear);
  EXPECT_EQ(ruleName(*p, evaluateSession(*p, session("198.18.0.1", "198.19.0.1", 587, offered_mail),
                                         kNow)),
            "offered-not-used");
  EXPECT_EQ(evaluateSession(*p,
                            session("198.18.0.1", "198.19.0.1", 587,
                                    offered_mail | factBit(Fact::kStarttlsAttempted)),
                            kNow)
                .rule_index,
            kNoRule);
  EXPECT_EQ(ruleName(*p, evaluateSession(*p, session("198.18.0.1", "198.19.0.1", 465), kNow)),
            "no-tls-yet");
  EXPECT_EQ(
      evaluateSession(*p, session("198.18.0.1", "198.19.0.1", 465, factBit(Fact::kTlsSeen)), kNow)
          .rule_index,
      kNoRule);
}

// Test that anomaly conditions match any of the listed anomalies.
TEST(PolicyEval, AnomalyByName) {
  auto p = compile(R"(
[[rule]]
name = "tampering"
anomaly = ["starttls_masked", "starttls_injection"]
action = "drop"
)");
  ASSERT_TRUE(p);
  SessionFacts f = session("198.18.0.1", "198.19.0.1", 25);
  EXPECT_EQ(evaluateSession(*p, f, kNow).rule_index, kNoRule);
  f.anomalies = anomalyBit("starttls_not_offered");
  EXPECT_EQ(evaluateSession(*p, f, kNow).rule_index, kNoRule);
  f.anomalies |= anomalyBit("starttls_masked");
  Verdict v = evaluateSession(*p, f, kNow);
  EXPECT_EQ(ruleName(*p, v), "tampering");
  EXPECT_EQ(v.action, Action::kDrop);
  EXPECT_EQ(p->rule(0).events, SessionEvent::kAnomaly);
}

const char* kPatterns = R"(
[[rule]]
name = "bad-helo"
ehlo = ["localhost"]
ehlo_regex = ['^\[?[0-9]{1,3}(\.[0-9]{1,3}){3}\]?$']
action = "alert"
[[rule]]
name = "webmail"
mail_from_domain = ["gmail.com", "*.yahoo.co.jp"]
action = "alert"
[[rule]]
name = "bulk-sni"
sni_regex = ['\.(sendgrid|mailgun)\.net$']
action = "drop"
[[rule]]
name = "helo-and-sni"
ehlo = ["mx.example.net"]
sni = ["smtp.example.net"]
action = "reject"
)";

// Test that each field is scanned once into a mask, literals match whole values case-blind,
// "*." matches subdomains only, and regexes match where they say.
TEST(PolicyEval, PatternsScannedOncePerField) {
  auto p = compile(kPatterns);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->patterns().patternCount(), 7u);
  PolicyScratch scratch = p->makeScratch();
  auto decide = [&](PatternField field, const char* value) {
    SessionFacts f = session("198.18.0.1", "198.19.0.1", 587);
    scanField(*p, field, value, scratch, f.patterns);
    return ruleName(*p, evaluateSession(*p, f, kNow));
  };
  EXPECT_EQ(decide(PatternField::kEhlo, "localhost"), "bad-helo");
  EXPECT_EQ(decide(PatternField::kEhlo, "LocalHost"), "bad-helo");
  EXPECT_EQ(decide(PatternField::kEhlo, "localhost.example"), "(default)");
  EXPECT_EQ(decide(PatternField::kEhlo, "[198.18.0.1]"), "bad-helo");
  EXPECT_EQ(decide(PatternField::kEhlo, "198.18.0.1"), "bad-helo");
  EXPECT_EQ(decide(PatternField::kEhlo, "mail.198.18.0.1.example"), "(default)");
  EXPECT_EQ(decide(PatternField::kMailFromDomain, "gmail.com"), "webmail");
  EXPECT_EQ(decide(PatternField::kMailFromDomain, "notgmail.com"), "(default)");
  EXPECT_EQ(decide(PatternField::kMailFromDomain, "mail.yahoo.co.jp"), "webmail");
  EXPECT_EQ(decide(PatternField::kMailFromDomain, "yahoo.co.jp"), "(default)");
  EXPECT_EQ(decide(PatternField::kSni, "smtp.SendGrid.net"), "bulk-sni");
  // A pattern of one field never fires on another.
  EXPECT_EQ(decide(PatternField::kSni, "localhost"), "(default)");
  EXPECT_EQ(decide(PatternField::kEhlo, "gmail.com"), "(default)");
}

// Test that a rule with patterns on two fields needs both, and masks accumulate per session.
TEST(PolicyEval, PatternsOnTwoFieldsNeedBoth) {
  auto p = compile(kPatterns);
  ASSERT_TRUE(p);
  PolicyScratch scratch = p->makeScratch();
  SessionFacts f = session("198.18.0.1", "198.19.0.1", 587);
  scanField(*p, PatternField::kEhlo, "MX.example.net", scratch, f.patterns);
  EXPECT_EQ(evaluateSession(*p, f, kNow).rule_index, kNoRule);
  scanField(*p, PatternField::kSni, "smtp.example.net", scratch, f.patterns);
  EXPECT_EQ(ruleName(*p, evaluateSession(*p, f, kNow)), "helo-and-sni");
  EXPECT_EQ(p->rule(3).events, SessionEvent::kEhlo | SessionEvent::kTlsHello);
}

// Test that masks computed against an older snapshot never match in a new one, and a scratch
// made for another snapshot's database finds nothing rather than misbehaving.
TEST(PolicyEval, StaleMasksAfterReload) {
  auto old_p = compile(kPatterns);
  auto new_p = compile(kPatterns);
  ASSERT_TRUE(old_p && new_p);
  EXPECT_NE(old_p->generation(), new_p->generation());
  PolicyScratch old_scratch = old_p->makeScratch();
  SessionFacts f = session("198.18.0.1", "198.19.0.1", 587);
  scanField(*old_p, PatternField::kEhlo, "localhost", old_scratch, f.patterns);
  EXPECT_EQ(ruleName(*old_p, evaluateSession(*old_p, f, kNow)), "bad-helo");
  EXPECT_EQ(evaluateSession(*new_p, f, kNow).rule_index, kNoRule);
  // Wrong scratch: no match, no crash.
  scanField(*new_p, PatternField::kEhlo, "localhost", old_scratch, f.patterns);
  EXPECT_EQ(f.patterns.generation, new_p->generation());
  EXPECT_EQ(f.patterns.mask[0], 0u);
  PolicyScratch new_scratch = new_p->makeScratch();
  scanField(*new_p, PatternField::kEhlo, "localhost", new_scratch, f.patterns);
  EXPECT_EQ(ruleName(*new_p, evaluateSession(*new_p, f, kNow)), "bad-helo");
}

// Test that JA3 and JA4 lists match exactly (case-normalised at load) and only when present.
TEST(PolicyEval, Ja3AndJa4Lists) {
  auto p = compile(R"(
[[rule]]
name = "ja3-deny"
ja3 = ["E7D705A3286E19EA42F587B344EE6865", "6734f37431670b3ab4292b8f60f29984"]
action = "drop"
[[rule]]
name = "ja4-deny"
ja4 = ["t12d190800_d83cc789557e_7af1ed941c26"]
port_class = ["implicit_tls"]
action = "reject"
[[rule]]
name = "both"
ja3 = ["00000000000000000000000000000001"]
ja4 = ["t13d1516h2_8daaf6152771_02713d6af862"]
action = "alert"
)");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->fingerprintCount(), 5u);
  SessionFacts f = session("198.18.0.1", "198.19.0.1", 465, factBit(Fact::kTlsSeen));
  EXPECT_EQ(evaluateSession(*p, f, kNow).rule_index, kNoRule);
  f.ja3 = "e7d705a3286e19ea42f587b344ee6865";
  EXPECT_EQ(ruleName(*p, evaluateSession(*p, f, kNow)), "ja3-deny");
  f.ja3 = "6734f37431670b3ab4292b8f60f29984";
  EXPECT_EQ(ruleName(*p, evaluateSession(*p, f, kNow)), "ja3-deny");
  f.ja3 = "6734f37431670b3ab4292b8f60f29985";
  EXPECT_EQ(evaluateSession(*p, f, kNow).rule_index, kNoRule);
  f.ja4 = "t12d190800_d83cc789557e_7af1ed941c26";
  EXPECT_EQ(ruleName(*p, evaluateSession(*p, f, kNow)), "ja4-deny");
  f.conn.dport = 587;  // ja4-deny is limited to 465
  EXPECT_EQ(evaluateSession(*p, f, kNow).rule_index, kNoRule);
  f.ja3 = "00000000000000000000000000000001";
  EXPECT_EQ(evaluateSession(*p, f, kNow).rule_index, kNoRule);  // needs the JA4 too
  f.ja4 = "t13d1516h2_8daaf6152771_02713d6af862";
  EXPECT_EQ(ruleName(*p, evaluateSession(*p, f, kNow)), "both");
}

// Test that a rate_limit rule admits exactly its burst of SYNs from one subscriber, and that
// another subscriber has its own bucket.
TEST(PolicyEval, RateLimitVerdictThroughLimiter) {
  auto p = compile(R"(
[networks]
inside = ["100.64.0.0/10"]
[[rule]]
name = "submission-flood"
src = ["inside"]
port_class = ["submission"]
action = "rate_limit"
rate = "30/minute"
burst = 10
per = "/24"
)");
  ASSERT_TRUE(p);
  RateLimiter limiter(1024);
  int admitted = 0;
  for (int i = 0; i < 50; ++i) {
    ConnFacts c = conn(i % 2 ? "100.64.7.1" : "100.64.7.2", "198.18.0.25", 587);
    Verdict v = evaluateConnection(*p, c, kNow);
    ASSERT_EQ(v.action, Action::kRateLimit);
    admitted += admitRateLimited(*p, v, c.src, limiter, 100 * kSecond) ? 1 : 0;
  }
  EXPECT_EQ(admitted, 10);  // both hosts share one /24 bucket
  ConnFacts other = conn("100.64.8.1", "198.18.0.25", 587);
  EXPECT_TRUE(
      admitRateLimited(*p, evaluateConnection(*p, other, kNow), other.src, limiter, 100 * kSecond));
  // Two seconds later one more token (30/minute).
  ConnFacts again = conn("100.64.7.1", "198.18.0.25", 587);
  EXPECT_FALSE(
      admitRateLimited(*p, evaluateConnection(*p, again, kNow), again.src, limiter, 101 * kSecond));
  EXPECT_TRUE(
      admitRateLimited(*p, evaluateConnection(*p, again, kNow), again.src, limiter, 102 * kSecond));
}

// Test the shipped ISP default against traffic from the test ranges.
TEST(PolicyEval, IspExampleDecisions) {
  Diagnostics diags;
  auto p = compilePolicyFile(std::string(SMTPGUARD_POLICY_EXAMPLES) + "/isp-port25.toml", diags);
  ASSERT_TRUE(p) << formatDiagnostics(diags);
  auto at = [&](const char* src, const char* dst, uint16_t port) {
    return ruleName(*p, evaluateConnection(*p, conn(src, dst, port), kNow));
  };
  EXPECT_EQ(at("100.72.14.25", "198.18.0.25", 25), "acme-mta-relay");
  EXPECT_EQ(at("100.64.10.25", "198.19.25.20", 25), "acme-mta-relay");  // the sample's MTA
  EXPECT_EQ(at("2001:db8:4a10:25::1", "2001:db8:ffff::25", 25), "acme-mta-relay");
  EXPECT_EQ(at("100.81.200.7", "198.18.0.25", 25), "northwind-mta-relay");
  EXPECT_EQ(at("100.81.200.8", "198.18.0.25", 25), "block-relay-inside");
  EXPECT_EQ(at("100.99.3.17", "198.18.0.25", 25), "fabrikam-mta-relay");
  EXPECT_EQ(at("100.64.55.5", "198.18.25.10", 25), "smarthost-relay");
  EXPECT_EQ(at("100.64.55.5", "198.18.0.25", 25), "block-relay-inside");
  EXPECT_EQ(at("2001:db8:4fff::1", "2001:db8:ffff::25", 25), "block-relay-inside");
  EXPECT_EQ(at("100.64.55.5", "198.18.0.25", 587), "allow-submission");
  EXPECT_EQ(at("100.64.55.5", "198.18.0.25", 465), "allow-submission");
  EXPECT_EQ(at("198.18.0.9", "100.64.55.5", 25), "(default)");  // inbound to a subscriber
  // After Northwind's exception expires (2027-01-31), its MTA is blocked like everyone else.
  EXPECT_EQ(ruleName(*p, evaluateConnection(*p, conn("100.81.200.7", "198.18.0.25", 25),
                                            1801440000 /* 2027-02-01 */)),
            "block-relay-inside");
  // Plaintext AUTH on submission: alerted at the AUTH event, not blocked.
  Verdict v = evaluateSession(
      *p, session("100.64.55.5", "198.18.0.25", 587, factBit(Fact::kPlaintextAuth)), kNow);
  EXPECT_EQ(ruleName(*p, v), "plaintext-auth-alert");
  EXPECT_EQ(v.action, Action::kAlert);
  EXPECT_EQ(v.stage, Stage::kSession);
}

// Test that the dynamic set `quarantine` matches only the sources the caller says are in it,
// and that detectors compile to rules sharing their windows.
TEST(PolicyEval, QuarantineSetAndDetectors) {
  auto p = compile(R"(
[networks]
inside = ["100.64.0.0/10"]
[subscribers]
v6_prefix = 56
[[rule]]
name = "quarantined"
src = ["quarantine"]
action = "reject"
[[rule]]
name = "submission"
src = ["inside"]
port_class = ["submission"]
action = "allow"
[[detector]]
name = "spray"
stat = "port25_destinations"
threshold = 20
window = "5m"
action = "quarantine"
quarantine_for = "24h"
[[detector]]
name = "stuffing"
stat = "auth_failures"
threshold = 50
window = "10m"
mode = "shadow"
[[detector]]
name = "slow"
stat = "messages"
threshold = 30
window = "5m"
)");
  ASSERT_NE(p, nullptr);
  ASSERT_NE(p->quarantineSet(), 0u);
  ConnFacts c = conn("100.64.0.9", "198.51.100.1", 587);
  EXPECT_EQ(ruleName(*p, evaluateConnection(*p, c, kNow)), "submission");
  c.src_dynamic = p->quarantineSet();
  EXPECT_EQ(ruleName(*p, evaluateConnection(*p, c, kNow)), "quarantined");
  ASSERT_EQ(p->detectorCount(), 3u);
  EXPECT_EQ(p->windowPlan().len_s[0], 300u);
  EXPECT_EQ(p->windowPlan().len_s[1], 600u);
  EXPECT_EQ(p->detectorRules()[0].stat, SubStat::kPort25Destinations);
  EXPECT_EQ(p->detectorRules()[1].window_slot, 1u);
  EXPECT_EQ(p->detectorRules()[2].window_slot, 0u);
  EXPECT_TRUE(p->detector(0).quarantine);
  EXPECT_EQ(p->detector(0).quarantine_ns, 86400ull * 1000000000ull);
  EXPECT_TRUE(p->detector(1).shadow);
  EXPECT_EQ(p->subscriberV6Prefix(), 56u);
}

}  // namespace
}  // namespace smtpguard
