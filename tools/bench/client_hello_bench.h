#pragma once
// ClientHello micro-benchmark: parse + JA3 + JA4 of one realistic ClientHello against the cost
// of the digests alone (MD5 of the JA3 string, the two SHA-256 of JA4), measured in the same
// run on the same strings, so the ratio shows what the parser and formatters add.

#include <cstddef>
#include <cstdint>

namespace smtpguard::bench {

struct ClientHelloBenchResult {
  uint64_t iterations = 0;
  size_t hello_bytes = 0;   // the ClientHello records fed per iteration
  double ns_per_hello = 0;  // reassembly fast path + parse + JA3 + JA4, digests included
  double ns_digests = 0;    // MD5(JA3 string) + SHA-256(JA4 b) + SHA-256(JA4 c) alone
  double ratio = 0;         // ns_per_hello / ns_digests; the goal is <= 1.2
};

// Runs `iterations` of each loop (best of several rounds, interleaved). Single-threaded.
ClientHelloBenchResult runClientHelloBench(uint64_t iterations);

}  // namespace smtpguard::bench
