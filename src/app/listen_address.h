#pragma once
// --metrics-listen's ADDR:PORT, parsed where the command line is (no DPDK, no thread).

#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

namespace smtpguard {

// "127.0.0.1:9108", "[::1]:9108", "0.0.0.0:9108"; port 0 takes a free port (start-up says
// which). Numeric addresses only: nothing here waits for a resolver.
struct ListenAddress {
  sockaddr_storage addr{};
  socklen_t len = 0;
};
bool parseListenAddress(const std::string& text, ListenAddress& out, std::string& error);

}  // namespace smtpguard
