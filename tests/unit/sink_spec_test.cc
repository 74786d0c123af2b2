#include "events/sink_spec.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace smtpguard {
namespace {

SinkSpec parsed(const std::string& text) {
  SinkSpec s;
  std::string error;
  EXPECT_TRUE(parseSinkSpec(text, s, error)) << text << ": " << error;
  return s;
}

std::string errorOf(const std::string& text) {
  SinkSpec s;
  std::string error;
  EXPECT_FALSE(parseSinkSpec(text, s, error)) << text;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  return error;
}

// Test that a Redis URL gives host, port, stream and the default trim length.
TEST(SinkSpec, RedisUrlWithDefaults) {
  const SinkSpec s = parsed("redis://127.0.0.1:6380/smtpguard:events");
  EXPECT_EQ(s.kind, SinkKind::kRedis);
  EXPECT_EQ(s.host, "127.0.0.1");
  EXPECT_EQ(s.port, 6380);
  EXPECT_EQ(s.stream, "smtpguard:events");
  EXPECT_EQ(s.maxlen, kDefaultRedisMaxlen);
}

// Test that ?maxlen=N sets the trim length, the port defaults to 6379 and IPv6 literals lose
// their brackets.
TEST(SinkSpec, RedisMaxlenDefaultPortAndIpv6) {
  const SinkSpec a = parsed("redis://redis.example:6379/eve?maxlen=5000");
  EXPECT_EQ(a.maxlen, 5000u);
  const SinkSpec b = parsed("redis://[::1]/eve");
  EXPECT_EQ(b.host, "::1");
  EXPECT_EQ(b.port, 6379);
  EXPECT_EQ(b.stream, "eve");
}

// Test that each malformed Redis URL is refused with a line naming the problem.
TEST(SinkSpec, RedisUrlErrors) {
  EXPECT_NE(errorOf("redis://127.0.0.1:6379").find("stream"), std::string::npos);
  EXPECT_NE(errorOf("redis://127.0.0.1:6379/").find("stream"), std::string::npos);
  EXPECT_NE(errorOf("redis://:6379/eve").find("host"), std::string::npos);
  EXPECT_NE(errorOf("redis://h:0/eve").find("port"), std::string::npos);
  EXPECT_NE(errorOf("redis://h:65536/eve").find("port"), std::string::npos);
  EXPECT_NE(errorOf("redis://h:6379x/eve").find("port"), std::string::npos);
  EXPECT_NE(errorOf("redis://h:6379/eve?maxlen=0").find("maxlen"), std::string::npos);
  EXPECT_NE(errorOf("redis://h:6379/eve?maxlen=abc").find("maxlen"), std::string::npos);
  EXPECT_NE(errorOf("redis://h:6379/eve?max=5").find("maxlen"), std::string::npos);
  EXPECT_NE(errorOf("redis://h:6379/a b").find("stream"), std::string::npos);
  EXPECT_NE(errorOf("redis://[::1/eve").find("]"), std::string::npos);
  EXPECT_NE(errorOf("rediss://h:6379/eve").find("TLS"), std::string::npos);
}

// Test the three syslog forms: the local socket, another Unix socket, UDP.
TEST(SinkSpec, SyslogForms) {
  const SinkSpec local = parsed("syslog");
  EXPECT_EQ(local.kind, SinkKind::kSyslogUnix);
  EXPECT_EQ(local.path, "/dev/log");
  const SinkSpec unix_path = parsed("syslog:///run/test/log.sock");
  EXPECT_EQ(unix_path.kind, SinkKind::kSyslogUnix);
  EXPECT_EQ(unix_path.path, "/run/test/log.sock");
  const SinkSpec udp = parsed("syslog://198.18.0.1:514");
  EXPECT_EQ(udp.kind, SinkKind::kSyslogUdp);
  EXPECT_EQ(udp.host, "198.18.0.1");
  EXPECT_EQ(udp.port, 514);
  EXPECT_NE(errorOf("syslog://198.18.0.1").find("port"), std::string::npos);
  EXPECT_NE(errorOf("syslog://").find("syslog"), std::string::npos);
}

// Test that a file name is a file, "-" is standard output, and an unknown scheme is an error
// rather than a file called "kafka:".
TEST(SinkSpec, FilesAndUnknownSchemes) {
  EXPECT_EQ(parsed("/var/log/smtpguard/eve.json").kind, SinkKind::kFile);
  EXPECT_EQ(parsed("-").path, "-");
  EXPECT_EQ(parsed("syslog.json").kind, SinkKind::kFile);
  EXPECT_FALSE(isSinkUrl("eve.json"));
  EXPECT_TRUE(isSinkUrl("syslog"));
  EXPECT_TRUE(isSinkUrl("kafka://broker:9092/t"));
  EXPECT_NE(errorOf("kafka://broker:9092/t").find("kafka"), std::string::npos);
  EXPECT_NE(errorOf("").find("empty"), std::string::npos);
}

// Test that a set of sinks takes one of each kind and refuses a second of any.
TEST(SinkSpec, OneOfEachKind) {
  std::vector<SinkSpec> sinks;
  std::string error;
  EXPECT_TRUE(addSinkSpec(sinks, "eve.json", error));
  EXPECT_TRUE(addSinkSpec(sinks, "redis://127.0.0.1:6379/eve", error));
  EXPECT_TRUE(addSinkSpec(sinks, "syslog", error));
  EXPECT_EQ(sinks.size(), 3u);
  EXPECT_FALSE(addSinkSpec(sinks, "other.json", error));
  EXPECT_NE(error.find("one"), std::string::npos);
  EXPECT_FALSE(addSinkSpec(sinks, "syslog://198.18.0.1:514", error));
  EXPECT_FALSE(addSinkSpec(sinks, "redis://127.0.0.1:6379/b", error));
  EXPECT_FALSE(addSinkSpec(sinks, "redis://", error));
  EXPECT_EQ(sinks.size(), 3u);
}

}  // namespace
}  // namespace smtpguard
