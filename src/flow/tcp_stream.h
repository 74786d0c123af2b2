#pragma once
// One direction of a TCP connection as a middlebox sees it: payload goes to the consumer in
// sequence order, each byte exactly once. Retransmissions are trimmed, a few out-of-order
// segments wait in a pooled buffer attached only while something is held, and when that buffer
// cannot cope the stream skips ahead and reports the hole instead of stalling.
//
// Pure: takes sequence numbers, flags and payload spans; knows nothing of mbufs or lcores.
// Never allocates: the out-of-order buffers come from a per-lcore ObjectPool.

#include <array>
#include <cstdint>

#include "common/bytes.h"
#include "common/object_pool.h"
#include "packet/packet_parser.h"
#include "stats/counter_block.h"

namespace smtpguard {

// RFC 1982 serial number arithmetic, as RFC 9293 §3.4 requires: a < b when b is less than
// 2^31 ahead of a, so comparisons keep working when the sequence space wraps at 2^32.
constexpr bool seqLt(uint32_t a, uint32_t b) {
  return static_cast<int32_t>(a - b) < 0;
}
constexpr bool seqLeq(uint32_t a, uint32_t b) {
  return static_cast<int32_t>(a - b) <= 0;
}
constexpr bool seqGt(uint32_t a, uint32_t b) {
  return seqLt(b, a);
}
constexpr bool seqGeq(uint32_t a, uint32_t b) {
  return seqLeq(b, a);
}

// Bounds of what one direction may hold while waiting for a hole to fill.
inline constexpr uint32_t kOooMaxRanges = 4;
inline constexpr uint32_t kOooMaxBytes = 4096;

// A window of kOooMaxBytes starting at the stream's next expected sequence number, holding up
// to kOooMaxRanges disjoint runs of bytes that arrived ahead of it.
struct OooBuffer {
  struct Range {
    uint16_t begin;  // offset from the stream's next_seq, inclusive
    uint16_t end;    // exclusive
  };
  enum class Insert : uint8_t { kAdded, kDuplicate, kNoRoom };

  uint8_t count = 0;  // ranges in use, sorted, never overlapping or touching
  std::array<Range, kOooMaxRanges> ranges{};
  uint8_t data[kOooMaxBytes];  // not zeroed: only bytes inside a range are meaningful

  // Stores the bytes of [offset, offset + bytes.size()) not already held (the first copy of a
  // byte wins). kNoRoom leaves the buffer unchanged. offset must be > 0.
  Insert insert(uint32_t offset, Bytes bytes);
  // Forgets the first n bytes of the window and slides the rest down: the stream has moved on.
  void advance(uint32_t n);
};

// The sequence number, flags and payload of one TCP segment, in the direction of this stream.
struct TcpSegment {
  uint32_t seq = 0;
  uint8_t flags = 0;
  Bytes payload;
};

// 8 bytes so two fit in the flow entry next to the application state.
class TcpStream {
 public:
  // Feeds one segment. deliver(Bytes) receives in-order payload (valid only during the call);
  // gap(uint32_t missing) reports bytes that will never be delivered. Counts tcp.retransmit,
  // tcp.out_of_order, tcp.desync and pool.exhausted.
  template <class Deliver, class Gap>
  void onSegment(const TcpSegment& seg, ObjectPool<OooBuffer>& pool, CounterBlock& counters,
                 Deliver&& deliver, Gap&& gap);

  // Delivers whatever is still held, reporting the holes before it, and releases the buffer:
  // for the end of a flow, when the missing bytes can no longer arrive.
  template <class Deliver, class Gap>
  void flush(ObjectPool<OooBuffer>& pool, Deliver&& deliver, Gap&& gap);

  // Drops held bytes without delivering them.
  void release(ObjectPool<OooBuffer>& pool);
  // Forgets the stream entirely: the next segment defines it again (a fresh ISN on the tuple).
  void reset(ObjectPool<OooBuffer>& pool) {
    release(pool);
    next_seq_ = 0;
    synced_ = false;
  }

  bool synced() const { return synced_; }
  uint32_t nextSeq() const { return next_seq_; }
  bool holding() const { return ooo_ != kNoBuffer; }

 private:
  // Handles fit in 16 bits to keep the stream at 8 bytes; the pool must hold fewer buffers.
  static constexpr uint16_t kNoBuffer = UINT16_MAX;
  // No TCP segment comes near this; larger spans would break serial arithmetic.
  static constexpr uint32_t kMaxSegment = 1u << 30;

  template <class Deliver, class Gap>
  void onOutOfOrder(uint32_t start, Bytes data, ObjectPool<OooBuffer>& pool, CounterBlock& counters,
                    Deliver&& deliver, Gap&& gap);
  template <class Deliver>
  void drain(uint32_t advanced, ObjectPool<OooBuffer>& pool, Deliver&& deliver);
  template <class Deliver, class Gap>
  void skipAhead(bool with_new, uint32_t start, Bytes data, ObjectPool<OooBuffer>& pool,
                 Deliver&& deliver, Gap&& gap);

  uint32_t next_seq_ = 0;     // 0: next byte expected from the sender
  uint16_t ooo_ = kNoBuffer;  // 4: pool handle of the out-of-order buffer, while one is held
  bool synced_ = false;       // 6: next_seq_ is known (a SYN or a first mid-stream segment)
  [[maybe_unused]] uint8_t reserved_ = 0;  // 7: padding (clang: -Wunused-private-field)
};
static_assert(sizeof(TcpStream) == 8);

template <class Deliver, class Gap>
void TcpStream::onSegment(const TcpSegment& seg, ObjectPool<OooBuffer>& pool,
                          CounterBlock& counters, Deliver&& deliver, Gap&& gap) {
  // RFC 9293 §3.10.7.4: a RST carries no stream data (RFC 5961 diagnostic text is ignored).
  if (seg.flags & kTcpRst) return;
  if (seg.payload.size() > kMaxSegment) return;
  // RFC 9293 §3.4: the SYN occupies the sequence number before the first data byte.
  const uint32_t start = seg.seq + ((seg.flags & kTcpSyn) ? 1u : 0u);
  if (!synced_) {
    // Mid-stream pickup: the first segment seen defines where the stream starts.
    next_seq_ = start;
    synced_ = true;
  }
  const uint32_t len = static_cast<uint32_t>(seg.payload.size());
  if (len != 0) {
    if (seqLeq(start + len, next_seq_)) {
      counters.inc(Counter::kTcpRetransmit);
    } else if (seqGt(start, next_seq_)) {
      onOutOfOrder(start, seg.payload, pool, counters, deliver, gap);
    } else {
      const uint32_t skip = next_seq_ - start;
      if (skip != 0) counters.inc(Counter::kTcpRetransmit);
      deliver(seg.payload.subspan(skip));
      next_seq_ = start + len;
      if (ooo_ != kNoBuffer) drain(len - skip, pool, deliver);
    }
  }
  // RFC 9293 §3.4: the FIN occupies the sequence number after the last data byte. A FIN that
  // arrives out of order is not remembered; its retransmission will consume it. Data held
  // beyond a FIN contradicts it, so the FIN loses (and held offsets stay valid).
  if ((seg.flags & kTcpFin) && start + len == next_seq_ && ooo_ == kNoBuffer) ++next_seq_;
}

template <class Deliver, class Gap>
void TcpStream::flush(ObjectPool<OooBuffer>& pool, Deliver&& deliver, Gap&& gap) {
  if (ooo_ != kNoBuffer) skipAhead(false, 0, {}, pool, deliver, gap);
}

inline void TcpStream::release(ObjectPool<OooBuffer>& pool) {
  if (ooo_ == kNoBuffer) return;
  pool.release(ooo_);
  ooo_ = kNoBuffer;
}

template <class Deliver, class Gap>
void TcpStream::onOutOfOrder(uint32_t start, Bytes data, ObjectPool<OooBuffer>& pool,
                             CounterBlock& counters, Deliver&& deliver, Gap&& gap) {
  counters.inc(Counter::kTcpOutOfOrder);
  if (ooo_ == kNoBuffer) {
    const PoolHandle h = pool.acquire();
    if (h == kNoHandle || h >= kNoBuffer) {
      if (h != kNoHandle) pool.release(h);
      counters.inc(Counter::kPoolExhausted);
      counters.inc(Counter::kTcpDesync);
      skipAhead(true, start, data, pool, deliver, gap);
      return;
    }
    ooo_ = static_cast<uint16_t>(h);
  }
  switch (pool.get(ooo_).insert(start - next_seq_, data)) {
    case OooBuffer::Insert::kAdded:
      return;
    case OooBuffer::Insert::kDuplicate:
      counters.inc(Counter::kTcpRetransmit);
      return;
    case OooBuffer::Insert::kNoRoom:
      break;
  }
  counters.inc(Counter::kTcpDesync);
  skipAhead(true, start, data, pool, deliver, gap);
}

template <class Deliver>
void TcpStream::drain(uint32_t advanced, ObjectPool<OooBuffer>& pool, Deliver&& deliver) {
  OooBuffer& b = pool.get(ooo_);
  b.advance(advanced);
  while (b.count != 0 && b.ranges[0].begin == 0) {
    const uint16_t n = b.ranges[0].end;
    deliver(Bytes(b.data, n));
    next_seq_ += n;
    b.advance(n);
  }
  if (b.count == 0) release(pool);
}

// Gives up on the hole at next_seq_: delivers every held range and the new segment (if any) in
// sequence order, reporting each hole before the data after it, then releases the buffer.
template <class Deliver, class Gap>
void TcpStream::skipAhead(bool with_new, uint32_t start, Bytes data, ObjectPool<OooBuffer>& pool,
                          Deliver&& deliver, Gap&& gap) {
  uint32_t pos = next_seq_;
  auto emit = [&](uint32_t s, Bytes d) {
    const uint32_t e = s + static_cast<uint32_t>(d.size());
    if (seqLeq(e, pos)) return;
    if (seqGt(s, pos)) {
      gap(s - pos);
      pos = s;
    }
    deliver(d.subspan(pos - s));
    pos = e;
  };
  if (ooo_ != kNoBuffer) {
    const OooBuffer& b = pool.get(ooo_);
    for (uint32_t i = 0; i < b.count; ++i) {
      const uint32_t s = next_seq_ + b.ranges[i].begin;
      if (with_new && seqLt(start, s)) {
        emit(start, data);
        with_new = false;
      }
      emit(s, Bytes(b.data + b.ranges[i].begin,
                    static_cast<size_t>(b.ranges[i].end - b.ranges[i].begin)));
    }
    release(pool);
  }
  if (with_new) emit(start, data);
  next_seq_ = pos;
}

}  // namespace smtpguard
