#pragma once
// --events redis://HOST:PORT/STREAM[?maxlen=N]: each event appended to a Redis stream,
//   XADD STREAM MAXLEN ~ N * event_type TYPE json LINE
// (docs/events.md "Sinks"). The main lcore copies the line into a bounded queue (LineQueue,
// 16 MiB by default) and goes on; a thread of its own takes up to kRedisBatch entries at a
// time and sends them pipelined (hiredis), then reads the replies in order.
//
// Accounting (events.redis_sent, events.redis_dropped), at most once:
//   - an event that does not fit the queue is dropped at once;
//   - an event whose XADD got a reply is sent, or dropped if the reply is an error;
//   - when the connection fails in the middle of a batch (hiredis returns the replies that
//     arrived, in order, then an error), the events of the replies that arrived are counted as
//     above and every later event of the batch is dropped. Redis may have stored some of those
//     (the connection broke after it applied them, before their reply came back), so the
//     stream holds at least every sent event and at most sent + dropped; no event is sent
//     twice.
//   - events still queued, not yet sent, wait for the next connection.
// Redis down at start, or lost later: the appliance runs on; one line on stderr, reconnects
// with back-off from 100 ms doubling to 5 s, one line when connected again. At the end, the
// queue is sent if a connection can be had within about a second; what is left is dropped.
// Control plane.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>

#include "events/event_sink.h"
#include "events/line_queue.h"
#include "events/sink_spec.h"

struct redisContext;

namespace smtpguard {

inline constexpr size_t kRedisQueueBytes = size_t{16} << 20;
inline constexpr size_t kRedisBatch = 256;
inline constexpr std::chrono::milliseconds kRedisBackoffMin{100};
inline constexpr std::chrono::milliseconds kRedisBackoffMax{5000};
// At the end of a run, how long what is queued waits for a connection before it is dropped.
inline constexpr std::chrono::milliseconds kRedisFinalWait{1000};

class RedisSink final : public EventSink {
 public:
  explicit RedisSink(const SinkSpec& spec, size_t queue_bytes = kRedisQueueBytes);
  ~RedisSink() override;
  RedisSink(const RedisSink&) = delete;
  RedisSink& operator=(const RedisSink&) = delete;

  void write(std::string_view type, std::string_view line) override;
  void flush() override;
  void close() override;

 private:
  void run();
  bool connect(std::string& error);
  void sendBatch(size_t n);
  void disconnect();
  void dropQueued();

  SinkSpec spec_;
  std::string maxlen_;
  LineQueue queue_;
  LineQueue::Entry batch_[kRedisBatch];
  redisContext* ctx_ = nullptr;  // the sink's thread only
  std::thread thread_;
  std::mutex mu_;  // only for sleeping: the thread waits on cv_ for work or stop
  std::condition_variable cv_;
  std::atomic<bool> waiting_{false};
  std::atomic<bool> stop_{false};
  bool closed_ = false;
  bool reply_error_reported_ = false;
};

}  // namespace smtpguard
