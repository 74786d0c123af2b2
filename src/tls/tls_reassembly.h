#pragma once
// Gathering the first handshake message of a TLS direction (the ClientHello from the client, the
// ServerHello from the server) out of in-order stream chunks of any size: a message may be split
// across TCP segments and across TLS records (RFC 8446 §5.1: "a single message MAY be fragmented
// across several records"), and post-quantum key shares make real ClientHellos span segments.
//
// Per flow and direction only an 8-byte HelloState lives in the flow entry. A cold buffer comes
// from a per-lcore ObjectPool when a hello does not arrive whole in one chunk, and goes back as
// soon as the hello is parsed or rejected. A hello that arrives whole (the common case) is parsed
// in place, without touching the pool.
//
// Bounds: a handshake message larger than the buffer, a record over 2^14 bytes, a record of any
// other content type or a zero-length record ends the attempt as malformed (tls.malformed).
// Since every record adds at least one byte of message, input is bounded by the buffer size.

#include <array>
#include <cstddef>
#include <cstdint>

#include "common/bytes.h"
#include "common/object_pool.h"
#include "stats/counter_block.h"
#include "tls/client_hello.h"

namespace smtpguard {

inline constexpr size_t kTlsRecordHeaderBytes = 5;
inline constexpr uint8_t kTlsContentHandshake = 22;
// RFC 8446 §5.1: TLSPlaintext.length "MUST NOT exceed 2^14 bytes".
inline constexpr uint16_t kMaxTlsPlaintextRecord = 1 << 14;
// Largest handshake message gathered, header included: a 16 KiB ClientHello body, a 4 KiB
// ServerHello body (an ML-KEM-1024 key share is 1568 bytes).
inline constexpr uint32_t kMaxClientHelloMessage = 4 + 16 * 1024;
inline constexpr uint32_t kMaxServerHelloMessage = 4 + 4 * 1024;

enum class HelloPhase : uint8_t {
  kIdle,       // nothing received yet
  kGathering,  // a buffer is attached
  kDone,       // parsed; further bytes are not looked at
  kFailed,     // rejected; further bytes are not looked at
};

// Hot state, embedded in the flow entry: 0 buffer handle, 4 phase, 5..7 spare.
struct HelloState {
  PoolHandle buffer = kNoHandle;
  HelloPhase phase = HelloPhase::kIdle;
  uint8_t spare[3] = {};
};
static_assert(sizeof(HelloState) == 8, "HelloState is embedded in every flow entry");

// Progress through the records; lives in the cold buffer.
struct HandshakeProgress {
  uint32_t have = 0;            // message bytes gathered, handshake header included
  uint32_t need = 0;            // 4 + body length once the handshake header is in, else 0
  uint16_t record_left = 0;     // payload bytes of the current record not yet seen
  uint16_t record_version = 0;  // of the first record
  uint8_t header_have = 0;      // bytes of a record header split across chunks
  std::array<uint8_t, kTlsRecordHeaderBytes> header{};
};

template <uint32_t kCapacity>
struct HandshakeBuffer {
  static constexpr uint32_t kMessageCapacity = kCapacity;
  HandshakeProgress progress;
  std::array<uint8_t, kCapacity> message;  // not zeroed: only [0, progress.have) is read
};
using ClientHelloBuffer = HandshakeBuffer<kMaxClientHelloMessage>;
using ServerHelloBuffer = HandshakeBuffer<kMaxServerHelloMessage>;

enum class HelloResult : uint8_t {
  kNeedMore,   // feed the next bytes of this direction
  kParsed,     // `out` holds the hello; no buffer is held any more
  kMalformed,  // rejected (see lastError()); counted in tls.malformed
  kNoBuffer,   // the pool was empty; counted in pool.exhausted, the hello is not inspected
  kFinished,   // this direction already finished; the bytes were ignored
};

enum class HelloError : uint8_t {
  kNone,
  kNotHandshakeRecord,  // content type is not handshake (22): alert, SSLv2 hello, plaintext...
  kBadRecordVersion,    // record major version is not 3
  kBadRecordLength,     // zero-length (RFC 8446 §5.1 forbids it for handshake) or > 2^14
  kWrongHandshakeType,  // the first handshake message is not the expected hello
  kTooLarge,            // the handshake message exceeds the buffer bound
  kParse,               // the message is complete but its body does not parse
  kAbandoned,           // the flow ended before the hello was complete
};

// One per lcore and direction kind, sharing that lcore's pool and counters.
template <typename Buffer, typename Info>
class HelloAssembler {
 public:
  HelloAssembler(ObjectPool<Buffer>& pool, CounterBlock& counters)
      : pool_(pool), counters_(counters) {}

  // `chunk`: the next in-order bytes of this direction, starting with the first TLS byte.
  HelloResult feed(HelloState& state, Bytes chunk, Info& out);
  // The flow ends or is evicted: releases a held buffer (counting tls.malformed when a hello was
  // under way, as it will never complete).
  void abandon(HelloState& state);

  HelloError lastError() const { return last_error_; }
  TlsParseStatus lastParseStatus() const { return last_parse_; }

 private:
  HelloResult fail(HelloState& state, HelloError error);
  HelloResult finish(HelloState& state, Bytes message, uint16_t record_version, Info& out);

  ObjectPool<Buffer>& pool_;
  CounterBlock& counters_;
  HelloError last_error_ = HelloError::kNone;
  TlsParseStatus last_parse_ = TlsParseStatus::kOk;
};

using ClientHelloAssembler = HelloAssembler<ClientHelloBuffer, ClientHelloInfo>;
using ServerHelloAssembler = HelloAssembler<ServerHelloBuffer, ServerHelloInfo>;
extern template class HelloAssembler<ClientHelloBuffer, ClientHelloInfo>;
extern template class HelloAssembler<ServerHelloBuffer, ServerHelloInfo>;

}  // namespace smtpguard
