#include "smtp/smtp_line.h"

#include <gtest/gtest.h>

#include <string>

namespace smtpguard {
namespace {

// Test that every verb is recognised in any letter case, with blanks around it.
TEST(SmtpLine, VerbsAreCaseInsensitive) {
  struct Row {
    const char* line;
    SmtpVerb verb;
    const char* arg;
  };
  const Row rows[] = {
      {"EHLO client.example.org", SmtpVerb::kEhlo, "client.example.org"},
      {"ehlo client.example.org\r", SmtpVerb::kEhlo, "client.example.org"},
      {"HeLo x", SmtpVerb::kHelo, "x"},
      {"mail from:<a@b.c>", SmtpVerb::kMail, "from:<a@b.c>"},
      {"RCPT TO:<a@b.c>", SmtpVerb::kRcpt, "TO:<a@b.c>"},
      {"data", SmtpVerb::kData, ""},
      {"BDAT 10 LAST", SmtpVerb::kBdat, "10 LAST"},
      {"rset", SmtpVerb::kRset, ""},
      {"QUIT\r", SmtpVerb::kQuit, ""},
      {"noop", SmtpVerb::kNoop, ""},
      {"VRFY postmaster", SmtpVerb::kVrfy, "postmaster"},
      {"expn list", SmtpVerb::kExpn, "list"},
      {"HELP", SmtpVerb::kHelp, ""},
      {"StartTLS", SmtpVerb::kStarttls, ""},
      {"  STARTTLS  \r", SmtpVerb::kStarttls, ""},
      {"auth plain", SmtpVerb::kAuth, "plain"},
      {"STARTTLSX", SmtpVerb::kUnknown, ""},
      {"\x16\x03\x01", SmtpVerb::kUnknown, ""},
      {"", SmtpVerb::kNone, ""},
      {" \r", SmtpVerb::kNone, ""},
  };
  for (const Row& r : rows) {
    SmtpCommand c = parseCommand(r.line);
    EXPECT_EQ(c.verb, r.verb) << r.line;
    EXPECT_EQ(c.arg, r.arg) << r.line;
  }
}

// Test that any white space a server skips before and between tokens (Postfix's smtpd_token():
// isspace(), so also VT, FF and CR) does not hide a verb from us.
TEST(SmtpLine, VerbsAfterAnyServerWhiteSpace) {
  struct Row {
    std::string line;
    SmtpVerb verb;
    const char* arg;
  };
  const Row rows[] = {
      {"\vAUTH PLAIN x", SmtpVerb::kAuth, "PLAIN x"},
      {"\f\r \tauth\vplain", SmtpVerb::kAuth, "plain"},
      {"\rAUTH\fLOGIN\r", SmtpVerb::kAuth, "LOGIN"},
      {std::string(1100, ' ') + "AUTH PLAIN x", SmtpVerb::kAuth, "PLAIN x"},
      {"DATA\v", SmtpVerb::kData, ""},
      {"\x0b\x0cSTARTTLS", SmtpVerb::kStarttls, ""},
      {std::string("\0AUTH PLAIN", 11), SmtpVerb::kUnknown, ""},
  };
  for (const Row& r : rows) {
    SmtpCommand c = parseCommand(r.line);
    EXPECT_EQ(c.verb, r.verb) << r.line.substr(0, 20);
    if (r.verb != SmtpVerb::kUnknown) {
      EXPECT_EQ(c.arg, r.arg) << r.line.substr(0, 20);
    }
  }
  using K = AuthLineHead::Kind;
  AuthLineHead a = inspectAuthHead("\v\r", "\fAUTH\vPLAIN\fc2VjcmV0");
  EXPECT_EQ(a.kind, K::kMechClosed);
  EXPECT_EQ(a.mech_begin, 8u);
  EXPECT_EQ(a.mech_end, 13u);
  EXPECT_EQ(inspectAuthHead("\r\r\r", "").kind, K::kUndecided);
  EXPECT_EQ(inspectAuthHead("AUTH\f", "").kind, K::kMechOpen);
}

// Test that reply lines give their code and whether they end the reply, and reject non-replies.
TEST(SmtpLine, ReplyLinesCarryCodeAndContinuation) {
  struct Row {
    const char* line;
    bool valid;
    bool final;
    uint16_t code;
    const char* text;
  };
  const Row rows[] = {
      {"220 mx.example.net ESMTP\r", true, true, 220, "mx.example.net ESMTP"},
      {"250-PIPELINING", true, false, 250, "PIPELINING"},
      {"250 CHUNKING", true, true, 250, "CHUNKING"},
      {"354", true, true, 354, ""},
      {"454 4.7.0 TLS not available", true, true, 454, "4.7.0 TLS not available"},
      {"535-5.7.8 first", true, false, 535, "5.7.8 first"},
      {"25", false, false, 0, ""},
      {"2500 x", false, false, 0, ""},
      {"abc def", false, false, 0, ""},
      {"", false, false, 0, ""},
  };
  for (const Row& r : rows) {
    SmtpReplyLine p = parseReplyLine(r.line);
    EXPECT_EQ(p.valid, r.valid) << r.line;
    if (!r.valid) continue;
    EXPECT_EQ(p.final, r.final) << r.line;
    EXPECT_EQ(p.code, r.code) << r.line;
    EXPECT_EQ(p.text, r.text) << r.line;
  }
}

// Test that mechanisms map to their canonical names in any case, -PLUS to the base.
TEST(SmtpLine, AuthMechanismNames) {
  EXPECT_EQ(authMechFromName("PLAIN"), SmtpAuthMech::kPlain);
  EXPECT_EQ(authMechFromName("plain"), SmtpAuthMech::kPlain);
  EXPECT_EQ(authMechFromName("Login"), SmtpAuthMech::kLogin);
  EXPECT_EQ(authMechFromName("CRAM-MD5"), SmtpAuthMech::kCramMd5);
  EXPECT_EQ(authMechFromName("DIGEST-MD5"), SmtpAuthMech::kDigestMd5);
  EXPECT_EQ(authMechFromName("NTLM"), SmtpAuthMech::kNtlm);
  EXPECT_EQ(authMechFromName("GSSAPI"), SmtpAuthMech::kGssapi);
  EXPECT_EQ(authMechFromName("xoauth2"), SmtpAuthMech::kXoauth2);
  EXPECT_EQ(authMechFromName("OAUTHBEARER"), SmtpAuthMech::kOauthbearer);
  EXPECT_EQ(authMechFromName("SCRAM-SHA-1"), SmtpAuthMech::kScramSha1);
  EXPECT_EQ(authMechFromName("SCRAM-SHA-256-PLUS"), SmtpAuthMech::kScramSha256);
  EXPECT_EQ(authMechFromName("EXTERNAL"), SmtpAuthMech::kExternal);
  EXPECT_EQ(authMechFromName("ANONYMOUS"), SmtpAuthMech::kAnonymous);
  EXPECT_EQ(authMechFromName("XAOL-UAS-MB"), SmtpAuthMech::kOther);
  EXPECT_EQ(authMechFromName("-PLUS"), SmtpAuthMech::kOther);
  EXPECT_EQ(authMechFromName(""), SmtpAuthMech::kOther);
  EXPECT_EQ(authMechName(SmtpAuthMech::kCramMd5), "CRAM-MD5");
  EXPECT_EQ(authMechName(SmtpAuthMech::kOther), "OTHER");
}

// Test that the AUTH head inspection finds the mechanism's end across a buffered head and new
// bytes, so a caller never needs to keep a byte of the initial response.
TEST(SmtpLine, AuthHeadStopsAtTheMechanism) {
  using K = AuthLineHead::Kind;
  AuthLineHead a = inspectAuthHead("", "AUTH PLAIN c2VjcmV0");
  EXPECT_EQ(a.kind, K::kMechClosed);
  EXPECT_EQ(a.mech_begin, 5u);
  EXPECT_EQ(a.mech_end, 10u);
  a = inspectAuthHead("AUTH PL", "AIN c2VjcmV0");
  EXPECT_EQ(a.kind, K::kMechClosed);
  EXPECT_EQ(a.mech_end, 10u);
  EXPECT_EQ(inspectAuthHead("AU", "").kind, K::kUndecided);
  EXPECT_EQ(inspectAuthHead("AUTH", "").kind, K::kUndecided);
  EXPECT_EQ(inspectAuthHead("auth ", "").kind, K::kMechOpen);
  EXPECT_EQ(inspectAuthHead("AUTH LOG", "").kind, K::kMechOpen);
  EXPECT_EQ(inspectAuthHead("AUTH LOGIN", "\r").kind, K::kMechClosed);
  EXPECT_EQ(inspectAuthHead("AUTHX", "").kind, K::kNotAuth);
  EXPECT_EQ(inspectAuthHead("AUTH=PLAIN", "").kind, K::kNotAuth);
  EXPECT_EQ(inspectAuthHead("MAIL", " FROM:<>").kind, K::kNotAuth);
  a = inspectAuthHead("  AUTH\t", "XOAUTH2 dG9rZW4=");
  EXPECT_EQ(a.kind, K::kMechClosed);
  EXPECT_EQ(a.mech_begin, 7u);
  EXPECT_EQ(a.mech_end, 14u);
  // A "mechanism" longer than any SASL name is cut at 20 characters (RFC 4422 §3.1).
  a = inspectAuthHead("AUTH ", "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
  EXPECT_EQ(a.kind, K::kMechClosed);
  EXPECT_EQ(a.mech_end - a.mech_begin, kMaxMechLength);
}

// Test that EHLO keywords map to extension bits, including the pre-standard AUTH=.
TEST(SmtpLine, EhloKeywordsMapToExtensions) {
  EXPECT_EQ(ehloKeyword("AUTH PLAIN LOGIN"), "AUTH");
  EXPECT_EQ(ehloKeyword("AUTH=PLAIN LOGIN"), "AUTH");
  EXPECT_EQ(ehloKeyword("SIZE 35882577\r"), "SIZE");
  EXPECT_EQ(extensionFromKeyword("starttls"), SmtpExtension::kStarttls);
  EXPECT_EQ(extensionFromKeyword("AUTH"), SmtpExtension::kAuth);
  EXPECT_EQ(extensionFromKeyword("PIPELINING"), SmtpExtension::kPipelining);
  EXPECT_EQ(extensionFromKeyword("CHUNKING"), SmtpExtension::kChunking);
  EXPECT_EQ(extensionFromKeyword("SIZE"), SmtpExtension::kSize);
  EXPECT_EQ(extensionFromKeyword("8BITMIME"), SmtpExtension::k8bitmime);
  EXPECT_EQ(extensionFromKeyword("SMTPUTF8"), SmtpExtension::kSmtputf8);
  EXPECT_EQ(extensionFromKeyword("X-EXPS"), SmtpExtension::kOther);
  EXPECT_EQ(extensionName(SmtpExtension::kEnhancedStatusCodes), "ENHANCEDSTATUSCODES");
}

// Test that naming the extension of an EHLO line without measuring its keyword first gives what
// measuring gives, for every known keyword in any case and with every kind of ending.
TEST(SmtpLine, EhloExtensionMatchesKeywordLookup) {
  const std::string names[] = {"STARTTLS",   "AUTH",        "PIPELINING",  "CHUNKING",
                               "SIZE",       "8BITMIME",    "SMTPUTF8",    "DSN",
                               "BINARYMIME", "REQUIRETLS",  "PRDR",        "ETRN",
                               "VRFY",       "HELP",        "starttls",    "Size",
                               "dsn",        "XXXXXXXA",    "X-EXPS",      "DS",
                               "D",          "AUTHX",       "SIZ",         "STARTTLSX",
                               "8BITMIMEX",  "\030BITMIME", "PIPELININGS", "ENHANCEDSTATUSCODES"};
  const std::string endings[] = {"",       " ",         "\t", "=",    "\r",  " PLAIN LOGIN",
                                 "=PLAIN", " 35882577", "X",  "XY Z", "\r\n"};
  for (const std::string& n : names) {
    for (const std::string& e : endings) {
      const std::string text = n + e;
      for (size_t cut = 1; cut <= text.size(); ++cut) {
        const std::string_view t(text.data(), cut);
        if (ehloKeyword(t).empty()) continue;
        EXPECT_EQ(ehloExtension(t), extensionFromKeyword(ehloKeyword(t))) << text << " @" << cut;
      }
    }
  }
  EXPECT_EQ(ehloExtension("DSN  x"), SmtpExtension::kDsn);
  EXPECT_EQ(ehloExtension("AUTH=PLAIN"), SmtpExtension::kAuth);
  EXPECT_EQ(ehloExtension("SIZE"), SmtpExtension::kSize);
}

// Test that a STARTTLS keyword masked by a middlebox is told apart from real keywords.
TEST(SmtpLine, MaskedStarttlsKeyword) {
  EXPECT_TRUE(isMaskedStarttls("XXXXXXXA"));
  EXPECT_TRUE(isMaskedStarttls("XXXXXXXX"));
  EXPECT_TRUE(isMaskedStarttls("xxxxxxxa"));
  EXPECT_FALSE(isMaskedStarttls("STARTTLS"));
  EXPECT_FALSE(isMaskedStarttls("XXXXXXA"));
  EXPECT_FALSE(isMaskedStarttls("XXXXXXX1"));
  EXPECT_FALSE(isMaskedStarttls("XXXXAXXA"));
  EXPECT_FALSE(isMaskedStarttls("X-ANONYMOUSTLS"));
}

// Test that BDAT arguments give the size and LAST, and reject what RFC 3030 forbids and sizes no
// server can read.
TEST(SmtpLine, BdatArguments) {
  BdatArgs b = parseBdatArgs("64");
  EXPECT_TRUE(b.valid);
  EXPECT_FALSE(b.last);
  EXPECT_EQ(b.size, 64u);
  b = parseBdatArgs("152 last\r");
  EXPECT_TRUE(b.valid);
  EXPECT_TRUE(b.last);
  EXPECT_EQ(b.size, 152u);
  b = parseBdatArgs("9223372036854775807 LAST");
  EXPECT_TRUE(b.valid);
  EXPECT_EQ(b.size, uint64_t{INT64_MAX});
  // Beyond what a server's off_t holds, a size no server can read: a syntax error to it (501),
  // so the octets after the command are not a chunk.
  EXPECT_FALSE(parseBdatArgs("9223372036854775808").valid);
  EXPECT_FALSE(parseBdatArgs("99999999999999999999999 LAST").valid);
  EXPECT_TRUE(parseBdatArgs("000000000000000000000000000012").valid);
  EXPECT_FALSE(parseBdatArgs("").valid);
  EXPECT_FALSE(parseBdatArgs("LAST").valid);
  EXPECT_FALSE(parseBdatArgs("12LAST").valid);
  EXPECT_FALSE(parseBdatArgs("12 FIRST").valid);
  EXPECT_FALSE(parseBdatArgs("-1").valid);
}

// Test that the MAIL FROM domain is the part after the last '@' of the path.
TEST(SmtpLine, MailFromDomain) {
  EXPECT_EQ(mailFromDomain("FROM:<alice@example.com>"), "example.com");
  EXPECT_EQ(mailFromDomain("FROM: <12345678@aol.com>"), "aol.com");
  EXPECT_EQ(mailFromDomain("from:<a@example.com> SIZE=16530 BODY=8BITMIME"), "example.com");
  EXPECT_EQ(mailFromDomain("FROM:<@relay.example,@b.example:user@final.example>"), "final.example");
  EXPECT_EQ(mailFromDomain("FROM:alice@bare.example SIZE=1"), "bare.example");
  EXPECT_EQ(mailFromDomain("FROM:<>"), "");
  EXPECT_EQ(mailFromDomain("FROM:<alice@unterminated.example"), "unterminated.example");
  EXPECT_EQ(mailFromDomain("nothing"), "");
  EXPECT_EQ(heloName("  client.example.org extra"), "client.example.org");
  EXPECT_EQ(heloName(""), "");
}

}  // namespace
}  // namespace smtpguard
