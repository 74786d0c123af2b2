#pragma once
// A bounded single-producer, single-consumer queue of event lines for a sink that writes on its
// own thread (redis_sink.h). One block of bytes allocated at construction; an entry is its
// type and line copied in back to back, so a push allocates nothing, and a push that does not
// fit returns false (the caller counts the event as dropped) instead of waiting. The consumer
// reads entries in place and releases them once written, so the producer cannot overwrite an
// entry still being sent. Lock-free: the producer (the main lcore) never waits on the consumer.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace smtpguard {

class LineQueue {
 public:
  // `bytes`: the capacity, rounded up to a multiple of 8. An entry takes its line and type plus
  // 8 bytes, rounded up to 8.
  explicit LineQueue(size_t bytes);
  LineQueue(const LineQueue&) = delete;
  LineQueue& operator=(const LineQueue&) = delete;

  // Producer. False when the entry does not fit the free space now (or is larger than the
  // whole queue); nothing is written then.
  bool push(std::string_view type, std::string_view line);

  struct Entry {
    std::string_view type;
    std::string_view line;
    uint64_t end = 0;  // the position after this entry, for release()
  };
  // Consumer: up to `max` entries from the oldest on, in place (valid until released); the
  // count found.
  size_t peek(Entry* out, size_t max) const;
  // Consumer: frees every entry up to and including `last` (one returned by peek()).
  void release(const Entry& last);

  // Either side: bytes in use now (approximate while the other side moves).
  size_t used() const;
  size_t capacity() const { return size_; }
  bool empty() const { return used() == 0; }

 private:
  size_t size_;
  std::unique_ptr<unsigned char[]> buf_;
  alignas(64) std::atomic<uint64_t> head_{0};  // written by the producer: bytes ever pushed
  alignas(64) std::atomic<uint64_t> tail_{0};  // written by the consumer: bytes ever released
};

}  // namespace smtpguard
