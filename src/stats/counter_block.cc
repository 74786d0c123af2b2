#include "stats/counter_block.h"

#include <algorithm>
#include <cstdio>
#include <string_view>

namespace smtpguard {
namespace {

uint64_t relaxedLoad(const uint64_t& v) {
  return __atomic_load_n(&v, __ATOMIC_RELAXED);
}

}  // namespace

std::vector<std::pair<std::string, uint64_t>> sumCounters(
    std::span<const CounterBlock* const> blocks, const CounterNaming& naming) {
  std::vector<std::pair<std::string, uint64_t>> out;
  out.reserve(kCounterCount + naming.smtp_ports.size() + 2 * naming.rule_names.size());
  for (size_t i = 0; i < kCounterCount; ++i) {
    uint64_t sum = 0;
    for (const CounterBlock* b : blocks) sum += relaxedLoad(b->values[i]);
    out.emplace_back(std::string(kCounterNames[i]), sum);
  }
  // Ports in the policy's set always appear; any other port that saw flows (a port removed by a
  // reload) appears too, so no count silently disappears.
  std::array<bool, 65536> listed{};
  for (uint16_t p : naming.smtp_ports) listed[p] = true;
  for (uint32_t p = 0; p < 65536; ++p) {
    uint64_t sum = 0;
    for (const CounterBlock* b : blocks) sum += relaxedLoad((*b->flows_port)[p]);
    if (listed[p] || sum != 0) out.emplace_back("flows.port." + std::to_string(p), sum);
  }
  for (size_t r = 0; r < naming.rule_names.size() && r < kRuleSlots; ++r) {
    if (naming.rule_names[r].empty()) continue;
    uint64_t hits = 0, shadow = 0;
    if (r < naming.rule_offsets.size()) {
      hits = naming.rule_offsets[r].hits;
      shadow = naming.rule_offsets[r].shadow;
    }
    for (const CounterBlock* b : blocks) {
      hits += relaxedLoad(b->rule_hits[r]);
      shadow += relaxedLoad(b->rule_shadow[r]);
    }
    out.emplace_back("policy.rule." + naming.rule_names[r], hits);
    out.emplace_back("policy.shadow." + naming.rule_names[r], shadow);
  }
  for (const RetiredRule& r : naming.retired_rules) {
    out.emplace_back("policy.rule." + r.name, r.count.hits);
    out.emplace_back("policy.shadow." + r.name, r.count.shadow);
  }
  return out;
}

namespace {

void appendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

}  // namespace

std::string countersToJson(const std::vector<std::pair<std::string, uint64_t>>& counters,
                           bool pretty) {
  std::string out = "{";
  bool first = true;
  for (const auto& [name, value] : counters) {
    if (!first) out += ",";
    first = false;
    if (pretty) out += "\n  ";
    appendJsonString(out, name);
    out += pretty ? ": " : ":";
    out += std::to_string(value);
  }
  out += pretty ? "\n}\n" : "}";
  return out;
}

namespace {

// Family counters become one metric with a label: flows.port.25 -> flows_port{port="25"}.
// Where the family's prefix is itself a counter (packets.malformed), the labelled metric gets
// a `_by_<label>` name so a query summing it does not count the total twice.
struct Family {
  std::string_view prefix;
  std::string_view label;
  std::string_view metric;
};
constexpr Family kFamilies[] = {
    {"flows.port.", "port", "flows.port"},
    {"policy.rule.", "rule", "policy.rule"},
    {"policy.shadow.", "rule", "policy.shadow"},
    {"smtp.auth.plaintext.", "mechanism", "smtp.auth.plaintext_by_mechanism"},
    {"smtp.anomaly.", "anomaly", "smtp.anomaly"},
    {"packets.malformed.", "reason", "packets.malformed_by_reason"}};

std::string metricName(std::string_view dotted) {
  std::string m = "smtpguard_";
  for (char c : dotted) m.push_back((c == '.' || c == '-') ? '_' : c);
  return m;
}

}  // namespace

namespace {

// A label value as the exposition format wants it: backslash, double quote and newline
// escaped.
std::string labelValue(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::string countersToPrometheus(const std::vector<std::pair<std::string, uint64_t>>& counters) {
  // Every sample of a metric follows its one HELP and TYPE (the format allows no second TYPE
  // line): policy.rule.<a>, policy.shadow.<a>, policy.rule.<b>, ... are grouped by metric, in
  // the order each metric first appears.
  struct Metric {
    std::string name;
    std::string text;
  };
  std::vector<Metric> metrics;
  for (const auto& [name, value] : counters) {
    std::string metric;
    std::string labels;
    // HELP names the counter as the stats JSON and docs/counters.md spell it.
    std::string help;
    for (const Family& f : kFamilies) {
      if (name.size() > f.prefix.size() && name.compare(0, f.prefix.size(), f.prefix) == 0) {
        metric = metricName(f.metric);
        labels = "{" + std::string(f.label) + "=\"" +
                 labelValue(std::string_view(name).substr(f.prefix.size())) + "\"}";
        help = std::string(f.prefix) + "<" + std::string(f.label) + ">";
        break;
      }
    }
    if (metric.empty()) {
      metric = metricName(name);
      help = name;
    }
    auto it = std::find_if(metrics.begin(), metrics.end(),
                           [&](const Metric& m) { return m.name == metric; });
    if (it == metrics.end()) {
      std::string head = "# HELP " + metric + " smtpguard " + help + " (docs/counters.md)\n";
      head += "# TYPE " + metric + (name == "flows.active" ? " gauge\n" : " counter\n");
      metrics.push_back({metric, std::move(head)});
      it = metrics.end() - 1;
    }
    it->text += metric + labels + " " + std::to_string(value) + "\n";
  }
  std::string out;
  for (const Metric& m : metrics) out += m.text;
  return out;
}

}  // namespace smtpguard
