#pragma once
// The control plane of a running instance: DPDK telemetry commands under /smtpguard/ (so
// `smtpguardctl --instance PREFIX` and stock `dpdk-telemetry.py -f PREFIX` both work), the
// policy loads they ask for (carried out on the main lcore, the one writer of the policy), the
// flow queries they put to the workers, and the ring of recent events. Never the fast path.
//
// Commands (each answers one JSON object; docs/operations.md shows real outputs):
//   /smtpguard/stats[,GROUP]        counters by group (packets, flows, smtp, ...); per-rule
//                                   counters in the groups policy.rule and policy.shadow
//   /smtpguard/policy[,OFFSET]      file, sha256, loaded_at, loads, rules with hit counts
//                                   (50 rules a page from OFFSET)
//   /smtpguard/policy/load,PATH     compile PATH, swap it in, answer with the errors or the
//                                   rules added, removed and changed
//   /smtpguard/flows[,FILTER]       live flows: port=N,state=S,addr=A,order=bytes|age|idle,n=N
//   /smtpguard/top[,n=N]            client addresses with the most payload bytes in live flows
//   /smtpguard/events[,N]           the last N events (JSON lines, newest last)
//   /smtpguard/subscribers[,by=STAT,n=N]  subscribers with the most of a statistic (or events)
//   /smtpguard/quarantine           sources in the quarantine set (docs/subscribers.md)
//   /smtpguard/quarantine/add,A[,S] quarantines address A (its subscriber key) for S seconds
//   /smtpguard/quarantine/del,A     releases it
//
// Telemetry answers are bounded by DPDK (16 KiB, 256 dictionary and 512 array entries, 127
// characters a string): pages and limits above keep every answer inside them.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "events/event_record.h"
#include "pipeline/flow_query.h"
#include "subscriber/subscriber_query.h"

namespace smtpguard {

class Runtime;

// What a policy load did: compiled or not, the diagnostics, and how the rules changed.
struct PolicyLoadResult {
  bool ok = false;
  std::string name;
  size_t rules = 0;
  std::string errors;  // diagnostics, one per line (file:line:column)
  std::vector<std::string> added, removed, changed;
};

class Control {
 public:
  explicit Control(Runtime& rt);
  ~Control();
  Control(const Control&) = delete;
  Control& operator=(const Control&) = delete;

  // Registers the /smtpguard/ commands with the EAL's telemetry (live modes). They stay
  // registered (DPDK cannot unregister) and answer "stopping" once this object is gone.
  void registerTelemetry();

  // Main lcore, every loop: carries out a pending policy load. `caller_worker` as for
  // Runtime::loadPolicy.
  void poll(int caller_worker);
  // Main lcore: events as they are written, kept for /smtpguard/events.
  void noteEvent(const EventRecord& ev);
  // Main lcore, before the workers stop: pending and later requests answer "stopping".
  void stop();

  // --- telemetry threads (any of them, concurrently) ---
  // Blocks until the main lcore loaded `path` (or timeout / stop).
  PolicyLoadResult requestLoad(const std::string& path);
  // Asks every worker, waits for all answers (bounded), merges them best first.
  bool queryFlows(const FlowQuery& q, std::vector<FlowBrief>& out, uint64_t& matched,
                  uint64_t& live, std::string& error);
  // Asks every worker for its best subscribers by `q.by`, waits for all (bounded); the
  // answers' entries, every worker's, unmerged. `meta` sums tracked, events and evictions.
  bool querySubscribers(const SubscriberQuery& q, std::vector<SubscriberEntry>& out,
                        SubscriberAnswer& meta, std::string& error);
  // The last `n` events, rendered, oldest first.
  std::vector<std::string> recentEvents(size_t n);

  Runtime& runtime() { return rt_; }

 private:
  Runtime& rt_;
  std::mutex load_mu_;  // one load at a time
  std::mutex mu_;       // the fields below
  std::condition_variable cv_;
  bool stopping_ = false;
  bool load_pending_ = false;
  bool load_done_ = false;
  std::string load_path_;
  PolicyLoadResult load_result_;
  std::mutex flows_mu_;        // one flow query at a time
  std::mutex subscribers_mu_;  // one subscriber query at a time
  std::deque<EventRecord> recent_;
};

// Most events kept for /smtpguard/events.
inline constexpr size_t kRecentEvents = 256;

}  // namespace smtpguard
