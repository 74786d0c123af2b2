#include "app/metrics_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

namespace smtpguard {

namespace {

std::string formatAddress(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET6) {
    const auto* a6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(a6->sin6_port));
  }
  const auto* a4 = reinterpret_cast<const sockaddr_in*>(&ss);
  inet_ntop(AF_INET, &a4->sin_addr, host, sizeof host);
  return std::string(host) + ":" + std::to_string(ntohs(a4->sin_port));
}

std::string response(std::string_view status, std::string_view type, std::string_view body,
                     std::string_view extra = {}) {
  std::string r = "HTTP/1.1 ";
  r += status;
  r += "\r\nContent-Type: ";
  r += type;
  r += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  r += extra;
  r += "Connection: close\r\n\r\n";
  r += body;
  return r;
}

struct Connection {
  enum class State { kReading, kWaiting, kWriting };
  int fd = -1;
  State state = State::kReading;
  std::string in;
  std::string out;
  size_t sent = 0;
  uint64_t after = 0;  // kWaiting: a text of a later generation answers it
  std::chrono::steady_clock::time_point deadline;
};

// What a complete request asks for: 200 with the metrics (empty: wait for them), or a whole
// error response.
std::string route(std::string_view request) {
  const size_t eol = request.find_first_of("\r\n");
  const std::string_view line = request.substr(0, eol);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos)
    return response("400 Bad Request", "text/plain", "bad request line\n");
  const std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  target = target.substr(0, target.find('?'));
  if (target != "/metrics") return response("404 Not Found", "text/plain", "try /metrics\n");
  if (method != "GET")
    return response("405 Method Not Allowed", "text/plain", "GET only\n", "Allow: GET\r\n");
  return {};
}

}  // namespace

MetricsServer::~MetricsServer() {
  stop();
}

bool MetricsServer::start(const std::string& listen_text, std::string& error) {
  ListenAddress la;
  if (!parseListenAddress(listen_text, la, error)) return false;
  auto fail = [&](const char* what) {
    error = "--metrics-listen " + listen_text + ": cannot " + what + ": " + std::strerror(errno);
    if (listen_fd_ >= 0) ::close(listen_fd_);
    listen_fd_ = -1;
    return false;
  };
  listen_fd_ = ::socket(la.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return fail("create a socket");
  const int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&la.addr), la.len) != 0)
    return fail("bind");
  if (::listen(listen_fd_, kMaxConnections) != 0) return fail("listen");
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof bound;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  bound_ = formatAddress(bound);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return fail("create an eventfd");
  // The thread takes no signal: SIGHUP, SIGTERM and the rest go to the lcores' threads, whose
  // handlers only set flags.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    thread_ = std::thread([this] { run(); });
  } catch (const std::system_error& e) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    error = std::string("--metrics-listen: cannot start its thread: ") + e.what();
    return false;
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_setname_np(thread_.native_handle(), "sg-metrics");
  return true;
}

void MetricsServer::stop() {
  if (thread_.joinable()) {
    stopping_.store(true, std::memory_order_relaxed);
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
    thread_.join();
  }
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  listen_fd_ = wake_fd_ = -1;
}

void MetricsServer::publish(std::string text) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    text_ = std::move(text);
    ++generation_;
  }
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void MetricsServer::run() {
  using Clock = std::chrono::steady_clock;
  std::vector<Connection> conns;
  std::vector<pollfd> fds;
  auto close_conn = [&](size_t i) {
    ::close(conns[i].fd);
    conns.erase(conns.begin() + static_cast<ptrdiff_t>(i));
  };
  while (!stopping_.load(std::memory_order_relaxed)) {
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    // At the limit the listening socket is not polled: new clients wait in its backlog.
    const bool accepting = conns.size() < static_cast<size_t>(kMaxConnections);
    fds.push_back({accepting ? listen_fd_ : -1, POLLIN, 0});
    for (const Connection& c : conns) {
      const short ev = c.state == Connection::State::kReading   ? POLLIN
                       : c.state == Connection::State::kWriting ? POLLOUT
                                                                : 0;
      fds.push_back({c.fd, ev, 0});
    }
    // Wakes at least every 100 ms to close connections past their deadline.
    const int rc = ::poll(fds.data(), fds.size(), 100);
    if (rc < 0 && errno != EINTR) break;
    if (fds[0].revents & POLLIN) {
      uint64_t v;
      [[maybe_unused]] ssize_t n = ::read(wake_fd_, &v, sizeof v);
    }
    // A published text answers every connection that asked before it was rendered.
    uint64_t generation;
    std::string text;
    bool have_waiters = false;
    for (const Connection& c : conns) have_waiters |= c.state == Connection::State::kWaiting;
    if (have_waiters) {
      std::lock_guard<std::mutex> lock(mutex_);
      generation = generation_;
      text = text_;
    } else {
      generation = 0;
    }
    const auto now = Clock::now();
    for (size_t i = conns.size(); i-- > 0;) {
      Connection& c = conns[i];
      const short revents = fds[i + 2].revents;
      if (c.state == Connection::State::kReading && (revents & (POLLIN | POLLHUP | POLLERR))) {
        char buf[2048];
        const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n <= 0) {
          if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
          close_conn(i);  // gone before asking
          continue;
        }
        c.in.append(buf, static_cast<size_t>(n));
        const size_t end = c.in.find("\r\n\r\n");
        if (end == std::string::npos && c.in.find("\n\n") == std::string::npos) {
          if (c.in.size() > kMaxRequest) {
            c.out = response("431 Request Header Fields Too Large", "text/plain",
                             "request too large\n");
            c.state = Connection::State::kWriting;
          }
          continue;
        }
        c.out = route(c.in);
        if (c.out.empty()) {
          std::lock_guard<std::mutex> lock(mutex_);
          c.after = generation_;
          c.state = Connection::State::kWaiting;
          wanted_.store(true, std::memory_order_relaxed);
        } else {
          c.state = Connection::State::kWriting;
        }
      }
      if (c.state == Connection::State::kWaiting && have_waiters && generation > c.after) {
        c.out = response("200 OK", "text/plain; version=0.0.4; charset=utf-8", text);
        c.state = Connection::State::kWriting;
      }
      if (c.state == Connection::State::kWriting) {
        const ssize_t n =
            ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) c.sent += static_cast<size_t>(n);
        if (c.sent == c.out.size() || (n < 0 && errno != EAGAIN && errno != EINTR)) {
          close_conn(i);
          continue;
        }
      }
      if (now >= c.deadline) {
        // The main lcore did not answer in time (stopping, or a long reload): say so if the
        // socket takes it at once; a client that reads nothing just loses its connection.
        if (c.state == Connection::State::kWaiting) {
          const std::string r =
              response("503 Service Unavailable", "text/plain", "counters not ready\n");
          [[maybe_unused]] ssize_t n =
              ::send(c.fd, r.data(), r.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        close_conn(i);
      }
    }
    if (accepting && (fds[1].revents & POLLIN)) {
      while (conns.size() < static_cast<size_t>(kMaxConnections)) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        Connection c;
        c.fd = fd;
        c.deadline = Clock::now() + std::chrono::milliseconds(kConnectionTimeoutMs);
        conns.push_back(std::move(c));
      }
    }
  }
  for (const Connection& c : conns) ::close(c.fd);
}

}  // namespace smtpguard
