#pragma once
// One event record the event tests share: flow 42 from 100.64.0.7:40000 to 198.19.0.1:25 at
// 2026-01-01T00:00:00.123456789Z, the type given and every type-specific field zero (the
// renderers' expected lines in tests/unit/event_render_test.cc start from these values).
// Test code only.

#include <cstring>

#include "events/event_record.h"

namespace smtpguard {

inline EventRecord sampleEventRecord(EventType type) {
  EventRecord ev;
  std::memset(&ev, 0, sizeof ev);
  ev.ts_ns = 1767225600ull * 1000000000ull + 123456789ull;  // 2026-01-01T00:00:00.123456789Z
  ev.flow_id = 42;
  const uint8_t src[4] = {100, 64, 0, 7}, dst[4] = {198, 19, 0, 1};
  ev.src = IpAddr::fromV4(src);
  ev.dst = IpAddr::fromV4(dst);
  ev.src_port = 40000;
  ev.dst_port = 25;
  ev.type = type;
  return ev;
}

}  // namespace smtpguard
