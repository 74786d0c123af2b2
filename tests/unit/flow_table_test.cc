#include "flow/flow_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <iterator>
#include <map>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace smtpguard {

// Names instead of byte values in failure messages.
void PrintTo(EndReason r, std::ostream* os) {
  *os << endReasonName(r);
}
void PrintTo(TcpState s, std::ostream* os) {
  static constexpr const char* kNames[] = {"syn_sent", "syn_received", "established", "half_closed",
                                           "closed"};
  *os << kNames[static_cast<size_t>(s)];
}

namespace {

struct TestApp {
  uint32_t model_id = 0;  // the randomised test's name for the flow
  uint8_t rest[28] = {};
};
static_assert(sizeof(TestApp) == 32);

using Table = FlowTable<TestApp>;
using Entry = FlowEntry<TestApp>;

constexpr uint64_t kSec = kNsPerSec;

IpAddr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  const uint8_t bytes[4] = {a, b, c, d};
  return IpAddr::fromV4(bytes);
}

IpAddr v6(uint8_t last) {
  uint8_t bytes[16] = {0x20, 0x01, 0x0d, 0xb8};
  bytes[15] = last;
  return IpAddr::fromV6(bytes);
}

const IpAddr kClient = v4(198, 18, 0, 1);
const IpAddr kServer = v4(198, 18, 1, 1);

PacketInfo pkt(const IpAddr& src, uint16_t sport, const IpAddr& dst, uint16_t dport, uint8_t flags,
               uint32_t seq = 0, uint32_t ack = 0, uint16_t payload_len = 0) {
  PacketInfo p;
  p.ip_version = src.isV4() ? 4 : 6;
  p.l4_proto = kIpProtoTcp;
  p.src = src;
  p.dst = dst;
  p.src_port = sport;
  p.dst_port = dport;
  p.tcp_flags = flags;
  p.seq = seq;
  p.ack = ack;
  p.payload_len = payload_len;
  return p;
}

bool isSmtpPort(uint16_t port) {
  return port == 25 || port == 465 || port == 587;
}

// Holds a table with its pool and counters, and records every ended flow.
struct Fixture {
  static FlowTableConfig config(uint32_t capacity, uint16_t table_id) {
    FlowTableConfig c;
    c.capacity = capacity;
    c.table_id = table_id;
    return c;
  }
  explicit Fixture(uint32_t capacity = 64, uint16_t table_id = 0)
      : pool(16), table(config(capacity, table_id), pool, counters) {}

  auto onEnd() {
    return [this](Entry& e, EndReason r) { ended.emplace_back(table.flowId(e), r); };
  }
  FlowLookup<TestApp> feed(const PacketInfo& p, uint64_t now) {
    return table.lookupOrCreate(p, now, isSmtpPort, onEnd());
  }
  uint32_t expire(uint64_t now) { return table.expire(now, 1000, onEnd()); }

  CounterBlock counters;
  ObjectPool<OooBuffer> pool;
  Table table;
  std::vector<std::pair<uint64_t, EndReason>> ended;
};

// Feeds a full three-way handshake from kClient:port to kServer:25 at time t.
Entry* handshake(Fixture& f, uint16_t client_port, uint64_t t, uint32_t isn = 1000) {
  auto syn = f.feed(pkt(kClient, client_port, kServer, 25, kTcpSyn, isn), t);
  f.feed(pkt(kServer, 25, kClient, client_port, kTcpSyn | kTcpAck, 5000, isn + 1), t);
  f.feed(pkt(kClient, client_port, kServer, 25, kTcpAck, isn + 1, 5001), t);
  return syn.entry;
}

// Test that both directions of an IPv4 connection map to one entry with the right direction.
TEST(FlowTable, BothDirectionsOfIpv4MapToOneEntry) {
  Fixture f;
  auto a = f.feed(pkt(kClient, 40000, kServer, 25, kTcpSyn, 1000), 0);
  auto b = f.feed(pkt(kServer, 25, kClient, 40000, kTcpSyn | kTcpAck, 5000, 1001), 1);
  ASSERT_NE(a.entry, nullptr);
  EXPECT_TRUE(a.created);
  EXPECT_FALSE(b.created);
  EXPECT_EQ(a.entry, b.entry);
  EXPECT_EQ(a.dir, FlowDir::kToServer);
  EXPECT_EQ(b.dir, FlowDir::kToClient);
  EXPECT_EQ(a.entry->clientAddr(), kClient);
  EXPECT_EQ(a.entry->serverAddr(), kServer);
  EXPECT_EQ(a.entry->clientPort(), 40000);
  EXPECT_EQ(a.entry->server_port, 25);
  EXPECT_EQ(a.entry->state, TcpState::kSynReceived);
  EXPECT_EQ(f.counters.get(Counter::kFlowsCreated), 1u);
  EXPECT_EQ(f.table.find(kServer, 25, kClient, 40000), a.entry);
}

// Test that IPv6 tuples canonicalise the same way, whichever endpoint is numerically lower.
TEST(FlowTable, BothDirectionsOfIpv6MapToOneEntry) {
  Fixture f;
  const IpAddr client = v6(0x99);
  const IpAddr server = v6(0x01);  // lower than the client: the key stores the server first
  auto a = f.feed(pkt(client, 50000, server, 587, kTcpSyn, 7), 0);
  auto b = f.feed(pkt(server, 587, client, 50000, kTcpSyn | kTcpAck, 9, 8), 0);
  auto c = f.feed(pkt(client, 50000, server, 587, kTcpAck, 8, 10), 0);
  EXPECT_EQ(a.entry, b.entry);
  EXPECT_EQ(a.entry, c.entry);
  EXPECT_EQ(b.dir, FlowDir::kToClient);
  EXPECT_EQ(c.dir, FlowDir::kToServer);
  EXPECT_FALSE(a.entry->clientIsLo());
  EXPECT_EQ(a.entry->clientAddr(), client);
  EXPECT_EQ(a.entry->state, TcpState::kEstablished);
  // The v4-mapped form of an IPv4 address is a different flow from a native IPv6 one.
  f.feed(pkt(kClient, 50000, kServer, 587, kTcpSyn, 7), 0);
  EXPECT_EQ(f.table.size(), 2u);
}

// Test that a SYN retransmitted three times with the same ISN is one connection.
TEST(FlowTable, RetransmittedSynIsOneFlow) {
  Fixture f;
  for (int i = 0; i < 4; ++i) f.feed(pkt(kClient, 40000, kServer, 25, kTcpSyn, 1000), i * kSec);
  EXPECT_EQ(f.counters.get(Counter::kFlowsCreated), 1u);
  EXPECT_EQ(f.counters.get(Counter::kFlowsActive), 1u);
  EXPECT_EQ((*f.counters.flows_port)[25], 1u);
  EXPECT_EQ(f.table.size(), 1u);
}

// Test that a flow first seen mid-stream from the server side takes the SMTP port's peer as
// the client.
TEST(FlowTable, MidstreamPickupFindsClientBySmtpPort) {
  Fixture f;
  auto a = f.feed(pkt(kServer, 25, kClient, 40000, kTcpAck | kTcpPsh, 5000, 1000, 30), 0);
  ASSERT_NE(a.entry, nullptr);
  EXPECT_EQ(a.dir, FlowDir::kToClient);
  EXPECT_TRUE(a.entry->midstream());
  EXPECT_EQ(a.entry->state, TcpState::kEstablished);
  EXPECT_EQ(a.entry->clientAddr(), kClient);
  EXPECT_EQ(a.entry->server_port, 25);
  EXPECT_EQ(a.entry->bytesOf(FlowDir::kToClient), 30u);
  EXPECT_EQ(f.counters.get(Counter::kFlowsMidstream), 1u);
  EXPECT_EQ((*f.counters.flows_port)[25], 1u);
  auto b = f.feed(pkt(kClient, 40000, kServer, 25, kTcpAck, 1000, 5030, 6), 0);
  EXPECT_EQ(b.entry, a.entry);
  EXPECT_EQ(b.dir, FlowDir::kToServer);
  EXPECT_EQ(a.entry->bytesOf(FlowDir::kToServer), 6u);
}

// Test that a SYN-ACK whose SYN was missed makes its receiver the client.
TEST(FlowTable, SynAckWithoutSynMakesReceiverTheClient) {
  Fixture f;
  auto a = f.feed(pkt(kServer, 2525, kClient, 40000, kTcpSyn | kTcpAck, 5000, 1001), 0);
  EXPECT_EQ(a.dir, FlowDir::kToClient);
  EXPECT_EQ(a.entry->clientAddr(), kClient);
  EXPECT_EQ(a.entry->server_port, 2525);
  EXPECT_EQ(a.entry->client_isn, 1000u);
  EXPECT_FALSE(a.entry->midstream());
}

// Test that each TCP state times out after its own idle time, measured from the last packet.
TEST(FlowTable, TimeoutsFollowTcpState) {
  Fixture f;
  const uint64_t t0 = 1000 * kSec;
  f.feed(pkt(kClient, 40001, kServer, 25, kTcpSyn, 1), t0);  // handshake only
  Entry* est = handshake(f, 40002, t0);
  const uint64_t est_id = f.table.flowId(*est);
  EXPECT_EQ(est->state, TcpState::kEstablished);

  EXPECT_EQ(f.expire(t0 + 30 * kSec - kNsPerMs), 0u);
  EXPECT_EQ(f.expire(t0 + 30 * kSec), 1u);
  EXPECT_EQ(f.ended.back().second, EndReason::kTimeout);

  f.feed(pkt(kClient, 40002, kServer, 25, kTcpAck, 1001, 5001, 10), t0 + 100 * kSec);
  EXPECT_EQ(f.expire(t0 + 399 * kSec), 0u);
  EXPECT_EQ(f.expire(t0 + 400 * kSec), 1u);
  EXPECT_EQ(f.ended.back(), std::make_pair(est_id, EndReason::kTimeout));
  EXPECT_EQ(f.counters.get(Counter::kFlowsTimedOut), 2u);
  EXPECT_EQ(f.counters.get(Counter::kFlowsActive), 0u);
  EXPECT_EQ(f.table.size(), 0u);
}

// Test that a half-closed flow uses its own timeout and a closed one the short closing timeout.
TEST(FlowTable, ClosingStatesUseShortTimeouts) {
  Fixture f;
  Entry* half = handshake(f, 40001, 0);
  f.feed(pkt(kServer, 25, kClient, 40001, kTcpFin | kTcpAck, 5001, 1001), 0);
  EXPECT_EQ(half->state, TcpState::kHalfClosed);
  Entry* rst = handshake(f, 40002, 0);
  f.feed(pkt(kClient, 40002, kServer, 25, kTcpRst, 1001), 0);
  EXPECT_EQ(rst->state, TcpState::kClosed);
  const uint64_t rst_id = f.table.flowId(*rst);

  EXPECT_EQ(f.expire(10 * kSec - kNsPerMs), 0u);
  EXPECT_EQ(f.expire(10 * kSec), 1u);
  EXPECT_EQ(f.ended.back(), std::make_pair(rst_id, EndReason::kRst));
  EXPECT_EQ(f.expire(30 * kSec), 1u);
  EXPECT_EQ(f.ended.back().second, EndReason::kTimeout);
  EXPECT_EQ(f.counters.get(Counter::kFlowsTimedOut), 1u);
}

// Test that FIN from both sides closes the flow, which still matches the final ACK, and ends
// with reason fin after the closing timeout.
TEST(FlowTable, FinFromBothSidesEndsWithFin) {
  Fixture f;
  Entry* e = handshake(f, 40000, 0);
  f.feed(pkt(kClient, 40000, kServer, 25, kTcpFin | kTcpAck, 1001, 5001), kSec);
  EXPECT_EQ(e->state, TcpState::kHalfClosed);
  f.feed(pkt(kServer, 25, kClient, 40000, kTcpFin | kTcpAck, 5001, 1002), kSec);
  EXPECT_EQ(e->state, TcpState::kClosed);
  auto ack = f.feed(pkt(kClient, 40000, kServer, 25, kTcpAck, 1002, 5002), 5 * kSec);
  EXPECT_EQ(ack.entry, e);
  EXPECT_FALSE(ack.created);
  EXPECT_EQ(f.expire(14 * kSec), 0u);
  EXPECT_EQ(f.expire(15 * kSec), 1u);
  EXPECT_EQ(f.ended.back().second, EndReason::kFin);
  EXPECT_EQ(f.counters.get(Counter::kFlowsTimedOut), 0u);
}

// Test that a RST matching no flow creates nothing.
TEST(FlowTable, StrayRstCreatesNoFlow) {
  Fixture f;
  auto r = f.feed(pkt(kClient, 40000, kServer, 25, kTcpRst | kTcpAck, 1, 1), 0);
  EXPECT_EQ(r.entry, nullptr);
  EXPECT_EQ(f.table.size(), 0u);
  EXPECT_EQ(f.counters.get(Counter::kFlowsCreated), 0u);
}

// Test that a new SYN on a closed tuple starts a new flow (ending the old one with its reason),
// while a late copy of the old SYN still matches the old flow.
TEST(FlowTable, NewIsnOnClosedTupleStartsNewFlow) {
  Fixture f;
  Entry* e = handshake(f, 40000, 0, 1000);
  const uint64_t old_id = f.table.flowId(*e);
  f.feed(pkt(kClient, 40000, kServer, 25, kTcpFin | kTcpAck, 1001, 5001), 0);
  f.feed(pkt(kServer, 25, kClient, 40000, kTcpFin | kTcpAck, 5001, 1002), 0);

  auto late = f.feed(pkt(kClient, 40000, kServer, 25, kTcpSyn, 1000), kSec);
  EXPECT_FALSE(late.created);
  EXPECT_EQ(f.table.flowId(*late.entry), old_id);

  auto fresh = f.feed(pkt(kClient, 40000, kServer, 25, kTcpSyn, 900000), 2 * kSec);
  EXPECT_TRUE(fresh.created);
  EXPECT_NE(f.table.flowId(*fresh.entry), old_id);
  EXPECT_EQ(fresh.entry->state, TcpState::kSynSent);
  ASSERT_EQ(f.ended.size(), 1u);
  EXPECT_EQ(f.ended[0], std::make_pair(old_id, EndReason::kFin));
  EXPECT_EQ(f.counters.get(Counter::kFlowsCreated), 2u);
  EXPECT_EQ(f.counters.get(Counter::kFlowsActive), 1u);
}

// Test that a client retrying with a fresh ISN during the handshake stays one flow but resets
// the streams' sequence space.
TEST(FlowTable, NewIsnDuringHandshakeResetsStreams) {
  Fixture f;
  auto a = f.feed(pkt(kClient, 40000, kServer, 25, kTcpSyn, 1000), 0);
  CounterBlock c;
  a.entry->streamOf(FlowDir::kToServer)
      .onSegment(
          {1000, kTcpSyn, {}}, f.pool, c, [](Bytes) {}, [](uint32_t) {});
  f.feed(pkt(kClient, 40000, kServer, 25, kTcpSyn, 777), kSec);
  EXPECT_EQ(f.counters.get(Counter::kFlowsCreated), 1u);
  EXPECT_EQ(a.entry->client_isn, 777u);
  EXPECT_FALSE(a.entry->streamOf(FlowDir::kToServer).synced());
}

// Feeds `n` bytes of payload from kClient:port at the stream's next sequence number, so the
// stream toward the server is synchronised (as the pipeline's reassembly does).
void clientData(Fixture& f, Entry* e, uint16_t port, uint32_t seq, uint16_t n, uint64_t t) {
  f.feed(pkt(kClient, port, kServer, 25, kTcpAck | kTcpPsh, seq, 5001, n), t);
  CounterBlock c;
  const std::vector<uint8_t> bytes(n, 'x');
  e->streamOf(FlowDir::kToServer)
      .onSegment(
          {seq, kTcpAck, Bytes(bytes.data(), bytes.size())}, f.pool, c, [](Bytes) {},
          [](uint32_t) {});
}

// Test that a RST outside the window of the stream it claims to end (RFC 5961 §3: a blind
// reset) leaves the connection established, counted, while one at the expected sequence
// number closes it.
TEST(FlowTable, RstOutsideWindowDoesNotCloseFlow) {
  Fixture f;
  Entry* e = handshake(f, 40000, 0);
  clientData(f, e, 40000, 1001, 10, kSec);  // next expected: 1011
  f.feed(pkt(kClient, 40000, kServer, 25, kTcpRst, 1011 + 100000), 2 * kSec);
  EXPECT_EQ(e->state, TcpState::kEstablished);
  EXPECT_EQ(f.counters.get(Counter::kTcpRstOutOfWindow), 1u);
  f.feed(pkt(kClient, 40000, kServer, 25, kTcpRst, 1011 - 100000), 2 * kSec);
  EXPECT_EQ(e->state, TcpState::kEstablished);
  EXPECT_EQ(f.counters.get(Counter::kTcpRstOutOfWindow), 2u);
  f.feed(pkt(kClient, 40000, kServer, 25, kTcpRst | kTcpAck, 1011), 3 * kSec);
  EXPECT_EQ(e->state, TcpState::kClosed);
}

// Test that a RST before any data of its direction was seen is taken as it is (nothing to
// judge it by), and that the server's RST is judged by the server's stream.
TEST(FlowTable, RstWithoutStreamStateIsAccepted) {
  Fixture f;
  Entry* e = handshake(f, 40001, 0);
  clientData(f, e, 40001, 1001, 10, kSec);
  f.feed(pkt(kServer, 25, kClient, 40001, kTcpRst, 999999), 2 * kSec);
  EXPECT_EQ(e->state, TcpState::kClosed);
  EXPECT_EQ(f.counters.get(Counter::kTcpRstOutOfWindow), 0u);
}

// Test that when the server's SYN-ACK acknowledges an earlier ISN than the client's last SYN,
// the client stream follows the server (issue 9: a second SYN with another ISN).
TEST(FlowTable, SynAckForAnEarlierIsnRealignsTheClientStream) {
  Fixture f;
  CounterBlock c;
  auto a = f.feed(pkt(kClient, 40000, kServer, 25, kTcpSyn, 1000), 0);
  TcpStream& cs = a.entry->streamOf(FlowDir::kToServer);
  cs.onSegment(
      {1000, kTcpSyn, {}}, f.pool, c, [](Bytes) {}, [](uint32_t) {});
  f.feed(pkt(kClient, 40000, kServer, 25, kTcpSyn, 0x40000000), kSec);
  cs.onSegment(
      {0x40000000, kTcpSyn, {}}, f.pool, c, [](Bytes) {}, [](uint32_t) {});
  EXPECT_EQ(cs.nextSeq(), 0x40000001u);
  f.feed(pkt(kServer, 25, kClient, 40000, kTcpSyn | kTcpAck, 5000, 1001), kSec);
  EXPECT_EQ(a.entry->client_isn, 1000u);
  EXPECT_TRUE(cs.synced());
  EXPECT_EQ(cs.nextSeq(), 1001u);
  // A SYN-ACK for the ISN the stream already follows changes nothing.
  const uint8_t data[3] = {'a', 'b', 'c'};
  cs.onSegment(
      {1001, kTcpAck, data}, f.pool, c, [](Bytes) {}, [](uint32_t) {});
  f.feed(pkt(kServer, 25, kClient, 40000, kTcpSyn | kTcpAck, 5000, 1001), kSec);
  EXPECT_EQ(cs.nextSeq(), 1004u);
}

// Test that a RST far from the next expected byte of its direction does not end the flow (the
// receiver drops it, RFC 5961 §3.2), while one in the window does.
TEST(FlowTable, OutOfWindowRstIsIgnored) {
  Fixture f;
  CounterBlock c;
  Entry* e = handshake(f, 40000, 0, 1000);
  TcpStream& cs = e->streamOf(FlowDir::kToServer);
  cs.onSegment(
      {1000, kTcpSyn, {}}, f.pool, c, [](Bytes) {}, [](uint32_t) {});
  f.feed(pkt(kClient, 40000, kServer, 25, kTcpRst, 1001 + 1000000), kSec);
  EXPECT_EQ(e->state, TcpState::kEstablished);
  f.feed(pkt(kClient, 40000, kServer, 25, kTcpRst, 1001 - 70000), kSec);
  EXPECT_EQ(e->state, TcpState::kEstablished);
  EXPECT_EQ(f.counters.get(Counter::kTcpRstOutOfWindow), 2u);
  EXPECT_EQ(f.expire(20 * kSec), 0u);  // still established: its long timeout
  f.feed(pkt(kClient, 40000, kServer, 25, kTcpRst, 1001 + 100), 20 * kSec);
  EXPECT_EQ(e->state, TcpState::kClosed);
  EXPECT_EQ(f.counters.get(Counter::kTcpRstOutOfWindow), 2u);
}

// Test that a full table evicts its longest-idle flow and still creates the new one.
TEST(FlowTable, FullTableEvictsOldestIdle) {
  Fixture f(2);
  auto a = f.feed(pkt(kClient, 40001, kServer, 25, kTcpSyn, 1), 1 * kSec);
  auto b = f.feed(pkt(kClient, 40002, kServer, 25, kTcpSyn, 1), 2 * kSec);
  const uint64_t b_id = f.table.flowId(*b.entry);
  f.feed(pkt(kClient, 40001, kServer, 25, kTcpSyn, 1), 3 * kSec);  // a is now the most recent
  auto c = f.feed(pkt(kClient, 40003, kServer, 25, kTcpSyn, 1), 4 * kSec);
  ASSERT_NE(c.entry, nullptr);
  EXPECT_TRUE(c.created);
  ASSERT_EQ(f.ended.size(), 1u);
  EXPECT_EQ(f.ended[0], std::make_pair(b_id, EndReason::kEvicted));
  EXPECT_NE(f.table.find(kClient, 40001, kServer, 25), nullptr);
  EXPECT_EQ(f.table.find(kClient, 40002, kServer, 25), nullptr);
  EXPECT_NE(f.table.find(kClient, 40003, kServer, 25), nullptr);
  EXPECT_EQ(a.entry->client_isn, 1u);
  EXPECT_EQ(f.counters.get(Counter::kFlowsEvicted), 1u);
  EXPECT_EQ(f.counters.get(Counter::kFlowsActive), 2u);
  EXPECT_EQ(f.counters.get(Counter::kFlowsCreated), 3u);
}

// Test that flow_id stays the same for every packet of a flow and differs between flows and
// between tables of different lcores.
TEST(FlowTable, FlowIdStableAndDistinct) {
  Fixture f(1024, 0);
  Fixture g(1024, 1);
  std::set<uint64_t> ids;
  for (uint16_t port = 1024; port < 1024 + 500; ++port) {
    auto a = f.feed(pkt(kClient, port, kServer, 25, kTcpSyn, 1), 0);
    auto b = f.feed(pkt(kServer, 25, kClient, port, kTcpSyn | kTcpAck, 2, 2), 0);
    EXPECT_EQ(f.table.flowId(*a.entry), f.table.flowId(*b.entry));
    ids.insert(f.table.flowId(*a.entry));
    ids.insert(g.table.flowId(*g.feed(pkt(kClient, port, kServer, 25, kTcpSyn, 1), 0).entry));
  }
  EXPECT_EQ(ids.size(), 1000u);
}

// Test that many flows survive churn: lookups stay exact while entries are removed and reused.
TEST(FlowTable, ChurnKeepsIndexConsistent) {
  Fixture f(256);
  uint64_t t = 0;
  for (int round = 0; round < 20; ++round) {
    for (uint16_t i = 0; i < 200; ++i) {
      const uint16_t port = static_cast<uint16_t>(10000 + round * 97 + i);
      f.feed(pkt(kClient, port, kServer, 25, kTcpSyn, port), t);
    }
    t += 31 * kSec;  // every handshake-state flow above times out
    f.expire(t);
    EXPECT_EQ(f.table.size(), 0u);
  }
  for (uint16_t i = 0; i < 256; ++i)
    f.feed(pkt(kClient, static_cast<uint16_t>(20000 + i), kServer, 25, kTcpSyn, 1), t);
  for (uint16_t i = 0; i < 256; ++i) {
    const Entry* e = f.table.find(kClient, static_cast<uint16_t>(20000 + i), kServer, 25);
    ASSERT_NE(e, nullptr) << i;
    EXPECT_EQ(e->clientPort(), 20000 + i);
  }
  EXPECT_EQ(f.counters.get(Counter::kFlowsEvicted), 0u);
}

// An independent model of what the table promises, for the randomised test below: written from
// the contract (the comments in flow_table.h; RFC 9293 §3.3.2 as far as flags tell) and sharing
// no code with the table. Flows live in a std::map under an unordered pair of endpoints; the
// flow to evict is found by scanning for the one seen longest ago; expiry scans every flow.
// Flows are named by the model's own creation number, which the test writes into the entry's
// application state when the table creates the flow, so every later lookup and every end can
// be checked against the flow the model expects.
namespace model {

using Endpoint = std::pair<std::array<uint8_t, 16>, uint16_t>;  // address bytes, port
using Key = std::pair<Endpoint, Endpoint>;                      // the lower endpoint first
using Ended = std::vector<std::pair<uint32_t, EndReason>>;      // model id, reason

Endpoint endpoint(const IpAddr& a, uint16_t port) {
  Endpoint e{};
  std::copy(std::begin(a.b), std::end(a.b), e.first.begin());
  e.second = port;
  return e;
}

struct Timeouts {
  uint64_t handshake_ms;
  uint64_t established_ms;
  uint64_t half_closed_ms;
  uint64_t closing_ms;
};

struct Flow {
  uint32_t id = 0;
  Endpoint client;
  Endpoint server;
  TcpState state = TcpState::kSynSent;
  bool midstream = false;
  bool rst = false;
  bool fin_to_server = false;
  bool fin_to_client = false;
  uint32_t client_isn = 0;
  // Set when a SYN-ACK realigned the client's sequence space: the client stream then knows its
  // next byte, and the client's RSTs must fall within a window either side of it.
  bool client_synced = false;
  uint32_t client_next = 0;
  uint64_t last_ms = 0;
  uint64_t bytes_to_server = 0;
  uint64_t bytes_to_client = 0;
};

struct Outcome {
  const Flow* flow = nullptr;  // the packet's flow after the lookup; null for a stray RST
  bool created = false;
  bool to_server = true;
  Ended ended;  // flows the lookup ended, in order
};

// How often each behaviour happened, so the test can insist that each was exercised.
struct Tally {
  uint32_t created = 0;
  uint32_t midstream = 0;
  uint32_t synack_first = 0;
  uint32_t stray_rst = 0;
  uint32_t isn_retry = 0;
  uint32_t late_syn = 0;
  uint32_t reopened = 0;
  uint32_t midstream_recycled = 0;
  uint32_t isn_realigned = 0;
  uint32_t rst_ignored = 0;
  std::map<EndReason, uint32_t> ends;
};

class FlowModel {
 public:
  FlowModel(size_t capacity, Timeouts timeouts, bool (*is_server_port)(uint16_t))
      : capacity_(capacity), timeouts_(timeouts), is_server_port_(is_server_port) {}

  Outcome onPacket(const PacketInfo& p, uint64_t now_ms) {
    const Endpoint src = endpoint(p.src, p.src_port);
    const Endpoint dst = endpoint(p.dst, p.dst_port);
    const Key key = src < dst ? Key{src, dst} : Key{dst, src};
    const bool syn = p.tcp_flags & kTcpSyn;
    const bool ack = p.tcp_flags & kTcpAck;
    const bool rst = p.tcp_flags & kTcpRst;
    Outcome out;
    if (auto it = flows_.find(key); it != flows_.end()) {
      Flow& f = it->second;
      const bool to_server = src == f.client;
      const bool closing = f.state == TcpState::kHalfClosed || f.state == TcpState::kClosed;
      if (!(syn && !ack && !rst && closing)) {
        apply(f, to_server, p, now_ms);
        return {&f, false, to_server, {}};
      }
      // RFC 9293 §3.10.7.4: a bare SYN on a closing tuple opens a new connection, unless it
      // is a late copy of the client's first SYN of this one.
      if (!f.midstream && to_server && p.seq == f.client_isn) {
        ++tally_.late_syn;
        apply(f, to_server, p, now_ms);
        return {&f, false, to_server, {}};
      }
      ++tally_.reopened;
      end(it, f.rst ? EndReason::kRst : EndReason::kFin, out.ended);
    } else if (rst) {
      ++tally_.stray_rst;  // no flow to reset: nothing is created
      return out;
    }
    // A pick-up without a SYN over the mid-stream budget (capacity / 8) replaces the
    // established mid-stream flow idle longest.
    if (!syn) {
      size_t midstream = 0;
      for (const auto& [k, g] : flows_) midstream += g.midstream ? 1 : 0;
      auto victim = oldestOf(Rank::kMidstream);
      if (midstream >= std::max<size_t>(capacity_ / 8, 1) && victim != flows_.end()) {
        ++tally_.midstream_recycled;
        end(victim, EndReason::kEvicted, out.ended);
      }
    }
    // A full table gives up the flows that proved least first: closing, picked up
    // mid-stream, half-open, half-closed, and only then established ones; within a rank the
    // one idle longest.
    if (flows_.size() == capacity_) {
      for (Rank r : {Rank::kClosing, Rank::kMidstream, Rank::kHandshake, Rank::kHalfClosed,
                     Rank::kEstablished}) {
        if (auto it = oldestOf(r); it != flows_.end()) {
          end(it, EndReason::kEvicted, out.ended);
          break;
        }
      }
    }
    Flow f;
    f.id = ++tally_.created;
    bool sender_is_client = true;
    if (syn && !ack) {
      f.state = TcpState::kSynSent;
      f.client_isn = p.seq;
    } else if (syn) {  // a SYN-ACK whose SYN was not seen: it goes to the client
      ++tally_.synack_first;
      sender_is_client = false;
      f.state = TcpState::kSynReceived;
      f.client_isn = p.ack - 1;
    } else {  // picked up mid-stream: the client talks to the SMTP port, or has the higher port
      ++tally_.midstream;
      if (is_server_port_(p.dst_port)) {
        sender_is_client = true;
      } else if (is_server_port_(p.src_port)) {
        sender_is_client = false;
      } else {
        sender_is_client = p.src_port >= p.dst_port;
      }
      f.state = TcpState::kEstablished;
      f.midstream = true;
    }
    f.client = sender_is_client ? src : dst;
    f.server = sender_is_client ? dst : src;
    Flow& g = flows_[key] = f;
    apply(g, sender_is_client, p, now_ms);
    out.flow = &g;
    out.created = true;
    out.to_server = sender_is_client;
    return out;
  }

  // Ends every flow idle for at least its state's timeout; sorted by id.
  Ended expire(uint64_t now_ms) {
    Ended out;
    for (auto it = flows_.begin(); it != flows_.end();) {
      const Flow& f = (it++)->second;
      if (now_ms - f.last_ms < timeoutOf(f.state)) continue;
      const EndReason r = f.state != TcpState::kClosed ? EndReason::kTimeout
                          : f.rst                      ? EndReason::kRst
                                                       : EndReason::kFin;
      end(std::prev(it), r, out);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  const std::map<Key, Flow>& flows() const { return flows_; }
  const Tally& tally() const { return tally_; }

 private:
  enum class Rank { kClosing, kMidstream, kHandshake, kHalfClosed, kEstablished };
  static Rank rankOf(const Flow& f) {
    switch (f.state) {
      case TcpState::kClosed:
        return Rank::kClosing;
      case TcpState::kSynSent:
      case TcpState::kSynReceived:
        return Rank::kHandshake;
      case TcpState::kHalfClosed:
        return Rank::kHalfClosed;
      case TcpState::kEstablished:
        break;
    }
    return f.midstream ? Rank::kMidstream : Rank::kEstablished;
  }
  std::map<Key, Flow>::iterator oldestOf(Rank r) {
    auto oldest = flows_.end();
    for (auto it = flows_.begin(); it != flows_.end(); ++it) {
      if (rankOf(it->second) != r) continue;
      if (oldest == flows_.end() || it->second.last_ms < oldest->second.last_ms) oldest = it;
    }
    return oldest;
  }

  uint64_t timeoutOf(TcpState s) const {
    switch (s) {
      case TcpState::kSynSent:
      case TcpState::kSynReceived:
        return timeouts_.handshake_ms;
      case TcpState::kEstablished:
        return timeouts_.established_ms;
      case TcpState::kHalfClosed:
        return timeouts_.half_closed_ms;
      case TcpState::kClosed:
        return timeouts_.closing_ms;
    }
    return 0;
  }

  // The TCP state a packet leaves its flow in, and its bytes and time.
  void apply(Flow& f, bool to_server, const PacketInfo& p, uint64_t now_ms) {
    const uint8_t fl = p.tcp_flags;
    if ((fl & kTcpRst) && to_server && f.client_synced &&
        static_cast<uint32_t>(p.seq - f.client_next) >= 65535 &&
        static_cast<uint32_t>(f.client_next - p.seq) >= 65535) {
      ++tally_.rst_ignored;  // RFC 5961 §3.2: the receiver drops it, the flow goes on
    } else if (fl & kTcpRst) {
      f.rst = true;
      f.state = TcpState::kClosed;
    } else {
      const bool handshake = f.state == TcpState::kSynSent || f.state == TcpState::kSynReceived;
      if (handshake && (fl & kTcpSyn)) {
        if ((fl & kTcpAck) && !to_server) {
          f.state = TcpState::kSynReceived;
          // The server acknowledges the ISN it took; the flow follows the server (the
          // streams are not fed here, so nothing else constrains it).
          if (p.ack - 1 != f.client_isn) {
            ++tally_.isn_realigned;
            f.client_isn = p.ack - 1;
            f.client_synced = true;
            f.client_next = p.ack;
          }
        } else if (!(fl & kTcpAck) && to_server && p.seq != f.client_isn) {
          ++tally_.isn_retry;  // the client retried with a fresh ISN: still one flow
          f.client_isn = p.seq;
          f.client_synced = false;  // the table resets both streams
          f.state = TcpState::kSynSent;
        }
      } else if (handshake && (fl & kTcpAck)) {
        f.state = TcpState::kEstablished;
      }
      if (fl & kTcpFin) {
        (to_server ? f.fin_to_server : f.fin_to_client) = true;
        if (f.fin_to_server && f.fin_to_client) {
          f.state = TcpState::kClosed;
        } else if (f.state != TcpState::kClosed) {
          f.state = TcpState::kHalfClosed;
        }
      }
    }
    (to_server ? f.bytes_to_server : f.bytes_to_client) += p.payload_len;
    f.last_ms = now_ms;
  }

  void end(std::map<Key, Flow>::iterator it, EndReason r, Ended& out) {
    out.emplace_back(it->second.id, r);
    ++tally_.ends[r];
    flows_.erase(it);
  }

  const size_t capacity_;
  const Timeouts timeouts_;
  bool (*const is_server_port_)(uint16_t);
  std::map<Key, Flow> flows_;
  Tally tally_;
};

}  // namespace model

// Both ends of a TCP connection of the random stream, and the client's latest ISN.
struct Conversation {
  IpAddr client;
  IpAddr server;
  uint16_t client_port;
  uint16_t server_port;
  uint32_t isn;
};

// Enough conversations to overfill the table; in both address families, with the client the
// lower endpoint for some and the higher for others, to SMTP ports and to one other port.
std::vector<Conversation> makeConversations(std::mt19937& rng, size_t n) {
  static constexpr uint16_t kServerPorts[] = {25, 465, 587, 2525, 8080};
  std::vector<Conversation> out;
  for (size_t i = 0; i < n; ++i) {
    const auto x = static_cast<uint8_t>(rng());
    const bool client_low = i % 2 == 0;
    Conversation c;
    if (i % 3 == 0) {
      c.client = v6(static_cast<uint8_t>(client_low ? 0x10 + i % 8 : 0xf0 + i % 8));
      c.server = v6(static_cast<uint8_t>(0x80 + i % 4));
    } else {
      c.client = v4(198, client_low ? 18 : 19, static_cast<uint8_t>(i % 4), x);
      c.server = v4(198, client_low ? 19 : 18, 0, static_cast<uint8_t>(1 + i % 3));
    }
    // Mostly ephemeral ports; a few below 8080, where a mid-stream pickup cannot tell.
    c.client_port = static_cast<uint16_t>(i % 7 == 0 ? 1024 + i : 30000 + i);
    c.server_port = kServerPorts[rng() % std::size(kServerPorts)];
    c.isn = static_cast<uint32_t>(rng());
    out.push_back(c);
  }
  return out;
}

// The next packet of a random conversation: handshakes, retransmitted SYNs, SYNs with a new
// ISN, data both ways, FINs, RSTs, and some with arbitrary flags from either side.
PacketInfo randomPacket(Conversation& c, std::mt19937& rng) {
  const auto r = rng() % 100;
  const uint32_t seq = static_cast<uint32_t>(rng());
  const auto data = static_cast<uint16_t>(rng() % 3 == 0 ? 0 : rng() % 1460);
  auto up = [&](uint8_t flags, uint32_t s, uint32_t a, uint16_t len) {
    return pkt(c.client, c.client_port, c.server, c.server_port, flags, s, a, len);
  };
  auto down = [&](uint8_t flags, uint32_t s, uint32_t a, uint16_t len) {
    return pkt(c.server, c.server_port, c.client, c.client_port, flags, s, a, len);
  };
  if (r < 14) return up(kTcpSyn, c.isn, 0, 0);  // the first SYN, or a retransmission
  if (r < 18) {
    c.isn = seq;  // a new attempt
    return up(kTcpSyn, c.isn, 0, 0);
  }
  if (r < 30) return down(kTcpSyn | kTcpAck, seq, c.isn + 1, 0);
  if (r < 55) return up(kTcpAck | kTcpPsh, c.isn + 1, seq, data);
  if (r < 70) return down(kTcpAck | kTcpPsh, seq, c.isn + 1, data);
  if (r < 78) return up(kTcpFin | kTcpAck, c.isn + 1, seq, 0);
  if (r < 86) return down(kTcpFin | kTcpAck, seq, c.isn + 1, 0);
  const bool from_client = rng() % 2 == 0;
  uint8_t flags = kTcpRst | (rng() % 2 == 0 ? kTcpAck : 0);
  if (r >= 91) flags = static_cast<uint8_t>(rng() & 0x1f);  // any mix of FIN SYN RST PSH ACK
  const uint32_t s = rng() % 2 == 0 ? c.isn : seq;
  return from_client ? up(flags, s, seq, data) : down(flags, s, seq, data);
}

// One table under test, and the ends it reported, by model id.
struct Subject {
  static FlowTableConfig config(uint32_t capacity, const FlowTimeouts& timeouts) {
    FlowTableConfig c;
    c.capacity = capacity;
    c.timeouts = timeouts;
    return c;
  }
  Subject(uint32_t capacity, const FlowTimeouts& timeouts)
      : pool(16), table(config(capacity, timeouts), pool, counters) {}
  auto onEnd() {
    return [this](Entry& e, EndReason r) { ended.emplace_back(e.app.model_id, r); };
  }

  CounterBlock counters;
  ObjectPool<OooBuffer> pool;
  Table table;
  model::Ended ended;
};

// The lookup's answer against the model's, and the flow it returned against the model's flow.
void expectLookup(Subject& s, const FlowLookup<TestApp>& got, const model::Outcome& want) {
  EXPECT_EQ(s.ended, want.ended);
  s.ended.clear();
  ASSERT_EQ(got.entry != nullptr, want.flow != nullptr);
  if (want.flow == nullptr) return;
  const model::Flow& f = *want.flow;
  Entry& e = *got.entry;
  EXPECT_EQ(got.created, want.created);
  EXPECT_EQ(got.dir, want.to_server ? FlowDir::kToServer : FlowDir::kToClient);
  if (got.created) {
    EXPECT_EQ(e.app.model_id, 0u) << "a new flow's application state starts zeroed";
    e.app.model_id = f.id;
  }
  EXPECT_EQ(e.app.model_id, f.id);
  EXPECT_EQ(model::endpoint(e.clientAddr(), e.clientPort()), f.client);
  EXPECT_EQ(model::endpoint(e.serverAddr(), e.server_port), f.server);
  EXPECT_EQ(e.state, f.state);
  EXPECT_EQ(e.midstream(), f.midstream);
  EXPECT_EQ(e.bytesOf(FlowDir::kToServer), f.bytes_to_server);
  EXPECT_EQ(e.bytesOf(FlowDir::kToClient), f.bytes_to_client);
}

// The table holds exactly the model's flows: each is found under its own tuple, no other
// conversation's tuple is, and the counters agree.
void expectSameFlows(const Subject& s, const model::FlowModel& m,
                     const std::vector<Conversation>& convs) {
  ASSERT_EQ(s.table.size(), m.flows().size());
  EXPECT_EQ(s.counters.get(Counter::kFlowsActive), m.flows().size());
  EXPECT_EQ(s.counters.get(Counter::kFlowsCreated), m.tally().created);
  for (const Conversation& c : convs) {
    const Entry* e = s.table.find(c.client, c.client_port, c.server, c.server_port);
    const model::Key key{std::min(model::endpoint(c.client, c.client_port),
                                  model::endpoint(c.server, c.server_port)),
                         std::max(model::endpoint(c.client, c.client_port),
                                  model::endpoint(c.server, c.server_port))};
    const auto it = m.flows().find(key);
    ASSERT_EQ(e != nullptr, it != m.flows().end());
    if (e != nullptr) {
      EXPECT_EQ(e->app.model_id, it->second.id);
    }
  }
}

// Test that the staged lookup (probe, prefetchBucket, prefetchEntry, then lookupOrCreate with
// the probe, the probes of a whole burst taken before its first lookup) and the one-step lookup
// each agree with an independent model, packet by packet, over a random stream that fills the
// table: which flow a packet belongs to, its direction and client, creation, TCP state, bytes,
// and which flows end, when and why (eviction, timeout, FIN, RST).
TEST(FlowTable, StagedAndOneStepLookupsFollowModel) {
  constexpr uint32_t kCapacity = 48;
  constexpr size_t kConversations = 256;
  constexpr size_t kPackets = 20000;
  constexpr uint64_t kMs = kNsPerMs;
  FlowTimeouts timeouts;  // all different, so that a flow in the wrong class ends at a wrong time
  timeouts.handshake_ns = 30 * kSec;
  timeouts.established_ns = 120 * kSec;
  timeouts.half_closed_ns = 20 * kSec;
  timeouts.closing_ns = 5 * kSec;
  const model::Timeouts model_timeouts{30'000, 120'000, 20'000, 5'000};

  for (const uint32_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    std::vector<Conversation> convs = makeConversations(rng, kConversations);
    model::FlowModel m(kCapacity, model_timeouts, isSmtpPort);
    Subject staged(kCapacity, timeouts);
    Subject one_step(kCapacity, timeouts);
    // A working set of conversations that drifts, so handshakes progress and flows close
    // while new tuples keep arriving.
    std::vector<size_t> hot(12);
    for (size_t& h : hot) h = rng() % kConversations;
    uint64_t now_ms = 1'767'225'600'000;  // 2026-01-01: the table's 32-bit clock wraps
    size_t sent = 0;
    while (sent < kPackets) {
      const size_t n = 1 + rng() % 32;
      std::vector<PacketInfo> burst;
      for (size_t i = 0; i < n; ++i) {
        if (rng() % 8 == 0) hot[rng() % hot.size()] = rng() % kConversations;
        burst.push_back(randomPacket(convs[hot[rng() % hot.size()]], rng));
      }
      std::vector<Table::Probe> probes;
      for (const PacketInfo& p : burst) probes.push_back(staged.table.probe(p));
      for (const Table::Probe& pr : probes) staged.table.prefetchBucket(pr);
      for (const Table::Probe& pr : probes) staged.table.prefetchEntry(pr);
      for (size_t i = 0; i < n; ++i, ++sent) {
        // Every packet one or more milliseconds after the last, so no two flows were last
        // seen at the same time and the flow to evict is never a tie.
        now_ms += 1 + rng() % 20;
        if (rng() % 300 == 0) now_ms += 1000 + rng() % 40'000;
        if (rng() % 3000 == 0) now_ms += 121'000;
        SCOPED_TRACE("packet " + std::to_string(sent));
        const model::Outcome want = m.onPacket(burst[i], now_ms);
        {
          SCOPED_TRACE("staged");
          expectLookup(staged,
                       staged.table.lookupOrCreate(burst[i], probes[i], now_ms * kMs, isSmtpPort,
                                                   staged.onEnd()),
                       want);
        }
        {
          SCOPED_TRACE("one step");
          expectLookup(
              one_step,
              one_step.table.lookupOrCreate(burst[i], now_ms * kMs, isSmtpPort, one_step.onEnd()),
              want);
        }
        if (HasFailure()) return;  // the first divergence is the one worth reading
      }
      const model::Ended want_expired = m.expire(now_ms);
      for (Subject* s : {&staged, &one_step}) {
        SCOPED_TRACE(s == &staged ? "staged" : "one step");
        s->table.expire(now_ms * kMs, UINT32_MAX, s->onEnd());
        std::sort(s->ended.begin(), s->ended.end());
        EXPECT_EQ(s->ended, want_expired);
        s->ended.clear();
        expectSameFlows(*s, m, convs);
      }
      if (HasFailure()) return;
    }
    const model::Tally& t = m.tally();
    for (const Subject* s : {&staged, &one_step}) {
      EXPECT_EQ(s->counters.get(Counter::kFlowsEvicted), t.ends.at(EndReason::kEvicted));
      EXPECT_EQ(s->counters.get(Counter::kFlowsTimedOut), t.ends.at(EndReason::kTimeout));
      EXPECT_EQ(s->counters.get(Counter::kFlowsMidstream), t.midstream);
      EXPECT_EQ(s->counters.get(Counter::kFlowsMidstreamRecycled), t.midstream_recycled);
      EXPECT_EQ(s->counters.get(Counter::kTcpRstOutOfWindow), t.rst_ignored);
    }
    // The stream exercised every behaviour the model knows; otherwise agreement proves little.
    EXPECT_GT(t.created, 1000u);
    EXPECT_GT(t.midstream, 50u);
    EXPECT_GT(t.synack_first, 50u);
    EXPECT_GT(t.stray_rst, 50u);
    EXPECT_GT(t.isn_retry, 20u);
    EXPECT_GT(t.late_syn, 20u);
    EXPECT_GT(t.reopened, 20u);
    EXPECT_GT(t.midstream_recycled, 20u);
    EXPECT_GT(t.isn_realigned, 5u);
    for (EndReason r : {EndReason::kEvicted, EndReason::kTimeout, EndReason::kFin, EndReason::kRst})
      EXPECT_GT(t.ends.count(r) ? t.ends.at(r) : 0u, 20u) << endReasonName(r);
    std::printf(
        "seed %u: %u flows (%u mid-stream, %u from a SYN-ACK), %u evicted, %u timed out, "
        "%u fin, %u rst, %u reopened, %u late SYNs, %u ISN retries, %u stray RSTs\n",
        seed, t.created, t.midstream, t.synack_first, t.ends.at(EndReason::kEvicted),
        t.ends.at(EndReason::kTimeout), t.ends.at(EndReason::kFin), t.ends.at(EndReason::kRst),
        t.reopened, t.late_syn, t.isn_retry, t.stray_rst);
  }
}

// Test that drain ends every flow with reason shutdown and returns held stream buffers.
TEST(FlowTable, DrainEndsEverythingAndReleasesBuffers) {
  Fixture f;
  Entry* e = handshake(f, 40000, 0);
  handshake(f, 40001, 0);
  CounterBlock c;
  const uint8_t data[4] = {1, 2, 3, 4};
  e->streamOf(FlowDir::kToServer)
      .onSegment(
          {1001, kTcpAck, {}}, f.pool, c, [](Bytes) {}, [](uint32_t) {});
  e->streamOf(FlowDir::kToServer)
      .onSegment(
          {1010, kTcpAck, data}, f.pool, c, [](Bytes) {}, [](uint32_t) {});
  EXPECT_EQ(f.pool.inUse(), 1u);
  int visited = 0;
  f.table.forEach([&](Entry&) { ++visited; });
  EXPECT_EQ(visited, 2);
  f.table.drain(f.onEnd());
  EXPECT_EQ(f.ended.size(), 2u);
  for (const auto& [id, reason] : f.ended) EXPECT_EQ(reason, EndReason::kShutdown);
  EXPECT_EQ(f.pool.inUse(), 0u);
  EXPECT_EQ(f.table.size(), 0u);
  EXPECT_EQ(f.counters.get(Counter::kFlowsActive), 0u);
}

// Test that the expiry sweep does no more than max_work per call.
TEST(FlowTable, ExpireIsBoundedPerCall) {
  Fixture f;
  for (uint16_t i = 0; i < 10; ++i) f.feed(pkt(kClient, 40000 + i, kServer, 25, kTcpSyn, 1), 0);
  auto noop = [](Entry&, EndReason) {};
  EXPECT_EQ(f.table.expire(60 * kSec, 4, noop), 4u);
  EXPECT_EQ(f.table.expire(60 * kSec, 4, noop), 4u);
  EXPECT_EQ(f.table.expire(60 * kSec, 4, noop), 2u);
  EXPECT_EQ(f.table.size(), 0u);
}

// Test that created and last-seen timestamps reach the end-of-flow callback.
TEST(FlowTable, TimestampsAndBytesReachEndCallback) {
  Fixture f;
  const uint64_t t0 = 1'700'000'000 * kSec + 123 * kNsPerMs;
  handshake(f, 40000, t0);
  f.feed(pkt(kClient, 40000, kServer, 25, kTcpAck, 1001, 5001, 100), t0 + 2 * kSec);
  f.feed(pkt(kServer, 25, kClient, 40000, kTcpAck, 5001, 1101, 40), t0 + 3 * kSec);
  uint64_t created = 0, last = 0, up = 0, down = 0;
  f.table.drain([&](Entry& e, EndReason) {
    created = e.created_ns;
    last = e.lastSeenNs();
    up = e.bytesOf(FlowDir::kToServer);
    down = e.bytesOf(FlowDir::kToClient);
  });
  EXPECT_EQ(created, t0);
  EXPECT_EQ(last, t0 + 3 * kSec);
  EXPECT_EQ(up, 100u);
  EXPECT_EQ(down, 40u);
}

// Test that the entry keeps to two cache lines with a 32-byte application state.
TEST(FlowTable, EntryFitsTwoCacheLines) {
  EXPECT_EQ(sizeof(Entry), 128u);
  EXPECT_EQ(alignof(Entry), 64u);
}

}  // namespace
}  // namespace smtpguard
