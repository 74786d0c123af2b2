#include "events/sink_spec.h"

#include <algorithm>
#include <cctype>

namespace smtpguard {

namespace {

bool parseNumber(std::string_view s, uint64_t max, uint64_t& out) {
  if (s.empty() || s.size() > 15) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > max) return false;
  out = v;
  return true;
}

// HOST[:PORT] with HOST a name, an IPv4 address or a bracketed IPv6 literal.
bool parseHostPort(std::string_view hp, bool port_required, uint16_t default_port,
                   const std::string& quoted, SinkSpec& out, std::string& error) {
  std::string_view host, port;
  if (!hp.empty() && hp[0] == '[') {
    const size_t close = hp.find(']');
    if (close == std::string_view::npos) {
      error = quoted + ": an IPv6 address needs its closing ']' ([::1]:6379)";
      return false;
    }
    host = hp.substr(1, close - 1);
    std::string_view rest = hp.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') {
        error = quoted + ": expected ':PORT' after the IPv6 address";
        return false;
      }
      port = rest.substr(1);
      if (port.empty()) port = "x";  // "[::1]:" names no port: refused below
    }
  } else {
    const size_t colon = hp.rfind(':');
    host = hp.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = hp.substr(colon + 1);
      if (port.empty()) port = "x";
    }
  }
  if (host.empty()) {
    error = quoted + ": no host";
    return false;
  }
  uint64_t p = default_port;
  if (port.empty() && port_required) {
    error = quoted + ": no port (HOST:PORT)";
    return false;
  }
  if (!port.empty() && (!parseNumber(port, 65535, p) || p == 0)) {
    error = quoted + ": '" + std::string(port) + "' is not a port (1 to 65535)";
    return false;
  }
  out.host = std::string(host);
  out.port = static_cast<uint16_t>(p);
  return true;
}

bool streamChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.' ||
         c == ':' || c == '{' || c == '}';
}

bool parseRedis(std::string_view rest, const std::string& quoted, SinkSpec& out,
                std::string& error) {
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) {
    error = quoted + ": no stream (redis://HOST:PORT/STREAM)";
    return false;
  }
  if (!parseHostPort(rest.substr(0, slash), false, 6379, quoted, out, error)) return false;
  std::string_view path = rest.substr(slash + 1);
  std::string_view query;
  const size_t q = path.find('?');
  if (q != std::string_view::npos) {
    query = path.substr(q + 1);
    path = path.substr(0, q);
  }
  if (path.empty() || path.size() > 256 || !std::all_of(path.begin(), path.end(), streamChar)) {
    error = quoted + ": '" + std::string(path) +
            "' is not a stream name (letters, digits and _ - . : { }, at most 256)";
    return false;
  }
  out.stream = std::string(path);
  if (!query.empty()) {
    constexpr std::string_view kMaxlen = "maxlen=";
    uint64_t n = 0;
    if (query.substr(0, kMaxlen.size()) != kMaxlen) {
      error = quoted + ": unknown parameter '" + std::string(query) + "' (only ?maxlen=N)";
      return false;
    }
    if (!parseNumber(query.substr(kMaxlen.size()), kMaxRedisMaxlen, n) || n == 0) {
      error = quoted + ": maxlen must be a number of entries from 1 to " +
              std::to_string(kMaxRedisMaxlen);
      return false;
    }
    out.maxlen = n;
  }
  return true;
}

const char* kindName(SinkKind k) {
  switch (k) {
    case SinkKind::kFile:
      return "events file";
    case SinkKind::kRedis:
      return "Redis stream";
    case SinkKind::kSyslogUnix:
    case SinkKind::kSyslogUdp:
      return "syslog";
  }
  return "sink";
}

}  // namespace

bool isSinkUrl(std::string_view text) {
  return text == "syslog" || text.find("://") != std::string_view::npos;
}

bool parseSinkSpec(std::string_view text, SinkSpec& out, std::string& error) {
  out = SinkSpec{};
  out.text = std::string(text);
  const std::string quoted = "--events '" + std::string(text) + "'";
  if (text.empty()) {
    error = "--events: empty value (a file, -, redis://HOST:PORT/STREAM or syslog)";
    return false;
  }
  if (!isSinkUrl(text)) {
    out.kind = SinkKind::kFile;
    out.path = std::string(text);
    return true;
  }
  if (text == "syslog") {
    out.kind = SinkKind::kSyslogUnix;
    out.path = kDefaultSyslogSocket;
    return true;
  }
  const size_t sep = text.find("://");
  const std::string_view scheme = text.substr(0, sep);
  const std::string_view rest = text.substr(sep + 3);
  if (scheme == "redis") {
    out.kind = SinkKind::kRedis;
    return parseRedis(rest, quoted, out, error);
  }
  if (scheme == "rediss") {
    error = quoted +
            ": TLS to Redis (rediss://) is not supported; use redis:// to a local "
            "TLS tunnel (stunnel, spiped)";
    return false;
  }
  if (scheme == "syslog") {
    if (!rest.empty() && rest[0] == '/') {
      out.kind = SinkKind::kSyslogUnix;
      out.path = std::string(rest);
      return true;
    }
    if (rest.empty()) {
      error = quoted + ": expected syslog, syslog:///SOCKET or syslog://HOST:PORT";
      return false;
    }
    out.kind = SinkKind::kSyslogUdp;
    return parseHostPort(rest, true, 0, quoted, out, error);
  }
  error = quoted + ": unknown scheme '" + std::string(scheme) +
          "' (a file, -, redis://HOST:PORT/STREAM, syslog or syslog://HOST:PORT)";
  return false;
}

bool addSinkSpec(std::vector<SinkSpec>& sinks, std::string_view text, std::string& error) {
  SinkSpec s;
  if (!parseSinkSpec(text, s, error)) return false;
  const bool is_syslog = s.kind == SinkKind::kSyslogUnix || s.kind == SinkKind::kSyslogUdp;
  for (const SinkSpec& o : sinks) {
    const bool other_syslog = o.kind == SinkKind::kSyslogUnix || o.kind == SinkKind::kSyslogUdp;
    if (o.kind == s.kind || (is_syslog && other_syslog)) {
      error = "--events '" + s.text + "': one " + kindName(s.kind) + " at most ('" + o.text +
              "' is one already)";
      return false;
    }
  }
  sinks.push_back(std::move(s));
  return true;
}

}  // namespace smtpguard
