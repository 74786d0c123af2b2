#include "app/ipfix_target.h"

#include <algorithm>
#include <cctype>

namespace smtpguard {

bool parseIpfixTarget(const std::string& text, IpfixTarget& out, std::string& error) {
  std::string rest = text;
  out = IpfixTarget{};
  if (rest.rfind("tcp://", 0) == 0) {
    out.tcp = true;
    rest = rest.substr(6);
  } else if (rest.rfind("udp://", 0) == 0) {
    rest = rest.substr(6);
  }
  const size_t colon = rest.rfind(':');
  std::string host = colon == std::string::npos ? "" : rest.substr(0, colon);
  const std::string port = colon == std::string::npos ? "" : rest.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  const bool digits =
      !port.empty() && port.size() <= 5 && std::all_of(port.begin(), port.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) != 0;
      });
  if (host.empty() || host.find_first_of("[]/ ") != std::string::npos || !digits ||
      std::stoul(port) == 0 || std::stoul(port) > 65535) {
    error = "--ipfix " + text +
            ": expected HOST:PORT (UDP), udp://HOST:PORT or tcp://HOST:PORT, e.g. "
            "127.0.0.1:4739 or tcp://[::1]:4739";
    return false;
  }
  out.host = host;
  out.port = port;
  return true;
}

}  // namespace smtpguard
