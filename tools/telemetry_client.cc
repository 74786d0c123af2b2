#include "telemetry_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace smtpguard {

std::string telemetrySocketPath(const std::string& prefix) {
  if (prefix.find('/') != std::string::npos) return prefix;
  std::string dir;
  if (geteuid() == 0) {
    dir = "/var/run/dpdk";
  } else if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && *xdg != '\0') {
    dir = std::string(xdg) + "/dpdk";
  } else {
    dir = "/tmp/dpdk";
  }
  return dir + "/" + prefix + "/dpdk_telemetry.v2";
}

TelemetryClient::~TelemetryClient() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {

bool receive(int fd, size_t max, std::string& out, std::string& error) {
  std::vector<char> buf(max + 1);
  // A bounded wait: an instance that hangs must not hang its operator's tool.
  timeval tv{};
  tv.tv_sec = 70;  // a policy load may take a while (the instance bounds it at 60 s)
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const ssize_t n = ::recv(fd, buf.data(), max, 0);
  if (n < 0) {
    error = errno == EAGAIN || errno == EWOULDBLOCK
                ? "no answer in 70 s"
                : std::string("receive: ") + std::strerror(errno);
    return false;
  }
  if (n == 0) {
    error = "the instance closed the connection";
    return false;
  }
  out.assign(buf.data(), static_cast<size_t>(n));
  return true;
}

// The value of "max_output_len" in the greeting, or 0.
size_t maxOutputLen(const std::string& greeting) {
  const std::string key = "\"max_output_len\":";
  size_t p = greeting.find(key);
  if (p == std::string::npos) return 0;
  p += key.size();
  while (p < greeting.size() && greeting[p] == ' ') ++p;
  return static_cast<size_t>(std::strtoull(greeting.c_str() + p, nullptr, 10));
}

}  // namespace

bool TelemetryClient::connect(const std::string& instance, std::string& error) {
  path_ = telemetrySocketPath(instance);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof addr.sun_path) {
    error = "socket path too long: " + path_;
    return false;
  }
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    error = "no running instance at " + path_ + " (" + std::strerror(errno) +
            "); is smtpguard running with this --file-prefix, and are you allowed to read it?";
    return false;
  }
  std::string greeting;
  if (!receive(fd_, max_output_, greeting, error)) return false;
  if (size_t m = maxOutputLen(greeting); m != 0) max_output_ = m;
  return true;
}

bool TelemetryClient::request(const std::string& command, std::string& answer, std::string& error) {
  if (::send(fd_, command.data(), command.size(), MSG_NOSIGNAL) < 0) {
    error = std::string("send: ") + std::strerror(errno);
    return false;
  }
  return receive(fd_, max_output_, answer, error);
}

}  // namespace smtpguard
