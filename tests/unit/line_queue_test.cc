#include "events/line_queue.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace smtpguard {
namespace {

// Test that entries come out in order with their type and line, and that release frees them.
TEST(LineQueue, FifoWithTypes) {
  LineQueue q(4096);
  EXPECT_TRUE(q.empty());
  ASSERT_TRUE(q.push("smtp_auth", "{\"a\":1}"));
  ASSERT_TRUE(q.push("smtp_flow", "{\"b\":22}"));
  LineQueue::Entry e[4];
  ASSERT_EQ(q.peek(e, 4), 2u);
  EXPECT_EQ(e[0].type, "smtp_auth");
  EXPECT_EQ(e[0].line, "{\"a\":1}");
  EXPECT_EQ(e[1].type, "smtp_flow");
  EXPECT_EQ(e[1].line, "{\"b\":22}");
  q.release(e[0]);
  ASSERT_EQ(q.peek(e, 4), 1u);
  EXPECT_EQ(e[0].line, "{\"b\":22}");
  q.release(e[0]);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.peek(e, 4), 0u);
}

// Test that a full queue refuses a push without changing what it holds, and takes entries
// again once the consumer releases some.
TEST(LineQueue, FullRefusesThenRecovers) {
  LineQueue q(256);
  const std::string line(40, 'x');  // 8 + 9 + 40 -> 64 bytes an entry
  int pushed = 0;
  while (q.push("smtp_flow", line)) ++pushed;
  EXPECT_EQ(pushed, 4);
  EXPECT_EQ(q.used(), 256u);
  LineQueue::Entry e[8];
  ASSERT_EQ(q.peek(e, 8), 4u);
  q.release(e[1]);  // two freed
  EXPECT_TRUE(q.push("smtp_auth", line));
  EXPECT_TRUE(q.push("smtp_auth", line));
  EXPECT_FALSE(q.push("smtp_auth", line));
  ASSERT_EQ(q.peek(e, 8), 4u);
  EXPECT_EQ(e[0].type, "smtp_flow");
  EXPECT_EQ(e[3].type, "smtp_auth");
}

// Test that an entry larger than the whole queue is refused, and one that does not fit before
// the end of the block wraps to its start intact.
TEST(LineQueue, OversizeAndWrap) {
  LineQueue q(256);
  EXPECT_FALSE(q.push("t", std::string(300, 'y')));
  LineQueue::Entry e[8];
  ASSERT_TRUE(q.push("t", std::string(100, 'a')));  // 112 bytes
  ASSERT_TRUE(q.push("t", std::string(100, 'b')));  // 224
  ASSERT_EQ(q.peek(e, 8), 2u);
  q.release(e[0]);
  // 32 bytes left before the end: the next entry goes to the start.
  ASSERT_TRUE(q.push("t", std::string(60, 'c')));
  ASSERT_EQ(q.peek(e, 8), 2u);
  EXPECT_EQ(e[0].line, std::string(100, 'b'));
  EXPECT_EQ(e[1].line, std::string(60, 'c'));
  q.release(e[1]);
  EXPECT_TRUE(q.empty());
}

// Test that a producer and a consumer on two threads pass 200,000 lines through a small queue
// in order, every refused push being retried (nothing lost, nothing duplicated).
TEST(LineQueue, TwoThreadsInOrder) {
  LineQueue q(1 << 12);
  constexpr int kLines = 200000;
  std::thread producer([&] {
    for (int i = 0; i < kLines; ++i) {
      const std::string line = "{\"n\":" + std::to_string(i) + "}";
      while (!q.push(i % 2 ? "odd" : "even", line)) std::this_thread::yield();
    }
  });
  int next = 0;
  bool ordered = true;
  LineQueue::Entry e[64];
  while (next < kLines) {
    const size_t n = q.peek(e, 64);
    for (size_t i = 0; i < n; ++i) {
      ordered = ordered && e[i].line == "{\"n\":" + std::to_string(next) + "}" &&
                e[i].type == (next % 2 ? "odd" : "even");
      ++next;
    }
    if (n > 0) {
      q.release(e[n - 1]);
    } else {
      std::this_thread::yield();
    }
  }
  producer.join();
  EXPECT_TRUE(ordered);
  EXPECT_EQ(next, kLines);
  EXPECT_TRUE(q.empty());
}

}  // namespace
}  // namespace smtpguard
