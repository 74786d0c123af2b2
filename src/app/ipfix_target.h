#pragma once
// Where --ipfix sends flow records: "HOST:PORT" or "udp://HOST:PORT" (UDP), "tcp://HOST:PORT"
// (TCP); HOST a name, an IPv4 address or a bracketed IPv6 address ([::1]:4739).

#include <string>

namespace smtpguard {

struct IpfixTarget {
  bool tcp = false;
  std::string host;
  std::string port;
};

bool parseIpfixTarget(const std::string& text, IpfixTarget& out, std::string& error);

}  // namespace smtpguard
