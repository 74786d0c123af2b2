#include "stats/counter_block.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace smtpguard {
namespace {

// Test that blocks from several lcores are summed per name, in declaration order.
TEST(CounterBlock, SumsAcrossLcoresInDeclarationOrder) {
  CounterBlock a, b;
  a.inc(Counter::kPacketsRx, 3);
  b.inc(Counter::kPacketsRx, 4);
  b.inc(Counter::kPacketsTcp);
  const CounterBlock* blocks[] = {&a, &b};
  auto sum = sumCounters(blocks, {});
  ASSERT_GE(sum.size(), kCounterCount);
  for (size_t i = 0; i < kCounterCount; ++i) EXPECT_EQ(sum[i].first, kCounterNames[i]) << i;
  EXPECT_EQ(sum[0].first, "packets.rx");
  EXPECT_EQ(sum[0].second, 7u);
  const auto tcp =
      std::find_if(sum.begin(), sum.end(), [](const auto& c) { return c.first == "packets.tcp"; });
  ASSERT_TRUE(tcp != sum.end()) << "packets.tcp is missing from the sum";
  EXPECT_EQ(tcp->second, 1u);
}

// Test that every port of the SMTP set is exported even when zero, and other ports only if hit.
TEST(CounterBlock, PortFamilyListsPolicyPortsAndAnyHitPort) {
  CounterBlock a;
  (*a.flows_port)[25] = 2;
  (*a.flows_port)[8025] = 1;
  const CounterBlock* blocks[] = {&a};
  const uint16_t ports[] = {25, 587};
  auto sum = sumCounters(blocks, {.smtp_ports = ports, .rule_names = {}});
  std::string json = countersToJson(sum, false);
  EXPECT_NE(json.find("\"flows.port.25\":2"), std::string::npos);
  EXPECT_NE(json.find("\"flows.port.587\":0"), std::string::npos);
  EXPECT_NE(json.find("\"flows.port.8025\":1"), std::string::npos);
  EXPECT_EQ(json.find("\"flows.port.465\""), std::string::npos);
}

// Test that Prometheus output labels families and keeps totals apart from breakdowns.
TEST(CounterBlock, PrometheusLabelsFamilies) {
  std::vector<std::pair<std::string, uint64_t>> c = {{"packets.malformed", 3},
                                                     {"packets.malformed.vlan", 3},
                                                     {"flows.port.25", 9},
                                                     {"flows.active", 1}};
  std::string text = countersToPrometheus(c);
  EXPECT_NE(text.find("smtpguard_packets_malformed 3\n"), std::string::npos);
  EXPECT_NE(text.find("smtpguard_packets_malformed_by_reason{reason=\"vlan\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("smtpguard_flows_port{port=\"25\"} 9\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE smtpguard_flows_active gauge\n"), std::string::npos);
}

// Test that each metric has one HELP and one TYPE line with all its samples after them, even
// when the counter list interleaves two families (policy.rule.<a>, policy.shadow.<a>, ...).
TEST(CounterBlock, PrometheusGroupsEachMetricOnce) {
  std::vector<std::pair<std::string, uint64_t>> c = {{"policy.rule.a", 1},
                                                     {"policy.shadow.a", 2},
                                                     {"policy.rule.b\"x", 3},
                                                     {"policy.shadow.b\"x", 4}};
  std::string text = countersToPrometheus(c);
  EXPECT_EQ(text,
            "# HELP smtpguard_policy_rule smtpguard policy.rule.<rule> (docs/counters.md)\n"
            "# TYPE smtpguard_policy_rule counter\n"
            "smtpguard_policy_rule{rule=\"a\"} 1\n"
            "smtpguard_policy_rule{rule=\"b\\\"x\"} 3\n"
            "# HELP smtpguard_policy_shadow smtpguard policy.shadow.<rule> (docs/counters.md)\n"
            "# TYPE smtpguard_policy_shadow counter\n"
            "smtpguard_policy_shadow{rule=\"a\"} 2\n"
            "smtpguard_policy_shadow{rule=\"b\\\"x\"} 4\n");
}

// Test that JSON is one flat object with every declared name exactly once.
TEST(CounterBlock, JsonHasEveryDeclaredNameOnce) {
  CounterBlock a;
  const CounterBlock* blocks[] = {&a};
  std::string json = countersToJson(sumCounters(blocks, {}), false);
  for (std::string_view name : kCounterNames) {
    std::string key = "\"" + std::string(name) + "\":";
    size_t first = json.find(key);
    ASSERT_NE(first, std::string::npos) << name;
    EXPECT_EQ(json.find(key, first + 1), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace smtpguard
