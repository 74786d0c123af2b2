#include "events/redis_sink.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

namespace smtpguard {
namespace {

// A socket bound to a free loopback port, not yet listening: connections to it are refused
// until listen().
struct FakeRedis {
  int fd = -1;
  uint16_t port = 0;
  FakeRedis() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~FakeRedis() {
    if (fd >= 0) ::close(fd);
  }
};

SinkSpec specFor(uint16_t port) {
  SinkSpec s;
  std::string error;
  EXPECT_TRUE(parseSinkSpec("redis://127.0.0.1:" + std::to_string(port) + "/sg", s, error));
  return s;
}

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

// Test that when the connection dies in the middle of a pipelined batch, the events whose
// replies arrived are sent, an error reply is dropped, and every event after the last reply is
// dropped: sent + dropped = written.
TEST(RedisSink, ConnectionLostMidPipelineCountsByReply) {
  FakeRedis server;
  RedisSink sink(specFor(server.port));
  constexpr int kEvents = 10;
  for (int i = 0; i < kEvents; ++i)
    sink.write("smtp_flow", "{\"n\":" + std::to_string(i) + "}");  // queued: no Redis yet
  ASSERT_EQ(::listen(server.fd, 1), 0);
  const int c = ::accept(server.fd, nullptr, nullptr);
  ASSERT_GE(c, 0);
  // The whole batch arrives before any reply is read (pipelining).
  std::string got;
  char buf[4096];
  while (count(got, "XADD") < kEvents) {
    const ssize_t n = ::read(c, buf, sizeof buf);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_NE(got.find("$6\r\nMAXLEN\r\n$1\r\n~\r\n$6\r\n100000\r\n"), std::string::npos);
  EXPECT_NE(got.find("$10\r\nevent_type\r\n$9\r\nsmtp_flow\r\n$4\r\njson\r\n$7\r\n{\"n\":9}"),
            std::string::npos);
  // Four stored, the fifth refused, then the connection dies.
  const std::string replies =
      "$15\r\n1700000000000-0\r\n$15\r\n1700000000000-1\r\n$15\r\n1700000000000-2\r\n"
      "$15\r\n1700000000000-3\r\n-ERR something refused\r\n";
  ASSERT_EQ(::write(c, replies.data(), replies.size()), static_cast<ssize_t>(replies.size()));
  ::close(c);
  ::close(server.fd);  // no reconnection: close() gives up at once
  server.fd = -1;
  sink.close();
  EXPECT_EQ(sink.sent(), 4u);
  EXPECT_EQ(sink.dropped(), 6u);
}

// Test that with Redis away an event that does not fit the queue is dropped at once, and the
// queued ones are dropped at close: the counts add up, and nothing waits.
TEST(RedisSink, AwayFullQueueDropsAndCloseCountsTheRest) {
  FakeRedis server;  // never listens
  RedisSink sink(specFor(server.port), 4096);
  const std::string line(200, 'x');
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) sink.write("smtp_auth", line);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(100));
  EXPECT_EQ(sink.sent(), 0u);
  EXPECT_EQ(sink.dropped(), 100u - 4096 / 224);  // 8 + 9 + 200 -> 224 bytes an entry
  sink.close();
  EXPECT_EQ(sink.dropped(), 100u);
}

}  // namespace
}  // namespace smtpguard
