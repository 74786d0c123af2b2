// Fuzzes the ClientHello/ServerHello parsers, the handshake reassembly and the fingerprint
// formatters. The first input byte picks the direction and a chunk size, so the same corpus also
// exercises splits across segments; the rest is the TLS byte stream of one direction.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "tls/client_hello.h"
#include "tls/tls_fingerprint.h"
#include "tls/tls_reassembly.h"

using namespace smtpguard;

namespace {

struct FuzzLcore {
  CounterBlock counters;
  ObjectPool<ClientHelloBuffer> client_pool{2};
  ObjectPool<ServerHelloBuffer> server_pool{2};
  ClientHelloAssembler client{client_pool, counters};
  ServerHelloAssembler server{server_pool, counters};
  DigestContext digests;
};

template <typename Assembler, typename Info>
HelloResult feedAll(Assembler& a, const uint8_t* data, size_t size, size_t chunk, Info& out) {
  HelloState st;
  HelloResult r = HelloResult::kNeedMore;
  for (size_t pos = 0; pos < size && r == HelloResult::kNeedMore; pos += chunk)
    r = a.feed(st, Bytes(data + pos, size - pos < chunk ? size - pos : chunk), out);
  a.abandon(st);
  if (st.buffer != kNoHandle) std::abort();  // a buffer must never outlive the attempt
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static FuzzLcore* l = new FuzzLcore;
  if (size == 0) return 0;
  uint8_t control = data[0];
  ++data;
  --size;
  // Chunk sizes: whole input, or 1..64 bytes at a time.
  size_t chunk = (control & 0x3f) == 0 ? size + 1 : (control & 0x3f);
  if ((control & 0x40) == 0) {
    ClientHelloInfo info;
    if (feedAll(l->client, data, size, chunk, info) == HelloResult::kParsed) {
      ClientFingerprints fp;
      fingerprintClientHello(info, l->digests, fp);
      (void)ja4Raw(info);
    }
    // The message parser alone, on the raw bytes as if records were already removed.
    parseClientHello(Bytes(data, size), info);
  } else {
    ServerHelloInfo info;
    if (feedAll(l->server, data, size, chunk, info) == HelloResult::kParsed) {
      Ja3s ja3s;
      computeJa3s(info, l->digests, ja3s);
    }
    parseServerHello(Bytes(data, size), info);
  }
  if (l->client_pool.inUse() != 0 || l->server_pool.inUse() != 0) std::abort();
  return 0;
}
