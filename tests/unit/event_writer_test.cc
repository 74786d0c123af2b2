#include "events/event_writer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "events/json_builder.h"

namespace smtpguard {
namespace {

EventRecord makeRecord() {
  EventRecord ev{};
  ev.ts_ns = 1767225600ull * 1000000000ull + 123456789ull;  // 2026-01-01T00:00:00.123456789Z
  ev.flow_id = 42;
  const uint8_t src[4] = {100, 64, 0, 7}, dst[4] = {198, 19, 0, 1};
  ev.src = IpAddr::fromV4(src);
  ev.dst = IpAddr::fromV4(dst);
  ev.src_port = 40000;
  ev.dst_port = 25;
  ev.type = EventType::kSmtpAnomaly;
  return ev;
}

// Test that EVE timestamps carry microseconds and a numeric zone, truncating nanoseconds.
TEST(EventWriter, TimestampIsEveIso8601WithMicroseconds) {
  EXPECT_EQ(formatEveTimestamp(1767225600ull * 1000000000ull + 123456789ull),
            "2026-01-01T00:00:00.123456+0000");
}

// Test that the common EVE fields come first and the body follows inside the same object.
TEST(EventWriter, RendersCommonFieldsThenBody) {
  EventRecord ev = makeRecord();
  JsonBuilder b(ev.body, sizeof ev.body);
  b.beginObject("smtp_anomaly").str("name", "starttls_injection").endObject();
  ev.body_len = static_cast<uint16_t>(b.size());
  EXPECT_EQ(renderEvent(ev),
            "{\"timestamp\":\"2026-01-01T00:00:00.123456+0000\",\"flow_id\":42,"
            "\"event_type\":\"smtp_anomaly\",\"src_ip\":\"100.64.0.7\",\"src_port\":40000,"
            "\"dest_ip\":\"198.19.0.1\",\"dest_port\":25,\"proto\":\"TCP\","
            "\"smtp_anomaly\":{\"name\":\"starttls_injection\"}}");
}

// Test that hostile bytes (quotes, newlines, non-ASCII) are escaped, never break the line.
TEST(JsonBuilder, EscapesHostileStrings) {
  char buf[128];
  JsonBuilder b(buf, sizeof buf);
  b.str("helo", std::string_view("a\"b\\c\r\nd\xff\x01", 10));
  EXPECT_EQ(b.view(), "\"helo\":\"a\\\"b\\\\c\\u000d\\u000ad\\u00ff\\u0001\"");
  EXPECT_FALSE(b.truncated());
}

// Test that a member that does not fit is dropped whole and the fragment stays valid JSON.
TEST(JsonBuilder, DropsWholeMemberOnOverflowAndClosesObjects) {
  char buf[40];
  JsonBuilder b(buf, sizeof buf);
  b.beginObject("tls").str("sni", "mail.example.test").str("ja3", std::string(64, 'x'));
  b.num("n", 7).endObject();
  EXPECT_TRUE(b.truncated());
  EXPECT_EQ(b.view(), "\"tls\":{\"sni\":\"mail.example.test\",\"n\":7}");
}

// Test that arrays render and booleans/numbers are bare.
TEST(JsonBuilder, ArraysNumbersBooleans) {
  char buf[128];
  JsonBuilder b(buf, sizeof buf);
  const char* ext[] = {"STARTTLS", "PIPELINING"};
  b.strArray("extensions", 2, [&](size_t i) { return std::string_view(ext[i]); })
      .boolean("tls", true)
      .num("messages", 3);
  EXPECT_EQ(b.view(), "\"extensions\":[\"STARTTLS\",\"PIPELINING\"],\"tls\":true,\"messages\":3");
}

// Test that an object opened when there is no room swallows its members and close.
TEST(JsonBuilder, ObjectWithoutRoomIsSkippedEntirely) {
  char buf[16];
  JsonBuilder b(buf, sizeof buf);
  b.num("a", 1).beginObject("long_object_name").str("x", "y").endObject().num("b", 2);
  EXPECT_TRUE(b.truncated());
  EXPECT_EQ(b.view(), "\"a\":1,\"b\":2");
}

}  // namespace
}  // namespace smtpguard
