// Feeds random segment sequences (reordered, overlapping, duplicated, far jumps, wraparound,
// SYN/FIN/RST) into one TcpStream. Every segment carries the bytes a reference stream has at
// its sequence numbers, so the harness can check exactly what comes out: each delivered byte is
// the reference byte at the position the stream claims, positions only move forward, and
// nothing is delivered twice or invented. Some segments carry a changed byte where the stream
// has already been (a decoy's retransmission): never delivered, never called identical. The
// status of each segment must agree with what the stream did.
//
// Input: isn (4 bytes), setup (1 byte: out-of-order pool size % 3, history pool size >> 2 % 3,
// hold policy 0x10, window >> 5), then 6-byte records:
//   offset (2, signed, scaled by the mode), length (2), flags (1), mode (1: kind % 8,
//   0x40 change the first byte if it is behind the stream, 0x80 move the sender's cursor).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "common/bytes.h"
#include "flow/tcp_stream.h"

namespace {

using smtpguard::Bytes;

uint8_t referenceByte(uint32_t seq) {
  return static_cast<uint8_t>((seq * 2654435761u) >> 24);
}

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace smtpguard;
  if (size < 5) return 0;
  const uint32_t isn = loadBe32(data);
  ObjectPool<OooBuffer> pool(data[4] % 3);
  ObjectPool<StreamHistory> histories((data[4] >> 2) % 3);
  const StreamPools pools{pool, &histories};
  StreamLimits limits;
  limits.holes = (data[4] & 0x10) ? HolePolicy::kHold : HolePolicy::kSkip;
  constexpr uint32_t kWindows[8] = {kDefaultMaxAhead, 4096, 100, 0, 1u << 20, 3000, 1, 70000};
  limits.max_ahead = kWindows[data[4] >> 5];
  // One per process, as each worker has one: the block holds 512 KiB of per-port counts, and
  // building it per input spent most of an ASan run zeroing fresh pages.
  static CounterBlock counters;
  TcpStream stream;

  uint32_t pos = 0;  // sequence number of the next byte the harness expects to be delivered
  uint64_t sent = 0;
  uint64_t delivered = 0;
  uint32_t cursor = isn;  // where a well-behaved sender would be
  std::vector<uint8_t> payload;

  auto deliver = [&](Bytes b) {
    check(!b.empty());
    for (size_t i = 0; i < b.size(); ++i)
      check(b[i] == referenceByte(pos + static_cast<uint32_t>(i)));
    pos += static_cast<uint32_t>(b.size());
    delivered += b.size();
  };
  auto gap = [&](uint32_t n) {
    check(n > 0 && n < (1u << 31));
    pos += n;
  };

  for (size_t i = 5; i + 6 <= size; i += 6) {
    const auto rel = static_cast<int16_t>(loadBe16(data + i));
    const uint16_t len = loadBe16(data + i + 2) % 3000;
    const uint8_t flags = data[i + 4];
    const uint8_t mode = data[i + 5];
    uint32_t seq;
    switch (mode % 8) {
      case 0:  // anywhere in the sequence space
        seq = (static_cast<uint32_t>(loadBe16(data + i)) << 16) | loadBe16(data + i + 2);
        break;
      case 1:  // far ahead or behind
        seq = cursor + static_cast<uint32_t>(rel) * 4096u;
        break;
      default:  // near the sender's position: retransmissions, overlaps, small reorders
        seq = cursor + static_cast<uint32_t>(static_cast<int32_t>(rel) % 8192);
    }
    if (mode & 0x80) cursor = seq + len;

    const uint32_t data_start = seq + ((flags & kTcpSyn) ? 1u : 0u);
    payload.resize(len);
    for (uint32_t k = 0; k < len; ++k) payload[k] = referenceByte(data_start + k);
    // A changed byte only where the stream has been: it must never come out.
    const bool changed = (mode & 0x40) && len != 0 && stream.synced() && seqLt(data_start, pos);
    if (changed) payload[0] ^= 0x5a;
    if (!(flags & kTcpRst)) sent += len;

    if (!stream.synced()) pos = data_start;
    check(stream.nextSeq() == pos || !stream.synced());
    const uint32_t before = pos;
    const uint64_t delivered_before = delivered;
    const SegmentStatus st = stream.onSegment({seq, flags, Bytes(payload.data(), payload.size())},
                                              pools, limits, counters, deliver, gap);
    // A FIN taken in order moves the stream one past the last delivered byte.
    if (stream.nextSeq() == pos + 1 && (flags & kTcpFin)) pos += 1;
    check(!stream.synced() || stream.nextSeq() == pos);
    check(delivered <= sent);
    check(pool.inUse() <= pool.capacity());
    check(histories.inUse() <= histories.capacity());
    // Only a FIN taken in order moves a stream that delivered nothing.
    const bool fin_taken = (flags & kTcpFin) && pos == before + 1;
    switch (st) {
      case SegmentStatus::kOutOfWindow:
      case SegmentStatus::kRefused:
      case SegmentStatus::kBuffered:
        check(delivered == delivered_before && pos == before);
        break;
      case SegmentStatus::kRetransmit:
      case SegmentStatus::kUnverified:
      case SegmentStatus::kNoPayload:
        check(delivered == delivered_before && (pos == before || fin_taken));
        break;
      case SegmentStatus::kDelivered:
      case SegmentStatus::kGapSkipped:
        check(delivered > delivered_before);
        break;
      case SegmentStatus::kInconsistent:
        break;
    }
    if (changed) check(st != SegmentStatus::kRetransmit);
    if (st == SegmentStatus::kOutOfWindow || st == SegmentStatus::kRefused) check(len != 0);
    if (st == SegmentStatus::kGapSkipped) check(limits.holes == HolePolicy::kSkip);
    if (st == SegmentStatus::kRefused) check(limits.holes == HolePolicy::kHold);
    // Now and then the receiver acknowledges a little past the stream.
    if ((mode & 0x38) == 0x38 && stream.synced()) {
      stream.onPeerAck(stream.nextSeq() + len, pools, counters, deliver, gap);
      check(stream.nextSeq() == pos);
    }
  }
  stream.flush(pools, deliver, gap);
  check(stream.nextSeq() == pos || !stream.synced());
  check(delivered <= sent);
  check(pool.inUse() == 0);
  stream.release(pools);
  check(histories.inUse() == 0);
  return 0;
}
