#include "flow/tcp_stream.h"

#include <algorithm>
#include <cstring>

namespace smtpguard {

OooBuffer::Insert OooBuffer::insert(uint32_t offset, Bytes bytes) {
  if (bytes.empty()) return Insert::kDuplicate;
  const uint64_t end64 = static_cast<uint64_t>(offset) + bytes.size();
  if (offset == 0 || end64 > kOooMaxBytes) return Insert::kNoRoom;
  const auto begin = static_cast<uint16_t>(offset);
  const auto end = static_cast<uint16_t>(end64);

  // The union of the held ranges and the new one; touching ranges merge because their bytes
  // sit side by side in the window.
  std::array<Range, kOooMaxRanges + 1> merged{};
  uint32_t n = 0;
  Range nr{begin, end};
  bool placed = false;
  for (uint32_t i = 0; i < count; ++i) {
    const Range r = ranges[i];
    if (r.end < nr.begin) {
      merged[n++] = r;
    } else if (r.begin > nr.end) {
      if (!placed) merged[n++] = nr;
      placed = true;
      merged[n++] = r;
    } else {
      nr.begin = std::min(nr.begin, r.begin);
      nr.end = std::max(nr.end, r.end);
    }
  }
  if (!placed) merged[n++] = nr;
  if (n > kOooMaxRanges) return Insert::kNoRoom;

  // Copy only the bytes no held range covers, so the first copy of a byte is the one delivered.
  uint32_t cur = begin;
  uint32_t added = 0;
  for (uint32_t i = 0; i < count && cur < end; ++i) {
    const Range r = ranges[i];
    if (r.end <= cur) continue;
    if (r.begin >= end) break;
    if (r.begin > cur) {
      std::memcpy(data + cur, bytes.data() + (cur - begin), r.begin - cur);
      added += r.begin - cur;
    }
    cur = std::max<uint32_t>(cur, r.end);
  }
  if (cur < end) {
    std::memcpy(data + cur, bytes.data() + (cur - begin), end - cur);
    added += end - cur;
  }
  if (added == 0) return Insert::kDuplicate;

  std::copy_n(merged.begin(), n, ranges.begin());
  count = static_cast<uint8_t>(n);
  return Insert::kAdded;
}

void OooBuffer::advance(uint32_t n) {
  if (n == 0) return;
  uint32_t kept = 0;
  for (uint32_t i = 0; i < count; ++i) {
    Range r = ranges[i];
    if (r.end <= n) continue;
    r.begin = static_cast<uint16_t>(std::max<uint32_t>(r.begin, n) - n);
    r.end = static_cast<uint16_t>(r.end - n);
    ranges[kept++] = r;
  }
  count = static_cast<uint8_t>(kept);
  if (kept == 0) return;
  // Bytes below n are gone; slide the rest of the window down so offsets start at 0 again.
  const uint32_t tail = static_cast<uint32_t>(ranges[kept - 1].end);
  std::memmove(data, data + n, tail);
}

bool OooBuffer::differs(uint32_t offset, Bytes bytes) const {
  const uint64_t end64 = static_cast<uint64_t>(offset) + bytes.size();
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t lo = std::max<uint32_t>(ranges[i].begin, offset);
    const uint64_t hi = std::min<uint64_t>(ranges[i].end, end64);
    if (lo < hi && std::memcmp(data + lo, bytes.data() + (lo - offset), hi - lo) != 0) return true;
  }
  return false;
}

void StreamHistory::append(uint32_t seq, Bytes bytes) {
  if (seq != end) size = 0;
  const auto n = static_cast<uint32_t>(bytes.size());
  // Only the newest kHistoryBytes can stay.
  const uint32_t keep = std::min(n, kHistoryBytes);
  const uint8_t* src = bytes.data() + (n - keep);
  uint32_t at = (seq + (n - keep)) & (kHistoryBytes - 1);
  const uint32_t first = std::min(keep, kHistoryBytes - at);
  std::memcpy(data + at, src, first);
  std::memcpy(data, src + first, keep - first);
  end = seq + n;
  size = std::min(size + n, kHistoryBytes);
}

StreamHistory::Match StreamHistory::compare(uint32_t seq, Bytes bytes) const {
  Match m;
  const uint32_t kept_begin = end - size;
  const uint32_t copy_end = seq + static_cast<uint32_t>(bytes.size());
  // The overlap of [seq, copy_end) with [kept_begin, end), in serial arithmetic.
  const uint32_t lo = seqLt(seq, kept_begin) ? kept_begin : seq;
  const uint32_t hi = seqLt(copy_end, end) ? copy_end : end;
  if (!seqLt(lo, hi)) return m;
  m.compared = hi - lo;
  uint32_t done = 0;
  while (done < m.compared) {
    const uint32_t at = (lo + done) & (kHistoryBytes - 1);
    const uint32_t run = std::min(m.compared - done, kHistoryBytes - at);
    if (std::memcmp(data + at, bytes.data() + (lo - seq) + done, run) != 0) {
      m.differs = true;
      return m;
    }
    done += run;
  }
  return m;
}

StreamHistory* TcpStream::attachHistory(StreamPools pools, CounterBlock* counters) {
  if (pools.history == nullptr) return nullptr;
  if (keepsHistory()) return &pools.history->get(hist_);
  const PoolHandle h = pools.history->acquire();
  if (h == kNoHandle || h >= kHistoryWanted) {
    if (h != kNoHandle) pools.history->release(h);
    // Counted once per stream; later deliveries try again quietly.
    if (hist_ == kNoHistory && counters != nullptr) counters->inc(Counter::kPoolExhausted);
    hist_ = kHistoryWanted;
    return nullptr;
  }
  hist_ = static_cast<uint16_t>(h);
  StreamHistory& hs = pools.history->get(h);
  hs.end = next_seq_;
  hs.size = 0;
  return &hs;
}

// Old bytes sent again: the same as what was delivered, different, or too old to tell.
SegmentStatus TcpStream::verifyOld(uint32_t start, Bytes old, StreamPools pools,
                                   CounterBlock& counters) {
  if (const StreamHistory* h = history(pools)) {
    const StreamHistory::Match m = h->compare(start, old);
    if (m.differs) {
      counters.inc(Counter::kStreamInconsistentRetransmission);
      return SegmentStatus::kInconsistent;
    }
    if (m.compared == old.size()) return SegmentStatus::kRetransmit;
  }
  counters.inc(Counter::kTcpRetransmitUnverified);
  return SegmentStatus::kUnverified;
}

}  // namespace smtpguard
