#pragma once
// An output for rendered events besides the events file: a Redis stream (redis_sink.h), syslog
// (syslog_sink.h). The main lcore renders each event once and hands every sink the same line;
// a sink never waits (a full queue or a refused datagram drops the event and counts it).
// Control plane.

#include <atomic>
#include <cstdint>
#include <string_view>

namespace smtpguard {

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Main lcore: one event, its type ("smtp_auth") and its JSON line without the newline.
  virtual void write(std::string_view type, std::string_view line) = 0;
  // Main lcore: after each batch of write()s.
  virtual void flush() {}
  // At the end: what is queued goes out within a bounded time, the rest is counted dropped.
  // Afterwards sent() + dropped() is every event written.
  virtual void close() {}
  // Any thread: events delivered and events lost, since start.
  uint64_t sent() const { return sent_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 protected:
  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace smtpguard
