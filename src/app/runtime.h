#pragma once
// What every mode shares: EAL bring-up, mempools, event rings and their writer, signals,
// clocks and the final report. Control plane.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "app/ipfix_exporter.h"
#include "app/options.h"
#include "app/run_summary.h"
#include "events/event_render.h"
#include "events/event_sink.h"
#include "events/event_writer.h"
#include "pipeline/policy_handle.h"
#include "pipeline/worker.h"

struct rte_mempool;
struct rte_ring;

namespace smtpguard {

// Set by SIGINT/SIGTERM; every loop polls it.
extern std::atomic<bool> g_stop;
// Set by SIGHUP and SIGUSR2; the main lcore reloads the policy.
extern std::atomic<bool> g_reload;
// Set by SIGHUP and SIGUSR1; the main lcore reopens the event output (log rotation).
extern std::atomic<bool> g_reopen;
// The handlers only set the flags above: the main lcore acts on them between bursts. SIGPIPE
// and SIGXFSZ are ignored (output errors are reported, not fatal).
void installSignalHandlers();

// Initialises the EAL from opts.eal_args, or for replay without EAL arguments from defaults
// (no hugepages, no PCI, no shared config, one lcore, quiet logs). One-line error on failure.
bool initEal(const Options& opts, std::string& error);
void cleanupEal();

class Control;
struct PolicyLoadResult;

// The running policy as the control plane reports it (/smtpguard/policy).
struct PolicyInfo {
  std::string path;           // empty: no policy (built-in port set, observe only)
  std::string sha256;         // of the file as read at its load
  uint64_t loaded_at_ns = 0;  // wall clock
  uint64_t loads = 0;         // successful loads since start (the first included)
  std::string name;
  bool shadow = false;
  std::string default_action;
  unsigned subscriber_v6_prefix = 64;  // [subscribers] v6_prefix (docs/subscribers.md)
  struct Rule {
    std::string name, action, stage, source;
    bool shadow = false;
    uint64_t hits = 0, shadow_hits = 0;
  };
  std::vector<Rule> rules;
};

class Runtime {
 public:
  explicit Runtime(const Options& opts) : opts_(opts) {}
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Where a worker runs: the NUMA socket of its lcore (its tables, pools and event ring are
  // placed there) and the mbuf pool of that socket for the packets it generates (RSTs).
  struct WorkerPlace {
    rte_mempool* inject_pool = nullptr;
    int socket = -1;  // -1: any
  };
  // Opens outputs, registers the timestamp field, creates one worker per place with its event
  // ring. Loads --policy if given: a policy that does not compile is an error here (there is
  // nothing running to keep).
  bool setup(const std::vector<WorkerPlace>& places, std::string& error);

  // SIGHUP, SIGUSR2: compiles --policy again and publishes it; a broken file leaves the
  // running policy and counts policy.reload_failures. `caller_worker`: see applyPolicy().
  void reloadPolicy(int caller_worker);
  // The one way the running policy changes after start-up (SIGHUP, /smtpguard/policy/load):
  // compiles `path` and publishes it, or keeps the running one and counts
  // policy.reload_failures. Main lcore only. Fills `result` (errors, or the rule diff).
  bool loadPolicy(const std::string& path, int caller_worker, PolicyLoadResult& result);

  // Any thread: every counter summed over the workers and the control plane, by name.
  std::vector<std::pair<std::string, uint64_t>> counters();
  // Any thread: the running policy with each rule's hits.
  PolicyInfo policyInfo();
  // Events written from now on are also handed to `control` (null: no longer).
  void setControl(Control* control) { control_ = control; }
  // SIGHUP, SIGUSR1: the events file is opened again by its name, after logrotate moved it
  // away. One line on stderr says what happened; if the name cannot be opened the old file
  // stays in use.
  void reopenOutputs();

  // --stats-interval: rewrites --stats and --prometheus, each by writing a temporary file in
  // its directory and renaming it over the old one, so a reader sees the old file or the new,
  // never a part. The first failure is reported on stderr; false if this one failed.
  bool writeCounters();

  Worker& worker(size_t i) { return *workers_[i]; }
  size_t workerCount() const { return workers_.size(); }
  PolicyHandle& policy() { return *policy_; }
  const MbufTimestamp& timestamp() const { return timestamp_; }

  // Moves every queued event from the workers' rings to the writer. Main lcore only. A write
  // that fails loses its events, counted in events.write_failed; the first failure is
  // reported on stderr, and every later batch is tried again.
  void drainEvents();
  // At the end: the last events, then the final counters: JSON (--stats or stdout),
  // Prometheus (--prometheus), human summary. Every output error is reported on one line;
  // false if any output failed during the run (the caller's exit status says so).
  bool finish(double elapsed_s);

 private:
  const Options& opts_;
  std::unique_ptr<PolicyHandle> policy_;
  std::vector<std::unique_ptr<Worker>> workers_;
  void noteEventErrors();
  // A load succeeded: the path, its SHA-256 and the time, for policyInfo().
  void notePolicyLoaded(const std::string& path);
  bool report(double elapsed_s);
  bool writeCounterFiles(const std::vector<std::pair<std::string, uint64_t>>& counters);

  // Guards what another thread reads of the policy (its bundle, slot names, PolicyInfo) against
  // a load on the main lcore. Never taken by a worker.
  std::mutex policy_mu_;
  std::string policy_path_;
  std::string policy_sha256_;
  uint64_t policy_loaded_at_ns_ = 0;
  uint64_t policy_loads_ = 0;
  Control* control_ = nullptr;

  CounterBlock control_counters_;  // policy.reloads / reload_failures: the control plane's own
  std::vector<rte_ring*> rings_;
  // Where each worker's tables went (DPDK memory on its socket, or the heap as a fallback).
  std::unique_ptr<PlacementStats[]> placement_;
  EventWriter events_;
  // --events redis://..., syslog: each gets the line the writer gets (events/event_sink.h);
  // what they sent and dropped is added to the control plane's counters after each drain.
  struct SinkSlot {
    std::unique_ptr<EventSink> sink;
    Counter sent, dropped;
    uint64_t sent_counted = 0, dropped_counted = 0;
  };
  std::vector<SinkSlot> sinks_;
  bool openSinks(std::string& error);
  std::unique_ptr<IpfixExporter> ipfix_;  // --ipfix: smtp_flow records, as typed records
  uint64_t ipfix_exported_counted_ = 0;
  uint64_t ipfix_dropped_counted_ = 0;
  Port25Blocks port25_;  // for the human summary: blocked port-25 connections and clients
  uint64_t events_lost_counted_ = 0;
  bool events_error_reported_ = false;
  bool counters_error_reported_ = false;
  MbufTimestamp timestamp_;
};

// Nanoseconds: TSC-based monotonic time plus the wall-clock offset taken at start, so live
// events carry real timestamps without a syscall per burst.
class LiveClock {
 public:
  LiveClock();
  uint64_t nowNs() const;

 private:
  uint64_t tsc0_;
  uint64_t wall0_ns_;
  double ns_per_cycle_;
};

}  // namespace smtpguard
