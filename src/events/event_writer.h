#pragma once
// Renders event records as JSON lines whose common fields follow Suricata's EVE format
// (timestamp, flow_id, event_type, src_ip, src_port, dest_ip, dest_port, proto), so existing
// pipelines ingest them. Runs on the main lcore only.

#include <cstdio>
#include <string>

#include "events/event_record.h"

namespace smtpguard {

// ISO 8601 with microseconds and a numeric zone, as EVE writes it:
// 2026-01-01T00:00:00.000123+0000.
std::string formatEveTimestamp(uint64_t ts_ns);

// One line, without the trailing newline.
std::string renderEvent(const EventRecord& ev);

class EventWriter {
 public:
  EventWriter() = default;
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // "-" is standard output; empty means events are counted but not written.
  bool open(const std::string& path, std::string& error);
  void write(const EventRecord& ev);
  void flush();

 private:
  FILE* out_ = nullptr;
  bool owned_ = false;
};

}  // namespace smtpguard
