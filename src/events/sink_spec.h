#pragma once
// Where events go: the --events values (smtpguard(8), docs/events.md "Sinks"). A value is a
// file ("-": standard output) or a bus URL:
//   redis://HOST:PORT/STREAM[?maxlen=N]   XADD to a Redis stream, trimmed MAXLEN ~ N
//   syslog                                RFC 5424 datagrams to the local /dev/log
//   syslog:///PATH                        ... to the Unix datagram socket PATH
//   syslog://HOST:PORT                    ... over UDP
// Pure parsing, no I/O: the command line, the configuration file and the tests share it.
// Control plane.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace smtpguard {

enum class SinkKind : uint8_t { kFile, kRedis, kSyslogUnix, kSyslogUdp };

inline constexpr uint64_t kDefaultRedisMaxlen = 100000;
inline constexpr uint64_t kMaxRedisMaxlen = uint64_t{1} << 40;
inline constexpr const char* kDefaultSyslogSocket = "/dev/log";
// At most one sink of each kind: one file (or standard output), one Redis stream, one syslog.
inline constexpr size_t kMaxEventSinks = 3;

struct SinkSpec {
  SinkKind kind = SinkKind::kFile;
  std::string text;    // as given, for messages
  std::string path;    // kFile: the file ("-": standard output); kSyslogUnix: the socket
  std::string host;    // kRedis, kSyslogUdp (brackets of an IPv6 literal removed)
  uint16_t port = 0;   // kRedis, kSyslogUdp
  std::string stream;  // kRedis: the stream's key
  uint64_t maxlen = kDefaultRedisMaxlen;  // kRedis
};

// True when `text` names a bus (a URL this parser owns), false for a file name. A value with a
// scheme ("xyz://") is a URL, so a mistyped scheme is an error rather than a file of that name.
bool isSinkUrl(std::string_view text);

// Parses one --events value. On failure returns false with `error` one line naming the value,
// what was expected and, where it helps, the fix.
bool parseSinkSpec(std::string_view text, SinkSpec& out, std::string& error);

// Adds `text` to a set of --events values, keeping at most one sink of each kind; the same
// one-line error otherwise.
bool addSinkSpec(std::vector<SinkSpec>& sinks, std::string_view text, std::string& error);

}  // namespace smtpguard
