#pragma once
// One direction of a TCP connection as a middlebox sees it: payload goes to the consumer in
// sequence order, each byte exactly once. Retransmissions are trimmed, a few out-of-order
// segments wait in a pooled buffer attached only while something is held.
//
// Normalisation (Handley, Paxson and Kreibich 2001): the bytes a receiver may get must be the
// bytes the engines inspected. onSegment() says what became of every segment (SegmentStatus),
// so that the caller can drop the packets that would break that rule:
//   - a segment starting too far past the next expected byte (StreamLimits::max_ahead, the
//     receive window) is never accepted and never moves the stream (kOutOfWindow);
//   - bytes sent again are compared with the copy the engines saw: the held out-of-order
//     bytes, and the last kHistoryBytes delivered (a pooled StreamHistory per direction, when
//     the caller lends a pool); a different copy is kInconsistent, one older than what is kept
//     is kUnverified;
//   - a segment that cannot be held (buffer full, pool empty) makes the stream give up the hole
//     and skip ahead (HolePolicy::kSkip, fail-open, kGapSkipped), or is refused and leaves the
//     stream where it is (HolePolicy::kHold, kRefused): the caller drops it and the sender
//     sends it again once the hole has filled.
//
// Pure: takes sequence numbers, flags and payload spans; knows nothing of mbufs or lcores.
// Never allocates: the out-of-order buffers and histories come from per-lcore ObjectPools.

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

// Delivered bytes a direction keeps to compare retransmissions with: four command lines at the
// RFC 5321 §4.5.3.1.4 limit, or an AUTH line with a long initial response. A power of two.
inline constexpr uint32_t kHistoryBytes = 2048;
static_assert((kHistoryBytes & (kHistoryBytes - 1)) == 0);

// RFC 9293 §3.10.7.4: a segment is acceptable only inside the receive window. A caller that
// tracks the receiver's advertised window passes it in StreamLimits; without it, the largest
// window a receiver can offer without window scaling (RFC 7323 §2.2).
inline constexpr uint32_t kDefaultMaxAhead = 65535;
// Old bytes come back only while unacknowledged, so never from more than a window behind;
// without a tracked window, more than any receive buffer holds (64 MiB).
inline constexpr uint32_t kDefaultMaxBehind = 1u << 26;

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
  // Whether bytes, placed at offset, disagree with a byte already held there.
  bool differs(uint32_t offset, Bytes bytes) const;
  // Forgets the first n bytes of the window and slides the rest down: the stream has moved on.
  void advance(uint32_t n);
};

// The last bytes one direction delivered, as a ring indexed by sequence number.
struct StreamHistory {
  uint32_t end = 0;             // sequence number after the newest byte kept
  uint32_t size = 0;            // bytes kept: [end - size, end), at most kHistoryBytes
  uint8_t data[kHistoryBytes];  // the byte with sequence number s is data[s % kHistoryBytes]

  struct Match {
    uint32_t compared = 0;  // bytes of the copy that fell inside what is kept
    bool differs = false;
  };

  // Keeps bytes delivered from sequence number seq on. A seq other than end (the stream gave
  // up a hole) starts the history again.
  void append(uint32_t seq, Bytes bytes);
  // Compares a copy of the stream from seq on with what is kept.
  Match compare(uint32_t seq, Bytes bytes) const;
};

// The sequence number, flags and payload of one TCP segment, in the direction of this stream.
struct TcpSegment {
  uint32_t seq = 0;
  uint8_t flags = 0;
  Bytes payload;
};

// What became of one segment, for the caller to decide the packet's fate. Under an enforcing
// policy the packet may leave only when its bytes were inspected, or are an identical copy of
// inspected ones: kNoPayload, kDelivered, kRetransmit (and kUnverified, which cannot be told
// apart from a retransmission the receiver needs). kBuffered bytes are inspected only once the
// hole before them fills; kInconsistent, kOutOfWindow and kRefused bytes never are.
enum class SegmentStatus : uint8_t {
  kNoPayload,     // no payload (SYN, FIN, pure ACK) or a RST: nothing for the stream
  kDelivered,     // new bytes delivered in order (and any held bytes they made contiguous)
  kBuffered,      // new bytes held out of order, not delivered yet
  kRetransmit,    // nothing new, and every old byte equals the copy already delivered or held
  kUnverified,    // nothing new, and some old bytes are older than the history (or none kept)
  kInconsistent,  // some old byte differs from the copy delivered or held. The delivered copy
                  // stays; over held bytes the in-order copy is delivered (a receiver trims its
                  // out-of-order queue to it). Any new bytes it carried were taken.
  kOutOfWindow,   // starts max_ahead or more past the next expected byte, or ends max_behind
                  // or more before it: not accepted, the stream did not move
  kRefused,       // HolePolicy::kHold: ahead and in the window, but it could not be held
  kGapSkipped,    // HolePolicy::kSkip: it could not be held, so the stream gave up the hole
                  // before it (gap reported) and delivered it
};

// What a stream does with a segment it cannot hold.
enum class HolePolicy : uint8_t {
  kSkip,  // fail-open: give up the missing bytes, deliver what follows, report the gap
  kHold,  // fail-closed: refuse the segment; the hole is given up only by onPeerAck() or flush()
};

struct StreamLimits {
  uint32_t max_ahead = kDefaultMaxAhead;    // the receive window from the next expected byte
  uint32_t max_behind = kDefaultMaxBehind;  // how far back a copy of old bytes may come from
  HolePolicy holes = HolePolicy::kSkip;
};

// The pools a stream borrows from. Pass the same pools to every call for one stream (and to the
// FlowTable that releases it): a stream given no history pool keeps no copy of what it
// delivered, so every retransmission of delivered bytes is kUnverified.
struct StreamPools {
  ObjectPool<OooBuffer>& ooo;
  ObjectPool<StreamHistory>* history = nullptr;
};

// 8 bytes so two fit in the flow entry next to the application state.
class TcpStream {
 public:
  // Feeds one segment. deliver(Bytes) receives in-order payload (valid only during the call);
  // gap(uint32_t missing) reports bytes that will never be delivered. Counts tcp.retransmit,
  // tcp.retransmit_unverified, stream.inconsistent_retransmission, tcp.out_of_order,
  // tcp.segment_out_of_window, tcp.segment_refused, tcp.desync and pool.exhausted.
  template <class Deliver, class Gap>
  SegmentStatus onSegment(const TcpSegment& seg, StreamPools pools, const StreamLimits& limits,
                          CounterBlock& counters, Deliver&& deliver, Gap&& gap);
  // The same with the default limits (kSkip) and no history.
  template <class Deliver, class Gap>
  SegmentStatus onSegment(const TcpSegment& seg, ObjectPool<OooBuffer>& pool,
                          CounterBlock& counters, Deliver&& deliver, Gap&& gap) {
    return onSegment(seg, StreamPools{pool, nullptr}, StreamLimits{}, counters, deliver, gap);
  }

  // The peer acknowledged up to ack (the ACK field of a segment going the other way). An ACK
  // past the next expected byte proves the receiver got bytes this stream never saw (a capture
  // that lost them, an asymmetric path): gives up the hole up to ack as flush() does, counts
  // tcp.desync and returns true. The one way out of a hole under HolePolicy::kHold short of the
  // flow's end, so call it only with ACKs from the receiver's side of the device. An ACK one
  // past the next byte with nothing held is taken for the ACK of a FIN and ignored.
  template <class Deliver, class Gap>
  bool onPeerAck(uint32_t ack, StreamPools pools, CounterBlock& counters, Deliver&& deliver,
                 Gap&& gap);

  // Delivers whatever is still held, reporting the holes before it, and releases the buffer:
  // for the end of a flow, when the missing bytes can no longer arrive.
  template <class Deliver, class Gap>
  void flush(StreamPools pools, Deliver&& deliver, Gap&& gap);
  template <class Deliver, class Gap>
  void flush(ObjectPool<OooBuffer>& pool, Deliver&& deliver, Gap&& gap) {
    flush(StreamPools{pool, nullptr}, deliver, gap);
  }

  // Gives back the held bytes (undelivered) and the history. Without a history pool the
  // history (if any) stays attached: it is returned by a later call that has the pool.
  void release(StreamPools pools);
  void release(ObjectPool<OooBuffer>& pool) { release(StreamPools{pool, nullptr}); }
  // Forgets the stream entirely: the next segment defines it again (a fresh ISN on the tuple).
  void reset(StreamPools pools) {
    release(pools);
    next_seq_ = 0;
    ooo_ = kUnsynced;
  }
  void reset(ObjectPool<OooBuffer>& pool) { reset(StreamPools{pool, nullptr}); }
  // Starts the stream again at seq, the byte its receiver expects (from the receiver's SYN-ACK):
  // held bytes and history are dropped.
  void resyncTo(uint32_t seq, StreamPools pools) {
    release(pools);
    next_seq_ = seq;
    ooo_ = kNoBuffer;
  }
  // RFC 9293 §3.10.7.4, RFC 5961 §3.2: whether a RST with this sequence number could be taken by
  // the receiver. Without a known position, any; otherwise one inside the window either side of
  // the next expected byte (a receiver behind us, after bytes it never got, still takes it).
  bool rstAcceptable(uint32_t seq, uint32_t window = kDefaultMaxAhead) const {
    if (!synced()) return true;
    const uint32_t ahead = seq - next_seq_;
    const uint32_t behind = next_seq_ - seq;
    return ahead < window || behind < window;
  }

  bool synced() const { return ooo_ != kUnsynced; }
  uint32_t nextSeq() const { return next_seq_; }
  bool holding() const { return ooo_ < kNoBuffer; }
  bool keepsHistory() const { return hist_ < kHistoryWanted; }

 private:
  // Handles fit in 16 bits to keep the stream at 8 bytes; the pools must hold fewer objects.
  static constexpr uint16_t kUnsynced = UINT16_MAX;           // ooo_: next_seq_ not known yet
  static constexpr uint16_t kNoBuffer = UINT16_MAX - 1;       // ooo_: synced, nothing held
  static constexpr uint16_t kNoHistory = UINT16_MAX;          // hist_: none asked for yet
  static constexpr uint16_t kHistoryWanted = UINT16_MAX - 1;  // hist_: asked, the pool was empty
  // No TCP segment comes near this; larger spans would break serial arithmetic.
  static constexpr uint32_t kMaxSegment = 1u << 30;

  template <class Deliver, class Gap>
  SegmentStatus onPayload(uint32_t start, Bytes data, StreamPools pools, const StreamLimits& limits,
                          CounterBlock& counters, Deliver&& deliver, Gap&& gap);
  template <class Deliver>
  SegmentStatus inOrder(uint32_t start, Bytes data, StreamPools pools, CounterBlock& counters,
                        Deliver&& deliver);
  template <class Deliver, class Gap>
  SegmentStatus onOutOfOrder(uint32_t start, Bytes data, StreamPools pools,
                             const StreamLimits& limits, CounterBlock& counters, Deliver&& deliver,
                             Gap&& gap);
  template <class Deliver, class Gap>
  SegmentStatus cannotHold(uint32_t start, Bytes data, StreamPools pools,
                           const StreamLimits& limits, CounterBlock& counters, Deliver&& deliver,
                           Gap&& gap);
  template <class Deliver, class Gap>
  void giveUpTo(uint32_t target, StreamPools pools, CounterBlock* counters, Deliver&& deliver,
                Gap&& gap);
  template <class Deliver>
  void drain(StreamPools pools, CounterBlock* counters, Deliver&& deliver);
  template <class Deliver>
  void emit(uint32_t seq, Bytes data, StreamPools pools, CounterBlock* counters, Deliver&& deliver);
  SegmentStatus verifyOld(uint32_t start, Bytes old, StreamPools pools, CounterBlock& counters);
  StreamHistory* history(StreamPools pools) {
    return pools.history != nullptr && keepsHistory() ? &pools.history->get(hist_) : nullptr;
  }
  StreamHistory* attachHistory(StreamPools pools, CounterBlock* counters);
  void releaseBufferIfEmpty(ObjectPool<OooBuffer>& pool) {
    if (holding() && pool.get(ooo_).count == 0) {
      pool.release(ooo_);
      ooo_ = kNoBuffer;
    }
  }

  uint32_t next_seq_ = 0;       // 0: next byte expected from the sender
  uint16_t ooo_ = kUnsynced;    // 4: pool handle of the out-of-order buffer, or kUnsynced/kNoBuffer
  uint16_t hist_ = kNoHistory;  // 6: pool handle of the StreamHistory, or kNoHistory/kHistoryWanted
};
static_assert(sizeof(TcpStream) == 8);

template <class Deliver, class Gap>
SegmentStatus TcpStream::onSegment(const TcpSegment& seg, StreamPools pools,
                                   const StreamLimits& limits, CounterBlock& counters,
                                   Deliver&& deliver, Gap&& gap) {
  // RFC 9293 §3.10.7.4: a RST carries no stream data (RFC 5961 diagnostic text is ignored).
  if (seg.flags & kTcpRst) return SegmentStatus::kNoPayload;
  if (seg.payload.size() > kMaxSegment) {
    counters.inc(Counter::kTcpSegmentOutOfWindow);
    return SegmentStatus::kOutOfWindow;
  }
  // RFC 9293 §3.4: the SYN occupies the sequence number before the first data byte.
  const uint32_t start = seg.seq + ((seg.flags & kTcpSyn) ? 1u : 0u);
  if (!synced()) {
    // Mid-stream pickup: the first segment seen defines where the stream starts.
    next_seq_ = start;
    ooo_ = kNoBuffer;
  }
  const uint32_t len = static_cast<uint32_t>(seg.payload.size());
  SegmentStatus status = SegmentStatus::kNoPayload;
  if (len != 0) status = onPayload(start, seg.payload, pools, limits, counters, deliver, gap);
  // RFC 9293 §3.4: the FIN occupies the sequence number after the last data byte. A FIN that
  // arrives out of order is not remembered; its retransmission will consume it. Data held
  // beyond a FIN contradicts it, so the FIN loses (and held offsets stay valid).
  if ((seg.flags & kTcpFin) && start + len == next_seq_ && !holding()) ++next_seq_;
  return status;
}

template <class Deliver, class Gap>
SegmentStatus TcpStream::onPayload(uint32_t start, Bytes data, StreamPools pools,
                                   const StreamLimits& limits, CounterBlock& counters,
                                   Deliver&& deliver, Gap&& gap) {
  const uint32_t end = start + static_cast<uint32_t>(data.size());
  if (seqLeq(end, next_seq_)) {
    if (next_seq_ - end >= limits.max_behind) {
      counters.inc(Counter::kTcpSegmentOutOfWindow);
      return SegmentStatus::kOutOfWindow;
    }
    counters.inc(Counter::kTcpRetransmit);
    return verifyOld(start, data, pools, counters);
  }
  if (seqGt(start, next_seq_)) {
    if (start - next_seq_ >= limits.max_ahead) {
      counters.inc(Counter::kTcpSegmentOutOfWindow);
      return SegmentStatus::kOutOfWindow;
    }
    return onOutOfOrder(start, data, pools, limits, counters, deliver, gap);
  }
  return inOrder(start, data, pools, counters, deliver);
}

// A segment that starts at or before next_seq_ and ends after it: its old head is compared with
// what was delivered, its new tail delivered (and compared with held bytes it covers).
template <class Deliver>
SegmentStatus TcpStream::inOrder(uint32_t start, Bytes data, StreamPools pools,
                                 CounterBlock& counters, Deliver&& deliver) {
  const uint32_t skip = next_seq_ - start;
  SegmentStatus status = SegmentStatus::kDelivered;
  if (skip != 0) {
    counters.inc(Counter::kTcpRetransmit);
    if (verifyOld(start, data.first(skip), pools, counters) == SegmentStatus::kInconsistent)
      status = SegmentStatus::kInconsistent;
  }
  const Bytes fresh = data.subspan(skip);
  if (holding() && pools.ooo.get(ooo_).differs(0, fresh) &&
      status != SegmentStatus::kInconsistent) {
    counters.inc(Counter::kStreamInconsistentRetransmission);
    status = SegmentStatus::kInconsistent;
  }
  emit(next_seq_, fresh, pools, &counters, deliver);
  next_seq_ += static_cast<uint32_t>(fresh.size());
  if (holding()) {
    pools.ooo.get(ooo_).advance(static_cast<uint32_t>(fresh.size()));
    drain(pools, &counters, deliver);
  }
  return status;
}

template <class Deliver, class Gap>
SegmentStatus TcpStream::onOutOfOrder(uint32_t start, Bytes data, StreamPools pools,
                                      const StreamLimits& limits, CounterBlock& counters,
                                      Deliver&& deliver, Gap&& gap) {
  counters.inc(Counter::kTcpOutOfOrder);
  if (!holding()) {
    const PoolHandle h = pools.ooo.acquire();
    if (h == kNoHandle || h >= kNoBuffer) {
      if (h != kNoHandle) pools.ooo.release(h);
      counters.inc(Counter::kPoolExhausted);
      return cannotHold(start, data, pools, limits, counters, deliver, gap);
    }
    ooo_ = static_cast<uint16_t>(h);
  }
  OooBuffer& b = pools.ooo.get(ooo_);
  const uint32_t offset = start - next_seq_;
  const bool differs = b.differs(offset, data);
  const OooBuffer::Insert inserted = b.insert(offset, data);
  if (inserted != OooBuffer::Insert::kNoRoom) {
    if (differs) counters.inc(Counter::kStreamInconsistentRetransmission);
    if (inserted == OooBuffer::Insert::kDuplicate) {
      counters.inc(Counter::kTcpRetransmit);
      return differs ? SegmentStatus::kInconsistent : SegmentStatus::kRetransmit;
    }
    return differs ? SegmentStatus::kInconsistent : SegmentStatus::kBuffered;
  }
  const SegmentStatus s = cannotHold(start, data, pools, limits, counters, deliver, gap);
  if (differs && s != SegmentStatus::kInconsistent) {
    counters.inc(Counter::kStreamInconsistentRetransmission);
    return SegmentStatus::kInconsistent;
  }
  return s;
}

// The segment ahead of next_seq_ found no room: refuse it, or give up the hole before it.
template <class Deliver, class Gap>
SegmentStatus TcpStream::cannotHold(uint32_t start, Bytes data, StreamPools pools,
                                    const StreamLimits& limits, CounterBlock& counters,
                                    Deliver&& deliver, Gap&& gap) {
  if (limits.holes == HolePolicy::kHold) {
    counters.inc(Counter::kTcpSegmentRefused);
    releaseBufferIfEmpty(pools.ooo);
    return SegmentStatus::kRefused;
  }
  counters.inc(Counter::kTcpDesync);
  giveUpTo(start, pools, &counters, deliver, gap);
  // A held range may have reached past start: the segment's head is old now.
  if (seqGeq(next_seq_, start + static_cast<uint32_t>(data.size()))) {
    return verifyOld(start, data, pools, counters) == SegmentStatus::kInconsistent
               ? SegmentStatus::kInconsistent
               : SegmentStatus::kGapSkipped;
  }
  const SegmentStatus s = inOrder(start, data, pools, counters, deliver);
  return s == SegmentStatus::kInconsistent ? s : SegmentStatus::kGapSkipped;
}

template <class Deliver, class Gap>
bool TcpStream::onPeerAck(uint32_t ack, StreamPools pools, CounterBlock& counters,
                          Deliver&& deliver, Gap&& gap) {
  if (!synced() || !seqGt(ack, next_seq_) || ack - next_seq_ >= kMaxSegment) return false;
  if (ack - next_seq_ == 1 && !holding()) return false;  // the FIN
  counters.inc(Counter::kTcpDesync);
  giveUpTo(ack, pools, &counters, deliver, gap);
  return true;
}

template <class Deliver, class Gap>
void TcpStream::flush(StreamPools pools, Deliver&& deliver, Gap&& gap) {
  if (!holding()) return;
  const OooBuffer& b = pools.ooo.get(ooo_);
  giveUpTo(next_seq_ + b.ranges[b.count - 1].end, pools, nullptr, deliver, gap);
}

inline void TcpStream::release(StreamPools pools) {
  if (holding()) {
    pools.ooo.release(ooo_);
    ooo_ = kNoBuffer;
  }
  if (!keepsHistory()) {
    hist_ = kNoHistory;
  } else if (pools.history != nullptr) {
    pools.history->release(hist_);
    hist_ = kNoHistory;
  }
}

// Gives up the bytes before target that never came: delivers the held ranges that start before
// it, each after its hole, and moves next_seq_ to target (or to the end of a held range that
// reaches past it, and on through held bytes that are then contiguous).
template <class Deliver, class Gap>
void TcpStream::giveUpTo(uint32_t target, StreamPools pools, CounterBlock* counters,
                         Deliver&& deliver, Gap&& gap) {
  uint32_t pos = next_seq_;
  if (holding()) {
    OooBuffer& b = pools.ooo.get(ooo_);
    for (uint32_t i = 0; i < b.count; ++i) {
      const uint32_t s = next_seq_ + b.ranges[i].begin;
      if (!seqLt(s, target)) break;
      if (s != pos) gap(s - pos);
      emit(s,
           Bytes(b.data + b.ranges[i].begin,
                 static_cast<size_t>(b.ranges[i].end - b.ranges[i].begin)),
           pools, counters, deliver);
      pos = next_seq_ + b.ranges[i].end;
    }
  }
  if (seqLt(pos, target)) {
    gap(target - pos);
    pos = target;
  }
  const uint32_t advanced = pos - next_seq_;
  next_seq_ = pos;
  if (holding()) {
    pools.ooo.get(ooo_).advance(advanced);
    drain(pools, counters, deliver);
  }
}

// Delivers the held bytes that the stream's position has made contiguous, then gives the buffer
// back if nothing is left in it.
template <class Deliver>
void TcpStream::drain(StreamPools pools, CounterBlock* counters, Deliver&& deliver) {
  OooBuffer& b = pools.ooo.get(ooo_);
  while (b.count != 0 && b.ranges[0].begin == 0) {
    const uint16_t n = b.ranges[0].end;
    emit(next_seq_, Bytes(b.data, n), pools, counters, deliver);
    next_seq_ += n;
    b.advance(n);
  }
  releaseBufferIfEmpty(pools.ooo);
}

// Hands bytes starting at sequence number seq to the consumer and keeps a copy of them.
template <class Deliver>
void TcpStream::emit(uint32_t seq, Bytes data, StreamPools pools, CounterBlock* counters,
                     Deliver&& deliver) {
  if (data.empty()) return;
  deliver(data);
  if (StreamHistory* h = attachHistory(pools, counters)) h->append(seq, data);
}

}  // namespace smtpguard
