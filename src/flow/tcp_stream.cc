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

}  // namespace smtpguard
