#include "events/syslog_sink.h"

#include <netdb.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace smtpguard {

bool SyslogSink::open(const SinkSpec& spec, std::string& error) {
  where_ = spec.text;
  if (spec.kind == SinkKind::kSyslogUnix) {
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    if (spec.path.size() >= sizeof un.sun_path) {
      error = "--events '" + spec.text + "': the socket path is longer than " +
              std::to_string(sizeof un.sun_path - 1) + " bytes";
      return false;
    }
    std::memcpy(un.sun_path, spec.path.c_str(), spec.path.size() + 1);
    std::memcpy(&addr_, &un, sizeof un);
    addr_len_ = sizeof un;
  } else {
    addrinfo hints{};
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    const std::string port = std::to_string(spec.port);
    const int rc = getaddrinfo(spec.host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0 || res == nullptr) {
      error = "--events '" + spec.text + "': cannot resolve " + spec.host + ": " + gai_strerror(rc);
      return false;
    }
    std::memcpy(&addr_, res->ai_addr, res->ai_addrlen);
    addr_len_ = res->ai_addrlen;
    freeaddrinfo(res);
  }
  fd_ = ::socket(addr_.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    error = "--events '" + spec.text + "': cannot open a socket: " + std::strerror(errno);
    return false;
  }
  char host[256] = "-";
  if (gethostname(host, sizeof host) != 0 || host[0] == '\0') std::strcpy(host, "-");
  host[sizeof host - 1] = '\0';
  // RFC 5424 §6.2.4: HOSTNAME is printable US-ASCII without spaces.
  for (char* c = host; *c != '\0'; ++c)
    if (*c <= ' ' || *c > '~') *c = '_';
  prefix_host_ = std::string(" ") + host + " smtpguard " + std::to_string(getpid()) + " ";
  message_.reserve(4096);
  return true;
}

SyslogSink::~SyslogSink() {
  if (fd_ >= 0) ::close(fd_);
}

void SyslogSink::formatTime() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  if (ts.tv_sec != second_) {
    tm t{};
    gmtime_r(&ts.tv_sec, &t);
    std::strftime(time_, sizeof time_, "%Y-%m-%dT%H:%M:%S", &t);
    second_ = ts.tv_sec;
  }
  // RFC 5424 §6.2.3: TIME-SECFRAC of at most six digits, Z for UTC.
  std::snprintf(time_ + 19, sizeof time_ - 19, ".%06ldZ", ts.tv_nsec / 1000);
}

void SyslogSink::write(std::string_view type, std::string_view line) {
  if (fd_ < 0) return;
  formatTime();
  // RFC 5424 §6: <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP
  // STRUCTURED-DATA [SP MSG]. PRI 30: facility daemon (3) * 8 + severity informational (6).
  message_.assign("<30>1 ");
  message_.append(time_);
  message_.append(prefix_host_);
  message_.append(type.substr(0, 32));  // §6.2.7: MSGID is at most 32 characters
  message_.append(" - ");
  message_.append(line);
  const ssize_t n = ::sendto(fd_, message_.data(), message_.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                             reinterpret_cast<const sockaddr*>(&addr_), addr_len_);
  if (n == static_cast<ssize_t>(message_.size())) {
    sent_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  dropped_.fetch_add(1, std::memory_order_relaxed);
  if (!error_reported_) {
    std::fprintf(stderr,
                 "smtpguard: events to %s: %s (such events are counted in "
                 "events.syslog_dropped; later ones are tried again)\n",
                 where_.c_str(), n < 0 ? std::strerror(errno) : "datagram cut short");
    error_reported_ = true;
  }
}

}  // namespace smtpguard
