#include "flow/flow_table.h"

#include <gtest/gtest.h>

#include <set>
#include <utility>
#include <vector>

namespace smtpguard {
namespace {

struct TestApp {
  uint32_t packets = 0;
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

// Test that a lookup in steps (probe, prefetches, lookup with the probe) finds and creates the
// same flows as the one-step lookup, in both directions and for new tuples.
TEST(FlowTable, ProbedLookupMatchesOneStepLookup) {
  Fixture one, steps;
  std::vector<PacketInfo> packets;
  for (uint16_t i = 0; i < 40; ++i) {
    const uint16_t port = static_cast<uint16_t>(30000 + i);
    packets.push_back(pkt(kClient, port, kServer, 587, kTcpSyn, i));
    packets.push_back(pkt(kServer, 587, kClient, port, kTcpSyn | kTcpAck, 900, i + 1));
    packets.push_back(pkt(kClient, port, kServer, 587, kTcpAck | kTcpPsh, i + 1, 901, 12));
  }
  packets.push_back(pkt(v6(2), 25, v6(1), 41000, kTcpRst, 5));  // a RST for no flow
  for (const PacketInfo& p : packets) {
    const auto a = one.feed(p, 0);
    const auto pr = steps.table.probe(p);
    steps.table.prefetchBucket(pr);
    steps.table.prefetchEntry(pr);
    const auto b = steps.table.lookupOrCreate(p, pr, 0, isSmtpPort, steps.onEnd());
    ASSERT_EQ(a.entry == nullptr, b.entry == nullptr);
    EXPECT_EQ(a.created, b.created);
    EXPECT_EQ(a.dir, b.dir);
    if (a.entry != nullptr) {
      EXPECT_EQ(one.table.flowId(*a.entry), steps.table.flowId(*b.entry));
      EXPECT_EQ(a.entry->state, b.entry->state);
      EXPECT_EQ(a.entry->bytesOf(FlowDir::kToServer), b.entry->bytesOf(FlowDir::kToServer));
    }
  }
  EXPECT_EQ(one.table.size(), steps.table.size());
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
