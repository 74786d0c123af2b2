#include "tls/client_hello.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "tests/unit/tls_fixtures.h"
#include "tls/tls_reassembly.h"

namespace smtpguard {
namespace {

using test::alpnBody;
using test::buildHello;
using test::HelloSpec;
using test::readFixture;
using test::serverNameBody;
using test::toRecords;
using test::u16ListBody;

// One lcore's worth of reassembly: small pools so exhaustion is easy to reach.
struct Lcore {
  CounterBlock counters;
  ObjectPool<ClientHelloBuffer> client_pool{4};
  ObjectPool<ServerHelloBuffer> server_pool{4};
  ClientHelloAssembler client{client_pool, counters};
  ServerHelloAssembler server{server_pool, counters};
};

// Feeds `bytes` in chunks of the given sizes (cycled) and returns the last result.
template <typename Assembler, typename Info>
HelloResult feedChunks(Assembler& a, HelloState& st, const std::vector<uint8_t>& bytes,
                       const std::vector<size_t>& sizes, Info& out) {
  HelloResult r = HelloResult::kNeedMore;
  size_t pos = 0;
  for (size_t i = 0; pos < bytes.size(); ++i) {
    size_t n = std::min(sizes[i % sizes.size()], bytes.size() - pos);
    // A copy of exactly the chunk, so a read past it is a sanitizer error.
    std::vector<uint8_t> chunk(bytes.begin() + static_cast<long>(pos),
                               bytes.begin() + static_cast<long>(pos + n));
    r = a.feed(st, chunk, out);
    pos += n;
    if (r != HelloResult::kNeedMore) break;
  }
  return r;
}

HelloSpec typicalClientHello() {
  HelloSpec s;
  s.ciphers = {0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f};
  s.extensions = {{kExtServerName, serverNameBody({"mx.example.org"})},
                  {kExtSupportedGroups, u16ListBody({0x001d, 0x0017}, false)},
                  {kExtEcPointFormats, {1, 0}},
                  {kExtSignatureAlgorithms, u16ListBody({0x0403, 0x0804}, false)},
                  {kExtAlpn, alpnBody({"h2", "http/1.1"})},
                  {kExtSupportedVersions, u16ListBody({0x0304, 0x0303}, true)}};
  return s;
}

// Test that every ClientHello captured from the corpus and from local clients parses and reports
// the SNI, ALPN and versions the Python reference read.
TEST(ClientHello, ParsesEveryFixtureLikeTheReference) {
  auto expected = test::expectedValues();
  auto names = test::fixtureNames("-client.bin");
  ASSERT_GE(names.size(), 12u) << "fixtures missing from " << test::tlsDataDir();
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    Lcore l;
    HelloState st;
    ClientHelloInfo info;
    ASSERT_EQ(l.client.feed(st, readFixture(name), info), HelloResult::kParsed);
    const auto& e = expected.at(name);
    EXPECT_EQ(std::stoi(e.at("record_version"), nullptr, 16), info.record_version);
    EXPECT_EQ(std::stoi(e.at("handshake_version"), nullptr, 16), info.handshake_version);
    EXPECT_EQ(e.at("sni") == "-" ? "" : e.at("sni"), info.serverName());
    std::string alpn;
    for (size_t i = 0; i < info.alpn_count; ++i) alpn += (i ? "," : "") + std::string(info.alpn(i));
    EXPECT_EQ(e.at("alpn") == "-" ? "" : e.at("alpn"), alpn);
    EXPECT_EQ(info.flags, 0u);
    EXPECT_EQ(l.counters.get(Counter::kSmtpTlsClientHello), 1u);
    EXPECT_EQ(l.client_pool.inUse(), 0u);
  }
}

// Test that a real OpenSSL 3 TLS 1.3 ClientHello yields the lists a reader would check by hand.
TEST(ClientHello, ExtractsTheListsOfARealOpenSslHello) {
  Lcore l;
  HelloState st;
  ClientHelloInfo info;
  ASSERT_EQ(l.client.feed(st, readFixture("local-openssl-tls13-sni-alpn-client.bin"), info),
            HelloResult::kParsed);
  EXPECT_EQ(info.handshake_version, 0x0303);  // RFC 8446 §4.1.2: legacy_version is 1.2
  EXPECT_EQ(info.highestSupportedVersion(), 0x0304);
  EXPECT_EQ(info.serverName(), "mx.example.test");
  EXPECT_EQ(info.alpn(0), "h2");
  EXPECT_EQ(info.alpn(1), "http/1.1");
  EXPECT_EQ(info.cipher_suites.values[0], 0x1302);  // TLS_AES_256_GCM_SHA384 first in 3.0
  ASSERT_GT(info.supported_groups.count, 0);
  EXPECT_EQ(info.supported_groups.values[0], 0x001d);  // x25519
  EXPECT_GT(info.signature_algorithms.count, 5);
  EXPECT_EQ(info.ec_point_formats.count, 3);
  EXPECT_EQ(info.extensions.values[0], kExtServerName);
}

// Test that a ClientHello split at every possible byte, in two TCP segments, parses the same.
TEST(HelloReassembly, SplitAtEveryByteParsesTheSame) {
  std::vector<uint8_t> bytes = readFixture("ndpi-smtp-starttls-flow1-client.bin");
  for (size_t cut = 1; cut < bytes.size(); ++cut) {
    SCOPED_TRACE(cut);
    Lcore l;
    HelloState st;
    ClientHelloInfo info;
    ASSERT_EQ(feedChunks(l.client, st, bytes, {cut, bytes.size()}, info), HelloResult::kParsed);
    EXPECT_EQ(info.serverName(), "dovecot.weberlab.de");
    EXPECT_EQ(info.cipher_suites.count, 15);
    EXPECT_EQ(l.client_pool.inUse(), 0u);
    EXPECT_EQ(st.buffer, kNoHandle);
  }
}

// Test that a large ClientHello spread over several records and delivered in odd-sized chunks
// (as post-quantum key shares make it) is reassembled, and the buffer is returned.
TEST(HelloReassembly, MessageSpanningRecordsAndSegments) {
  HelloSpec s = typicalClientHello();
  s.extensions.push_back({0x0033, std::vector<uint8_t>(6000, 0x42)});  // a big key_share
  std::vector<uint8_t> msg = buildHello(s);
  for (size_t record : {1u, 7u, 512u, 1400u, 16384u}) {
    for (size_t chunk : {1u, 3u, 1448u, 100000u}) {
      SCOPED_TRACE(std::to_string(record) + "/" + std::to_string(chunk));
      Lcore l;
      HelloState st;
      ClientHelloInfo info;
      ASSERT_EQ(feedChunks(l.client, st, toRecords(msg, record), {chunk}, info),
                HelloResult::kParsed);
      EXPECT_EQ(info.serverName(), "mx.example.org");
      EXPECT_EQ(info.extensions.count, 7);
      EXPECT_EQ(info.record_version, 0x0301);
      EXPECT_EQ(l.client_pool.inUse(), 0u);
      EXPECT_EQ(l.counters.get(Counter::kSmtpTlsClientHello), 1u);
    }
  }
}

// Test that random chunkings of a multi-record hello all parse (deterministic seed).
TEST(HelloReassembly, RandomChunkingsParse) {
  HelloSpec s = typicalClientHello();
  s.extensions.push_back({0x0033, std::vector<uint8_t>(2500, 0x42)});
  std::vector<uint8_t> bytes = toRecords(buildHello(s), 900);
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    std::vector<size_t> sizes;
    for (int k = 0; k < 16; ++k) sizes.push_back(1 + rng() % 700);
    Lcore l;
    HelloState st;
    ClientHelloInfo info;
    ASSERT_EQ(feedChunks(l.client, st, bytes, sizes, info), HelloResult::kParsed);
    EXPECT_EQ(info.alpn(1), "http/1.1");
  }
}

// Test that the 16 KiB bound is honoured: a 16 KiB body parses, one byte more is malformed.
TEST(HelloReassembly, SixteenKibBound) {
  HelloSpec s = typicalClientHello();
  size_t base = buildHello(s).size() - 4;
  s.extensions.push_back({0x0015, std::vector<uint8_t>(16 * 1024 - base - 4, 0)});  // padding
  std::vector<uint8_t> msg = buildHello(s);
  ASSERT_EQ(msg.size(), 4u + 16 * 1024);
  {
    Lcore l;
    HelloState st;
    ClientHelloInfo info;
    EXPECT_EQ(feedChunks(l.client, st, toRecords(msg, 16384), {1460}, info), HelloResult::kParsed);
  }
  s.extensions.back().second.push_back(0);
  Lcore l;
  HelloState st;
  ClientHelloInfo info;
  EXPECT_EQ(feedChunks(l.client, st, toRecords(buildHello(s), 16384), {1460}, info),
            HelloResult::kMalformed);
  EXPECT_EQ(l.client.lastError(), HelloError::kTooLarge);
  EXPECT_EQ(l.counters.get(Counter::kTlsMalformed), 1u);
  EXPECT_EQ(l.client_pool.inUse(), 0u);
}

struct RecordCase {
  const char* name;
  std::vector<uint8_t> bytes;
  HelloError error;
};

// Test that streams that are not a well-formed first handshake record are rejected with the
// reason, counted once in tls.malformed, and leave no buffer behind.
TEST(HelloReassembly, RejectsNonHelloRecords) {
  std::vector<uint8_t> hello = buildHello(typicalClientHello());
  std::vector<uint8_t> server_hello = buildHello(test::serverHelloSpec());
  std::vector<uint8_t> big = toRecords(hello, 20000);
  big[3] = 0x40;  // record length 0x40xx > 2^14
  std::vector<uint8_t> bad_version = toRecords(hello, 100);
  bad_version[1] = 0x02;
  std::vector<uint8_t> interleaved = toRecords(hello, 50);
  interleaved[55] = 21;  // the second record becomes an alert
  const RecordCase cases[] = {
      {"plaintext SMTP",
       {'E', 'H', 'L', 'O', ' ', 'x', '\r', '\n'},
       HelloError::kNotHandshakeRecord},
      {"SSLv2-style hello",
       {0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15},
       HelloError::kNotHandshakeRecord},
      {"alert first", {21, 3, 3, 0, 2, 2, 40}, HelloError::kNotHandshakeRecord},
      {"zero-length record", {22, 3, 1, 0, 0}, HelloError::kBadRecordLength},
      {"record over 2^14", big, HelloError::kBadRecordLength},
      {"record major version 2", bad_version, HelloError::kBadRecordVersion},
      {"ServerHello from the client", toRecords(server_hello, 100),
       HelloError::kWrongHandshakeType},
      {"alert between fragments", interleaved, HelloError::kNotHandshakeRecord},
      {"hello body does not parse", toRecords({1, 0, 0, 3, 3, 3, 0}, 100), HelloError::kParse},
  };
  for (const RecordCase& c : cases) {
    for (size_t chunk : {1u, 1000000u}) {
      SCOPED_TRACE(std::string(c.name) + " chunk " + std::to_string(chunk));
      Lcore l;
      HelloState st;
      ClientHelloInfo info;
      EXPECT_EQ(feedChunks(l.client, st, c.bytes, {chunk}, info), HelloResult::kMalformed);
      EXPECT_EQ(l.client.lastError(), c.error);
      EXPECT_EQ(l.counters.get(Counter::kTlsMalformed), 1u);
      EXPECT_EQ(l.client_pool.inUse(), 0u);
      EXPECT_EQ(st.phase, HelloPhase::kFailed);
      // Later bytes of the flow are not looked at again.
      EXPECT_EQ(l.client.feed(st, hello, info), HelloResult::kFinished);
      EXPECT_EQ(l.counters.get(Counter::kTlsMalformed), 1u);
    }
  }
}

// Test that a hello that never completes holds its buffer only until the flow is abandoned,
// which counts it as malformed.
TEST(HelloReassembly, UnfinishedHelloIsReleasedOnAbandon) {
  std::vector<uint8_t> bytes = toRecords(buildHello(typicalClientHello()), 40);
  bytes.resize(bytes.size() - 10);
  Lcore l;
  HelloState st;
  ClientHelloInfo info;
  EXPECT_EQ(feedChunks(l.client, st, bytes, {13}, info), HelloResult::kNeedMore);
  EXPECT_EQ(l.client_pool.inUse(), 1u);
  EXPECT_EQ(st.phase, HelloPhase::kGathering);
  l.client.abandon(st);
  EXPECT_EQ(l.client_pool.inUse(), 0u);
  EXPECT_EQ(l.client.lastError(), HelloError::kAbandoned);
  EXPECT_EQ(l.counters.get(Counter::kTlsMalformed), 1u);
  HelloState idle;
  l.client.abandon(idle);  // nothing under way: nothing counted
  EXPECT_EQ(l.counters.get(Counter::kTlsMalformed), 1u);
}

// Test that an exhausted pool is counted and the flow skipped, while a hello arriving whole is
// still parsed without the pool.
TEST(HelloReassembly, PoolExhaustion) {
  std::vector<uint8_t> split = toRecords(buildHello(typicalClientHello()), 60);
  std::vector<uint8_t> whole = toRecords(buildHello(typicalClientHello()), 16384);
  Lcore l;
  HelloState states[5];
  ClientHelloInfo info;
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(l.client.feed(states[i], {split.data(), 30}, info), HelloResult::kNeedMore);
  EXPECT_EQ(l.client.feed(states[4], {split.data(), 30}, info), HelloResult::kNoBuffer);
  EXPECT_EQ(l.counters.get(Counter::kPoolExhausted), 1u);
  HelloState fresh;
  EXPECT_EQ(l.client.feed(fresh, whole, info), HelloResult::kParsed);
  EXPECT_EQ(l.client.feed(states[0], {split.data() + 30, split.size() - 30}, info),
            HelloResult::kParsed);
  EXPECT_EQ(l.client_pool.inUse(), 3u);
}

// Test that every truncation of a real hello is refused without reading past the message.
TEST(ClientHello, EveryTruncationIsRefused) {
  std::vector<uint8_t> records = readFixture("local-java-client.bin");
  std::vector<uint8_t> msg(records.begin() + 5, records.end());
  for (size_t n = 0; n < msg.size(); ++n) {
    std::vector<uint8_t> prefix(msg.begin(), msg.begin() + static_cast<long>(n));
    ClientHelloInfo info;
    EXPECT_NE(parseClientHello(prefix, info), TlsParseStatus::kOk) << n;
  }
  ClientHelloInfo info;
  EXPECT_EQ(parseClientHello(msg, info), TlsParseStatus::kOk);
}

struct BodyCase {
  const char* name;
  std::vector<uint8_t> message;
  TlsParseStatus status;
};

// Test that lengths out of range are rejected with the reason.
TEST(ClientHello, RejectsLengthsOutOfRange) {
  HelloSpec long_sid;
  long_sid.session_id.assign(33, 1);
  std::vector<uint8_t> odd = buildHello({});
  odd[4 + 2 + 32 + 1 + 32 + 1] = 5;  // cipher list length 5
  std::vector<uint8_t> cipher_past_end = buildHello(test::withoutExtensions());
  cipher_past_end[4 + 2 + 32 + 1 + 32] = 0x7f;
  HelloSpec no_comp;
  no_comp.compression.clear();
  std::vector<uint8_t> ext_past_end = buildHello(typicalClientHello());
  size_t ext_len_at = 4 + 2 + 32 + 1 + 32 + 2 + 10 + 2;
  ext_past_end[ext_len_at] = 0xff;
  std::vector<uint8_t> ext_truncated = buildHello(typicalClientHello());
  ext_truncated[ext_len_at + 2 + 2] = 0x7f;  // server_name's length runs past the block
  const BodyCase cases[] = {
      {"session id 33", buildHello(long_sid), TlsParseStatus::kBadLength},
      {"odd cipher list", odd, TlsParseStatus::kBadLength},
      {"cipher list past end", cipher_past_end, TlsParseStatus::kTruncated},
      {"no compression method", buildHello(no_comp), TlsParseStatus::kBadLength},
      {"extension block past end", ext_past_end, TlsParseStatus::kTruncated},
      {"extension past its block", ext_truncated, TlsParseStatus::kBadExtension},
      {"ServerHello as ClientHello", buildHello(test::serverHelloSpec()),
       TlsParseStatus::kWrongType},
      {"header only", {1, 0, 0, 0}, TlsParseStatus::kTruncated},
      {"declared longer than given", {1, 0, 1, 0, 3, 3}, TlsParseStatus::kTruncated},
  };
  for (const BodyCase& c : cases) {
    ClientHelloInfo info;
    EXPECT_EQ(parseClientHello(c.message, info), c.status) << c.name;
  }
}

// Test that odd but framed extension contents are flagged and the hello still parses.
TEST(ClientHello, FlagsHostileExtensionContents) {
  struct Case {
    const char* name;
    std::vector<std::pair<uint16_t, std::vector<uint8_t>>> extensions;
    uint32_t flags;
    std::string sni;
  };
  std::string long_name(300, 'a');
  const Case cases[] = {
      {"two host names",
       {{kExtServerName, serverNameBody({"a.example", "b.example"})}},
       kHelloFlagMultipleServerNames,
       "a.example"},
      {"non-ASCII name",
       {{kExtServerName, serverNameBody({"m\xc3\xa4il.example"})}},
       kHelloFlagServerNameNotAscii,
       "m\xc3\xa4il.example"},
      {"NUL in name",
       {{kExtServerName, serverNameBody({std::string("a\0b", 3)})}},
       kHelloFlagServerNameNotAscii,
       std::string("a\0b", 3)},
      {"300-byte name",
       {{kExtServerName, serverNameBody({long_name})}},
       kHelloFlagServerNameTooLong,
       long_name.substr(0, 255)},
      {"empty server_name", {{kExtServerName, {}}}, kHelloFlagBadExtensionBody, ""},
      {"no host_name entry", {{kExtServerName, {0, 0}}}, kHelloFlagServerNameEmpty, ""},
      {"list length disagrees",
       {{kExtServerName, {0, 9, 0, 0, 1, 'a'}}},
       kHelloFlagBadExtensionBody,
       ""},
      {"duplicate SNI",
       {{kExtServerName, serverNameBody({"a"})}, {kExtServerName, serverNameBody({"b"})}},
       kHelloFlagDuplicateExtension,
       "a"},
      {"odd groups", {{kExtSupportedGroups, {0, 3, 0, 0x1d, 0}}}, kHelloFlagBadExtensionBody, ""},
      {"empty ALPN name", {{kExtAlpn, alpnBody({"", "h2"})}}, kHelloFlagEmptyAlpnProtocol, ""},
      {"ALPN name past list", {{kExtAlpn, {0, 3, 9, 'h', '2'}}}, kHelloFlagBadExtensionBody, ""},
      {"point formats length", {{kExtEcPointFormats, {5, 0}}}, kHelloFlagBadExtensionBody, ""},
  };
  for (const Case& c : cases) {
    HelloSpec s;
    s.extensions = c.extensions;
    ClientHelloInfo info;
    ASSERT_EQ(parseClientHello(buildHello(s), info), TlsParseStatus::kOk) << c.name;
    EXPECT_EQ(info.flags, c.flags) << c.name;
    EXPECT_EQ(std::string(info.serverName()), c.sni) << c.name;
    EXPECT_TRUE(info.has_server_name || c.extensions[0].first != kExtServerName) << c.name;
  }
}

// Test that lists longer than their bound are truncated and flagged, with exact totals.
TEST(ClientHello, OverlongListsAreTruncatedAndFlagged) {
  HelloSpec s;
  s.ciphers.clear();
  for (uint16_t i = 0; i < 200; ++i) s.ciphers.push_back(static_cast<uint16_t>(0x0100 + i));
  for (uint16_t i = 0; i < 80; ++i) s.extensions.push_back({static_cast<uint16_t>(0x1000 + i), {}});
  std::vector<std::string> protos;
  for (int i = 0; i < 12; ++i) protos.push_back("proto-" + std::to_string(i));
  s.extensions.push_back({kExtAlpn, alpnBody(protos)});
  ClientHelloInfo info;
  ASSERT_EQ(parseClientHello(buildHello(s), info), TlsParseStatus::kOk);
  EXPECT_EQ(info.cipher_suites.count, kMaxCipherSuites);
  EXPECT_EQ(info.cipher_suites.total, 200);
  EXPECT_EQ(info.cipher_suites_non_grease, 200);
  EXPECT_EQ(info.extensions.count, kMaxExtensions);
  EXPECT_EQ(info.extensions_non_grease, 81);
  EXPECT_EQ(info.alpn_count, kMaxAlpnProtocols);
  EXPECT_EQ(info.alpn_total, 12);
  EXPECT_EQ(info.alpn(7), "proto-7");
  EXPECT_TRUE(info.flags & kHelloFlagListTruncated);
}

// Test that the uint16 lists (read 8 values at a time) come out exactly at every length, with
// GREASE anywhere, and that the cipher suites' non-GREASE count covers the values past the bound.
TEST(ClientHello, ListsOfEveryLengthReadExactly) {
  std::mt19937 rng(11);
  for (size_t n = 0; n <= 200; n += n < 40 ? 1 : 7) {
    std::vector<uint16_t> ciphers;
    std::vector<uint16_t> groups;
    std::vector<uint16_t> sigalgs;
    size_t grease = 0;
    for (size_t i = 0; i < n; ++i) {
      uint16_t v = rng() % 3 == 0 ? static_cast<uint16_t>(0x0a0a + 0x1010 * (rng() % 16))
                                  : static_cast<uint16_t>(rng());
      grease += isGrease(v);
      ciphers.push_back(v);
      if (i < 70) groups.push_back(static_cast<uint16_t>(v ^ 0x5555));
      if (i < 70) sigalgs.push_back(static_cast<uint16_t>(v + 1));
    }
    HelloSpec s;
    s.ciphers = ciphers;
    s.extensions = {{kExtSupportedGroups, u16ListBody(groups, false)},
                    {kExtSignatureAlgorithms, u16ListBody(sigalgs, false)}};
    ClientHelloInfo info;
    ASSERT_EQ(parseClientHello(buildHello(s), info), TlsParseStatus::kOk) << n;
    auto expectPrefix = [&](auto view, const std::vector<uint16_t>& wire, size_t bound) {
      std::vector<uint16_t> got(view.begin(), view.end());
      std::vector<uint16_t> want(wire.begin(),
                                 wire.begin() + static_cast<long>(std::min(bound, wire.size())));
      EXPECT_EQ(got, want) << n;
    };
    expectPrefix(info.cipher_suites.view(), ciphers, kMaxCipherSuites);
    expectPrefix(info.supported_groups.view(), groups, kMaxSupportedGroups);
    expectPrefix(info.signature_algorithms.view(), sigalgs, kMaxSignatureAlgorithms);
    EXPECT_EQ(info.cipher_suites.total, n);
    EXPECT_EQ(info.cipher_suites_non_grease, n - grease) << n;
  }
}

// Test that a hello without an extensions block (RFC 5246 §7.4.1.2) parses with empty lists.
TEST(ClientHello, NoExtensionsBlock) {
  ClientHelloInfo info;
  ASSERT_EQ(parseClientHello(buildHello(test::withoutExtensions(0x0301)), info),
            TlsParseStatus::kOk);
  EXPECT_FALSE(info.has_extensions_block);
  EXPECT_EQ(info.extensions.count, 0);
  EXPECT_EQ(info.cipher_suites.count, 2);
}

// Test that every captured ServerHello parses with the negotiated version and cipher the
// reference read, including TLS 1.3's supported_versions.
TEST(ServerHello, ParsesEveryFixtureLikeTheReference) {
  auto expected = test::expectedValues();
  auto names = test::fixtureNames("-server.bin");
  ASSERT_GE(names.size(), 6u);
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    std::vector<uint8_t> bytes = readFixture(name);
    for (size_t chunk : {1u, 5u, 100000u}) {
      Lcore l;
      HelloState st;
      ServerHelloInfo info;
      ASSERT_EQ(feedChunks(l.server, st, bytes, {chunk}, info), HelloResult::kParsed);
      const auto& e = expected.at(name);
      EXPECT_EQ(std::stoi(e.at("negotiated_version"), nullptr, 16), info.negotiated_version);
      EXPECT_EQ(std::stoi(e.at("cipher"), nullptr, 16), info.cipher_suite);
      EXPECT_EQ(l.counters.get(Counter::kTlsServerHello), 1u);
      EXPECT_EQ(l.server_pool.inUse(), 0u);
    }
  }
  Lcore l;
  HelloState st;
  ServerHelloInfo info;
  ASSERT_EQ(l.server.feed(st, readFixture("local-openssl-tls13-sni-alpn-server.bin"), info),
            HelloResult::kParsed);
  EXPECT_EQ(info.legacy_version, 0x0303);
  EXPECT_EQ(info.negotiated_version, 0x0304);
  EXPECT_TRUE(info.has_supported_versions);
}

// Test that a HelloRetryRequest is recognised by its random and a ServerHello spanning records
// is reassembled.
TEST(ServerHello, HelloRetryRequestAndFragmentedServerHello) {
  HelloSpec s = test::serverHelloSpec();
  s.ciphers = {0x1301};
  s.extensions = {{kExtSupportedVersions, {0x03, 0x04}}, {0x0033, std::vector<uint8_t>(1100, 7)}};
  std::vector<uint8_t> msg = buildHello(s);
  Lcore l;
  HelloState st;
  ServerHelloInfo info;
  ASSERT_EQ(feedChunks(l.server, st, toRecords(msg, 300, 0x0303), {97}, info),
            HelloResult::kParsed);
  EXPECT_EQ(info.negotiated_version, 0x0304);
  EXPECT_EQ(info.cipher_suite, 0x1301);
  EXPECT_EQ(info.flags, 0u);

  const uint8_t hrr[32] = {0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c,
                           0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb,
                           0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};
  std::copy(hrr, hrr + 32, msg.begin() + 6);
  ASSERT_EQ(parseServerHello(msg, info), TlsParseStatus::kOk);
  EXPECT_TRUE(info.flags & kHelloFlagHelloRetryRequest);
}

// Test that a ServerHello larger than its 4 KiB bound is malformed, not an overrun.
TEST(ServerHello, BoundIsEnforced) {
  HelloSpec s = test::serverHelloSpec();
  s.extensions = {{0x0033, std::vector<uint8_t>(5000, 7)}};
  Lcore l;
  HelloState st;
  ServerHelloInfo info;
  EXPECT_EQ(feedChunks(l.server, st, toRecords(buildHello(s), 1000), {1000}, info),
            HelloResult::kMalformed);
  EXPECT_EQ(l.server.lastError(), HelloError::kTooLarge);
  EXPECT_EQ(l.server_pool.inUse(), 0u);
}

}  // namespace
}  // namespace smtpguard
