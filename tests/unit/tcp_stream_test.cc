#include "flow/tcp_stream.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace smtpguard {
namespace {

// A stream with its pools and counters, collecting what it delivers; "[gap N]" marks holes.
// Segments go through the legacy call (no history, default limits) unless a test sets
// `pools_on` or changes `limits`.
struct Fixture {
  explicit Fixture(uint32_t pool_size = 4, uint32_t history_size = 4)
      : pool(pool_size), histories(history_size) {}

  auto deliver() {
    return [this](Bytes b) { out.append(reinterpret_cast<const char*>(b.data()), b.size()); };
  }
  auto gap() {
    return [this](uint32_t n) { out += "[gap " + std::to_string(n) + "]"; };
  }
  SegmentStatus seg(uint32_t seq, std::string_view payload, uint8_t flags = kTcpAck) {
    const Bytes bytes(reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
    if (!pools_on) return stream.onSegment({seq, flags, bytes}, pool, counters, deliver(), gap());
    return stream.onSegment({seq, flags, bytes}, pools(), limits, counters, deliver(), gap());
  }
  StreamPools pools() { return StreamPools{pool, &histories}; }
  uint64_t count(Counter c) const { return counters.get(c); }

  ObjectPool<OooBuffer> pool;
  ObjectPool<StreamHistory> histories;
  bool pools_on = false;
  StreamLimits limits;
  CounterBlock counters;
  TcpStream stream;
  std::string out;
};

// The same fixture feeding through the full call, with a history pool.
struct Normalising : Fixture {
  explicit Normalising(HolePolicy holes = HolePolicy::kSkip, uint32_t pool_size = 4,
                       uint32_t history_size = 4)
      : Fixture(pool_size, history_size) {
    pools_on = true;
    limits.holes = holes;
  }
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

// Test that a segment inside the window but past the out-of-order buffer makes a fail-open
// stream give up the hole and skip to it.
TEST(TcpStream, PastTheBufferSkipsAheadWhenFailingOpen) {
  Fixture f;
  f.seg(0, "", kTcpSyn);
  f.seg(1, "ab");
  EXPECT_EQ(f.seg(3 + kOooMaxBytes, "z"), SegmentStatus::kGapSkipped);
  EXPECT_EQ(f.out, "ab[gap 4096]z");
  EXPECT_EQ(f.count(Counter::kTcpDesync), 1u);
  EXPECT_EQ(f.stream.nextSeq(), 4100u);
}

// Test that a junk segment far past the receive window is not accepted: the stream stays where
// it was and the real data that follows in order is delivered, not taken for a retransmission
// (issue 9: 100 kB ahead).
TEST(TcpStream, JunkFarAheadIsOutOfWindowAndDoesNotMoveTheStream) {
  Fixture f;
  f.seg(0, "", kTcpSyn);
  f.seg(1, "EHLO a\r\n");
  EXPECT_EQ(f.seg(9 + 100000, "junk"), SegmentStatus::kOutOfWindow);
  EXPECT_EQ(f.stream.nextSeq(), 9u);
  EXPECT_FALSE(f.stream.holding());
  EXPECT_EQ(f.seg(9, "AUTH PLAIN x\r\n"), SegmentStatus::kDelivered);
  EXPECT_EQ(f.out, "EHLO a\r\nAUTH PLAIN x\r\n");
  EXPECT_EQ(f.count(Counter::kTcpSegmentOutOfWindow), 1u);
  EXPECT_EQ(f.count(Counter::kTcpDesync), 0u);
  EXPECT_EQ(f.count(Counter::kTcpRetransmit), 0u);
}

// Test that the window is the caller's: the first byte at max_ahead is out, the one before in.
TEST(TcpStream, WindowBoundIsMaxAhead) {
  Normalising f;
  f.limits.max_ahead = 100;
  f.seg(0, "", kTcpSyn);
  EXPECT_EQ(f.seg(101, "x"), SegmentStatus::kOutOfWindow);
  EXPECT_EQ(f.seg(100, "y"), SegmentStatus::kBuffered);
  f.limits.max_ahead = 0;  // a closed window still takes the next byte
  EXPECT_EQ(f.seg(1, "a"), SegmentStatus::kDelivered);
  EXPECT_EQ(f.seg(3, "c"), SegmentStatus::kOutOfWindow);
}

// Test that a copy of bytes from further back than any retransmission can come (a stale
// sequence space: another ISN) is out of window, not a retransmission.
TEST(TcpStream, FarBehindIsOutOfWindow) {
  Normalising f;
  f.seg(0, "", kTcpSyn);
  f.seg(1, "abc");
  EXPECT_EQ(f.seg(4 - kDefaultMaxBehind - 10, "zz"), SegmentStatus::kOutOfWindow);
  EXPECT_EQ(f.count(Counter::kTcpRetransmit), 0u);
  EXPECT_EQ(f.seg(1, "abc"), SegmentStatus::kRetransmit);
}

// Test that with HolePolicy::kHold a segment that cannot be held is refused and leaves the
// stream as it was; sent again once the hole has filled, it is delivered in order.
TEST(TcpStream, HoldRefusesWhatItCannotHold) {
  Normalising f(HolePolicy::kHold);
  f.seg(0, "", kTcpSyn);
  f.seg(1, "ab");
  EXPECT_EQ(f.seg(3 + kOooMaxBytes, "z"), SegmentStatus::kRefused);
  EXPECT_EQ(f.stream.nextSeq(), 3u);
  EXPECT_FALSE(f.stream.holding());
  EXPECT_EQ(f.pool.inUse(), 0u);
  EXPECT_EQ(f.count(Counter::kTcpSegmentRefused), 1u);
  EXPECT_EQ(f.count(Counter::kTcpDesync), 0u);
  // Four ranges held, a fifth refused, the held ones kept.
  for (uint32_t s : {5u, 7u, 9u, 11u}) EXPECT_EQ(f.seg(s, "H"), SegmentStatus::kBuffered);
  EXPECT_EQ(f.seg(13, "X"), SegmentStatus::kRefused);
  EXPECT_EQ(f.out, "ab");
  EXPECT_EQ(f.seg(3, "cd"), SegmentStatus::kDelivered);
  EXPECT_EQ(f.out, "abcdH");
  EXPECT_EQ(f.seg(6, "e"), SegmentStatus::kDelivered);
  EXPECT_EQ(f.seg(8, "f"), SegmentStatus::kDelivered);
  EXPECT_EQ(f.seg(10, "g"), SegmentStatus::kDelivered);
  EXPECT_EQ(f.seg(12, "hX"), SegmentStatus::kDelivered);
  EXPECT_EQ(f.out, "abcdHeHfHgHhX");
  EXPECT_EQ(f.pool.inUse(), 0u);
}

// Test that with HolePolicy::kHold an empty pool refuses the segment instead of skipping.
TEST(TcpStream, HoldRefusesWhenThePoolIsEmpty) {
  Normalising f(HolePolicy::kHold, 0);
  f.seg(0, "", kTcpSyn);
  EXPECT_EQ(f.seg(5, "late"), SegmentStatus::kRefused);
  EXPECT_EQ(f.out, "");
  EXPECT_EQ(f.stream.nextSeq(), 1u);
  EXPECT_EQ(f.count(Counter::kPoolExhausted), 1u);
  EXPECT_EQ(f.seg(1, "sent"), SegmentStatus::kDelivered);
  EXPECT_EQ(f.seg(5, "late"), SegmentStatus::kDelivered);
  EXPECT_EQ(f.out, "sentlate");
}

// Test that the receiver's ACK past the next expected byte gives up the hole it proves lost
// (held bytes first, each after its hole), and that ACKs at or behind it, or of the FIN, do not.
TEST(TcpStream, PeerAckGivesUpAProvenHole) {
  Normalising f(HolePolicy::kHold);
  f.seg(0, "", kTcpSyn);
  f.seg(1, "ab");
  f.seg(6, "fg");
  auto ack = [&](uint32_t a) {
    return f.stream.onPeerAck(a, f.pools(), f.counters, f.deliver(), f.gap());
  };
  EXPECT_FALSE(ack(3));
  EXPECT_FALSE(ack(2));
  EXPECT_TRUE(ack(10));
  EXPECT_EQ(f.out, "ab[gap 3]fg[gap 2]");
  EXPECT_EQ(f.stream.nextSeq(), 10u);
  EXPECT_FALSE(f.stream.holding());
  EXPECT_EQ(f.count(Counter::kTcpDesync), 1u);
  EXPECT_FALSE(ack(11));  // one past with nothing held: the FIN
  EXPECT_EQ(f.seg(10, "k"), SegmentStatus::kDelivered);
  // An ACK inside the held data delivers only up to and through the range it reaches.
  f.seg(14, "op");
  f.seg(20, "uv");
  EXPECT_TRUE(ack(15));
  EXPECT_EQ(f.out, "ab[gap 3]fg[gap 2]k[gap 3]op");
  EXPECT_TRUE(f.stream.holding());
  EXPECT_EQ(f.stream.nextSeq(), 16u);
}

// Test that an identical retransmission is verified against the kept copy.
TEST(TcpStream, IdenticalRetransmissionIsVerified) {
  Normalising f;
  f.seg(0, "", kTcpSyn);
  EXPECT_EQ(f.seg(1, "QUIT\r\n"), SegmentStatus::kDelivered);
  EXPECT_EQ(f.seg(1, "QUIT\r\n"), SegmentStatus::kRetransmit);
  EXPECT_EQ(f.seg(3, "IT"), SegmentStatus::kRetransmit);
  EXPECT_EQ(f.seg(5, "\r\nRSET\r\n"), SegmentStatus::kDelivered);
  EXPECT_EQ(f.out, "QUIT\r\nRSET\r\n");
  EXPECT_EQ(f.count(Counter::kTcpRetransmit), 3u);
  EXPECT_EQ(f.count(Counter::kTcpRetransmitUnverified), 0u);
  EXPECT_EQ(f.count(Counter::kStreamInconsistentRetransmission), 0u);
  EXPECT_TRUE(f.stream.keepsHistory());
  EXPECT_EQ(f.histories.inUse(), 1u);
}

// Test that a "retransmission" carrying other bytes than the ones inspected is inconsistent:
// the inspected copy stays, the decoy case of issue 9 (NOOP seen, AUTH sent again).
TEST(TcpStream, DifferentRetransmissionIsInconsistent) {
  Normalising f;
  f.seg(0, "", kTcpSyn);
  EXPECT_EQ(f.seg(1, "NOOP aaaaaaaaa\r\n"), SegmentStatus::kDelivered);
  EXPECT_EQ(f.seg(1, "AUTH PLAIN xyz\r\n"), SegmentStatus::kInconsistent);
  EXPECT_EQ(f.out, "NOOP aaaaaaaaa\r\n");
  EXPECT_EQ(f.count(Counter::kStreamInconsistentRetransmission), 1u);
  // Old bytes that differ, followed by new ones: inconsistent, the new bytes still taken.
  EXPECT_EQ(f.seg(17, "QUIT\r\n"), SegmentStatus::kDelivered);
  EXPECT_EQ(f.seg(21, "XX\r\nRSET\r\n"), SegmentStatus::kInconsistent);
  EXPECT_EQ(f.out, "NOOP aaaaaaaaa\r\nQUIT\r\n\r\nRSET\r\n");
  EXPECT_EQ(f.count(Counter::kStreamInconsistentRetransmission), 2u);
}

// Test that a copy differing from bytes held out of order is inconsistent, whether it arrives
// out of order too (the held copy wins) or in order over the held bytes (the in-order copy is
// delivered, as a receiver trims its out-of-order queue to it).
TEST(TcpStream, DifferentCopyOfHeldBytesIsInconsistent) {
  Normalising f;
  f.seg(0, "", kTcpSyn);
  EXPECT_EQ(f.seg(11, "PLAIN"), SegmentStatus::kBuffered);
  EXPECT_EQ(f.seg(11, "PLAIN"), SegmentStatus::kRetransmit);
  EXPECT_EQ(f.seg(11, "LOGIN"), SegmentStatus::kInconsistent);
  EXPECT_EQ(f.seg(9, "x LOGINy"), SegmentStatus::kInconsistent);  // new bytes around it taken
  EXPECT_EQ(f.seg(1, "AUTH AUTH LOG"), SegmentStatus::kInconsistent);
  EXPECT_EQ(f.out, "AUTH AUTH LOGINy");
  EXPECT_EQ(f.count(Counter::kStreamInconsistentRetransmission), 3u);
}

// Test that without a history pool, or older than the history, retransmitted bytes cannot be
// compared: unverified, counted.
TEST(TcpStream, RetransmissionsBeyondTheHistoryAreUnverified) {
  Fixture legacy;
  legacy.seg(0, "", kTcpSyn);
  legacy.seg(1, "QUIT\r\n");
  EXPECT_EQ(legacy.seg(1, "QUIT\r\n"), SegmentStatus::kUnverified);
  EXPECT_EQ(legacy.count(Counter::kTcpRetransmitUnverified), 1u);

  Normalising f;
  f.seg(0, "", kTcpSyn);
  std::string data;
  for (size_t i = 0; i < 3 * kHistoryBytes + 7; ++i) data += static_cast<char>('a' + i % 23);
  for (size_t at = 0; at < data.size(); at += 1000)
    f.seg(1 + static_cast<uint32_t>(at), data.substr(at, 1000));
  EXPECT_EQ(f.out, data);
  const auto end = static_cast<uint32_t>(1 + data.size());
  EXPECT_EQ(f.seg(end - 100, data.substr(data.size() - 100)), SegmentStatus::kRetransmit);
  EXPECT_EQ(f.seg(end - kHistoryBytes, data.substr(data.size() - kHistoryBytes)),
            SegmentStatus::kRetransmit);
  EXPECT_EQ(f.seg(end - kHistoryBytes - 1, data.substr(data.size() - kHistoryBytes - 1)),
            SegmentStatus::kUnverified);
  EXPECT_EQ(f.seg(1, data.substr(0, 100)), SegmentStatus::kUnverified);
  std::string changed = data.substr(data.size() - kHistoryBytes - 1);
  changed.back() = '!';
  EXPECT_EQ(f.seg(end - kHistoryBytes - 1, changed), SegmentStatus::kInconsistent);
  EXPECT_EQ(f.count(Counter::kTcpRetransmitUnverified), 2u);
}

// Test that the history follows the stream across a given-up hole: bytes before the hole are
// forgotten, bytes after it kept.
TEST(TcpStream, HistoryRestartsAfterAHole) {
  Normalising f;
  f.seg(0, "", kTcpSyn);
  f.seg(1, "abc");
  f.seg(3 + kOooMaxBytes + 1, "zz");  // skipped to
  EXPECT_EQ(f.seg(1, "abc"), SegmentStatus::kUnverified);
  EXPECT_EQ(f.seg(4 + kOooMaxBytes, "zz"), SegmentStatus::kRetransmit);
  EXPECT_EQ(f.seg(4 + kOooMaxBytes, "zZ"), SegmentStatus::kInconsistent);
}

// Test that an empty history pool is counted once per stream, the stream works on (unverified),
// and the history is taken as soon as one is free; release and reset give it back.
TEST(TcpStream, HistoryPoolExhaustion) {
  Normalising f(HolePolicy::kSkip, 4, 0);
  f.seg(0, "", kTcpSyn);
  f.seg(1, "ab");
  f.seg(3, "cd");
  EXPECT_EQ(f.count(Counter::kPoolExhausted), 1u);
  EXPECT_FALSE(f.stream.keepsHistory());
  EXPECT_EQ(f.seg(1, "ab"), SegmentStatus::kUnverified);

  Normalising g(HolePolicy::kSkip, 4, 1);
  g.seg(0, "", kTcpSyn);
  g.seg(1, "ab");
  EXPECT_EQ(g.histories.inUse(), 1u);
  g.stream.release(g.pools());
  EXPECT_EQ(g.histories.inUse(), 0u);
  g.seg(3, "cd");
  EXPECT_EQ(g.histories.inUse(), 1u);
  EXPECT_EQ(g.seg(3, "cd"), SegmentStatus::kRetransmit);
  g.stream.reset(g.pools());
  EXPECT_EQ(g.histories.inUse(), 0u);
  EXPECT_FALSE(g.stream.synced());
  // A call without the history pool cannot return the history: it stays attached, not lost.
  g.seg(7, "", kTcpSyn);
  g.seg(8, "ef");
  g.stream.reset(g.pool);
  EXPECT_TRUE(g.stream.keepsHistory());
  EXPECT_EQ(g.histories.inUse(), 1u);
  g.stream.release(g.pools());
  EXPECT_EQ(g.histories.inUse(), 0u);
}

// Test the status of segments that carry nothing for the stream.
TEST(TcpStream, SegmentsWithoutPayload) {
  Normalising f;
  EXPECT_EQ(f.seg(0, "", kTcpSyn), SegmentStatus::kNoPayload);
  EXPECT_EQ(f.seg(1, ""), SegmentStatus::kNoPayload);
  EXPECT_EQ(f.seg(1, "text", kTcpRst), SegmentStatus::kNoPayload);
  EXPECT_EQ(f.seg(1, "", kTcpFin | kTcpAck), SegmentStatus::kNoPayload);
  EXPECT_EQ(f.stream.nextSeq(), 2u);
}

// Test that running out of pooled buffers desynchronises instead of failing.
TEST(TcpStream, PoolExhaustionDesyncs) {
  Fixture f(0);
  f.seg(0, "", kTcpSyn);
  EXPECT_EQ(f.seg(5, "late"), SegmentStatus::kGapSkipped);
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
  f.stream.flush(f.pools(), f.deliver(), f.gap());
  EXPECT_EQ(f.out, "HELO a\r\n[gap 6]QUIT\r\n");
  EXPECT_EQ(f.pool.inUse(), 0u);
  EXPECT_EQ(f.stream.nextSeq(), 21u);
}

// Test that reset forgets the sequence space and returns the buffer.
TEST(TcpStream, ResetForgetsEverything) {
  Fixture f;
  f.seg(0, "", kTcpSyn);
  f.seg(10, "held");
  f.stream.reset(f.pools());
  EXPECT_FALSE(f.stream.synced());
  EXPECT_EQ(f.pool.inUse(), 0u);
  f.seg(500, "", kTcpSyn);
  f.seg(501, "new");
  EXPECT_EQ(f.out, "new");
}

// Test that a pool constructs an object when it lends it out, not all of them up front: a
// worker's pools hold tens of MiB that a short replay never touches (issue 16, start-up).
struct CountedObject {
  static inline int constructed = 0;
  CountedObject() { ++constructed; }
  uint8_t bytes[4096];
};

TEST(ObjectPool, ConstructsOnAcquireOnly) {
  CountedObject::constructed = 0;
  ObjectPool<CountedObject> pool(256);
  EXPECT_EQ(CountedObject::constructed, 0);
  const PoolHandle a = pool.acquire();
  const PoolHandle b = pool.acquire();
  ASSERT_NE(a, kNoHandle);
  ASSERT_NE(b, kNoHandle);
  EXPECT_NE(a, b);
  EXPECT_EQ(CountedObject::constructed, 2);
  pool.release(a);
  EXPECT_EQ(pool.acquire(), a);  // a released handle is lent again, constructed afresh
  EXPECT_EQ(CountedObject::constructed, 3);
  EXPECT_EQ(pool.inUse(), 2u);
}

}  // namespace
}  // namespace smtpguard
