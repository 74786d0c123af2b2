#include "pipeline/worker.h"

#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "pipeline/policy_handle.h"
#include "policy/policy_compiler.h"
#include "policy/prefix_table.h"
#include "tests/common/packet_builder.h"

namespace smtpguard {
namespace {

using test::buildPacket;
using test::PacketSpec;

// One EAL and mbuf pool for the whole binary: replay's settings (no hugepages, no devices).
rte_mempool* pool() {
  static rte_mempool* p = [] {
    cpu_set_t set;
    CPU_ZERO(&set);
    int cpu = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
      for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) {
          cpu = c;
          break;
        }
    std::string lcores = std::to_string(cpu);
    const char* argv[] = {
        "worker_test", "--no-huge",    "--no-pci", "--no-shconf", "--no-telemetry",
        "-l",          lcores.c_str(), "-m",       "128",         "--log-level=*:error"};
    if (rte_eal_init(static_cast<int>(std::size(argv)), const_cast<char**>(argv)) < 0)
      return static_cast<rte_mempool*>(nullptr);
    return rte_pktmbuf_pool_create("worker_test", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                   SOCKET_ID_ANY);
  }();
  return p;
}

// A policy file that lives as long as the test.
class PolicyFile {
 public:
  explicit PolicyFile(const std::string& text) {
    char tmpl[] = "/tmp/worker_test.XXXXXX";
    int fd = mkstemp(tmpl);
    path_ = tmpl;
    EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    close(fd);
  }
  ~PolicyFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// One submission session, client 198.18.0.1:40000 -> server 198.18.1.1:587, fed a packet a
// burst through a real Worker, with policies applied between packets as a SIGHUP does in
// replay (the caller is the worker's own thread, between bursts).
class Session {
 public:
  Session() : handle_(1), worker_(config(), handle_) {}

  static WorkerConfig config() {
    WorkerConfig c;
    c.flow_capacity = 1024;
    c.inject_pool = pool();
    c.lcore = 0;
    return c;
  }

  void apply(const PolicyFile& policy) {
    std::string error;
    ASSERT_TRUE(applyPolicy(handle_, compilePolicyFileNow(policy.path(), error), error, 0))
        << error;
  }

  // Feeds one segment; true if it was forwarded.
  bool client(const std::string& payload, uint8_t flags = kTcpAck | kTcpPsh) {
    bool fwd = feed({.src = "198.18.0.1",
                     .dst = "198.18.1.1",
                     .sport = 40000,
                     .dport = 587,
                     .flags = flags,
                     .seq = client_seq_,
                     .ack = server_seq_,
                     .payload = payload});
    client_seq_ += static_cast<uint32_t>(payload.size()) + ((flags & kTcpSyn) ? 1 : 0);
    return fwd;
  }
  bool server(const std::string& payload, uint8_t flags = kTcpAck | kTcpPsh) {
    bool fwd = feed({.src = "198.18.1.1",
                     .dst = "198.18.0.1",
                     .sport = 587,
                     .dport = 40000,
                     .flags = flags,
                     .seq = server_seq_,
                     .ack = client_seq_,
                     .payload = payload});
    server_seq_ += static_cast<uint32_t>(payload.size()) + ((flags & kTcpSyn) ? 1 : 0);
    return fwd;
  }

  // SYN, SYN-ACK, ACK, banner, EHLO localhost and its reply: all forwarded.
  void upToEhloReply() {
    ASSERT_TRUE(client("", kTcpSyn));
    ASSERT_TRUE(server("", kTcpSyn | kTcpAck));
    ASSERT_TRUE(client("", kTcpAck));
    ASSERT_TRUE(server("220 mx.example ESMTP\r\n"));
    ASSERT_TRUE(client("EHLO localhost\r\n"));
    ASSERT_TRUE(server("250-mx.example\r\n250 AUTH PLAIN LOGIN\r\n"));
  }

  uint64_t counter(Counter c) const { return worker_.counters().get(c); }
  uint16_t resets() const { return resets_; }
  // Silence for `seconds`, then a housekeeping tick (flows whose timeout passed end).
  void idle(uint64_t seconds) {
    now_ns_ += seconds * 1000000000ull;
    worker_.housekeep(now_ns_, 1024);
  }

  // A new connection's SYN from the client to `dst`:`dport`; true if it was forwarded.
  bool syn(const char* dst, uint16_t dport, uint16_t sport) {
    return feed({.src = "198.18.0.1",
                 .dst = dst,
                 .sport = sport,
                 .dport = dport,
                 .flags = kTcpSyn,
                 .seq = 777,
                 .ack = 0,
                 .payload = ""});
  }
  void advance(uint64_t ns) { now_ns_ += ns; }
  const Worker& worker() const { return worker_; }
  PolicyHandle& handle() { return handle_; }

 private:
  bool feed(const PacketSpec& spec) {
    std::vector<uint8_t> frame = buildPacket(spec);
    rte_mbuf* m = rte_pktmbuf_alloc(pool());
    EXPECT_NE(m, nullptr);
    if (m == nullptr) return false;
    std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), frame.data(), frame.size());
    m->data_len = static_cast<uint16_t>(frame.size());
    m->pkt_len = static_cast<uint32_t>(frame.size());
    rte_mbuf* burst[1] = {m};
    BurstInjections inject;
    now_ns_ += 1000000;
    uint16_t fwd = worker_.processBurst(burst, 1, now_ns_, inject);
    rte_pktmbuf_free_bulk(burst, fwd);
    resets_ = static_cast<uint16_t>(resets_ + inject.n_back + inject.n_onward);
    rte_pktmbuf_free_bulk(inject.back, inject.n_back);
    rte_pktmbuf_free_bulk(inject.onward, inject.n_onward);
    return fwd == 1;
  }

  PolicyHandle handle_;
  Worker worker_;
  uint32_t client_seq_ = 1000;
  uint32_t server_seq_ = 5000;
  uint64_t now_ns_ = 1795000000ull * 1000000000ull;
  uint16_t resets_ = 0;
};

class WorkerTest : public testing::Test {
 protected:
  void SetUp() override { ASSERT_NE(pool(), nullptr) << "EAL or mbuf pool"; }
};

const char* kAlertLocalhost =
    "[[rule]]\nname = \"ehlo-localhost\"\nehlo = [\"localhost\"]\naction = \"alert\"\n";
const char* kAuthFirst =
    "[[rule]]\nname = \"auth-before-tls\"\nport_class = [\"submission\"]\nplaintext_auth = true\n"
    "action = \"reject\"\n"
    "[[rule]]\nname = \"ehlo-localhost\"\nehlo = [\"localhost\"]\naction = \"alert\"\n";

// Test that the control run without a reload blocks the AUTH (the policies below are sound).
TEST_F(WorkerTest, AuthBlockedWithoutReload) {
  PolicyFile b(kAuthFirst);
  Session s;
  s.apply(b);
  s.upToEhloReply();
  EXPECT_FALSE(s.client("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"));
  EXPECT_EQ(s.counter(Counter::kPolicyBlocked), 1u);
}

// Test that a reload between EHLO and AUTH that moves rules re-evaluates the flow: the flow's
// remembered verdict (rule 0 of policy A, an alert) must not stand for rule 0 of policy B.
TEST_F(WorkerTest, ReloadBetweenEhloAndAuthReevaluates) {
  PolicyFile a(kAlertLocalhost), b(kAuthFirst);
  Session s;
  s.apply(a);
  s.upToEhloReply();
  s.apply(b);
  EXPECT_FALSE(s.client("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n")) << "the AUTH left";
  EXPECT_EQ(s.counter(Counter::kPolicyBlocked), 1u);
  EXPECT_EQ(s.resets(), 2u) << "reject resets both ends";
  EXPECT_FALSE(s.server("250 ok\r\n")) << "a blocked flow stays blocked";
}

// Test that pattern results are re-derived after a reload: the kept HELO name is scanned
// against the new policy's patterns, not judged by the old database's masks.
TEST_F(WorkerTest, ReloadRescansTheHeloName) {
  PolicyFile a("[[rule]]\nname = \"other\"\nehlo = [\"other.example\"]\naction = \"alert\"\n");
  PolicyFile b(
      "[[rule]]\nname = \"no-localhost\"\nehlo = [\"localhost\"]\nmail_in_clear = true\n"
      "action = \"drop\"\n");
  Session s;
  s.apply(a);
  s.upToEhloReply();
  s.apply(b);
  EXPECT_FALSE(s.client("MAIL FROM:<a@example.org>\r\n"));
  EXPECT_EQ(s.counter(Counter::kPolicyBlocked), 1u);
}

const char* kSprayQuarantine = R"(
[networks]
inside = ["198.18.0.0/24"]
[[rule]]
name = "quarantined"
src = ["quarantine"]
action = "reject"
[[detector]]
name = "spray"
stat = "port25_destinations"
threshold = 5
window = "5m"
action = "quarantine"
quarantine_for = "1h"
)";

// Test that a source spraying port 25 is flagged at the destination that crosses the threshold,
// that its next connection is refused by the rule naming `quarantine`, that a reload keeps the
// quarantine, and that it is released at its expiry on packet time.
TEST_F(WorkerTest, DetectorQuarantinesUntilExpiryAcrossReloads) {
  PolicyFile p(kSprayQuarantine);
  PolicyFile p2(std::string(kSprayQuarantine) + "[[rule]]\nname = \"other\"\naction = \"alert\"\n");
  Session s;
  s.apply(p);
  const char* mx[] = {"203.0.113.1", "203.0.113.2", "203.0.113.3",
                      "203.0.113.4", "203.0.113.5", "203.0.113.6"};
  uint16_t sport = 41000;
  for (const char* d : mx) EXPECT_TRUE(s.syn(d, 25, sport++)) << d;
  EXPECT_EQ(s.counter(Counter::kSubscribersAlerts), 1u);
  EXPECT_EQ(s.counter(Counter::kSubscribersQuarantined), 1u);
  EXPECT_FALSE(s.syn("198.18.1.1", 587, sport++)) << "quarantined: refused";
  EXPECT_EQ(s.resets(), 1u);
  s.apply(p2);
  EXPECT_FALSE(s.syn("198.18.1.1", 587, sport++)) << "a reload keeps the quarantine";
  s.advance(3600ull * 1000000000ull);
  EXPECT_TRUE(s.syn("198.18.1.1", 587, sport++)) << "released at expiry";
  const uint64_t key = subscriberKey(*parseIpAddr("198.18.0.1"), 64);
  const SubscriberEntry* e = s.worker().subscribers().find(key);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->stat(SubStat::kConnections), 9u);
  EXPECT_EQ(e->stat(SubStat::kPort25Attempts), 6u);
  EXPECT_EQ(e->stat(SubStat::kPort25Destinations), 6u);
  EXPECT_EQ(e->n_samples, kSampleDestinations);
  EXPECT_FALSE(s.handle().quarantine().contains(key, 1795003700ull * 1000000000ull));
}

// Flows fed through a worker with a table larger than one query slice (8,192 entries), then
// questions posted as the control plane does and answered by housekeep() ticks.
class FlowQueries : public WorkerTest {
 protected:
  static WorkerConfig config() {
    WorkerConfig c;
    c.flow_capacity = 20000;
    c.lcore = 3;
    return c;
  }
  FlowQueries() : handle_(4), worker_(config(), handle_) {}

  // Client 198.18.<i/256>.<i%256>:(10000+i) -> 198.18.200.1:port, SYN then `payload` bytes.
  void open(uint32_t i, uint16_t port, size_t payload) {
    const std::string client = "198.18." + std::to_string(i / 256) + "." + std::to_string(i % 256);
    feed({.src = client,
          .dst = "198.18.200.1",
          .sport = static_cast<uint16_t>(10000 + i),
          .dport = port,
          .flags = kTcpSyn,
          .seq = 100});
    if (payload != 0)
      feed({.src = client,
            .dst = "198.18.200.1",
            .sport = static_cast<uint16_t>(10000 + i),
            .dport = port,
            .flags = kTcpAck | kTcpPsh,
            .seq = 101,
            .payload = std::string(payload, 'x')});
  }

  // Posts `q`, runs housekeeping ticks until answered; the ticks it took.
  int ask(const FlowQuery& q) {
    FlowQueryBox& box = worker_.flowQueries();
    EXPECT_TRUE(box.idle());
    box.post(q);
    int ticks = 0;
    while (!box.idle() && ticks < 100) {
      now_ns_ += 1000;
      worker_.housekeep(now_ns_, 0);
      ++ticks;
    }
    return ticks;
  }
  const FlowAnswer& answer() { return worker_.flowQueries().answer(); }

  void feed(const PacketSpec& spec) {
    std::vector<uint8_t> frame = buildPacket(spec);
    rte_mbuf* m = rte_pktmbuf_alloc(pool());
    ASSERT_NE(m, nullptr);
    std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), frame.data(), frame.size());
    m->data_len = static_cast<uint16_t>(frame.size());
    m->pkt_len = static_cast<uint32_t>(frame.size());
    rte_mbuf* burst[1] = {m};
    BurstInjections inject;
    now_ns_ += 1000000;
    uint16_t fwd = worker_.processBurst(burst, 1, now_ns_, inject);
    rte_pktmbuf_free_bulk(burst, fwd);
  }

  PolicyHandle handle_;
  Worker worker_;
  uint64_t now_ns_ = 1795000000ull * 1000000000ull;
};

// Test that a query matches by port, state and address, keeps the best `limit` by bytes in
// order, counts every match, and spreads its scan over several ticks of a large table.
TEST_F(FlowQueries, FilterOrderAndLimitOverSeveralSlices) {
  // 300 flows on 587 with 10..309 payload bytes, 200 on 25 without payload.
  for (uint32_t i = 0; i < 300; ++i) open(i, 587, 10 + i);
  for (uint32_t i = 300; i < 500; ++i) open(i, 25, 0);

  FlowQuery q;
  q.filter.port = 587;
  q.limit = 5;
  const int ticks = ask(q);
  EXPECT_EQ(ticks, 3) << "20,000 entries in slices of 8,192";
  EXPECT_EQ(answer().live, 500u);
  EXPECT_EQ(answer().matched, 300u);
  ASSERT_EQ(answer().n, 5);
  for (uint16_t k = 0; k < 5; ++k) {
    EXPECT_EQ(answer().flows[k].bytes_to_server, 309u - k) << "rank " << k;
    EXPECT_EQ(answer().flows[k].server_port, 587);
    EXPECT_EQ(answer().flows[k].worker, 3);
  }

  // Flows on 25 are half-open (SYN only): the state filter finds exactly them.
  FlowQuery syn;
  syn.filter.state = static_cast<int16_t>(TcpState::kSynSent);
  syn.order = FlowOrder::kAge;
  syn.limit = 3;
  ask(syn);
  EXPECT_EQ(answer().matched, 200u);
  ASSERT_EQ(answer().n, 3);
  EXPECT_EQ(answer().flows[0].client_port, 10300) << "oldest first";
  EXPECT_LE(answer().flows[0].first_ns, answer().flows[1].first_ns);

  // One address, as client.
  FlowQuery one;
  one.filter.has_addr = true;
  one.filter.addr = *parseIpAddr("198.18.1.44");  // flow 300: 256 + 44
  ask(one);
  ASSERT_EQ(answer().matched, 1u);
  EXPECT_EQ(answer().flows[0].client_port, 10300);
  EXPECT_EQ(answer().flows[0].bytes_to_server, 0u);

  // Limit 0: only the count.
  FlowQuery count;
  count.limit = 0;
  ask(count);
  EXPECT_EQ(answer().matched, 500u);
  EXPECT_EQ(answer().n, 0);
}

// Receive windows tracked from each side's segments (RFC 9293 §3.10.7.4, RFC 7323): a segment
// starting past the receiver's window is not accepted. The same client segment, 3000 bytes past
// the next expected byte, against a server window of 16 (unscaled: out of the window), of
// 16 << 10 (scaled: inside it), and with no handshake seen (the default window).
class Windows : public FlowQueries {
 protected:
  static std::vector<uint8_t> wscale(uint8_t shift) { return {1, 3, 3, shift}; }

  // Handshake with the given server window and scale options, then the client segment ahead.
  uint64_t outOfWindowAfter(uint16_t server_window, bool scale, uint16_t sport) {
    const uint64_t before = worker_.counters().get(Counter::kTcpSegmentOutOfWindow);
    PacketSpec syn{.src = "198.18.0.1",
                   .dst = "198.18.1.1",
                   .sport = sport,
                   .dport = 587,
                   .flags = kTcpSyn,
                   .seq = 1000};
    if (scale) syn.tcp_options = wscale(10);
    feed(syn);
    PacketSpec synack{.src = "198.18.1.1",
                      .dst = "198.18.0.1",
                      .sport = 587,
                      .dport = sport,
                      .flags = kTcpSyn | kTcpAck,
                      .seq = 5000,
                      .ack = 1001,
                      .window = 65535};
    if (scale) synack.tcp_options = wscale(10);
    feed(synack);
    feed({.src = "198.18.1.1",
          .dst = "198.18.0.1",
          .sport = 587,
          .dport = sport,
          .flags = kTcpAck,
          .seq = 5001,
          .ack = 1001,
          .window = server_window});
    feed({.src = "198.18.0.1",
          .dst = "198.18.1.1",
          .sport = sport,
          .dport = 587,
          .flags = kTcpAck | kTcpPsh,
          .seq = 1001 + 3000,
          .ack = 5001,
          .payload = "EHLO ahead\r\n"});
    return worker_.counters().get(Counter::kTcpSegmentOutOfWindow) - before;
  }
};

TEST_F(Windows, SegmentPastTheReceiversWindowIsNotAccepted) {
  EXPECT_EQ(outOfWindowAfter(16, false, 41000), 1u) << "window 16: 3000 bytes ahead is outside";
  EXPECT_EQ(outOfWindowAfter(16, true, 41001), 0u) << "16 << 10 = 16384: inside";
  // Picked up mid-stream (no SYN seen): the scale is unknown, the default window applies.
  const uint64_t before = worker_.counters().get(Counter::kTcpSegmentOutOfWindow);
  feed({.src = "198.18.1.1",
        .dst = "198.18.0.1",
        .sport = 587,
        .dport = 41002,
        .flags = kTcpAck,
        .seq = 9000,
        .ack = 2000,
        .window = 16});
  feed({.src = "198.18.0.1",
        .dst = "198.18.1.1",
        .sport = 41002,
        .dport = 587,
        .flags = kTcpAck | kTcpPsh,
        .seq = 2000,
        .ack = 9000,
        .payload = "NOOP\r\n"});
  feed({.src = "198.18.0.1",
        .dst = "198.18.1.1",
        .sport = 41002,
        .dport = 587,
        .flags = kTcpAck | kTcpPsh,
        .seq = 2006 + 3000,
        .ack = 9000,
        .payload = "NOOP\r\n"});
  EXPECT_EQ(worker_.counters().get(Counter::kTcpSegmentOutOfWindow) - before, 0u);
}

const char* kMailBeforeTls =
    "[[rule]]\nname = \"mail-before-tls\"\nport_class = [\"submission\"]\n"
    "mail_in_clear = true\naction = \"reject\"\n";

// Test that a connection ending (idle timeout) in the middle of a command line keeps that
// line's fate: the rest, arriving later on a flow picked up mid-stream, is reset rather than
// read from the middle as an unknown command.
TEST_F(WorkerTest, FlowEndingMidLineKeepsTheLinesVerdict) {
  PolicyFile p(kMailBeforeTls);
  Session s;
  s.apply(p);
  s.upToEhloReply();
  EXPECT_TRUE(s.client("MAIL FROM:<alice@exa")) << "an incomplete line is not judged yet";
  s.idle(400);  // past the established timeout (300 s): the flow ends mid-line
  EXPECT_FALSE(s.client("mple.org>\r\n")) << "the rest of the MAIL line left";
  EXPECT_EQ(s.counter(Counter::kFlowsMidlineRefused), 1u);
  EXPECT_EQ(s.resets(), 2u) << "both ends reset";
}

// Test the control: a connection that ended between lines is picked up mid-stream as before.
TEST_F(WorkerTest, FlowEndingBetweenLinesIsPickedUpAgain) {
  PolicyFile p(kMailBeforeTls);
  Session s;
  s.apply(p);
  s.upToEhloReply();
  EXPECT_TRUE(s.client("NOOP\r\n"));
  s.idle(400);
  EXPECT_TRUE(s.client("NOOP\r\n"));
  EXPECT_EQ(s.counter(Counter::kFlowsMidlineRefused), 0u);
  EXPECT_EQ(s.resets(), 0u);
}

}  // namespace
}  // namespace smtpguard
