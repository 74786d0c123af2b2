#pragma once
// --metrics-listen ADDR:PORT: the counters in Prometheus text exposition format over HTTP, for
// a Prometheus server to scrape. Control plane, on its own thread, far from the fast path:
//
//   metrics thread                               main lcore (its 1 ms loop)
//   accept, read "GET /metrics", ask  ------>    answer(): sum the counters, render the text
//   send the text, close             <------     hand it over (mutex, eventfd)
//
// The counters are summed on the main lcore because the policy's rule names (the `rule`
// label) change there at a reload; the workers' blocks are read with relaxed atomic loads as
// for the final report. Nothing the metrics thread does can stall a worker or the main lcore:
// sockets are non-blocking, connections are bounded (kMaxConnections), a request larger than
// kMaxRequest is refused, and a connection older than kConnectionTimeoutMs is closed whatever
// its client is doing.

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "app/listen_address.h"

namespace smtpguard {

class MetricsServer {
 public:
  static constexpr int kMaxConnections = 16;
  static constexpr size_t kMaxRequest = 8192;         // request line and headers
  static constexpr int kConnectionTimeoutMs = 10000;  // from accept to the last byte sent

  MetricsServer() = default;
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Binds and listens, then starts the thread. One-line error on failure.
  bool start(const std::string& listen, std::string& error);
  // The address actually bound ("127.0.0.1:40123"), for the start-up line.
  const std::string& boundAddress() const { return bound_; }

  // Main lcore, every loop: if a scrape is waiting, renders the text with `render` and hands
  // it to the metrics thread. Cheap when nobody asks (one relaxed load).
  void answer(const std::function<std::string()>& render) {
    if (!wanted_.load(std::memory_order_relaxed)) return;
    wanted_.store(false, std::memory_order_relaxed);
    publish(render());
  }

  void stop();

 private:
  void run();
  void publish(std::string text);

  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: a text was published, or stop
  std::string bound_;
  std::thread thread_;
  std::atomic<bool> wanted_{false};
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;  // guards text_ and generation_
  std::string text_;
  uint64_t generation_ = 0;
};

}  // namespace smtpguard
