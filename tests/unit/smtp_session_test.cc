#include "smtp/smtp_session.h"

#include <gtest/gtest.h>

#include <cstring>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace smtpguard {
namespace {

using namespace std::string_literals;

constexpr Direction kC = Direction::kClientToServer;
constexpr Direction kS = Direction::kServerToClient;

// A TLS 1.2 ClientHello record head (RFC 8446 §5.1: type 22, version 3.1, then handshake type 1)
// and a ServerHello head: what follows a 220 to STARTTLS.
const std::string kClientHello = "\x16\x03\x01\x00\x2f\x01\x00\x00\x2b\x03\x03"s + "random";
const std::string kServerHello = "\x16\x03\x03\x00\x2a\x02\x00\x00\x26\x03\x03"s + "random";

// Fake credentials: base64 of "\0fakeuser\0fakepass", "fakeuser", "fakepass".
const std::string kPlainSecret = "AGZha2V1c2VyAGZha2VwYXNz";
const std::string kLoginUser = "ZmFrZXVzZXI=";
const std::string kLoginPass = "ZmFrZXBhc3M=";

// Records every observer call as one line; TLS offsets are made absolute within the direction's
// stream so that differently split feeds compare equal.
class RecordingObserver : public SmtpObserver {
 public:
  std::vector<std::string> events;
  const uint64_t* chunk_base = nullptr;

  void onStarttlsAttempt() override { events.push_back("starttls"); }
  void onStarttlsResult(uint16_t code) override {
    events.push_back("starttls_result " + std::to_string(code));
  }
  void onAuth(const SmtpAuthEvent& a) override {
    events.push_back("auth " + std::string(a.mech_name) + (a.tls_protected ? " tls" : " clear"));
  }
  void onAuthResult(uint16_t code, bool success) override {
    events.push_back("auth_result " + std::to_string(code) + (success ? " ok" : " fail"));
  }
  void onAnomaly(SmtpAnomaly a, std::string_view detail) override {
    events.push_back("anomaly " + std::string(anomalyName(a)) + ": " + std::string(detail));
  }
  void onHelo(std::string_view name, bool ehlo) override {
    events.push_back((ehlo ? "ehlo "s : "helo "s) + std::string(name));
  }
  void onMailFrom(std::string_view domain) override {
    events.push_back("mail_from " + std::string(domain));
  }
  void onMessageEnd() override { events.push_back("message_end"); }
  void onTlsBegin(Direction dir, uint32_t offset, SmtpTlsKind kind) override {
    tls_event = events.size();
    tls_at = (chunk_base ? *chunk_base : 0) + offset;
    tls_what = std::string(dir == kC ? "client" : "server") +
               (kind == SmtpTlsKind::kImplicit ? " implicit" : " starttls");
    events.push_back(tlsEvent(0));
  }
  // TLS began with `held` bytes from earlier chunks: it began that much earlier.
  void moveTlsBack(size_t held) { events[tls_event] = tlsEvent(held); }

 private:
  std::string tlsEvent(size_t held) const {
    const size_t space = tls_what.find(' ');
    return "tls " + tls_what.substr(0, space) + " @" + std::to_string(tls_at - held) +
           tls_what.substr(space);
  }
  size_t tls_event = 0;
  uint64_t tls_at = 0;
  std::string tls_what;
};

struct Step {
  Direction dir;
  std::string bytes;  // empty: a gap in that direction
};

Step c(std::string s) {
  return {kC, std::move(s)};
}
Step s(std::string s) {
  return {kS, std::move(s)};
}
Step gap(Direction d) {
  return {d, ""};
}

// One session: hot state, pool, counters and observer, fed chunk by chunk.
class Harness {
 public:
  explicit Harness(PortClass port = PortClass::kRelay, uint32_t pool_capacity = 4)
      : pool_(pool_capacity), ctx_{counters_, pool_, observer_, port} {
    observer_.chunk_base = &base_;
  }

  SmtpChunkResult feed(Direction dir, std::string_view bytes) {
    SmtpChunkResult r;
    base_ = offset_[static_cast<size_t>(dir)];
    Bytes b(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    smtpOnData(hot_, ctx_, dir, b, r);
    if (r.tls_head_len != 0) observer_.moveTlsBack(r.tls_head_len);
    offset_[static_cast<size_t>(dir)] += bytes.size();
    merge(r);
    return r;
  }
  SmtpChunkResult client(std::string_view b) { return feed(kC, b); }
  SmtpChunkResult server(std::string_view b) { return feed(kS, b); }
  void gapIn(Direction dir) { smtpOnGap(hot_, ctx_, dir); }

  void run(const std::vector<Step>& steps) {
    for (const Step& st : steps) {
      if (st.bytes.empty()) {
        gapIn(st.dir);
      } else {
        feed(st.dir, st.bytes);
      }
    }
  }

  uint64_t get(Counter c) const { return counters_.get(c); }
  const std::vector<std::string>& events() const { return observer_.events; }
  SmtpHot& hot() { return hot_; }
  ObjectPool<SmtpCold>& pool() { return pool_; }
  SmtpSummary summary() const { return smtpSummary(hot_, pool_); }
  void release() { smtpRelease(hot_, pool_); }

  // Everything a feed produces, rendered for comparison between differently split feeds.
  std::string outcome() const {
    std::string out;
    for (const std::string& e : observer_.events) out += e + "\n";
    for (size_t i = 0; i < kCounterCount; ++i)
      if (counters_.values[i] != 0)
        out += std::string(kCounterNames[i]) + "=" + std::to_string(counters_.values[i]) + "\n";
    SmtpSummary sm = summary();
    out += "helo=" + std::string(sm.helo) + " ext=" + std::to_string(sm.extensions) +
           " offered=" + std::to_string(sm.starttls_offered) +
           " attempted=" + std::to_string(sm.starttls_attempted) +
           " result=" + std::to_string(static_cast<int>(sm.starttls_result)) +
           " tls=" + std::to_string(static_cast<int>(sm.tls)) +
           " mechs=" + std::to_string(sm.auth_mechs) + " messages=" + std::to_string(sm.messages) +
           " mode=" + std::to_string(static_cast<int>(sm.mode)) + "\n";
    out += "any: auth_in_clear=" + std::to_string(any_.auth_in_clear) +
           " mail_in_clear=" + std::to_string(any_.mail_in_clear) +
           " starttls=" + std::to_string(any_.starttls) +
           " mech=" + std::to_string(static_cast<int>(any_.auth_mech)) +
           " anomalies=" + std::to_string(any_.anomalies) + "\n";
    return out;
  }

  // True if any byte of the pool's objects or of the hot state contains `needle`.
  bool memoryContains(std::string_view needle) {
    auto search = [&](const void* p, size_t n) {
      std::string_view hay(static_cast<const char*>(p), n);
      return hay.find(needle) != std::string_view::npos;
    };
    for (uint32_t h = 0; h < pool_.capacity(); ++h)
      if (search(&pool_.get(h), sizeof(SmtpCold))) return true;
    return search(&hot_, sizeof(hot_));
  }

 private:
  void merge(const SmtpChunkResult& r) {
    any_.auth_in_clear |= r.auth_in_clear;
    any_.mail_in_clear |= r.mail_in_clear;
    any_.starttls |= r.starttls;
    any_.anomalies = static_cast<uint8_t>(any_.anomalies | r.anomalies);
    if (r.auth_mech != SmtpAuthMech::kNone) any_.auth_mech = r.auth_mech;
  }

  CounterBlock counters_;
  ObjectPool<SmtpCold> pool_;
  RecordingObserver observer_;
  SmtpContext ctx_;
  SmtpHot hot_{};
  uint64_t offset_[2] = {0, 0};
  uint64_t base_ = 0;
  SmtpChunkResult any_;
};

std::vector<std::string> ev(std::initializer_list<const char*> l) {
  return {l.begin(), l.end()};
}

// --- realistic sessions, modelled on the shared corpus captures (fake names and credentials)

const std::string kEhloReplyStarttls =
    "250-mx.example.net at your service, [192.0.2.7]\r\n"
    "250-SIZE 35882577\r\n"
    "250-8BITMIME\r\n"
    "250-STARTTLS\r\n"
    "250-ENHANCEDSTATUSCODES\r\n"
    "250 CHUNKING\r\n";

std::vector<Step> starttlsSession() {
  return {s("220 mx.example.net ESMTP ready\r\n"),
          c("EHLO client.example.org\r\n"),
          s(kEhloReplyStarttls),
          c("STARTTLS\r\n"),
          s("220 2.0.0 Ready to start TLS\r\n"),
          c(kClientHello),
          s(kServerHello)};
}

std::vector<Step> authPlainSession() {
  return {s("220-mx.example.com ESMTP MUA/Third Party Client Interface\r\n"
            "220-Unsolicited bulk e-mail is not welcome here.\r\n"
            "220 No reverse DNS, no service.\r\n"),
          c("EHLO localhost\r\n"),
          s("250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 36700160\r\n250-STARTTLS\r\n"
            "250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n"
            "250 DSN\r\n"),
          c("AUTH PLAIN " + kPlainSecret + "\r\n"),
          s("235 2.7.0 Authentication successful\r\n"),
          c("MAIL FROM: <12345678@example.com>\r\n"),
          s("250 2.1.0 Ok\r\n"),
          c("RCPT TO: <someone@example.org>\r\n"),
          s("250 2.1.5 Ok\r\n"),
          c("DATA\r\n"),
          s("354 End data with <CR><LF>.<CR><LF>\r\n"),
          c("Subject: test\r\n\r\nAUTH PLAIN bm90LWEtY29tbWFuZA==\r\nSTARTTLS\r\nQUIT\r\n"
            "..\r\n. \r\n.x\r\n.\r\n"),
          s("250 2.0.0 Ok: queued as 4EFA8A00CB\r\n"),
          c("QUIT\r\n"),
          s("221 2.0.0 Bye\r\n")};
}

std::vector<Step> authLoginSession() {
  return {s("220 mx.example.com ESMTP\r\n"),
          c("EHLO laptop\r\n"),
          s("250-mx.example.com\r\n250 AUTH LOGIN PLAIN\r\n"),
          c("AUTH LOGIN\r\n"),
          s("334 VXNlcm5hbWU6\r\n"),
          c(kLoginUser + "\r\n"),
          s("334 UGFzc3dvcmQ6\r\n"),
          c(kLoginPass + "\r\n"),
          s("535 5.7.8 Authentication credentials invalid\r\n"),
          c("QUIT\r\n"),
          s("221 Bye\r\n")};
}

// Two BDAT chunks and the next envelope in one client write (suricata-verify
// smtp-bdat-pipelined-next-mail): the first chunk does not end with a line break.
std::vector<Step> bdatPipelinedSession() {
  const std::string chunk1 = "From: alice@example.com\r\nTo: bob@example.com\r\nSubject: pipelined";
  const std::string chunk2 =
      "\r\nContent-Type: text/plain\r\n\r\nMAIL FROM:<evil@example.com>\r\nAUTH PLAIN x\r\n"
      ".\r\nFirst message is two BDAT chunks in one write.\r\n";
  return {s("220 mail.example.com ESMTP Postfix\r\n"),
          c("ehlo client.example.com\r\n"),
          s("250-mail.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
            "250-SMTPUTF8\r\n250 CHUNKING\r\n"),
          c("mail from:<alice@example.com>\r\n"),
          s("250 2.1.0 Ok\r\n"),
          c("rcpt to:<bob@example.com>\r\n"),
          s("250 2.1.5 Ok\r\n"),
          c("BDAT " + std::to_string(chunk1.size()) + "\r\n" + chunk1 + "BDAT " +
            std::to_string(chunk2.size()) + " LAST\r\n" + chunk2 +
            "mail from:<bob@example.com>\r\nrcpt to:<alice@example.com>\r\n"),
          s("250 2.0.0 Ok: 64 bytes\r\n250 2.0.0 Ok: queued\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"),
          c("data\r\n"),
          s("354 End data with <CR><LF>.<CR><LF>\r\n"),
          c("Subject: after pipelined BDAT\r\n\r\nSecond message.\r\n.\r\n"),
          s("250 2.0.0 Ok: queued\r\n"),
          c("QUIT\r\n"),
          s("221 2.0.0 Bye\r\n")};
}

// A capture where the TLS after STARTTLS was replaced by its plaintext (arkime
// smtp-decrypted.pcap): a second EHLO follows the 220.
std::vector<Step> plaintextAfterStarttlsSession() {
  return {s("220 mx.example.fr Microsoft ESMTP MAIL Service ready\r\n"),
          c("EHLO TRANSIT-MTA\r\n"),
          s("250-mx.example.fr Hello [192.0.2.15]\r\n250-SIZE 37748736\r\n250-PIPELINING\r\n"
            "250-STARTTLS\r\n250-X-ANONYMOUSTLS\r\n250-AUTH NTLM\r\n250-CHUNKING\r\n"
            "250 XRDST\r\n"),
          c("STARTTLS\r\n"),
          s("220 2.0.0 SMTP server ready\r\n"),
          c("EHLO TRANSIT-MTA\r\n"),
          s("250-mx.example.fr Hello [192.0.2.15]\r\n250-SIZE 37748736\r\n"
            "250-AUTH NTLM LOGIN\r\n250-CHUNKING\r\n250 XRDST\r\n"),
          c("MAIL FROM:<santa@example.fr> SIZE=6817\r\nRCPT TO:<kid@example.fr>\r\n"
            "BDAT 10 LAST\r\n0123456789"),
          s("250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n250 2.6.0 Queued mail\r\n"),
          c("QUIT\r\n"),
          s("221 2.0.0 Service closing transmission channel\r\n")};
}

std::string runWhole(const std::vector<Step>& steps, PortClass port = PortClass::kRelay) {
  Harness h(port);
  h.run(steps);
  return h.outcome();
}

// The same session with step `which` cut in two at `at`.
std::string runSplit(const std::vector<Step>& steps, size_t which, size_t at,
                     PortClass port = PortClass::kRelay) {
  Harness h(port);
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& st = steps[i];
    if (i == which) {
      h.feed(st.dir, std::string_view(st.bytes).substr(0, at));
      h.feed(st.dir, std::string_view(st.bytes).substr(at));
    } else {
      h.feed(st.dir, st.bytes);
    }
  }
  return h.outcome();
}

std::string runByteByByte(const std::vector<Step>& steps, PortClass port = PortClass::kRelay) {
  Harness h(port);
  for (const Step& st : steps)
    for (char ch : st.bytes) h.feed(st.dir, std::string_view(&ch, 1));
  return h.outcome();
}

// ---------------------------------------------------------------------------------------------
// Sessions end to end

// Test that an accepted STARTTLS hands the flow to TLS exactly where the ClientHello starts.
TEST(SmtpSession, StarttlsAcceptedHandsOverToTls) {
  Harness h;
  auto steps = starttlsSession();
  for (size_t i = 0; i + 2 < steps.size(); ++i) h.feed(steps[i].dir, steps[i].bytes);
  EXPECT_EQ(h.hot().mode_, SmtpMode::kTlsPending);
  SmtpChunkResult r = h.client(kClientHello);
  EXPECT_EQ(r.tls_offset, 0u);
  EXPECT_EQ(h.hot().mode_, SmtpMode::kTls);
  r = h.server(kServerHello);
  EXPECT_EQ(r.tls_offset, 0u);
  r = h.client("\x17\x03\x03 application data: not SMTP\r\nAUTH PLAIN x\r\n");
  EXPECT_EQ(r.tls_offset, 0u);
  EXPECT_FALSE(r.auth_in_clear);
  EXPECT_EQ(h.events(), ev({"ehlo client.example.org", "starttls", "starttls_result 220",
                            "tls client @35 starttls"}));
  EXPECT_EQ(h.get(Counter::kSmtpStarttlsOffered), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpStarttlsAttempted), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpStarttlsAccepted), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpStarttlsRefused), 0u);
  EXPECT_EQ(h.get(Counter::kSmtpCommands), 2u);
  EXPECT_EQ(h.get(Counter::kSmtpReplies), 3u);
  EXPECT_EQ(h.get(Counter::kSmtpAuth), 0u);
  EXPECT_EQ(h.get(Counter::kSmtpTlsClientHello), 0u);  // the TLS module's
  SmtpSummary sm = h.summary();
  EXPECT_EQ(sm.helo, "client.example.org");
  EXPECT_EQ(sm.extensions, extensionBit(SmtpExtension::kSize) |
                               extensionBit(SmtpExtension::k8bitmime) |
                               extensionBit(SmtpExtension::kStarttls) |
                               extensionBit(SmtpExtension::kEnhancedStatusCodes) |
                               extensionBit(SmtpExtension::kChunking));
  EXPECT_TRUE(sm.starttls_offered);
  EXPECT_TRUE(sm.starttls_attempted);
  EXPECT_EQ(sm.starttls_result, SmtpStarttlsResult::kAccepted);
  EXPECT_EQ(sm.tls, SmtpTlsKind::kStarttls);
  h.release();
  EXPECT_EQ(h.pool().inUse(), 0u);
}

// Test that a refused STARTTLS (454 or 5xx) keeps the flow in cleartext SMTP.
TEST(SmtpSession, StarttlsRefusedKeepsFlowPlaintext) {
  for (const char* reply : {"454 4.7.0 TLS not available due to local problem\r\n",
                            "502 5.5.1 Unrecognized command\r\n", "554 5.7.3 No TLS\r\n"}) {
    Harness h;
    h.run({s("220 mx ESMTP\r\n"), c("EHLO a\r\n"), s("250 mx\r\n"), c("STARTTLS\r\n"), s(reply),
           c("MAIL FROM:<a@example.com>\r\n"), s("250 ok\r\n")});
    EXPECT_EQ(h.hot().mode_, SmtpMode::kSmtp) << reply;
    EXPECT_EQ(h.get(Counter::kSmtpStarttlsAttempted), 1u);
    EXPECT_EQ(h.get(Counter::kSmtpStarttlsAccepted), 0u);
    EXPECT_EQ(h.get(Counter::kSmtpStarttlsRefused), 1u);
    EXPECT_EQ(h.summary().starttls_result, SmtpStarttlsResult::kRefused);
    EXPECT_EQ(h.summary().tls, SmtpTlsKind::kNone);
    EXPECT_EQ(h.get(Counter::kSmtpCommands), 3u);
  }
}

// Test that cleartext after a 220 to STARTTLS is flagged and still parsed (arkime
// smtp-decrypted: a second EHLO, then mail by BDAT).
TEST(SmtpSession, PlaintextAfterStarttlsIsFlaggedAndParsed) {
  Harness h(PortClass::kSubmission);
  h.run(plaintextAfterStarttlsSession());
  EXPECT_EQ(h.events(), ev({"ehlo TRANSIT-MTA", "starttls", "starttls_result 220",
                            "anomaly plaintext_after_starttls: client sent cleartext after the 220",
                            "ehlo TRANSIT-MTA", "mail_from example.fr", "message_end"}));
  EXPECT_EQ(h.get(Counter::kSmtpStarttlsAttempted), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpStarttlsAccepted), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpAnomalyPlaintextAfterStarttls), 1u);
  // STARTTLS was offered and used: neither "not offered" nor "offered, not used".
  EXPECT_EQ(h.get(Counter::kSmtpAnomalyStarttlsNotOffered), 0u);
  EXPECT_EQ(h.get(Counter::kSmtpAnomalyStarttlsOfferedNotUsed), 0u);
  EXPECT_EQ(h.get(Counter::kSmtpMessages), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpAuthPlaintext), 0u);
  SmtpSummary sm = h.summary();
  EXPECT_EQ(sm.tls, SmtpTlsKind::kNone);
  EXPECT_TRUE(sm.plaintext_after_starttls);
  EXPECT_EQ(sm.mode, SmtpMode::kSmtp);
}

// Test that a second STARTTLS after cleartext is followed again, and TLS can still begin.
TEST(SmtpSession, SecondStarttlsAfterPlaintextCanStillStartTls) {
  Harness h;
  h.run({s("220 mx\r\n"), c("EHLO a\r\n"), s("250-mx\r\n250 STARTTLS\r\n"), c("STARTTLS\r\n"),
         s("220 go\r\n"), c("EHLO a\r\n"), s("250-mx\r\n250 STARTTLS\r\n"), c("STARTTLS\r\n"),
         s("220 go\r\n"), c(kClientHello)});
  EXPECT_EQ(h.get(Counter::kSmtpStarttlsAttempted), 2u);
  EXPECT_EQ(h.get(Counter::kSmtpStarttlsAccepted), 2u);
  EXPECT_EQ(h.get(Counter::kSmtpStarttlsOffered), 1u);  // once per flow
  EXPECT_EQ(h.get(Counter::kSmtpAnomalyPlaintextAfterStarttls), 1u);
  EXPECT_EQ(h.hot().mode_, SmtpMode::kTls);
  EXPECT_EQ(h.summary().tls, SmtpTlsKind::kStarttls);
}

// Test that commands pipelined behind STARTTLS before its reply are flagged (RFC 3207 §4.2,
// CVE-2011-0411), in the same chunk or a later one, once per STARTTLS.
TEST(SmtpSession, StarttlsInjectionIsFlagged) {
  {
    Harness h;
    h.run({s("220 mx\r\n"), c("EHLO a\r\n"), s("250-mx\r\n250 STARTTLS\r\n")});
    SmtpChunkResult r = h.client("STARTTLS\r\nRSET\r\nMAIL FROM:<x@example.com>\r\n");
    EXPECT_TRUE(r.starttls);
    EXPECT_EQ(r.anomalies, 1u << static_cast<unsigned>(SmtpAnomaly::kStarttlsInjection));
    EXPECT_EQ(h.get(Counter::kSmtpAnomalyStarttlsInjection), 1u);
    EXPECT_EQ(h.get(Counter::kSmtpCommands), 4u);
  }
  {
    Harness h;
    h.run({s("220 mx\r\n"), c("EHLO a\r\n"), s("250 mx\r\n"), c("STARTTLS\r\n")});
    SmtpChunkResult r = h.client("NOOP\r\n");
    EXPECT_NE(r.anomalies, 0u);
    h.client("NOOP\r\n");
    EXPECT_EQ(h.get(Counter::kSmtpAnomalyStarttlsInjection), 1u);
    // The reply to STARTTLS is still matched to it despite the injected commands behind it.
    h.server("220 go ahead\r\n");
    EXPECT_EQ(h.hot().mode_, SmtpMode::kTlsPending);
    h.client(kClientHello);
    EXPECT_EQ(h.hot().mode_, SmtpMode::kTls);
  }
  {
    // Waiting for the reply is not injection.
    Harness h;
    h.run({s("220 mx\r\n"), c("EHLO a\r\n"), s("250 mx\r\n"), c("STARTTLS\r\n"), s("454 no\r\n"),
           c("MAIL FROM:<a@b>\r\n")});
    EXPECT_EQ(h.get(Counter::kSmtpAnomalyStarttlsInjection), 0u);
  }
}

// Test that a flow whose first client bytes are a TLS handshake is implicit TLS, on any port.
TEST(SmtpSession, ImplicitTlsOnFirstClientBytes) {
  for (PortClass port : {PortClass::kImplicitTls, PortClass::kRelay, PortClass::kSubmission}) {
    Harness h(port);
    SmtpChunkResult r = h.client(kClientHello);
    EXPECT_EQ(r.tls_offset, 0u);
    EXPECT_EQ(h.hot().mode_, SmtpMode::kTls);
    EXPECT_EQ(h.get(Counter::kSmtpTlsImplicit), 1u);
    r = h.server(kServerHello);
    EXPECT_EQ(r.tls_offset, 0u);
    EXPECT_EQ(h.events(), ev({"tls client @0 implicit"}));
    EXPECT_EQ(h.summary().tls, SmtpTlsKind::kImplicit);
    EXPECT_EQ(h.get(Counter::kSmtpAnomalyPlaintextOnImplicitTls), 0u);
  }
}

// Test that a lone 0x16 as the first client bytes is not taken for TLS: on any port the engine
// waits for a whole record header and handshake type, and "\x16\r\n" then EHLO and AUTH in clear
// are parsed as the server will (issue 9).
TEST(SmtpSession, LoneHandshakeByteIsNotTls) {
  for (PortClass port : {PortClass::kSubmission, PortClass::kRelay, PortClass::kImplicitTls}) {
    Harness h(port);
    h.server("220 mx\r\n");
    SmtpChunkResult r = h.client("\x16");
    EXPECT_EQ(r.tls_offset, SmtpChunkResult::kNoTls);
    r = h.client("\r\nEHLO a\r\nAUTH PLAIN " + kPlainSecret + "\r\n");
    EXPECT_EQ(r.tls_offset, SmtpChunkResult::kNoTls);
    EXPECT_TRUE(r.auth_in_clear);
    EXPECT_EQ(h.hot().mode_, SmtpMode::kSmtp);
    EXPECT_EQ(h.get(Counter::kSmtpTlsImplicit), 0u);
    EXPECT_EQ(h.get(Counter::kSmtpAuthPlaintextPlain), 1u);
    EXPECT_FALSE(h.memoryContains(kPlainSecret));
  }
}

// Test that a lone 0x16 right after the 220 to STARTTLS is not taken for the handshake: it is
// cleartext after the 220, and the AUTH behind it is seen.
TEST(SmtpSession, LoneHandshakeByteAfterStarttlsIsPlaintext) {
  Harness h(PortClass::kSubmission);
  h.run({s("220 mx\r\n"), c("EHLO a\r\n"), s("250-mx\r\n250 STARTTLS\r\n"), c("STARTTLS\r\n"),
         s("220 go\r\n"), c("\x16")});
  EXPECT_EQ(h.hot().mode_, SmtpMode::kTlsPending);
  SmtpChunkResult r = h.client("\r\nAUTH PLAIN " + kPlainSecret + "\r\n");
  EXPECT_EQ(r.tls_offset, SmtpChunkResult::kNoTls);
  EXPECT_TRUE(r.auth_in_clear);
  EXPECT_EQ(h.hot().mode_, SmtpMode::kSmtp);
  EXPECT_EQ(h.get(Counter::kSmtpAnomalyPlaintextAfterStarttls), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpAuthPlaintextPlain), 1u);
}

// Test that bytes that begin like a record header but break it (version, length, handshake
// type) are cleartext, and that a length byte that is an LF ends the command line there, as it
// does for the server.
TEST(SmtpSession, BrokenRecordHeadersAreCleartext) {
  const std::string heads[] = {
      "\x16\x03\x05\x00\x2f\x01"s,  // version 3.5
      "\x16\x02\x01\x00\x2f\x01"s,  // major version 2
      "\x16\x03\x01\x00\x2f\x02"s,  // a ServerHello from the client
      "\x16\x03\x01\x40\x01\x01"s,  // longer than 2^14
      "\x16\x03\x01\x00\x00\x01"s,  // empty
  };
  for (const std::string& head : heads) {
    Harness h(PortClass::kSubmission);
    h.client(head + "xx\r\n");
    EXPECT_EQ(h.hot().mode_, SmtpMode::kSmtp) << head;
    EXPECT_EQ(h.get(Counter::kSmtpCommands), 1u);
  }
  Harness lf(PortClass::kSubmission);
  lf.client("\x16\x03\x01\x00\n"s);
  EXPECT_EQ(lf.hot().mode_, SmtpMode::kSmtp);
  SmtpChunkResult r = lf.client("AUTH PLAIN " + kPlainSecret + "\r\n");
  EXPECT_TRUE(r.auth_in_clear);
  EXPECT_EQ(lf.get(Counter::kSmtpAuthPlaintextPlain), 1u);
  EXPECT_EQ(lf.get(Counter::kSmtpCommands), 2u);
}

// Test that a ClientHello whose record header is split over chunks still begins TLS, on the
// chunk that completes it, with the bytes held from earlier chunks handed back in tls_head.
TEST(SmtpSession, SplitRecordHeaderBeginsTlsWithItsHead) {
  for (size_t cut = 1; cut < 6; ++cut) {
    for (bool starttls : {false, true}) {
      Harness h(PortClass::kSubmission);
      if (starttls) h.run({s("220 mx\r\n"), c("STARTTLS\r\n"), s("220 go\r\n")});
      std::string got;
      for (size_t i = 0; i < cut; ++i) {
        SmtpChunkResult r = h.client(kClientHello.substr(i, 1));
        EXPECT_EQ(r.tls_offset, SmtpChunkResult::kNoTls) << cut;
      }
      SmtpChunkResult r = h.client(kClientHello.substr(cut));
      ASSERT_EQ(r.tls_offset, 0u) << cut;
      got.assign(reinterpret_cast<const char*>(r.tls_head.data()), r.tls_head_len);
      EXPECT_EQ(got, kClientHello.substr(0, cut));
      EXPECT_EQ(h.hot().mode_, SmtpMode::kTls);
      EXPECT_EQ(h.summary().tls, starttls ? SmtpTlsKind::kStarttls : SmtpTlsKind::kImplicit);
      EXPECT_EQ(h.get(Counter::kSmtpCommands), starttls ? 1u : 0u);
      EXPECT_EQ(h.pool().inUse(), 0u);
    }
  }
}

// Test that cleartext SMTP on an implicit-TLS port (465) is flagged once, from either side.
TEST(SmtpSession, PlaintextOnImplicitTlsPort) {
  {
    Harness h(PortClass::kImplicitTls);
    SmtpChunkResult r = h.server("220 smtp.example.com ESMTP\r\n");
    EXPECT_NE(r.anomalies, 0u);
    h.run({c("EHLO a\r\n"), s("250 ok\r\n")});
    EXPECT_EQ(h.get(Counter::kSmtpAnomalyPlaintextOnImplicitTls), 1u);
    EXPECT_EQ(h.events()[0], "anomaly plaintext_on_implicit_tls_port: server greeting in clear");
  }
  {
    Harness h(PortClass::kImplicitTls);
    h.client("EHLO a\r\n");
    EXPECT_EQ(h.get(Counter::kSmtpAnomalyPlaintextOnImplicitTls), 1u);
  }
  {
    Harness h(PortClass::kRelay);
    h.run({s("220 smtp.example.com ESMTP\r\n"), c("EHLO a\r\n")});
    EXPECT_EQ(h.get(Counter::kSmtpAnomalyPlaintextOnImplicitTls), 0u);
  }
}

// Test that AUTH PLAIN with an initial response in clear is counted, reported with its mechanism
// and marked on the chunk, and that the success reply is matched to it.
TEST(SmtpSession, AuthPlainInClear) {
  Harness h(PortClass::kSubmission);
  auto steps = authPlainSession();
  for (size_t i = 0; i < 3; ++i) h.feed(steps[i].dir, steps[i].bytes);
  SmtpChunkResult r = h.feed(steps[3].dir, steps[3].bytes);
  EXPECT_TRUE(r.auth_in_clear);
  EXPECT_EQ(r.auth_mech, SmtpAuthMech::kPlain);
  for (size_t i = 4; i < steps.size(); ++i) h.feed(steps[i].dir, steps[i].bytes);
  EXPECT_EQ(h.events(), ev({"ehlo localhost", "auth PLAIN clear",
                            "anomaly starttls_offered_not_used: AUTH in clear",
                            "auth_result 235 ok", "mail_from example.com", "message_end"}));
  EXPECT_EQ(h.get(Counter::kSmtpAuth), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpAuthPlaintext), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpAuthPlaintextPlain), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpAuthSuccess), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpAuthFailure), 0u);
  EXPECT_EQ(h.get(Counter::kSmtpAnomalyStarttlsOfferedNotUsed), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpMessages), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpCommands), 6u);  // EHLO AUTH MAIL RCPT DATA QUIT
  EXPECT_EQ(h.get(Counter::kSmtpReplies), 8u);
  EXPECT_EQ(h.summary().auth_mechs, authMechBit(SmtpAuthMech::kPlain));
  EXPECT_FALSE(h.memoryContains(kPlainSecret));
}

// Test that AUTH LOGIN's 334 exchange lines are SASL responses, not commands, and that 535 is a
// failure.
TEST(SmtpSession, AuthLoginExchangeIsNotCommands) {
  Harness h;
  h.run(authLoginSession());
  EXPECT_EQ(h.events(), ev({"ehlo laptop", "auth LOGIN clear", "auth_result 535 fail"}));
  EXPECT_EQ(h.get(Counter::kSmtpCommands), 3u);  // EHLO AUTH QUIT
  EXPECT_EQ(h.get(Counter::kSmtpAuthPlaintextLogin), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpAuthFailure), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpAuthSuccess), 0u);
  EXPECT_FALSE(h.memoryContains(kLoginUser));
  EXPECT_FALSE(h.memoryContains(kLoginPass));
}

// Test that every SASL line chunk of an exchange is marked for policy, and commands after the
// exchange are not.
TEST(SmtpSession, SaslResponseChunksAreMarked) {
  Harness h;
  h.run({s("220 mx\r\n"), c("EHLO a\r\n"), s("250 mx\r\n")});
  EXPECT_TRUE(h.client("AUTH LOGIN\r\n").auth_in_clear);
  h.server("334 VXNlcm5hbWU6\r\n");
  EXPECT_TRUE(h.client(kLoginUser.substr(0, 4)).auth_in_clear);
  EXPECT_TRUE(h.client(kLoginUser.substr(4) + "\r\n").auth_in_clear);
  h.server("334 UGFzc3dvcmQ6\r\n");
  EXPECT_TRUE(h.client(kLoginPass + "\r\n").auth_in_clear);
  h.server("235 ok\r\n");
  EXPECT_FALSE(h.client("MAIL FROM:<a@b>\r\n").auth_in_clear);
  EXPECT_FALSE(h.memoryContains(kLoginUser));
  EXPECT_FALSE(h.memoryContains(kLoginPass));
}

// Test that each SASL mechanism in clear gets its counter, in either letter case of verb and
// mechanism.
TEST(SmtpSession, AuthMechanismTable) {
  struct Row {
    const char* line;
    SmtpAuthMech mech;
    Counter counter;
    const char* event;
  };
  const Row rows[] = {
      {"AUTH PLAIN AGZha2UAZmFrZQ==\r\n", SmtpAuthMech::kPlain, Counter::kSmtpAuthPlaintextPlain,
       "auth PLAIN clear"},
      {"auth plain\r\n", SmtpAuthMech::kPlain, Counter::kSmtpAuthPlaintextPlain,
       "auth PLAIN clear"},
      {"AUTH LOGIN ZmFrZQ==\r\n", SmtpAuthMech::kLogin, Counter::kSmtpAuthPlaintextLogin,
       "auth LOGIN clear"},
      {"Auth Cram-Md5\r\n", SmtpAuthMech::kCramMd5, Counter::kSmtpAuthPlaintextCramMd5,
       "auth CRAM-MD5 clear"},
      {"AUTH DIGEST-MD5\r\n", SmtpAuthMech::kDigestMd5, Counter::kSmtpAuthPlaintextDigestMd5,
       "auth DIGEST-MD5 clear"},
      {"AUTH NTLM TlRMTVNTUAABAAAA\r\n", SmtpAuthMech::kNtlm, Counter::kSmtpAuthPlaintextNtlm,
       "auth NTLM clear"},
      {"AUTH GSSAPI\r\n", SmtpAuthMech::kGssapi, Counter::kSmtpAuthPlaintextGssapi,
       "auth GSSAPI clear"},
      {"AUTH XOAUTH2 dXNlcj1mYWtlAWF1dGg9QmVhcmVyIGZha2UBAQ==\r\n", SmtpAuthMech::kXoauth2,
       Counter::kSmtpAuthPlaintextXoauth2, "auth XOAUTH2 clear"},
      {"AUTH OAUTHBEARER bixhPWZha2Us\r\n", SmtpAuthMech::kOauthbearer,
       Counter::kSmtpAuthPlaintextOauthbearer, "auth OAUTHBEARER clear"},
      {"AUTH SCRAM-SHA-1 biwsbj1mYWtl\r\n", SmtpAuthMech::kScramSha1,
       Counter::kSmtpAuthPlaintextScramSha1, "auth SCRAM-SHA-1 clear"},
      {"AUTH SCRAM-SHA-256-PLUS\r\n", SmtpAuthMech::kScramSha256,
       Counter::kSmtpAuthPlaintextScramSha256, "auth SCRAM-SHA-256 clear"},
      {"AUTH EXTERNAL =\r\n", SmtpAuthMech::kExternal, Counter::kSmtpAuthPlaintextExternal,
       "auth EXTERNAL clear"},
      {"AUTH ANONYMOUS\r\n", SmtpAuthMech::kAnonymous, Counter::kSmtpAuthPlaintextAnonymous,
       "auth ANONYMOUS clear"},
      {"AUTH XAOL-UAS-MB abc\r\n", SmtpAuthMech::kOther, Counter::kSmtpAuthPlaintextOther,
       "auth OTHER clear"},
      // A credential where the mechanism belongs is never reported by name.
      {"AUTH AGZha2UAZmFrZQ==\r\n", SmtpAuthMech::kOther, Counter::kSmtpAuthPlaintextOther,
       "auth OTHER clear"},
      {"AUTH\r\n", SmtpAuthMech::kOther, Counter::kSmtpAuthPlaintextOther, "auth OTHER clear"},
  };
  for (const Row& r : rows) {
    Harness h;
    h.run({s("220 mx\r\n"), c("EHLO a\r\n"), s("250 mx\r\n")});
    SmtpChunkResult res = h.client(r.line);
    EXPECT_TRUE(res.auth_in_clear) << r.line;
    EXPECT_EQ(res.auth_mech, r.mech) << r.line;
    EXPECT_EQ(h.get(r.counter), 1u) << r.line;
    EXPECT_EQ(h.get(Counter::kSmtpAuth), 1u) << r.line;
    EXPECT_EQ(h.get(Counter::kSmtpAuthPlaintext), 1u) << r.line;
    EXPECT_EQ(h.events().back(), r.event) << r.line;
    EXPECT_EQ(h.summary().auth_mechs, authMechBit(r.mech)) << r.line;
  }
}

// Test that a split AUTH PLAIN line never leaves its credential in any buffer or observer call,
// and that every chunk carrying a byte of it is marked, at every split position.
TEST(SmtpSession, CredentialsNeverLeaveThePacket) {
  const std::string line = "AUTH PLAIN " + kPlainSecret + "\r\n";
  const size_t secret_at = line.find(kPlainSecret);
  for (uint32_t pool_capacity : {4u, 0u}) {
    for (size_t cut = 1; cut < line.size(); ++cut) {
      Harness h(PortClass::kRelay, pool_capacity);
      h.run({s("220 mx\r\n"), c("EHLO a\r\n"), s("250 mx\r\n")});
      SmtpChunkResult r1 = h.client(line.substr(0, cut));
      EXPECT_FALSE(h.memoryContains(kPlainSecret.substr(0, 3))) << cut;
      SmtpChunkResult r2 = h.client(line.substr(cut));
      EXPECT_FALSE(h.memoryContains(kPlainSecret.substr(0, 3))) << cut;
      if (cut > secret_at) {
        EXPECT_TRUE(r1.auth_in_clear) << cut;
      }
      EXPECT_TRUE(r2.auth_in_clear) << cut;
      for (const std::string& e : h.events())
        EXPECT_EQ(e.find(kPlainSecret.substr(0, 4)), std::string::npos) << e;
      EXPECT_EQ(h.get(Counter::kSmtpAuth), 1u) << cut;
      if (pool_capacity > 0) {
        EXPECT_EQ(h.events().back(), "auth PLAIN clear") << cut;
        h.server("235 ok\r\n");
        EXPECT_EQ(h.get(Counter::kSmtpAuthSuccess), 1u) << cut;
      }
    }
  }
}

// Test that the DATA body is skipped to the lone dot: lines that look like commands inside it
// are not commands, dot-stuffed lines do not end it, and the message is counted.
TEST(SmtpSession, BodyLinesAreNeverCommands) {
  Harness h(PortClass::kSubmission);
  h.run(authPlainSession());
  EXPECT_EQ(h.get(Counter::kSmtpStarttlsAttempted), 0u);
  EXPECT_EQ(h.get(Counter::kSmtpAuth), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpMessages), 1u);
  EXPECT_EQ(h.summary().messages, 1u);
}

// Test that a bare-LF dot does not end the body (RFC 5321 §4.1.1.4, SMTP smuggling) while
// CRLF.CRLF does, whatever the split.
TEST(SmtpSession, OnlyCrlfDotCrlfEndsTheBody) {
  const std::vector<Step> steps = {
      s("220 mx\r\n"),
      c("EHLO a\r\n"),
      s("250 mx\r\n"),
      c("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"),
      s("250 ok\r\n250 ok\r\n354 go\r\n"),
      c("line\n.\nSTARTTLS\r\n\r.\r\nAUTH PLAIN x\r\n.\r\r\n.\r\nRSET\r\n"),
      s("250 queued\r\n")};
  Harness h;
  h.run(steps);
  EXPECT_EQ(h.get(Counter::kSmtpMessages), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpStarttlsAttempted), 0u);
  EXPECT_EQ(h.get(Counter::kSmtpAuth), 0u);
  EXPECT_EQ(h.get(Counter::kSmtpCommands), 5u);  // EHLO MAIL RCPT DATA RSET
  EXPECT_EQ(runByteByByte(steps), runWhole(steps));
}

// Test that client bytes after DATA are commands until the server's 354 (RFC 2920 §3.1: DATA
// ends a pipelined group, and a server that refuses it reads on as commands): an AUTH pipelined
// behind DATA is seen as it passes, whatever the reply will be (issue 9).
TEST(SmtpSession, BytesAfterDataAreCommandsUntilThe354) {
  for (const char* reply : {"554 5.5.1 no valid recipients\r\n", "354 go\r\n"}) {
    Harness h(PortClass::kSubmission);
    h.run({s("220 mx\r\n"), c("EHLO a\r\n"), s("250-mx\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n")});
    SmtpChunkResult r =
        h.client("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nAUTH PLAIN " + kPlainSecret + "\r\n");
    EXPECT_TRUE(r.auth_in_clear) << reply;
    h.server("250 ok\r\n250 ok\r\n"s + reply);
    EXPECT_EQ(h.get(Counter::kSmtpAuthPlaintextPlain), 1u) << reply;
    EXPECT_FALSE(h.memoryContains(kPlainSecret));
  }
  // In a chunk of its own, before the reply.
  Harness h;
  h.run({s("220 mx\r\n"), c("EHLO a\r\n"), s("250 mx\r\n"), c("MAIL FROM:<a@b>\r\n"),
         s("250 ok\r\n"), c("RCPT TO:<c@d>\r\n"), s("250 ok\r\n"), c("DATA\r\n")});
  EXPECT_TRUE(h.client("AUTH LOGIN\r\n").auth_in_clear);
}

// Test that a refused DATA (any reply but 354) leaves the client in command mode whatever it
// sent after DATA, and the commands after are read.
TEST(SmtpSession, RefusedDataKeepsCommandMode) {
  Harness h;
  h.run({s("220 mx\r\n"), c("EHLO a\r\n"), s("250-mx\r\n250 PIPELINING\r\n"),
         c("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: hi\r\n\r\nbody\r\n"),
         s("250 ok\r\n550 no such user\r\n554 no valid recipients\r\n"), c("RSET\r\n"),
         c("STARTTLS\r\n")});
  EXPECT_EQ(h.get(Counter::kSmtpMessages), 0u);
  EXPECT_EQ(h.get(Counter::kSmtpStarttlsAttempted), 1u);
  // EHLO MAIL RCPT DATA "Subject:" "body" RSET STARTTLS
  EXPECT_EQ(h.get(Counter::kSmtpCommands), 8u);
}

// Test that the 354 starts the body: lines that look like commands are not commands and the dot
// ends it. A body sent before the 354 (RFC 2920 forbids it) is read as commands as it passes,
// and at the 354 the engine knows how far it got: ended, or going on.
TEST(SmtpSession, The354StartsTheBody) {
  {
    Harness h;
    h.run({s("220 mx\r\n"), c("EHLO a\r\n"), s("250 mx\r\n"),
           c("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"), s("250 ok\r\n250 ok\r\n354 go\r\n"),
           c("AUTH PLAIN eA==\r\nMAIL FROM:<x@y>\r\n.\r\n"), s("250 queued\r\n"), c("QUIT\r\n")});
    EXPECT_EQ(h.get(Counter::kSmtpAuth), 0u);
    EXPECT_EQ(h.get(Counter::kSmtpMessages), 1u);
    EXPECT_EQ(h.get(Counter::kSmtpCommands), 5u);  // EHLO MAIL RCPT DATA QUIT
  }
  {
    Harness h;
    h.run({s("220 mx\r\n"), c("EHLO a\r\n"), s("250 mx\r\n"),
           c("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: x\r\n\r\nhello\r\n.\r\n"),
           s("250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n"), c("MAIL FROM:<e@f>\r\n")});
    EXPECT_EQ(h.get(Counter::kSmtpMessages), 1u);
    EXPECT_EQ(h.events(), ev({"ehlo a", "mail_from b", "message_end", "mail_from f"}));
  }
  {
    Harness h;
    h.run({s("220 mx\r\n"), c("EHLO a\r\n"), s("250 mx\r\n"),
           c("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: x\r\n"),
           s("250 ok\r\n250 ok\r\n354 go\r\n"), c("AUTH PLAIN eA==\r\n.\r\n"), s("250 queued\r\n"),
           c("QUIT\r\n")});
    EXPECT_EQ(h.get(Counter::kSmtpAuth), 0u);
    EXPECT_EQ(h.get(Counter::kSmtpMessages), 1u);
    EXPECT_EQ(h.hot().client_state_, 0u);  // a command line start
  }
}

// Test that BDAT chunks are skipped by length, LAST ends the message, and commands pipelined
// right behind the last chunk are parsed (suricata-verify smtp-bdat-pipelined-next-mail).
TEST(SmtpSession, BdatChunksSkippedByLength) {
  Harness h;
  h.run(bdatPipelinedSession());
  EXPECT_EQ(h.events(), ev({"ehlo client.example.com", "mail_from example.com", "message_end",
                            "mail_from example.com", "message_end"}));
  EXPECT_EQ(h.get(Counter::kSmtpMessages), 2u);
  EXPECT_EQ(h.get(Counter::kSmtpAuth), 0u);
  // ehlo mail rcpt BDAT BDAT mail rcpt data QUIT
  EXPECT_EQ(h.get(Counter::kSmtpCommands), 9u);
  EXPECT_EQ(h.get(Counter::kSmtpReplies), 11u);
  EXPECT_EQ(h.summary().extensions & extensionBit(SmtpExtension::kChunking),
            extensionBit(SmtpExtension::kChunking));
}

// Test that a BDAT whose size no server can read (not a number, or beyond 2^63-1) skips
// nothing: the server answers 501 and reads what follows as commands, and so do we (issue 9).
TEST(SmtpSession, BdatWithAnUnreadableSizeSkipsNothing) {
  for (std::string size : {"99999999999999999999999", "9223372036854775808", "12x", "", "-5"}) {
    Harness h(PortClass::kSubmission);
    h.run({s("220 mx\r\n"), c("EHLO a\r\n"), s("250-mx\r\n250-CHUNKING\r\n250 AUTH PLAIN\r\n"),
           c("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"), s("250 ok\r\n250 ok\r\n")});
    SmtpChunkResult r = h.client("BDAT " + size + "\r\nAUTH PLAIN " + kPlainSecret + "\r\n");
    EXPECT_TRUE(r.auth_in_clear) << size;
    EXPECT_EQ(h.get(Counter::kSmtpAuthPlaintextPlain), 1u) << size;
  }
}

// Test that a BDAT chunk is skipped only when the server offered CHUNKING: a server that did not
// answers 502 and reads the "chunk" as commands.
TEST(SmtpSession, BdatWithoutChunkingSkipsNothing) {
  Harness h;
  h.run({s("220 mx\r\n"), c("EHLO a\r\n"), s("250-mx\r\n250 AUTH PLAIN\r\n")});
  SmtpChunkResult r = h.client("BDAT 40\r\nAUTH PLAIN " + kPlainSecret + "\r\n");
  EXPECT_TRUE(r.auth_in_clear);
  EXPECT_EQ(h.get(Counter::kSmtpAuthPlaintextPlain), 1u);
}

// Test that an error reply to the BDAT whose chunk is being skipped ends the skipping (the
// server did not read on as a chunk), while the replies to earlier BDATs do not.
TEST(SmtpSession, ErrorReplyToBdatEndsTheChunk) {
  Harness h;
  h.run({s("220 mx\r\n"), c("EHLO a\r\n"), s("250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n"),
         c("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 3\r\nabcBDAT 100000\r\nxyz\r\n"),
         s("250 ok\r\n250 ok\r\n250 3 octets\r\n")});
  EXPECT_FALSE(h.client("AUTH PLAIN eA==\r\n").auth_in_clear);  // chunk bytes
  h.server("552 5.3.4 message too big\r\n");
  SmtpChunkResult r = h.client("AUTH PLAIN " + kPlainSecret + "\r\n");
  EXPECT_TRUE(r.auth_in_clear);
  EXPECT_EQ(h.get(Counter::kSmtpAuthPlaintextPlain), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpMessages), 0u);
}

// Test that a BDAT chunk spanning many segments is skipped exactly, and BDAT 0 LAST ends a
// message without data.
TEST(SmtpSession, BdatChunkAcrossManySegments) {
  Harness h;
  h.run({s("220 mx\r\n"), c("EHLO a\r\n"), s("250-mx\r\n250 CHUNKING\r\n"),
         c("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 4404 LAST\r\n")});
  std::string body(4404, 'x');
  for (size_t i = 0; i < body.size(); i += 73) body.replace(i, 10, "\r\nQUIT\r\n.\r");
  body.resize(4404);
  for (size_t i = 0; i < body.size(); i += 1448) h.client(body.substr(i, 1448));
  EXPECT_EQ(h.get(Counter::kSmtpMessages), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpCommands), 4u);
  h.client("MAIL FROM:<a@b>\r\nBDAT 0 LAST\r\nQUIT\r\n");
  EXPECT_EQ(h.get(Counter::kSmtpMessages), 2u);
  EXPECT_EQ(h.get(Counter::kSmtpCommands), 7u);
}

// Test that pipelined commands in one chunk and their replies in one chunk are matched in order
// (RFC 2920), so the 354 turns the client to the body.
TEST(SmtpSession, PipelinedCommandsAndReplies) {
  Harness h;
  h.run({s("220 mx\r\n"), c("EHLO a\r\n"), s("250-mx\r\n250 PIPELINING\r\n"),
         c("RSET\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\n"
           "RCPT TO:<d@x>\r\nDATA\r\n"),
         s("250 ok\r\n250 ok\r\n250 ok\r\n550 no\r\n250 ok\r\n354 go\r\n"), c("body\r\n.\r\n"),
         s("250 queued\r\n"), c("AUTH LOGIN\r\n"), s("334 VXNlcm5hbWU6\r\n")});
  EXPECT_EQ(h.get(Counter::kSmtpCommands), 8u);
  EXPECT_EQ(h.get(Counter::kSmtpReplies), 10u);
  EXPECT_EQ(h.get(Counter::kSmtpMessages), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpAuthSuccess) + h.get(Counter::kSmtpAuthFailure), 0u);
}

// Test that commands injected behind an accepted STARTTLS are never waited for: a later
// refused DATA is still recognised and the next command is not taken for a body.
TEST(SmtpSession, InjectedCommandsAreForgottenAfterStarttls) {
  Harness h;
  h.run({s("220 mx\r\n"), c("STARTTLS\r\nNOOP\r\n"), s("220 go\r\n"),
         c("MAIL FROM:<a@b>\r\nDATA\r\n"), s("250 ok\r\n554 no valid recipients\r\n"),
         c("RSET\r\n")});
  EXPECT_EQ(h.get(Counter::kSmtpAnomalyPlaintextAfterStarttls), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpCommands), 5u);  // STARTTLS NOOP MAIL DATA RSET
}

// Test that a reply code that answers one command only realigns the queue when a reply went
// missing: 220 is STARTTLS's even if an older command was never answered.
TEST(SmtpSession, OneCommandReplyCodesRealignTheQueue) {
  Harness h;
  h.run({s("220 mx\r\n"), c("NOOP\r\nSTARTTLS\r\n"), s("220 go\r\n"), c(kClientHello)});
  EXPECT_EQ(h.get(Counter::kSmtpStarttlsAccepted), 1u);
  EXPECT_EQ(h.hot().mode_, SmtpMode::kTls);
  Harness d;
  d.run({s("220 mx\r\n"), c("NOOP\r\nAUTH LOGIN\r\n"), s("334 VXNlcm5hbWU6\r\n"), c("eA==\r\n"),
         s("235 ok\r\n"), c("QUIT\r\n")});
  EXPECT_EQ(d.get(Counter::kSmtpAuthSuccess), 1u);
  EXPECT_EQ(d.get(Counter::kSmtpCommands), 3u);
}

// Test that a client talking before the greeting still has its EHLO reply matched.
TEST(SmtpSession, EarlyTalkerEhloIsMatched) {
  Harness h;
  h.run({c("EHLO a\r\n"), s("220 mx\r\n"), s("250-mx\r\n250 STARTTLS\r\n")});
  EXPECT_EQ(h.get(Counter::kSmtpStarttlsOffered), 1u);
}

// Test that every reply class is read right for the command it answers: STARTTLS, AUTH, EHLO.
TEST(SmtpSession, ReplyClassTable) {
  struct Row {
    const char* command;
    const char* reply;
    Counter counter;  // incremented once
    SmtpMode mode;
  };
  const Row rows[] = {
      {"STARTTLS\r\n", "220 go\r\n", Counter::kSmtpStarttlsAccepted, SmtpMode::kTlsPending},
      {"STARTTLS\r\n", "454 later\r\n", Counter::kSmtpStarttlsRefused, SmtpMode::kSmtp},
      {"STARTTLS\r\n", "501 syntax\r\n", Counter::kSmtpStarttlsRefused, SmtpMode::kSmtp},
      {"STARTTLS\r\n", "250 odd\r\n", Counter::kSmtpStarttlsAttempted, SmtpMode::kSmtp},
      {"AUTH PLAIN eA==\r\n", "235 ok\r\n", Counter::kSmtpAuthSuccess, SmtpMode::kSmtp},
      {"AUTH PLAIN eA==\r\n", "454 temp\r\n", Counter::kSmtpAuthFailure, SmtpMode::kSmtp},
      {"AUTH PLAIN eA==\r\n", "535 bad\r\n", Counter::kSmtpAuthFailure, SmtpMode::kSmtp},
      {"EHLO a\r\n", "502 no\r\n", Counter::kSmtpReplies, SmtpMode::kSmtp},
  };
  for (const Row& r : rows) {
    Harness h;
    h.run({s("220 mx\r\n"), c(r.command), s(r.reply)});
    EXPECT_EQ(h.get(r.counter), r.counter == Counter::kSmtpReplies ? 2u : 1u) << r.reply;
    EXPECT_EQ(h.hot().mode_, r.mode) << r.reply;
  }
  // 334 keeps the exchange open: the next line is a SASL response, not a command.
  Harness h;
  h.run({s("220 mx\r\n"), c("AUTH CRAM-MD5\r\n"), s("334 PDEyMzQ+\r\n"), c("QUIT\r\n")});
  EXPECT_EQ(h.get(Counter::kSmtpCommands), 1u);
  h.run({s("235 ok\r\n"), c("QUIT\r\n")});
  EXPECT_EQ(h.get(Counter::kSmtpCommands), 2u);
  EXPECT_EQ(h.get(Counter::kSmtpAuthSuccess), 1u);
}

// Test that a submission server whose EHLO reply lacks STARTTLS is flagged once, and not on a
// relay port or when offered.
TEST(SmtpSession, StarttlsNotOffered) {
  const std::vector<Step> steps = {s("220 mx\r\n"), c("EHLO a\r\n"),
                                   s("250-mx\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n"),
                                   c("EHLO a\r\n"), s("250-mx\r\n250 8BITMIME\r\n")};
  Harness sub(PortClass::kSubmission);
  sub.run(steps);
  EXPECT_EQ(sub.get(Counter::kSmtpAnomalyStarttlsNotOffered), 1u);
  Harness relay(PortClass::kRelay);
  relay.run(steps);
  EXPECT_EQ(relay.get(Counter::kSmtpAnomalyStarttlsNotOffered), 0u);
  Harness offered(PortClass::kSubmission);
  offered.run({s("220 mx\r\n"), c("EHLO a\r\n"), s(kEhloReplyStarttls)});
  EXPECT_EQ(offered.get(Counter::kSmtpAnomalyStarttlsNotOffered), 0u);
}

// Test that AUTH or MAIL in clear after STARTTLS was offered is flagged once per flow.
TEST(SmtpSession, StarttlsOfferedNotUsed) {
  Harness h;
  h.run({s("220 mx\r\n"), c("EHLO a\r\n"), s(kEhloReplyStarttls)});
  SmtpChunkResult r = h.client("MAIL FROM:<a@example.com>\r\n");
  EXPECT_TRUE(r.mail_in_clear);
  EXPECT_EQ(r.anomalies, 1u << static_cast<unsigned>(SmtpAnomaly::kStarttlsOfferedNotUsed));
  h.run({s("250 ok\r\n"), c("RSET\r\n"), s("250 ok\r\n"), c("MAIL FROM:<a@example.com>\r\n")});
  EXPECT_EQ(h.get(Counter::kSmtpAnomalyStarttlsOfferedNotUsed), 1u);
  EXPECT_EQ(h.events().back(), "mail_from example.com");
  Harness not_offered;
  not_offered.run({s("220 mx\r\n"), c("EHLO a\r\n"), s("250 mx\r\n"), c("MAIL FROM:<a@b>\r\n")});
  EXPECT_EQ(not_offered.get(Counter::kSmtpAnomalyStarttlsOfferedNotUsed), 0u);
}

// Test that a STARTTLS keyword masked by a middlebox (Cisco ASA "XXXXXXXA") is flagged.
TEST(SmtpSession, StarttlsMasked) {
  Harness h(PortClass::kSubmission);
  h.run({s("220 ****************************\r\n"), c("EHLO a\r\n"),
         s("250-mx\r\n250-XXXXXXXA\r\n250-AUTH LOGIN\r\n250 XXXXXXXA\r\n")});
  EXPECT_EQ(h.get(Counter::kSmtpAnomalyStarttlsMasked), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpAnomalyStarttlsNotOffered), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpStarttlsOffered), 0u);
  EXPECT_EQ(h.events()[1], "anomaly starttls_masked: XXXXXXXA");
}

// Test that lines longer than the limit are counted and skipped to the next LF whole or split,
// while the command after them is read.
TEST(SmtpSession, OverlongLinesAreCountedAndSkipped) {
  const std::string long_cmd = "NOOP " + std::string(1500, 'a') + "\r\n";
  const std::string long_reply = "250 " + std::string(1500, 'b') + "\r\n";
  const std::vector<Step> steps = {s("220 mx\r\n"), c("EHLO a\r\n"), s("250 mx\r\n"),
                                   c(long_cmd + "STARTTLS\r\n"), s(long_reply + "454 no\r\n")};
  Harness h;
  h.run(steps);
  EXPECT_EQ(h.get(Counter::kSmtpLinesOverlong), 2u);
  EXPECT_EQ(h.get(Counter::kSmtpStarttlsAttempted), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpStarttlsRefused), 1u);  // the long reply answered the NOOP
  std::string whole = runWhole(steps);
  for (size_t at : {1u, 500u, 999u, 1000u, 1001u, 1505u, 1506u})
    EXPECT_EQ(runSplit(steps, 3, at), whole) << at;
  EXPECT_EQ(runByteByByte(steps), whole);
  // A command line of exactly 512 octets with its CRLF is not overlong (RFC 5321 §4.5.3.1.4).
  Harness exact;
  exact.run({s("220 mx\r\n"), c("NOOP " + std::string(505, 'a') + "\r\n")});
  EXPECT_EQ(exact.get(Counter::kSmtpLinesOverlong), 0u);
  // An AUTH line is exempt (RFC 4954 §4 allows 12288 octets) and never stored.
  Harness auth;
  auth.run({s("220 mx\r\n"), c("AUTH XOAUTH2 " + std::string(3000, 'T')),
            c(std::string(3000, 'T') + "\r\n")});
  EXPECT_EQ(auth.get(Counter::kSmtpLinesOverlong), 0u);
  EXPECT_EQ(auth.get(Counter::kSmtpAuthPlaintextXoauth2), 1u);
  EXPECT_FALSE(auth.memoryContains("TTTT"));
}

// Test that a command line longer than RFC 5321 §4.5.3.1.4 allows (512 octets with its CRLF)
// is counted, and raises command_line_too_long once per flow for policy to act on: a server
// with a shorter buffer may split it and run what follows the split as a command. Blanks count.
TEST(SmtpSession, OverlongCommandLineIsAnAnomaly) {
  const std::string too_long = "NOOP " + std::string(506, 'a') + "\r\n";  // 513
  const unsigned bit = 1u << static_cast<unsigned>(SmtpAnomaly::kCommandLineTooLong);
  Harness h;
  h.server("220 mx\r\n");
  SmtpChunkResult r = h.client(too_long);
  EXPECT_NE(r.anomalies & bit, 0u);
  EXPECT_EQ(h.get(Counter::kSmtpLinesOverlong), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpAnomalyCommandLineTooLong), 1u);
  h.client(std::string(300, ' '));
  r = h.client(std::string(300, 'x') + "\r\nQUIT\r\n");
  EXPECT_EQ(r.anomalies & bit, 0u);  // once per flow
  EXPECT_EQ(h.get(Counter::kSmtpLinesOverlong), 2u);
  EXPECT_EQ(h.get(Counter::kSmtpAnomalyCommandLineTooLong), 1u);
  EXPECT_EQ(h.events(), ev({"anomaly command_line_too_long: command line over 512 octets"}));
  const std::vector<Step> steps = {s("220 mx\r\n"), c("EHLO a\r\n" + too_long + "QUIT\r\n")};
  const std::string whole = runWhole(steps);
  for (size_t at : {1u, 8u, 9u, 300u, 519u, 520u, 521u, 522u})
    EXPECT_EQ(runSplit(steps, 1, at), whole) << at;
  EXPECT_EQ(runByteByByte(steps), whole);
}

// Test that a long run of blanks before AUTH, in the segment before it, does not hide the AUTH:
// the line head keeps no leading blanks (Postfix skips any white space before the verb and runs
// AUTH within its 2048-octet line limit) (issue 9: 1100 blanks).
TEST(SmtpSession, LongBlanksBeforeAuthDoNotHideIt) {
  for (size_t blanks : {1u, 999u, 1000u, 1100u, 3000u}) {
    for (char blank : {' ', '\t', '\v', '\f', '\r'}) {
      Harness h(PortClass::kSubmission);
      h.run({s("220 mx\r\n"), c("EHLO a\r\n"), s("250 mx\r\n"), c(std::string(blanks, blank))});
      SmtpChunkResult r = h.client("AUTH PLAIN " + kPlainSecret + "\r\n");
      EXPECT_TRUE(r.auth_in_clear) << blanks << " " << int{blank};
      EXPECT_EQ(h.get(Counter::kSmtpAuthPlaintextPlain), 1u) << blanks << " " << int{blank};
      EXPECT_FALSE(h.memoryContains(kPlainSecret));
    }
  }
  const std::vector<Step> steps = {
      s("220 mx\r\n"), c(std::string(1100, ' ') + "AUTH PLAIN " + kPlainSecret + "\r\nQUIT\r\n")};
  const std::string whole = runWhole(steps);
  EXPECT_NE(whole.find("smtp.auth.plaintext.PLAIN=1"), std::string::npos);
  for (size_t at = 1; at < steps[1].bytes.size(); ++at)
    ASSERT_EQ(runSplit(steps, 1, at), whole) << at;
}

// Test that a gap inside a command line resyncs at the next LF and counts tcp.resync.
TEST(SmtpSession, GapResyncsAtNextLine) {
  Harness h;
  h.run({s("220 mx\r\n"), c("EHLO a\r\n"), s("250-mx\r\n250 STARTTLS\r\n"), c("MAIL FR"), gap(kC),
         c("OM:<a@b>\r\nSTARTTLS\r\n")});
  EXPECT_EQ(h.get(Counter::kTcpResync), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpCommands), 2u);  // EHLO STARTTLS: the torn MAIL is dropped
  // The 250 answers the torn MAIL, not STARTTLS: the 220 is still matched to STARTTLS.
  h.run({s("250 ok\r\n220 go\r\n")});
  EXPECT_EQ(h.get(Counter::kSmtpStarttlsAccepted), 1u);
  EXPECT_EQ(h.hot().mode_, SmtpMode::kTlsPending);
  h.run({gap(kS), s("bc\r\n250 ok\r\n")});
  EXPECT_EQ(h.get(Counter::kTcpResync), 2u);
}

// Test that a gap inside a body waits for the server's reply to the message before parsing
// commands again, so body lines never pass for commands.
TEST(SmtpSession, GapInBodyResyncsOnServerReply) {
  Harness h;
  h.run({s("220 mx\r\n"), c("EHLO a\r\n"), s("250 mx\r\n"), c("MAIL FROM:<a@b>\r\n"),
         s("250 ok\r\n"), c("DATA\r\n"), s("354 go\r\n"), c("first body line\r\n"), gap(kC),
         c("AUTH PLAIN looks-like-a-command\r\nmore body\r\n"), s("250 queued\r\n"),
         c("QUIT\r\n")});
  EXPECT_EQ(h.get(Counter::kSmtpAuth), 0u);
  EXPECT_EQ(h.get(Counter::kTcpResync), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpCommands), 4u);  // EHLO MAIL DATA QUIT
  // The same inside a BDAT chunk.
  Harness b;
  b.run({s("220 mx\r\n"), c("EHLO a\r\n"), s("250-mx\r\n250 CHUNKING\r\n"),
         c("BDAT 100000 LAST\r\nabc\r\n"), gap(kC), c("AUTH PLAIN eA==\r\nxyz\r\n"),
         s("250 ok\r\n"), c("QUIT\r\n")});
  EXPECT_EQ(b.get(Counter::kSmtpAuth), 0u);
  EXPECT_EQ(b.get(Counter::kSmtpCommands), 3u);
}

// Test that a client gap right after a 220 to STARTTLS is taken as the lost ClientHello.
TEST(SmtpSession, GapAfterStarttlsAcceptedIsTls) {
  Harness h;
  h.run({s("220 mx\r\n"), c("STARTTLS\r\n"), s("220 go\r\n"), gap(kC)});
  EXPECT_EQ(h.hot().mode_, SmtpMode::kTls);
  EXPECT_EQ(h.client("\x16\x03\x03 rest of handshake").tls_offset, 0u);
}

// Test that with the pool empty the engine still follows split commands by their verb, counts
// pool.exhausted and keeps no HELO name.
TEST(SmtpSession, PoolExhaustionDegradesGracefully) {
  Harness h(PortClass::kRelay, 0);
  h.run({s("220 mx\r\n"), c("EH"), c("LO client.example.org\r\n"), s("250-mx\r\n250 STAR"),
         s("TTLS\r\n"), c("STAR"), c("TTLS\r\n"), s("220 go\r\n"), c(kClientHello)});
  EXPECT_GT(h.get(Counter::kPoolExhausted), 0u);
  EXPECT_EQ(h.get(Counter::kSmtpCommands), 2u);
  EXPECT_EQ(h.get(Counter::kSmtpStarttlsAttempted), 1u);
  EXPECT_EQ(h.get(Counter::kSmtpStarttlsAccepted), 1u);
  EXPECT_EQ(h.hot().mode_, SmtpMode::kTls);
  EXPECT_EQ(h.summary().helo, "");
  // A lost server line forgets pending commands rather than mismatching replies.
  Harness lost(PortClass::kRelay, 0);
  lost.run({s("220 mx\r\n"), c("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"), s("25"),
            s("0 ok\r\n250 ok\r\n354 go\r\n"), c("body\r\n.\r\n")});
  EXPECT_EQ(lost.get(Counter::kSmtpMessages), 1u);
}

// Test that the cold state is attached only while needed: for a split line, released after it,
// kept for the HELO name, and returned at flow end.
TEST(SmtpSession, ColdStateAttachedOnlyWhileNeeded) {
  Harness h;
  h.server("220 mx");
  EXPECT_EQ(h.pool().inUse(), 1u);
  h.server(" ready\r\n");
  EXPECT_EQ(h.pool().inUse(), 0u);
  h.client("EHLO client.example.org\r\n");
  EXPECT_EQ(h.pool().inUse(), 1u);
  EXPECT_EQ(h.summary().helo, "client.example.org");
  h.release();
  EXPECT_EQ(h.pool().inUse(), 0u);
  EXPECT_EQ(h.summary().helo, "");
}

// Test that every session gives the same results however its bytes are split: at every
// position of every step (STARTTLS, AUTH lines, the 220 reply, BDAT) and byte by byte.
TEST(SmtpSession, SegmentationNeverChangesResults) {
  struct Named {
    const char* name;
    std::vector<Step> steps;
    PortClass port;
  };
  const Named sessions[] = {
      {"starttls", starttlsSession(), PortClass::kSubmission},
      {"auth_plain", authPlainSession(), PortClass::kSubmission},
      {"auth_login", authLoginSession(), PortClass::kRelay},
      {"bdat", bdatPipelinedSession(), PortClass::kRelay},
      {"plaintext_after_starttls", plaintextAfterStarttlsSession(), PortClass::kSubmission},
      {"implicit_plaintext", authLoginSession(), PortClass::kImplicitTls},
  };
  for (const Named& n : sessions) {
    const std::string whole = runWhole(n.steps, n.port);
    for (size_t i = 0; i < n.steps.size(); ++i)
      for (size_t at = 1; at < n.steps[i].bytes.size(); ++at)
        ASSERT_EQ(runSplit(n.steps, i, at, n.port), whole)
            << n.name << " step " << i << " split at " << at;
    EXPECT_EQ(runByteByByte(n.steps, n.port), whole) << n.name;
  }
}

// Test that each row of the transition table, a short session, raises exactly its events.
TEST(SmtpSession, TransitionTable) {
  struct Row {
    const char* name;
    PortClass port;
    std::vector<Step> steps;
    std::vector<std::string> events;
  };
  const std::string hello = kClientHello;
  const Row rows[] = {
      {"greeting, HELO",
       PortClass::kRelay,
       {s("220 mx\r\n"), c("HELO old.example\r\n"), s("250 mx\r\n")},
       {"helo old.example"}},
      {"lower-case verbs",
       PortClass::kRelay,
       {s("220 mx\r\n"), c("ehlo a\r\n"), s("250-mx\r\n250 starttls\r\n"), c("starttls\r\n"),
        s("220 go\r\n"), c(hello)},
       {"ehlo a", "starttls", "starttls_result 220", "tls client @18 starttls"}},
      {"bare LF lines",
       PortClass::kRelay,
       {s("220 mx\n"), c("EHLO a\n"), s("250-mx\n250 STARTTLS\n"), c("STARTTLS\n"), s("220 go\n"),
        c(hello)},
       {"ehlo a", "starttls", "starttls_result 220", "tls client @16 starttls"}},
      {"injection",
       PortClass::kRelay,
       {s("220 mx\r\n"), c("STARTTLS\r\nEHLO evil\r\n"), s("220 go\r\n"), c(hello)},
       {"starttls", "anomaly starttls_injection: client data before the STARTTLS reply",
        "ehlo evil", "starttls_result 220", "tls client @21 starttls"}},
      {"plaintext after 220",
       PortClass::kRelay,
       {s("220 mx\r\n"), c("STARTTLS\r\n"), s("220 go\r\n"), c("\x16\x41 not tls\r\n")},
       {"starttls", "starttls_result 220",
        "anomaly plaintext_after_starttls: client sent cleartext after the 220"}},
      {"refused",
       PortClass::kRelay,
       {s("220 mx\r\n"), c("STARTTLS\r\n"), s("454 4.7.0 TLS not available\r\n"), c("QUIT\r\n")},
       {"starttls", "starttls_result 454"}},
      {"not offered on submission",
       PortClass::kSubmission,
       {s("220 mx\r\n"), c("EHLO a\r\n"), s("250-mx\r\n250 AUTH PLAIN\r\n"),
        c("AUTH PLAIN eA==\r\n"), s("235 ok\r\n")},
       {"ehlo a", "anomaly starttls_not_offered: EHLO reply without STARTTLS", "auth PLAIN clear",
        "auth_result 235 ok"}},
      {"offered, MAIL in clear",
       PortClass::kRelay,
       {s("220 mx\r\n"), c("EHLO a\r\n"), s("250-mx\r\n250 STARTTLS\r\n"),
        c("MAIL FROM:<a@example.net>\r\n")},
       {"ehlo a", "mail_from example.net", "anomaly starttls_offered_not_used: MAIL in clear"}},
      {"implicit port in clear",
       PortClass::kImplicitTls,
       {c("EHLO a\r\n")},
       {"anomaly plaintext_on_implicit_tls_port: client command in clear", "ehlo a"}},
      {"implicit TLS",
       PortClass::kImplicitTls,
       {c(hello), s("\x16\x03\x03")},
       {"tls client @0 implicit"}},
      {"data and message",
       PortClass::kRelay,
       {s("220 mx\r\n"), c("MAIL FROM:<>\r\nRCPT TO:<a@b>\r\nDATA\r\n"),
        s("250 ok\r\n250 ok\r\n354 go\r\n"), c("x\r\n.\r\n"), s("250 ok\r\n")},
       {"mail_from ", "message_end"}},
      {"bdat last",
       PortClass::kRelay,
       {s("220 mx\r\n"), c("EHLO a\r\n"), s("250-mx\r\n250 CHUNKING\r\n"),
        c("MAIL FROM:<a@b>\r\nBDAT 3 LAST\r\nabcRSET\r\n")},
       {"ehlo a", "mail_from b", "message_end"}},
      {"auth exchange",
       PortClass::kRelay,
       {s("220 mx\r\n"), c("AUTH LOGIN\r\n"), s("334 VXNlcm5hbWU6\r\n"), c("eA==\r\n"),
        s("334 UGFzc3dvcmQ6\r\n"), c("eQ==\r\n"), s("235 ok\r\n")},
       {"auth LOGIN clear", "auth_result 235 ok"}},
      {"auth cancelled",
       PortClass::kRelay,
       {s("220 mx\r\n"), c("AUTH CRAM-MD5\r\n"), s("334 PDE+\r\n"), c("*\r\n"),
        s("501 cancelled\r\n")},
       {"auth CRAM-MD5 clear", "auth_result 501 fail"}},
  };
  for (const Row& r : rows) {
    Harness h(r.port);
    h.run(r.steps);
    EXPECT_EQ(h.events(), r.events) << r.name;
  }
}

}  // namespace
}  // namespace smtpguard
