#include "tls/tls_fingerprint.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <initializer_list>
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
using test::u16ListBody;

ClientHelloInfo parseRecords(const std::vector<uint8_t>& records) {
  CounterBlock counters;
  ObjectPool<ClientHelloBuffer> pool(1);
  ClientHelloAssembler assembler(pool, counters);
  HelloState st;
  ClientHelloInfo info;
  EXPECT_EQ(assembler.feed(st, records, info), HelloResult::kParsed);
  return info;
}

ClientHelloInfo parseSpec(const HelloSpec& s) {
  ClientHelloInfo info;
  EXPECT_EQ(parseClientHello(buildHello(s), info), TlsParseStatus::kOk);
  return info;
}

std::string ja4Of(const ClientHelloInfo& info) {
  DigestContext digests;
  Ja4 ja4;
  EXPECT_TRUE(computeJa4(info, digests, ja4));
  return std::string(ja4.view());
}

Ja3 ja3Of(const ClientHelloInfo& info) {
  DigestContext digests;
  Ja3 ja3;
  EXPECT_TRUE(computeJa3(info, digests, ja3));
  return ja3;
}

// The example of FoxIO-LLC/ja4 technical_details/JA4.md ("Cipher hash", "Extension hash",
// "Example"), with GREASE values added where Chrome puts them: they must not change anything.
HelloSpec foxioExampleHello(std::vector<uint16_t> sigalgs) {
  HelloSpec s;
  s.ciphers = {0x0a0a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030,
               0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035};
  const uint16_t order[] = {0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d,
                            0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015};
  s.extensions.push_back({0x1a1a, {}});
  for (uint16_t t : order) {
    std::vector<uint8_t> body;
    if (t == kExtServerName) body = serverNameBody({"example.com"});
    if (t == kExtAlpn) body = alpnBody({"h2", "http/1.1"});
    if (t == kExtSupportedVersions) body = u16ListBody({0x2a2a, 0x0304, 0x0303}, true);
    if (t == kExtSignatureAlgorithms) body = u16ListBody(sigalgs, false);
    if (t == kExtSupportedGroups) body = u16ListBody({0x3a3a, 0x001d, 0x0017}, false);
    if (t == kExtEcPointFormats) body = {1, 0};
    s.extensions.push_back({t, body});
  }
  s.extensions.push_back({0xfafa, {0}});
  return s;
}

// Test that the specification's own example gives its published fingerprint and raw form.
TEST(Ja4, FoxioSpecificationExample) {
  ClientHelloInfo info = parseSpec(
      foxioExampleHello({0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601}));
  EXPECT_EQ(ja4Of(info), "t13d1516h2_8daaf6152771_e5627efa2ab1");
  EXPECT_EQ(ja4Raw(info),
            "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,"
            "cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,"
            "0804,0401,0503,0805,0501,0806,0601");
}

// Test the sorted hex sections with every hex digit in every position, on one vector of values
// (8 or fewer) and on several, GREASE and SNI/ALPN left out: the characters are computed eight
// values at a time, so a wrong nibble order or letter offset shows here.
TEST(Ja4, HexDigitsInEveryPosition) {
  HelloSpec s;
  s.ciphers = {0xfedc, 0x0a0a, 0x0123, 0x4567, 0x89ab, 0xcdef, 0x0009, 0x000a, 0xffff,
               0x0000, 0xa09f, 0x90fa, 0x1a1a, 0xba98, 0x7654, 0x3210, 0x00f0, 0x0f00};
  s.extensions = {{0xabcd, {}},
                  {kExtServerName, serverNameBody({"a.example"})},
                  {0x0900, {}},
                  {0x2a2a, {}},
                  {kExtAlpn, alpnBody({"h2"})},
                  {0x00fa, {}},
                  {0xfffe, {}}};
  EXPECT_EQ(ja4Raw(parseSpec(s)),
            "t12d1606h2_0000,0009,000a,00f0,0123,0f00,3210,4567,7654,89ab,90fa,a09f,ba98,cdef,"
            "fedc,ffff_00fa,0900,abcd,fffe");
}

// Test the specification's "no signature algorithms" case: the string ends without '_'
// (JA4.md: "0005,...,ff01 = 6d807ffa2a79").
TEST(Ja4, NoSignatureAlgorithmsHashesExtensionsAlone) {
  ClientHelloInfo info = parseSpec(foxioExampleHello({}));
  EXPECT_EQ(ja4Of(info), "t13d1516h2_8daaf6152771_6d807ffa2a79");
}

// Test the ALPN rules of JA4.md "ALPN Extension Value", including its hex examples.
TEST(Ja4, AlpnCharacters) {
  struct Case {
    std::vector<std::string> protos;
    bool present;
    const char* expected;
  };
  const Case cases[] = {
      {{"h2"}, true, "h2"},
      {{"http/1.1", "h2"}, true, "h1"},
      {{"smtp"}, true, "sp"},
      {{"a"}, true, "aa"},  // "only a single character ... both the first and last"
      {{"\xab"}, true, "ab"},
      {{"\xab\xcd"}, true, "ad"},
      {{"\x30\xab"}, true, "3b"},
      {{"\x30\x31\xab\xcd"}, true, "3d"},
      {{"\x30\xab\xcd\x31"}, true, "01"},
      {{"h2/"}, true, "6f"},     // '/' is not alphanumeric: hex "68322f"
      {{}, true, "00"},          // "no ALPN values"
      {{"", "h2"}, true, "00"},  // "the first ALPN value is empty"
      {{}, false, "00"},         // "no ALPN extension"
  };
  for (const Case& c : cases) {
    HelloSpec s;
    if (c.present) s.extensions = {{kExtAlpn, alpnBody(c.protos)}};
    ClientHelloInfo info = parseSpec(s);
    EXPECT_EQ(ja4Of(info).substr(8, 2), c.expected) << (c.protos.empty() ? "-" : c.protos[0]);
  }
}

// Test the version rules of JA4.md "TLS and DTLS Version".
TEST(Ja4, VersionFromSupportedVersionsElseHello) {
  struct Case {
    uint16_t hello_version;
    std::vector<uint16_t> supported;  // empty: extension absent
    const char* expected;
  };
  const Case cases[] = {
      {0x0303, {0x0304, 0x0303}, "13"},
      {0x0303, {0x0303, 0x0304}, "13"},  // highest, not first
      {0x0303, {0xfafa, 0x0303}, "12"},
      {0x0303, {0x7a7a}, "12"},  // GREASE only: hello's
      {0x0303, {}, "12"},
      {0x0302, {}, "11"},
      {0x0301, {}, "10"},
      {0x0300, {}, "s3"},
      {0xfefd, {}, "d2"},
      {0x0305, {}, "00"},  // "Unknown = 00"
  };
  for (const Case& c : cases) {
    HelloSpec s;
    s.version = c.hello_version;
    if (!c.supported.empty())
      s.extensions = {{kExtSupportedVersions, u16ListBody(c.supported, true)}};
    EXPECT_EQ(ja4Of(parseSpec(s)).substr(1, 2), c.expected) << std::hex << c.hello_version;
  }
}

// Test that counts exclude GREASE, include SNI and ALPN, cap at 99, and that empty lists give
// 000000000000 instead of a hash of nothing.
TEST(Ja4, CountsAndEmptyLists) {
  HelloSpec s;
  s.ciphers.clear();
  s.with_extensions = false;
  EXPECT_EQ(ja4Of(parseSpec(s)), "t12i000000_000000000000_000000000000");
  s.ciphers = {0x0a0a};
  s.version = 0x0303;
  s.with_extensions = true;
  s.extensions = {
      {kExtServerName, serverNameBody({"x"})}, {kExtAlpn, alpnBody({"h2"})}, {0x2a2a, {}}};
  EXPECT_EQ(ja4Of(parseSpec(s)), "t12d0002h2_000000000000_000000000000");
  s.ciphers.clear();
  for (uint16_t i = 0; i < 120; ++i) s.ciphers.push_back(static_cast<uint16_t>(0x0100 + i));
  for (uint16_t i = 0; i < 110; ++i)
    s.extensions.push_back({static_cast<uint16_t>(0x2000 + i), {}});
  EXPECT_EQ(ja4Of(parseSpec(s)).substr(0, 10), "t12d9999h2");
}

// Test that GREASE anywhere changes neither JA3 nor JA4 (RFC 8701 values are ignored by both).
TEST(Fingerprints, GreaseIsIgnoredEverywhere) {
  HelloSpec plain;
  plain.ciphers = {0x1301, 0xc02f};
  plain.extensions = {{kExtServerName, serverNameBody({"a.example"})},
                      {kExtSupportedGroups, u16ListBody({0x001d}, false)},
                      {kExtSignatureAlgorithms, u16ListBody({0x0403}, false)},
                      {kExtSupportedVersions, u16ListBody({0x0304}, true)}};
  HelloSpec greased;
  greased.ciphers = {0x4a4a, 0x1301, 0xc02f, 0xdada};
  greased.extensions = {{0x0a0a, {}},
                        {kExtServerName, serverNameBody({"a.example"})},
                        {kExtSupportedGroups, u16ListBody({0x8a8a, 0x001d}, false)},
                        {kExtSignatureAlgorithms, u16ListBody({0x0403, 0x9a9a}, false)},
                        {kExtSupportedVersions, u16ListBody({0xeaea, 0x0304}, true)},
                        {0xbaba, {0}}};
  ClientHelloInfo a = parseSpec(plain);
  ClientHelloInfo b = parseSpec(greased);
  EXPECT_EQ(ja3Of(a).string(), ja3Of(b).string());
  EXPECT_EQ(ja3Of(b).string(), "771,4865-49199,0-10-13-43,29,");
  EXPECT_EQ(ja4Of(a), ja4Of(b));
}

// Test the two worked examples of the JA3 README (salesforce/ja3), string and MD5.
TEST(Ja3, ReadmeExamples) {
  HelloSpec s;
  s.version = 769;
  s.ciphers = {47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4};
  s.extensions = {{0, serverNameBody({"a"})}, {10, u16ListBody({23, 24, 25}, false)}, {11, {1, 0}}};
  Ja3 ja3 = ja3Of(parseSpec(s));
  EXPECT_EQ(ja3.string(), "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0");
  EXPECT_EQ(ja3.hash(), "ada70206e40642a3e4461f35503241d5");

  HelloSpec bare;
  bare.version = 769;
  bare.ciphers = {4, 5, 10, 9, 100, 98, 3, 6, 19, 18, 99};
  bare.with_extensions = false;  // "If there are no SSL Extensions ... the fields are left empty"
  ja3 = ja3Of(parseSpec(bare));
  EXPECT_EQ(ja3.string(), "769,4-5-10-9-100-98-3-6-19-18-99,,,");
  EXPECT_EQ(ja3.hash(), "de350869b8c85de67a350c8d186f11e6");
}

// Test the decimal formatting of JA3 at every digit-count boundary of a uint16 and a uint8
// (the formatter copies whole 4-byte table entries: a wrong length or offset shows here),
// with GREASE (2570 = 0x0a0a) next to its non-GREASE neighbours.
TEST(Ja3, DecimalBoundaries) {
  HelloSpec s;
  s.version = 65535;
  s.ciphers = {0,    9,      10,   99,   100,   999,   1000,  1001,  1009,  1010,  1099,  1100,
               2569, 0x0a0a, 2571, 9999, 10000, 10001, 10999, 11000, 65000, 65009, 65099, 65535};
  s.extensions = {{9, {}},
                  {1000, {}},
                  {kExtSupportedGroups, u16ListBody({0, 100, 0x0a0a, 1000, 65535, 7}, false)},
                  {kExtEcPointFormats, {6, 0, 9, 10, 99, 100, 255}},
                  {65535, {}}};
  EXPECT_EQ(ja3Of(parseSpec(s)).string(),
            "65535,"
            "0-9-10-99-100-999-1000-1001-1009-1010-1099-1100-2569-2571-9999-10000-10001-10999-"
            "11000-65000-65009-65099-65535,"
            "9-1000-10-11-65535,"
            "0-100-1000-65535-7,"
            "0-9-10-99-100-255");

  HelloSpec small;
  for (uint16_t version : std::initializer_list<uint16_t>{0, 9, 10, 99, 100, 999, 1000}) {
    small.version = version;
    small.ciphers = {version};
    small.with_extensions = false;
    const std::string v = std::to_string(version);
    EXPECT_EQ(ja3Of(parseSpec(small)).string(), v + "," + v + ",,,");
  }
}

// Test the ClientHello published with its JA3 string in the ja3-rustls crate documentation
// (docs.rs/ja3-rustls, lib.rs example).
TEST(Ja3, Ja3RustlsDocumentationVector) {
  ClientHelloInfo info = parseRecords(test::fromHex(
      "16030100f5010000f10303ad8e0c8dfe3adbc045e51aee4cb9480c02d5da4a240f95e8282a1f51be34901a2068"
      "1af80b44c4b359adb3f9543a966e07e6ba6bed551472a62cd4b107cbd40e830014130213011303c02cc02bcca9"
      "c030c02fcca800ff01000094002b00050403040303000b00020100000a00080006001d00170018000d00140012"
      "050304030807080608050804060105010401001700000005000501000000000000001800160000137777772e70"
      "6574616c7365617263682e636f6d00120000003300260024001d0020086fffef5fa7f04fb7d788615bc425820e"
      "ba366ddb5f75c7d8336a0a05722d38002d0002010100230000"));
  EXPECT_EQ(ja3Of(info).string(),
            "771,4866-4865-4867-49196-49195-52393-49200-49199-52392-255,43-11-10-13-23-5-0-18-51-"
            "45-35,29-23-24,0");
  EXPECT_EQ(info.serverName(), "www.petalsearch.com");
}

// Capture in shared/corpus -> fixture prefix (see tests/data/tls/README.md).
const std::pair<const char*, const char*> kCorpusCaptures[] = {
    {"ndpi/smtp-starttls.pcap", "ndpi-smtp-starttls-"},
    {"ndpi/smtps.pcapng", "ndpi-smtps-"},
    {"suricata-verify/smtp-startssl.pcap", "suricata-smtp-startssl-"},
    {"zeek/smtp-starttls.pcap", "zeek-smtp-starttls-"},
};

// JA3 values of expected.json, hard-coded so the test runs without shared/ too.
const std::pair<const char*, const char*> kCorpusJa3[] = {
    {"ndpi-smtp-starttls-flow0-client.bin", "fab507fe132c544e8a0eb7c394affeae"},
    {"ndpi-smtp-starttls-flow1-client.bin", "7b38238e17474b8f6d113523bb5a8dd9"},
    {"ndpi-smtps-flow0-client.bin", "f17ca639ecdcaa65b4521c49e3515ef9"},
    {"suricata-smtp-startssl-flow0-client.bin", "8708213741ab46424b1fbfcc9517ba07"},
    {"zeek-smtp-starttls-flow0-client.bin", "13020a4ccb11b2d3c9c0e6c285c3c415"},
};

// Test that the JA3 of every ClientHello in the corpus equals the value in expected.json.
TEST(Ja3, MatchesCorpusExpectedValues) {
  for (const auto& [file, md5] : kCorpusJa3)
    EXPECT_EQ(ja3Of(parseRecords(readFixture(file))).hash(), md5) << file;

  std::string json = test::corpusExpectedJson();
  if (json.empty()) {
    if (test::underCi()) FAIL() << "shared/corpus/expected.json not beside the checkout; CI is set";
    GTEST_SKIP() << "shared/corpus/expected.json not beside the checkout (a failure under CI)";
  }
  for (const auto& [capture, prefix] : kCorpusCaptures) {
    SCOPED_TRACE(capture);
    // The capture's object, then its "ja3" array: a list of quoted hex strings.
    size_t at = json.find(std::string("\"") + capture + "\"");
    ASSERT_NE(at, std::string::npos);
    size_t open = json.find("\"ja3\": [", at);
    size_t close = json.find(']', open);
    std::vector<std::string> expected;
    for (size_t q = json.find('"', open + 8); q < close; q = json.find('"', q + 34))
      expected.push_back(json.substr(q + 1, 32));
    std::vector<std::string> ours;
    for (const std::string& name : test::fixtureNames("-client.bin"))
      if (name.rfind(prefix, 0) == 0)
        ours.push_back(std::string(ja3Of(parseRecords(readFixture(name))).hash()));
    std::sort(expected.begin(), expected.end());
    std::sort(ours.begin(), ours.end());
    EXPECT_EQ(ours, expected);
  }
}

// Test that JA3, JA4 (and its raw form) and JA3S equal, for every captured hello (corpus and
// local OpenSSL, Python, curl, Node.js and Java clients), what the independent Python reference
// tests/gen/ja4_reference.py computed.
TEST(Fingerprints, MatchPythonReferenceOnEveryFixture) {
  auto expected = test::expectedValues();
  DigestContext digests;
  for (const std::string& name : test::fixtureNames("-client.bin")) {
    SCOPED_TRACE(name);
    ClientHelloInfo info = parseRecords(readFixture(name));
    ClientFingerprints fp;
    ASSERT_TRUE(fingerprintClientHello(info, digests, fp));
    const auto& e = expected.at(name);
    EXPECT_EQ(fp.ja3.string(), e.at("ja3_string"));
    EXPECT_EQ(fp.ja3.hash(), e.at("ja3"));
    EXPECT_EQ(fp.ja4.view(), e.at("ja4"));
    EXPECT_EQ(ja4Raw(info), e.at("ja4_r"));
  }
  for (const std::string& name : test::fixtureNames("-server.bin")) {
    SCOPED_TRACE(name);
    CounterBlock counters;
    ObjectPool<ServerHelloBuffer> pool(1);
    ServerHelloAssembler assembler(pool, counters);
    HelloState st;
    ServerHelloInfo info;
    ASSERT_EQ(assembler.feed(st, readFixture(name), info), HelloResult::kParsed);
    Ja3s ja3s;
    ASSERT_TRUE(computeJa3s(info, digests, ja3s));
    EXPECT_EQ(ja3s.string(), expected.at(name).at("ja3s_string"));
    EXPECT_EQ(ja3s.hash(), expected.at(name).at("ja3s"));
  }
}

// Test against nDPI's own report of the corpus (ndpi/*.out beside the captures): JA3S and JA4.
// nDPI marks JA4 "d" for two hellos that carry no server_name extension (its report of the same
// flows says "Missing SNI TLS Extn"); JA4.md bases the flag on the extension alone, so those two
// must read "i" and agree on everything else.
TEST(Fingerprints, AgreeWithNdpiReport) {
  DigestContext digests;
  ClientHelloInfo flow1 = parseRecords(readFixture("ndpi-smtp-starttls-flow1-client.bin"));
  EXPECT_EQ(ja4Of(flow1), "t12d150900_073e58a039a6_b44afb9f0e6a");
  const std::pair<const char*, std::string> sni_less[] = {
      {"ndpi-smtp-starttls-flow0-client.bin", "t10d290100_cdba58456bdf_e78b541c01a9"},
      {"ndpi-smtps-flow0-client.bin", "t12d860600_e18388e7f3a3_4446390ac224"},
  };
  for (auto [file, ndpi] : sni_less) {
    ClientHelloInfo info = parseRecords(readFixture(file));
    EXPECT_FALSE(info.has_server_name) << file;
    ndpi[3] = 'i';
    EXPECT_EQ(ja4Of(info), ndpi) << file;
  }
  const std::pair<const char*, const char*> ja3s[] = {
      {"ndpi-smtp-starttls-flow0-server.bin", "6b96cf9c27b0223177b0e9f135fe4899"},
      {"ndpi-smtp-starttls-flow1-server.bin", "ccc514751b175866924439bdbb5bba34"},
  };
  for (const auto& [file, md5] : ja3s) {
    CounterBlock counters;
    ObjectPool<ServerHelloBuffer> pool(1);
    ServerHelloAssembler assembler(pool, counters);
    HelloState st;
    ServerHelloInfo info;
    ASSERT_EQ(assembler.feed(st, readFixture(file), info), HelloResult::kParsed);
    Ja3s out;
    ASSERT_TRUE(computeJa3s(info, digests, out));
    EXPECT_EQ(out.hash(), md5) << file;
  }
}

// Test the digest wrapper against the FIPS 180-2 / RFC 1321 "abc" answers, repeatedly, so a
// reused context is shown to reset.
TEST(DigestContext, KnownAnswersOnAReusedContext) {
  DigestContext d;
  for (int i = 0; i < 3; ++i) {
    Md5Digest m;
    Sha256Digest s;
    ASSERT_TRUE(d.md5("abc", m));
    ASSERT_TRUE(d.sha256("abc", s));
    char hex[64];
    hexEncode(m.data(), m.size(), hex);
    EXPECT_EQ(std::string_view(hex, 32), "900150983cd24fb0d6963f7d28e17f72");
    hexEncode(s.data(), s.size(), hex);
    EXPECT_EQ(std::string_view(hex, 64),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  }
}

// Test the digest wrapper against OpenSSL's one-shot EVP_Digest for inputs of 0 to 300 bytes:
// one to six blocks, and every padding boundary.
TEST(DigestContext, MatchesEvpDigestAtEveryLength) {
  DigestContext d;
  std::string data;
  for (size_t n = 0; n <= 300; ++n) {
    Md5Digest m;
    Sha256Digest s;
    ASSERT_TRUE(d.md5(data, m));
    ASSERT_TRUE(d.sha256(data, s));
    unsigned char ref[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    ASSERT_EQ(EVP_Digest(data.data(), data.size(), ref, &len, EVP_md5(), nullptr), 1);
    EXPECT_TRUE(std::equal(m.begin(), m.end(), ref)) << n;
    ASSERT_EQ(EVP_Digest(data.data(), data.size(), ref, &len, EVP_sha256(), nullptr), 1);
    EXPECT_TRUE(std::equal(s.begin(), s.end(), ref)) << n;
    data += static_cast<char>('a' + n % 26);
  }
}

// Test that JA4's sorted sections equal a plain sort at every list length, through the vector
// ranking (up to 64 values) and past it, with repeated values, GREASE, 0000 and ffff, and the
// SNI and ALPN types left out of the extensions.
TEST(Ja4, SortedSectionsMatchAPlainSort) {
  std::mt19937 rng(7);
  auto joinSorted = [](std::vector<uint16_t> v) {
    std::sort(v.begin(), v.end());
    std::string out;
    char hex[8];
    for (uint16_t x : v) {
      std::snprintf(hex, sizeof hex, "%s%04x", out.empty() ? "" : ",", x);
      out += hex;
    }
    return out;
  };
  const uint16_t specials[] = {0x0a0a, 0xfafa, 0x0000, 0xffff, 0x0010, 0xc02b};
  for (size_t n = 0; n <= 90; ++n) {
    for (int kind = 0; kind < 4; ++kind) {
      auto value = [&]() -> uint16_t {
        switch (kind) {
          case 0:
            return static_cast<uint16_t>(rng());
          case 1:  // few distinct values: repeats
            return static_cast<uint16_t>(0xc02b + rng() % 4);
          case 2:
            return rng() % 2 ? specials[rng() % 6] : static_cast<uint16_t>(rng());
          default:
            return 0x1301;
        }
      };
      HelloSpec s;
      s.ciphers.clear();
      s.extensions.clear();
      for (size_t i = 0; i < n; ++i) {
        s.ciphers.push_back(value());
        s.extensions.push_back({value(), {}});
      }
      ClientHelloInfo info = parseSpec(s);
      std::vector<uint16_t> ciphers;
      for (uint16_t v : info.cipher_suites.view())
        if (!isGrease(v)) ciphers.push_back(v);
      std::vector<uint16_t> extensions;
      for (uint16_t v : info.extensions.view())
        if (!isGrease(v) && v != kExtServerName && v != kExtAlpn) extensions.push_back(v);
      std::string raw = ja4Raw(info);
      size_t b = raw.find('_');
      size_t c = raw.find('_', b + 1);
      size_t end = raw.find('_', c + 1);
      ASSERT_NE(c, std::string::npos);
      EXPECT_EQ(raw.substr(b + 1, c - b - 1), joinSorted(ciphers)) << n << " kind " << kind;
      EXPECT_EQ(raw.substr(c + 1, end == std::string::npos ? end : end - c - 1),
                joinSorted(extensions))
          << n << " kind " << kind;
    }
  }
}

// Test that a hello truncated at every list bound still formats within its fixed buffers.
TEST(Fingerprints, WorstCaseHelloFitsTheBuffers) {
  HelloSpec s;
  s.version = 65535;
  s.ciphers.assign(kMaxCipherSuites + 10, 65535);
  for (size_t i = 0; i < kMaxExtensions + 5; ++i) s.extensions.push_back({65000, {}});
  s.extensions.push_back(
      {kExtSupportedGroups, u16ListBody(std::vector<uint16_t>(60, 65535), false)});
  s.extensions.push_back({kExtEcPointFormats, [] {
                            std::vector<uint8_t> b(1, 20);
                            b.insert(b.end(), 20, 255);
                            return b;
                          }()});
  s.extensions.push_back(
      {kExtSignatureAlgorithms, u16ListBody(std::vector<uint16_t>(70, 0xffff), false)});
  ClientHelloInfo info = parseSpec(s);
  EXPECT_TRUE(info.flags & kHelloFlagListTruncated);
  Ja3 ja3 = ja3Of(info);
  EXPECT_LE(ja3.length, kJa3StringCapacity);
  EXPECT_EQ(ja3.string().substr(0, 12), "65535,65535-");
  EXPECT_EQ(ja4Of(info).size(), kJa4Length);
}

}  // namespace
}  // namespace smtpguard
