#include "events/event_writer.h"

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "events/event_render.h"
#include "events/json_builder.h"
#include "tests/common/event_fixture.h"

namespace smtpguard {
namespace {

EventRecord makeRecord() {
  EventRecord ev = sampleEventRecord(EventType::kSmtpAuth);
  ev.auth.mech = SmtpAuthMech::kPlain;
  return ev;
}

// Test that EVE timestamps carry microseconds and a numeric zone, truncating nanoseconds.
TEST(EventWriter, TimestampIsEveIso8601WithMicroseconds) {
  EXPECT_EQ(formatEveTimestamp(1767225600ull * 1000000000ull + 123456789ull),
            "2026-01-01T00:00:00.123456+0000");
}

std::vector<std::string> linesOf(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

// Test that a write the output refuses loses and counts only its own events, is reported once,
// and that later flushes try again and succeed; a line cut by the failure is ended so the next
// one parses. The refusal is a file size limit (RLIMIT_FSIZE), lifted afterwards.
TEST(EventWriter, FailedWriteIsCountedAndRetried) {
  std::signal(SIGXFSZ, SIG_IGN);
  char tmpl[] = "/tmp/event_writer_test.XXXXXX";
  close(mkstemp(tmpl));
  const std::string path = tmpl;
  const std::string line = renderEvent(makeRecord());
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  {
    EventWriter w;
    std::string error;
    ASSERT_TRUE(w.open(path, error)) << error;
    w.write(line);
    EXPECT_TRUE(w.flush());
    rlimit small = old;
    small.rlim_cur = line.size() + 1 + 10;  // room for the first line and 10 bytes more
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
    w.write(line);
    w.write(line);
    EXPECT_FALSE(w.flush());
    EXPECT_EQ(w.lost(), 2u);
    EXPECT_EQ(w.error(), "cannot write events to " + path + ": File too large");
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
    w.write(line);
    EXPECT_TRUE(w.flush()) << "written again once the output takes it";
    EXPECT_EQ(w.lost(), 2u);
    EXPECT_FALSE(w.close()) << "close reports that events were lost";
  }
  std::vector<std::string> lines = linesOf(path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], line);
  EXPECT_EQ(lines[1], line.substr(0, 10)) << "the cut line, ended";
  EXPECT_EQ(lines[2], line);
  std::filesystem::remove(path);
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
