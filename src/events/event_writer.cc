#include "events/event_writer.h"

#include <cerrno>
#include <cstring>
#include <ctime>

namespace smtpguard {

std::string formatEveTimestamp(uint64_t ts_ns) {
  time_t secs = static_cast<time_t>(ts_ns / 1000000000ull);
  unsigned usec = static_cast<unsigned>((ts_ns % 1000000000ull) / 1000u);
  tm t{};
  gmtime_r(&secs, &t);
  char buf[48];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
  std::snprintf(buf + n, sizeof buf - n, ".%06u+0000", usec);
  return buf;
}

std::string renderEvent(const EventRecord& ev) {
  char src[64], dst[64];
  formatIp(ev.src, src, sizeof src);
  formatIp(ev.dst, dst, sizeof dst);
  std::string line;
  line.reserve(256 + ev.body_len);
  line += "{\"timestamp\":\"" + formatEveTimestamp(ev.ts_ns) + "\"";
  line += ",\"flow_id\":" + std::to_string(ev.flow_id);
  line += ",\"event_type\":\"";
  line += eventTypeName(ev.type);
  line += "\",\"src_ip\":\"";
  line += src;
  line += "\",\"src_port\":" + std::to_string(ev.src_port);
  line += ",\"dest_ip\":\"";
  line += dst;
  line += "\",\"dest_port\":" + std::to_string(ev.dst_port);
  line += ",\"proto\":\"TCP\"";
  if (ev.body_len > 0) {
    line += ',';
    line.append(ev.body, ev.body_len < sizeof ev.body ? ev.body_len : sizeof ev.body);
  }
  line += '}';
  return line;
}

EventWriter::~EventWriter() {
  if (out_ != nullptr) std::fflush(out_);
  if (owned_ && out_ != nullptr) std::fclose(out_);
}

bool EventWriter::open(const std::string& path, std::string& error) {
  if (path.empty()) return true;
  if (path == "-") {
    out_ = stdout;
    return true;
  }
  out_ = std::fopen(path.c_str(), "w");
  if (out_ == nullptr) {
    error = "cannot write events to " + path + ": " + std::strerror(errno);
    return false;
  }
  owned_ = true;
  return true;
}

void EventWriter::write(const EventRecord& ev) {
  if (out_ == nullptr) return;
  std::string line = renderEvent(ev);
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), out_);
}

void EventWriter::flush() {
  if (out_ != nullptr) std::fflush(out_);
}

}  // namespace smtpguard
