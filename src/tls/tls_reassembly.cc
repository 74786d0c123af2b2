#include "tls/tls_reassembly.h"

#include <algorithm>
#include <cstring>

namespace smtpguard {
namespace {

// Which hello a direction carries, how to read it, what to count.
template <typename Info>
struct HelloKind;

template <>
struct HelloKind<ClientHelloInfo> {
  static constexpr uint8_t kType = kHandshakeClientHello;
  static constexpr Counter kParsedCounter = Counter::kSmtpTlsClientHello;
  static TlsParseStatus parse(Bytes m, ClientHelloInfo& out) { return parseClientHello(m, out); }
};

template <>
struct HelloKind<ServerHelloInfo> {
  static constexpr uint8_t kType = kHandshakeServerHello;
  static constexpr Counter kParsedCounter = Counter::kTlsServerHello;
  static TlsParseStatus parse(Bytes m, ServerHelloInfo& out) { return parseServerHello(m, out); }
};

enum class Gather : uint8_t { kNeedMore, kComplete, kError };

// Checks a complete record header (RFC 8446 §5.1 TLSPlaintext: type, legacy_record_version,
// uint16 length).
HelloError checkRecordHeader(const uint8_t* h) {
  if (h[0] != kTlsContentHandshake) return HelloError::kNotHandshakeRecord;
  if (h[1] != 3) return HelloError::kBadRecordVersion;
  uint16_t len = loadBe16(h + 3);
  // "Implementations MUST NOT send zero-length fragments of Handshake types"; "The length MUST
  // NOT exceed 2^14 bytes".
  if (len == 0 || len > kMaxTlsPlaintextRecord) return HelloError::kBadRecordLength;
  return HelloError::kNone;
}

// Strips record headers from `chunk` and appends handshake bytes to `storage` until the first
// handshake message is complete. Bytes after that message are not looked at.
Gather gatherMessage(HandshakeProgress& g, uint8_t* storage, uint32_t capacity,
                     uint8_t expected_type, Bytes chunk, HelloError& error) {
  size_t pos = 0;
  while (pos < chunk.size()) {
    if (g.record_left == 0) {
      size_t take = std::min(kTlsRecordHeaderBytes - g.header_have, chunk.size() - pos);
      std::memcpy(g.header.data() + g.header_have, chunk.data() + pos, take);
      g.header_have = static_cast<uint8_t>(g.header_have + take);
      pos += take;
      if (g.header_have < kTlsRecordHeaderBytes) return Gather::kNeedMore;
      g.header_have = 0;
      if ((error = checkRecordHeader(g.header.data())) != HelloError::kNone) return Gather::kError;
      if (g.record_version == 0) g.record_version = loadBe16(g.header.data() + 1);
      g.record_left = loadBe16(g.header.data() + 3);
      continue;
    }
    // Until the 4-byte handshake header is in, want just that; then the rest of the message.
    uint32_t want = g.need != 0 ? g.need - g.have : 4 - g.have;
    size_t take = std::min<size_t>({g.record_left, chunk.size() - pos, want});
    std::memcpy(storage + g.have, chunk.data() + pos, take);
    g.have += static_cast<uint32_t>(take);
    g.record_left = static_cast<uint16_t>(g.record_left - take);
    pos += take;
    if (g.need == 0 && g.have == 4) {
      if (storage[0] != expected_type) {
        error = HelloError::kWrongHandshakeType;
        return Gather::kError;
      }
      uint32_t need = 4 + loadBe24(storage + 1);
      if (need > capacity) {
        error = HelloError::kTooLarge;
        return Gather::kError;
      }
      g.need = need;
    }
    if (g.need != 0 && g.have == g.need) return Gather::kComplete;
  }
  return Gather::kNeedMore;
}

}  // namespace

template <typename Buffer, typename Info>
HelloResult HelloAssembler<Buffer, Info>::fail(HelloState& state, HelloError error) {
  if (state.buffer != kNoHandle) {
    pool_.release(state.buffer);
    state.buffer = kNoHandle;
  }
  state.phase = HelloPhase::kFailed;
  last_error_ = error;
  counters_.inc(Counter::kTlsMalformed);
  return HelloResult::kMalformed;
}

template <typename Buffer, typename Info>
HelloResult HelloAssembler<Buffer, Info>::finish(HelloState& state, Bytes message,
                                                 uint16_t record_version, Info& out) {
  last_parse_ = HelloKind<Info>::parse(message, out);
  if (state.buffer != kNoHandle) {
    // The message was copied out into `out`: the cold buffer goes back right away.
    pool_.release(state.buffer);
    state.buffer = kNoHandle;
  }
  if (last_parse_ != TlsParseStatus::kOk) return fail(state, HelloError::kParse);
  out.record_version = record_version;
  state.phase = HelloPhase::kDone;
  last_error_ = HelloError::kNone;
  counters_.inc(HelloKind<Info>::kParsedCounter);
  return HelloResult::kParsed;
}

template <typename Buffer, typename Info>
HelloResult HelloAssembler<Buffer, Info>::feed(HelloState& state, Bytes chunk, Info& out) {
  constexpr uint8_t kType = HelloKind<Info>::kType;
  if (state.phase == HelloPhase::kDone || state.phase == HelloPhase::kFailed)
    return HelloResult::kFinished;
  if (chunk.empty()) return HelloResult::kNeedMore;

  if (state.phase == HelloPhase::kIdle) {
    // Whole hello in the first record of the first chunk: parse in place, no pool, no copy.
    if (chunk.size() >= kTlsRecordHeaderBytes + 4 &&
        checkRecordHeader(chunk.data()) == HelloError::kNone) {
      uint16_t record_len = loadBe16(chunk.data() + 3);
      if (record_len >= 4 && kTlsRecordHeaderBytes + record_len <= chunk.size() &&
          chunk[5] == kType) {
        uint32_t message_len = 4 + loadBe24(chunk.data() + 6);
        if (message_len <= record_len && message_len <= Buffer::kMessageCapacity)
          return finish(state, chunk.subspan(kTlsRecordHeaderBytes, message_len),
                        loadBe16(chunk.data() + 1), out);
      }
    }
    PoolHandle h = pool_.acquire();
    if (h == kNoHandle) {
      state.phase = HelloPhase::kFailed;
      counters_.inc(Counter::kPoolExhausted);
      return HelloResult::kNoBuffer;
    }
    state.buffer = h;
    state.phase = HelloPhase::kGathering;
  }

  Buffer& buf = pool_.get(state.buffer);
  HelloError error = HelloError::kNone;
  switch (gatherMessage(buf.progress, buf.message.data(), Buffer::kMessageCapacity, kType, chunk,
                        error)) {
    case Gather::kNeedMore:
      return HelloResult::kNeedMore;
    case Gather::kError:
      return fail(state, error);
    case Gather::kComplete:
      break;
  }
  return finish(state, Bytes(buf.message.data(), buf.progress.have), buf.progress.record_version,
                out);
}

template <typename Buffer, typename Info>
void HelloAssembler<Buffer, Info>::abandon(HelloState& state) {
  if (state.phase == HelloPhase::kGathering) {
    fail(state, HelloError::kAbandoned);
    return;
  }
  if (state.buffer != kNoHandle) {  // not reachable through feed(); defensive for reuse
    pool_.release(state.buffer);
    state.buffer = kNoHandle;
  }
}

template class HelloAssembler<ClientHelloBuffer, ClientHelloInfo>;
template class HelloAssembler<ServerHelloBuffer, ServerHelloInfo>;

}  // namespace smtpguard
