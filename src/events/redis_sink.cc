#include "events/redis_sink.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <thread>

namespace smtpguard {

RedisSink::RedisSink(const SinkSpec& spec, size_t queue_bytes)
    : spec_(spec), maxlen_(std::to_string(spec.maxlen)), queue_(queue_bytes) {
  // Signals go to the main lcore, which acts on them: the thread starts with all blocked.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  thread_ = std::thread([this] { run(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_setname_np(thread_.native_handle(), "sg-redis");
}

RedisSink::~RedisSink() {
  close();
}

void RedisSink::write(std::string_view type, std::string_view line) {
  if (!queue_.push(type, line)) dropped_.fetch_add(1, std::memory_order_relaxed);
}

void RedisSink::flush() {
  // The thread sleeps only when it found the queue empty; a notify costs a lock then only.
  // The fence orders the pushes before the load of waiting_ (a store may otherwise pass a
  // later load); a wake-up missed anyway costs at most the thread's 100 ms nap.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (waiting_.load() && !queue_.empty()) {
    std::lock_guard lock(mu_);
    cv_.notify_one();
  }
}

void RedisSink::close() {
  if (closed_) return;
  closed_ = true;
  {
    std::lock_guard lock(mu_);
    stop_.store(true);
    cv_.notify_one();
  }
  thread_.join();
}

bool RedisSink::connect(std::string& error) {
  const timeval connect_timeout{1, 0};
  redisContext* c = redisConnectWithTimeout(spec_.host.c_str(), spec_.port, connect_timeout);
  if (c == nullptr || c->err != 0) {
    error = c == nullptr ? "out of memory" : c->errstr;
    if (c != nullptr) redisFree(c);
    return false;
  }
  // A Redis that accepts but stops answering counts as gone after this long.
  const timeval reply_timeout{2, 0};
  redisSetTimeout(c, reply_timeout);
  redisEnableKeepAlive(c);
  ctx_ = c;
  return true;
}

void RedisSink::disconnect() {
  if (ctx_ != nullptr) redisFree(ctx_);
  ctx_ = nullptr;
}

void RedisSink::dropQueued() {
  size_t n;
  while ((n = queue_.peek(batch_, kRedisBatch)) > 0) {
    dropped_.fetch_add(n, std::memory_order_relaxed);
    queue_.release(batch_[n - 1]);
  }
}

void RedisSink::sendBatch(size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const char* argv[10] = {"XADD",          spec_.stream.c_str(),
                            "MAXLEN",        "~",
                            maxlen_.c_str(), "*",
                            "event_type",    batch_[i].type.data(),
                            "json",          batch_[i].line.data()};
    const size_t lens[10] = {
        4, spec_.stream.size(),  6, 1, maxlen_.size(), 1, 10, batch_[i].type.size(),
        4, batch_[i].line.size()};
    redisAppendCommandArgv(ctx_, 10, argv, lens);
  }
  size_t replied = 0;
  std::string failure;
  for (; replied < n; ++replied) {
    void* r = nullptr;
    if (redisGetReply(ctx_, &r) != REDIS_OK || r == nullptr) {
      failure = ctx_->errstr[0] != '\0' ? ctx_->errstr : "connection lost";
      break;
    }
    auto* reply = static_cast<redisReply*>(r);
    if (reply->type == REDIS_REPLY_ERROR) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      if (!reply_error_reported_) {
        std::fprintf(stderr,
                     "smtpguard: events to %s: Redis refused an XADD: %.*s (such events are "
                     "counted in events.redis_dropped)\n",
                     spec_.text.c_str(), static_cast<int>(reply->len), reply->str);
        reply_error_reported_ = true;
      }
    } else {
      sent_.fetch_add(1, std::memory_order_relaxed);
    }
    freeReplyObject(reply);
  }
  if (replied < n) {
    // The replies that arrived are counted above; the rest of the batch has no reply.
    dropped_.fetch_add(n - replied, std::memory_order_relaxed);
    std::fprintf(stderr,
                 "smtpguard: events to %s: connection lost (%s); %zu events without a reply "
                 "counted in events.redis_dropped; reconnecting\n",
                 spec_.text.c_str(), failure.c_str(), n - replied);
    disconnect();
  }
  queue_.release(batch_[n - 1]);
}

void RedisSink::run() {
  auto backoff = kRedisBackoffMin;
  bool down_reported = false;
  // At the end, what is queued waits this long for a connection (Redis restarting), no longer.
  std::optional<std::chrono::steady_clock::time_point> last_try;
  for (;;) {
    const bool stopping = stop_.load();
    if (ctx_ == nullptr) {
      std::string error;
      if (!connect(error)) {
        if (!down_reported) {
          std::fprintf(stderr,
                       "smtpguard: events to %s: cannot connect (%s); events wait in a %zu MiB "
                       "queue, beyond it they are counted in events.redis_dropped; retrying\n",
                       spec_.text.c_str(), error.c_str(), queue_.capacity() >> 20);
          down_reported = true;
        }
        if (stopping) {
          const auto now = std::chrono::steady_clock::now();
          if (!last_try) last_try = now + kRedisFinalWait;
          if (now >= *last_try) break;
          std::this_thread::sleep_for(kRedisBackoffMin);
          continue;
        }
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, backoff, [this] { return stop_.load(); });
        backoff = std::min(backoff * 2, kRedisBackoffMax);
        continue;
      }
      if (down_reported) {
        std::fprintf(stderr, "smtpguard: events to %s: connected\n", spec_.text.c_str());
        down_reported = false;
      }
      backoff = kRedisBackoffMin;
    }
    const size_t n = queue_.peek(batch_, kRedisBatch);
    if (n > 0) {
      sendBatch(n);
      continue;
    }
    if (stopping) break;
    std::unique_lock lock(mu_);
    waiting_.store(true);
    cv_.wait_for(lock, std::chrono::milliseconds(100),
                 [this] { return stop_.load() || !queue_.empty(); });
    waiting_.store(false);
  }
  dropQueued();
  disconnect();
}

}  // namespace smtpguard
