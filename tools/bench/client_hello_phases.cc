// Where the ClientHello cost goes: each step of `smtpguard-bench --client-hello` timed alone on
// one hello (a file of TLS records, by default curl's tests/data/tls/local-curl-client.bin), and
// the steps together. Best of 7 rounds of 100,000 each; one process, so compare within a run.
//
//   build/tools/smtpguard-hello-phases [RECORDS_FILE]
//
// Steps alone see a warm branch predictor that the whole sequence does not, so they add up to
// less than "all": that difference is part of what the whole costs.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

#include "common/bytes.h"
#include "common/object_pool.h"
#include "stats/counter_block.h"
#include "tls/client_hello.h"
#include "tls/tls_fingerprint.h"
#include "tls/tls_reassembly.h"

namespace {

volatile uint32_t g_sink;

template <typename F>
double bestNs(F&& body) {
  constexpr int kRounds = 7;
  constexpr int kIterations = 100000;
  double best = 1e18;
  for (int r = 0; r < kRounds; ++r) {
    const auto start = std::chrono::steady_clock::now();
    uint32_t acc = 0;
    for (int i = 0; i < kIterations; ++i) acc += body();
    const auto stop = std::chrono::steady_clock::now();
    g_sink = acc;
    best = std::min(best,
                    std::chrono::duration<double, std::nano>(stop - start).count() / kIterations);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace smtpguard;
  const char* path = argc > 1 ? argv[1] : "tests/data/tls/local-curl-client.bin";
  std::ifstream in(path, std::ios::binary);
  const std::vector<uint8_t> records((std::istreambuf_iterator<char>(in)), {});
  if (records.size() < 9) {
    std::fprintf(stderr, "%s: no TLS records\n", path);
    return 2;
  }
  const Bytes all(records.data(), records.size());
  const Bytes message(records.data() + 5, records.size() - 5);  // one record, its handshake

  CounterBlock counters;
  ObjectPool<ClientHelloBuffer> pool(1);
  ClientHelloAssembler assembler(pool, counters);
  DigestContext digests;
  ClientHelloInfo info;
  if (parseClientHello(message, info) != TlsParseStatus::kOk) {
    std::fprintf(stderr, "%s: not a ClientHello in one record\n", path);
    return 2;
  }
  ClientFingerprints fp;
  Ja3Text ja3_text;
  Ja4Parts parts;
  Md5Digest md5;
  Sha256Digest sha;
  fingerprintClientHello(info, digests, fp);
  buildJa4Parts(info, Ja4Transport::kTcp, parts);
  const std::string_view ja3 = fp.ja3.string();
  std::printf("%s: JA3 %.*s\n  JA4 %.*s\n", path, static_cast<int>(ja3.size()), ja3.data(),
              static_cast<int>(fp.ja4.view().size()), fp.ja4.view().data());

  struct Step {
    const char* name;
    double ns;
  };
  const Step steps[] = {
      {"reassembly + parse", bestNs([&]() -> uint32_t {
         HelloState state;
         return assembler.feed(state, all, info) == HelloResult::kParsed;
       })},
      {"parse", bestNs([&] { return static_cast<uint32_t>(parseClientHello(message, info)); })},
      {"JA3 string", bestNs([&] { return static_cast<uint32_t>(formatJa3(info, ja3_text)); })},
      {"JA4 sections", bestNs([&] {
         buildJa4Parts(info, Ja4Transport::kTcp, parts);
         return static_cast<uint32_t>(parts.b_length + parts.c_length);
       })},
      {"MD5 of JA3", bestNs([&] { return digests.md5(ja3, md5) + uint32_t{md5[0]}; })},
      {"SHA-256 of JA4 b",
       bestNs([&] { return digests.sha256(parts.bView(), sha) + uint32_t{sha[0]}; })},
      {"SHA-256 of JA4 c",
       bestNs([&] { return digests.sha256(parts.cView(), sha) + uint32_t{sha[0]}; })},
      {"all (as --client-hello)", bestNs([&]() -> uint32_t {
         HelloState state;
         if (assembler.feed(state, all, info) != HelloResult::kParsed) return 0;
         return fingerprintClientHello(info, digests, fp) + static_cast<uint32_t>(fp.ja4.text[30]);
       })},
  };
  for (const Step& s : steps) std::printf("  %-24s %7.1f ns\n", s.name, s.ns);
  return 0;
}
