#pragma once
// The human summary at the end of a run on a terminal: a report an operator can forward
// (blocked port-25 connections and from how many subscribers, plaintext AUTH by mechanism, the
// STARTTLS funnel, the rules that decided most). Built from the final counters and from the
// policy_verdict events the main lcore drained. Control plane.

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "events/event_record.h"

namespace smtpguard {

// Port-25 connections a policy blocked (or, not enforcing, would have), and the distinct
// clients behind them: counters cannot say "from how many subscribers".
class Port25Blocks {
 public:
  void note(const EventRecord& rec);

  size_t connections(bool enforced) const { return (enforced ? flows_ : would_flows_).size(); }
  size_t subscribers(bool enforced) const { return (enforced ? srcs_ : would_srcs_).size(); }

 private:
  using Addr = std::pair<uint64_t, uint64_t>;
  std::set<std::pair<uint8_t, uint64_t>> flows_, would_flows_;  // (lcore, flow id)
  std::set<Addr> srcs_, would_srcs_;
};

struct SummaryInput {
  const std::vector<std::pair<std::string, uint64_t>>* counters = nullptr;
  const Port25Blocks* blocks = nullptr;
  double elapsed_s = 0;
  std::string policy;  // name; empty: none
  bool enforcing = false;
};

std::string renderSummary(const SummaryInput& in);

}  // namespace smtpguard
