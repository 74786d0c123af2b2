#include "app/listen_address.h"

#include <arpa/inet.h>

#include <cstdlib>

namespace smtpguard {

bool parseListenAddress(const std::string& text, ListenAddress& out, std::string& error) {
  auto bad = [&](const char* why) {
    error = "--metrics-listen " + text + ": " + why +
            " (expected ADDR:PORT, e.g. 127.0.0.1:9108 or [::1]:9108)";
    return false;
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return bad("no port");
  std::string host = text.substr(0, colon);
  const std::string port_text = text.substr(colon + 1);
  char* end = nullptr;
  const unsigned long port = std::strtoul(port_text.c_str(), &end, 10);
  if (port_text.empty() || *end != '\0' || port > 65535 ||
      port_text.find_first_not_of("0123456789") != std::string::npos)
    return bad("the port is not a number from 0 to 65535");
  out = ListenAddress{};
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&out.addr);
    if (inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) != 1)
      return bad("not a numeric IPv6 address");
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port));
    out.len = sizeof *a6;
    return true;
  }
  auto* a4 = reinterpret_cast<sockaddr_in*>(&out.addr);
  if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) != 1)
    return bad("not a numeric IPv4 address (IPv6 goes in brackets)");
  a4->sin_family = AF_INET;
  a4->sin_port = htons(static_cast<uint16_t>(port));
  out.len = sizeof *a4;
  return true;
}

}  // namespace smtpguard
