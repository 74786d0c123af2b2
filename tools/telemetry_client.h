#pragma once
// A client of DPDK's telemetry socket (v2: SOCK_SEQPACKET, one JSON answer per command), as
// smtpguardctl talks to a running smtpguard. No DPDK library: the protocol is a socket.

#include <string>

namespace smtpguard {

class TelemetryClient {
 public:
  TelemetryClient() = default;
  ~TelemetryClient();
  TelemetryClient(const TelemetryClient&) = delete;
  TelemetryClient& operator=(const TelemetryClient&) = delete;

  // `instance`: the EAL --file-prefix of the running smtpguard (its socket is
  // /var/run/dpdk/PREFIX/dpdk_telemetry.v2 for root, $XDG_RUNTIME_DIR/dpdk/PREFIX/... or
  // /tmp/dpdk/PREFIX/... otherwise), or a path to the socket itself. One-line error on failure.
  bool connect(const std::string& instance, std::string& error);
  // Sends `command` and returns the answer's JSON text; one-line error on failure.
  bool request(const std::string& command, std::string& answer, std::string& error);
  const std::string& socketPath() const { return path_; }

 private:
  int fd_ = -1;
  size_t max_output_ = 16384;
  std::string path_;
};

// Where the socket of `prefix` is, as DPDK's EAL puts it for this user.
std::string telemetrySocketPath(const std::string& prefix);

}  // namespace smtpguard
