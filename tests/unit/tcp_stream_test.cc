#include "flow/tcp_stream.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace smtpguard {
namespace {

// A stream with its pool and counters, collecting what it delivers; "[gap N]" marks holes.
struct Fixture {
  explicit Fixture(uint32_t pool_size = 4) : pool(pool_size) {}

  auto deliver() {
    return [this](Bytes b) { out.append(reinterpret_cast<const char*>(b.data()), b.size()); };
  }
  auto gap() {
    return [this](uint32_t n) { out += "[gap " + std::to_string(n) + "]"; };
  }
  void seg(uint32_t seq, std::string_view payload, uint8_t flags = kTcpAck) {
    const Bytes bytes(reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
    stream.onSegment({seq, flags, bytes}, pool, counters, deliver(), gap());
  }
  uint64_t count(Counter c) const { return counters.get(c); }

  ObjectPool<OooBuffer> pool;
  CounterBlock counters;
  TcpStream stream;
  std::string out;
};

// Test that in-order segments after the SYN are delivered as they come.
TEST(TcpStream, DeliversInOrderAfterSyn) {
  Fixture f;
  f.seg(100, "", kTcpSyn);
  EXPECT_TRUE(f.stream.synced());
  EXPECT_EQ(f.stream.nextSeq(), 101u);
  f.seg(101, "EHLO ");
  f.seg(106, "x\r\n");
  EXPECT_EQ(f.out, "EHLO x\r\n");
  EXPECT_EQ(f.stream.nextSeq(), 109u);
  EXPECT_EQ(f.count(Counter::kTcpRetransmit), 0u);
  EXPECT_EQ(f.count(Counter::kTcpOutOfOrder), 0u);
}

// Test that data carried on the SYN (TCP Fast Open) starts after the SYN's sequence number.
TEST(TcpStream, SynPayloadFollowsSynSequenceNumber) {
  Fixture f;
  f.seg(100, "EHLO", kTcpSyn);
  f.seg(105, " x");
  EXPECT_EQ(f.out, "EHLO x");
}

// Test that a line split over several segments arrives whole and once.
TEST(TcpStream, SplitSegmentsConcatenate) {
  Fixture f;
  f.seg(0, "", kTcpSyn);
  const std::string line = "MAIL FROM:<a@example.org>\r\n";
  for (size_t i = 0; i < line.size(); ++i) f.seg(static_cast<uint32_t>(1 + i), line.substr(i, 1));
  EXPECT_EQ(f.out, line);
}

// Test that an exact retransmission is dropped and counted.
TEST(TcpStream, DuplicateDeliveredOnce) {
  Fixture f;
  f.seg(0, "", kTcpSyn);
  f.seg(1, "QUIT\r\n");
  f.seg(1, "QUIT\r\n");
  EXPECT_EQ(f.out, "QUIT\r\n");
  EXPECT_EQ(f.count(Counter::kTcpRetransmit), 1u);
}

// Test that a retransmission overlapping delivered data delivers only its new tail.
TEST(TcpStream, OverlapWithDeliveredDataIsTrimmed) {
  Fixture f;
  f.seg(0, "", kTcpSyn);
  f.seg(1, "RCPT TO:");
  f.seg(6, "TO:<b@x>\r\n");  // repacketised retransmission: 3 old bytes, 7 new
  EXPECT_EQ(f.out, "RCPT TO:<b@x>\r\n");
  EXPECT_EQ(f.count(Counter::kTcpRetransmit), 1u);
}

// Test that out-of-order segments overlapping held data on either side keep the first copy and
// fill the rest.
TEST(TcpStream, OverlapWithHeldDataOnBothSides) {
  Fixture f;
  f.seg(0, "", kTcpSyn);
  f.seg(11, "KLMNO");  // held [11, 16)
  f.seg(8, "hijKL");   // overlaps the front of the held range: [8, 11) is new
  f.seg(14, "noPQR");  // overlaps the back: [16, 19) is new
  f.seg(9, "ijKLM");   // entirely held: a retransmission
  EXPECT_EQ(f.out, "");
  EXPECT_EQ(f.count(Counter::kTcpOutOfOrder), 4u);
  EXPECT_EQ(f.count(Counter::kTcpRetransmit), 1u);
  f.seg(1, "abcdefgh");  // fills the hole and covers the first held byte
  EXPECT_EQ(f.out, "abcdefghijKLMNOPQR");
  EXPECT_EQ(f.stream.nextSeq(), 19u);
  EXPECT_FALSE(f.stream.holding());
  EXPECT_EQ(f.pool.inUse(), 0u);
}

// Test that segments arriving in reverse order are held and delivered once the first arrives,
// and the buffer goes back to the pool as soon as it drains.
TEST(TcpStream, ReordersWithinBuffer) {
  Fixture f;
  f.seg(1000, "", kTcpSyn);
  f.seg(1009, "three");
  f.seg(1005, "two ");
  EXPECT_TRUE(f.stream.holding());
  EXPECT_EQ(f.pool.inUse(), 1u);
  f.seg(1001, "one ");
  EXPECT_EQ(f.out, "one two three");
  EXPECT_EQ(f.count(Counter::kTcpOutOfOrder), 2u);
  EXPECT_EQ(f.count(Counter::kTcpDesync), 0u);
  EXPECT_FALSE(f.stream.holding());
  EXPECT_EQ(f.pool.inUse(), 0u);
}

// Test that a filled hole with another hole behind it delivers up to the second hole and keeps
// the rest held.
TEST(TcpStream, PartialDrainKeepsLaterRanges) {
  Fixture f;
  f.seg(0, "", kTcpSyn);
  f.seg(3, "cd");
  f.seg(7, "gh");
  f.seg(1, "ab");
  EXPECT_EQ(f.out, "abcd");
  EXPECT_TRUE(f.stream.holding());
  f.seg(5, "ef");
  EXPECT_EQ(f.out, "abcdefgh");
  EXPECT_FALSE(f.stream.holding());
}

// Test that more disjoint ranges than the buffer holds desynchronise the stream: the held data
// and the new segment are delivered in order with each hole reported.
TEST(TcpStream, TooManyRangesDesyncsWithGap) {
  Fixture f;
  f.seg(0, "", kTcpSyn);
  f.seg(3, "B");
  f.seg(5, "C");
  f.seg(7, "D");
  f.seg(9, "E");
  EXPECT_EQ(f.out, "");
  f.seg(11, "F");  // a fifth range
  EXPECT_EQ(f.out, "[gap 2]B[gap 1]C[gap 1]D[gap 1]E[gap 1]F");
  EXPECT_EQ(f.count(Counter::kTcpDesync), 1u);
  EXPECT_EQ(f.stream.nextSeq(), 12u);
  EXPECT_EQ(f.pool.inUse(), 0u);
  f.seg(12, "G\r\n");
  f.seg(1, "A?");  // the hole's bytes arriving late are old now
  EXPECT_EQ(f.out, "[gap 2]B[gap 1]C[gap 1]D[gap 1]E[gap 1]FG\r\n");
}

// Test that a segment too far ahead for the window skips the stream to it.
TEST(TcpStream, BeyondWindowSkipsAhead) {
  Fixture f;
  f.seg(0, "", kTcpSyn);
  f.seg(1, "ab");
  f.seg(3 + kOooMaxBytes, "z");
  EXPECT_EQ(f.out, "ab[gap 4096]z");
  EXPECT_EQ(f.count(Counter::kTcpDesync), 1u);
  EXPECT_EQ(f.stream.nextSeq(), 4100u);
}

// Test that running out of pooled buffers desynchronises instead of failing.
TEST(TcpStream, PoolExhaustionDesyncs) {
  Fixture f(0);
  f.seg(0, "", kTcpSyn);
  f.seg(5, "late");
  EXPECT_EQ(f.out, "[gap 4]late");
  EXPECT_EQ(f.count(Counter::kPoolExhausted), 1u);
  EXPECT_EQ(f.count(Counter::kTcpDesync), 1u);
}

// Test that sequence numbers wrap at 2^32: in order, held and retransmitted across the wrap.
TEST(TcpStream, SequenceWrapsAround) {
  Fixture f;
  f.seg(0xfffffff8u, "", kTcpSyn);
  f.seg(0xfffffff9u, "abcd");    // up to 0xfffffffc
  f.seg(0x00000001u, "ijkl");    // after the wrap, held
  f.seg(0xfffffffdu, "efgh");    // 0xfffffffd..0x00000000 fills the hole
  f.seg(0xfffffffbu, "cdefgh");  // retransmission straddling the wrap
  EXPECT_EQ(f.out, "abcdefghijkl");
  EXPECT_EQ(f.stream.nextSeq(), 5u);
  EXPECT_EQ(f.count(Counter::kTcpRetransmit), 1u);
  EXPECT_EQ(f.count(Counter::kTcpOutOfOrder), 1u);
}

// Test that serial comparisons hold across the wrap.
TEST(TcpStream, SerialArithmetic) {
  EXPECT_TRUE(seqLt(0xffffffffu, 0));
  EXPECT_TRUE(seqGt(5, 0xfffffff0u));
  EXPECT_TRUE(seqLeq(7, 7));
  EXPECT_TRUE(seqLt(0, 0x7fffffffu));
  EXPECT_TRUE(seqGeq(0x7fffffffu, 0));
}

// Test that a stream picked up mid-stream starts at the first segment seen.
TEST(TcpStream, MidstreamFirstSegmentSetsNextSeq) {
  Fixture f;
  EXPECT_FALSE(f.stream.synced());
  f.seg(123456, "250 OK\r\n");
  EXPECT_TRUE(f.stream.synced());
  f.seg(123464, "250 more\r\n");
  f.seg(123450, "zzzzzz250 OK");  // data from before the pickup is old
  EXPECT_EQ(f.out, "250 OK\r\n250 more\r\n");
}

// Test that the FIN consumes one sequence number and its retransmission is harmless.
TEST(TcpStream, FinConsumesSequenceNumber) {
  Fixture f;
  f.seg(0, "", kTcpSyn);
  f.seg(1, "221 bye\r\n", kTcpAck | kTcpFin);
  EXPECT_EQ(f.stream.nextSeq(), 11u);
  f.seg(1, "221 bye\r\n", kTcpAck | kTcpFin);
  f.seg(10, "", kTcpAck | kTcpFin);
  EXPECT_EQ(f.stream.nextSeq(), 11u);
  EXPECT_EQ(f.out, "221 bye\r\n");
}

// Test that a FIN with data already held beyond it is not consumed, so held data stays aligned.
TEST(TcpStream, FinBeforeHeldDataIsIgnored) {
  Fixture f;
  f.seg(0, "", kTcpSyn);
  f.seg(6, "fg");
  f.seg(1, "abcd", kTcpAck | kTcpFin);
  EXPECT_EQ(f.stream.nextSeq(), 5u);
  f.seg(5, "e");
  EXPECT_EQ(f.out, "abcdefg");
  EXPECT_EQ(f.stream.nextSeq(), 8u);
}

// Test that a RST delivers nothing, even with a payload.
TEST(TcpStream, RstCarriesNoData) {
  Fixture f;
  f.seg(0, "", kTcpSyn);
  f.seg(1, "reset text", kTcpRst);
  EXPECT_EQ(f.out, "");
  EXPECT_EQ(f.stream.nextSeq(), 1u);
}

// Test that flush delivers what is held behind a hole that will never fill, and frees the
// buffer.
TEST(TcpStream, FlushDeliversHeldDataAfterGap) {
  Fixture f;
  f.seg(0, "", kTcpSyn);
  f.seg(1, "HELO a\r\n");
  f.seg(15, "QUIT\r\n");
  f.stream.flush(f.pool, f.deliver(), f.gap());
  EXPECT_EQ(f.out, "HELO a\r\n[gap 6]QUIT\r\n");
  EXPECT_EQ(f.pool.inUse(), 0u);
  EXPECT_EQ(f.stream.nextSeq(), 21u);
}

// Test that reset forgets the sequence space and returns the buffer.
TEST(TcpStream, ResetForgetsEverything) {
  Fixture f;
  f.seg(0, "", kTcpSyn);
  f.seg(10, "held");
  f.stream.reset(f.pool);
  EXPECT_FALSE(f.stream.synced());
  EXPECT_EQ(f.pool.inUse(), 0u);
  f.seg(500, "", kTcpSyn);
  f.seg(501, "new");
  EXPECT_EQ(f.out, "new");
}

}  // namespace
}  // namespace smtpguard
