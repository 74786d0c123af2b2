#include "events/line_queue.h"

#include <cstring>

namespace smtpguard {

namespace {

// An entry: this header, the type, the line, padding to 8. A header with kWrap says the rest
// of the block is unused and the next entry starts at its beginning.
struct Header {
  uint32_t line_len;
  uint16_t type_len;
  uint16_t flags;
};
static_assert(sizeof(Header) == 8);
constexpr uint16_t kWrap = 1;

constexpr size_t roundUp8(size_t n) {
  return (n + 7) & ~size_t{7};
}

}  // namespace

LineQueue::LineQueue(size_t bytes)
    : size_(roundUp8(bytes < 64 ? 64 : bytes)), buf_(new unsigned char[size_]) {}

bool LineQueue::push(std::string_view type, std::string_view line) {
  if (type.size() > 0xffff || line.size() > 0xffffffffu) return false;
  const size_t need = roundUp8(sizeof(Header) + type.size() + line.size());
  const uint64_t head = head_.load(std::memory_order_relaxed);
  const uint64_t tail = tail_.load(std::memory_order_acquire);
  const size_t free = size_ - static_cast<size_t>(head - tail);
  size_t at = static_cast<size_t>(head % size_);
  const size_t to_end = size_ - at;
  // An entry is contiguous: one that does not fit before the end starts over at 0.
  const size_t skip = need > to_end ? to_end : 0;
  if (need > size_ || need + skip > free) return false;
  if (skip != 0) {
    Header wrap{0, 0, kWrap};
    std::memcpy(buf_.get() + at, &wrap, sizeof wrap);
    at = 0;
  }
  Header h{static_cast<uint32_t>(line.size()), static_cast<uint16_t>(type.size()), 0};
  unsigned char* p = buf_.get() + at;
  std::memcpy(p, &h, sizeof h);
  std::memcpy(p + sizeof h, type.data(), type.size());
  std::memcpy(p + sizeof h + type.size(), line.data(), line.size());
  head_.store(head + skip + need, std::memory_order_release);
  return true;
}

size_t LineQueue::peek(Entry* out, size_t max) const {
  uint64_t pos = tail_.load(std::memory_order_relaxed);
  const uint64_t head = head_.load(std::memory_order_acquire);
  size_t n = 0;
  while (n < max && pos != head) {
    const size_t at = static_cast<size_t>(pos % size_);
    Header h;
    std::memcpy(&h, buf_.get() + at, sizeof h);
    if (h.flags & kWrap) {
      pos += size_ - at;
      continue;
    }
    const char* p = reinterpret_cast<const char*>(buf_.get() + at + sizeof h);
    out[n].type = std::string_view(p, h.type_len);
    out[n].line = std::string_view(p + h.type_len, h.line_len);
    pos += roundUp8(sizeof h + h.type_len + h.line_len);
    out[n].end = pos;
    ++n;
  }
  return n;
}

void LineQueue::release(const Entry& last) {
  tail_.store(last.end, std::memory_order_release);
}

size_t LineQueue::used() const {
  return static_cast<size_t>(head_.load(std::memory_order_acquire) -
                             tail_.load(std::memory_order_acquire));
}

}  // namespace smtpguard
