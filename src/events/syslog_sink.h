#pragma once
// --events syslog, syslog:///SOCKET, syslog://HOST:PORT: each event as one RFC 5424 message,
//   <30>1 2026-12-04T10:00:00.000000Z HOST smtpguard PID smtp_auth - {"timestamp":...}
// facility daemon, severity info, MSGID the event type, no structured data, the JSON line as
// MSG; one datagram each, to a Unix datagram socket (the local syslog daemon's /dev/log) or
// over UDP. Sent from the main lcore with MSG_DONTWAIT: a datagram the socket refuses (the
// daemon's queue full, no daemon listening) is dropped and counted (events.syslog_dropped),
// never waited for. A daemon absent at start is not an error: events are counted dropped
// until one listens. Control plane.

#include <sys/socket.h>

#include <string>

#include "events/event_sink.h"
#include "events/sink_spec.h"

namespace smtpguard {

class SyslogSink final : public EventSink {
 public:
  // Opens the socket (and resolves a UDP host); false with a one-line error if it cannot.
  bool open(const SinkSpec& spec, std::string& error);
  ~SyslogSink() override;

  void write(std::string_view type, std::string_view line) override;

 private:
  void formatTime();
  int fd_ = -1;
  sockaddr_storage addr_{};
  socklen_t addr_len_ = 0;
  std::string where_;
  std::string prefix_host_;  // " HOST smtpguard PID "
  std::string message_;      // reused: no allocation per event once grown
  long second_ = -1;         // the second formatted into time_
  char time_[40] = {};
  bool error_reported_ = false;
};

}  // namespace smtpguard
