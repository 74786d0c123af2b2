// Fuzzes the SMTP session engine with both directions, arbitrary splits and gaps.
//
// Input: one config byte (bits 0-1 port class, bit 2 an empty pool), then records: a header
// byte (bit 0 direction, bit 7 a gap instead of data) and, for data, a length byte and that many
// bytes (fewer at the end of the input). Checks the engine's promises: offsets inside the chunk,
// TLS begun only on a whole record header with a ClientHello type (held head included),
// bounded cold buffers, at most one cold object per flow, none left after smtpRelease.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "smtp/smtp_session.h"

namespace {

using namespace smtpguard;

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static CounterBlock counters;
  static SmtpObserver observer;  // the no-op default
  const uint8_t config = data[0];
  ObjectPool<SmtpCold> pool((config & 4) ? 0 : 2);
  SmtpContext ctx{counters, pool, observer, static_cast<PortClass>(config & 3)};
  SmtpHot hot{};
  size_t pos = 1;
  while (pos < size) {
    const uint8_t header = data[pos++];
    const Direction dir = (header & 1) ? Direction::kServerToClient : Direction::kClientToServer;
    if (header & 0x80) {
      smtpOnGap(hot, ctx, dir);
      continue;
    }
    if (pos >= size) break;
    size_t len = data[pos++];
    if (len > size - pos) len = size - pos;
    const bool was_tls = hot.mode_ == SmtpMode::kTls;
    SmtpChunkResult r;
    smtpOnData(hot, ctx, dir, Bytes(data + pos, len), r);
    pos += len;
    check(r.tls_offset == SmtpChunkResult::kNoTls || r.tls_offset <= len);
    check(!was_tls || (hot.mode_ == SmtpMode::kTls && r.tls_offset == 0));
    check(r.tls_head_len <= r.tls_head.size());
    check(r.tls_head_len == 0 || r.tls_offset == 0);
    if (!was_tls && r.tls_offset != SmtpChunkResult::kNoTls) {
      // RFC 8446 §5.1 and §4: handshake record, version 3.0-3.4, 1..2^14 bytes, ClientHello.
      check(dir == Direction::kClientToServer && r.tls_head_len + len >= 6);
      uint8_t h[6];
      for (size_t i = 0; i < 6; ++i)
        h[i] = i < r.tls_head_len ? r.tls_head[i] : data[pos - len + (i - r.tls_head_len)];
      const unsigned rec = (unsigned{h[3]} << 8) | h[4];
      check(h[0] == 0x16 && h[1] == 3 && h[2] <= 4 && rec != 0 && rec <= 16384 && h[5] == 1);
    }
    check(pool.inUse() <= 1);
    if (hot.cold_ref_ != 0) {
      const SmtpCold& c = pool.get(hot.cold_ref_ - 1);
      check(c.client_len <= kMaxLineLength && c.server_len <= kMaxLineLength);
      check(c.helo_len <= SmtpCold::kMaxHeloLength);
    }
  }
  SmtpSummary s = smtpSummary(hot, pool);
  check(s.helo.size() <= SmtpCold::kMaxHeloLength);
  smtpRelease(hot, pool);
  check(pool.inUse() == 0);
  return 0;
}
