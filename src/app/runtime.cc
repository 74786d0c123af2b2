#include "app/runtime.h"

#include <dlfcn.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_mbuf_dyn.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <sched.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <new>
#include <utility>

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <map>

#include "app/control.h"
#include "app/eal_output.h"
#include "app/memory_budget.h"
#include "app/service_notify.h"
#include "events/redis_sink.h"
#include "events/sink_spec.h"
#include "events/syslog_sink.h"
#include "policy/policy_compiler.h"
#include "stats/counter_block.h"

// Replay's start-up: the TSC calibration sleep, shortened.
//
// Where the CPU does not report the TSC's frequency (CPUID leaf 0x15, or MSR_PLATFORM_INFO through
// /dev/cpu/N/msr: neither here, in a VM), DPDK 22.11's rte_eal_init measures it: the TSC and
// CLOCK_MONOTONIC_RAW are read before and after nanosleep() of 100 ms, and the frequency is the
// ratio of the two differences rounded to 10 MHz (get_tsc_freq(), lib/eal/linux/eal_timer.c),
// a tenth of a second in which the process waits. The interval is measured, not assumed, so
// a 10 ms sleep gives the same frequency (a 10 MHz step is 0.4% of 2.5 GHz; the clock reads
// are microseconds apart). While replay's rte_eal_init runs, and only then, a request for
// exactly 100 ms from anyone in the process sleeps 10 ms; every other nanosleep() is
// passed on untouched. DPDK's own symbol lookup finds this definition before libc's: the
// executable comes first.
namespace {
std::atomic<bool> g_short_tsc_calibration{false};
}  // namespace

extern "C" int nanosleep(const struct timespec* req, struct timespec* rem) noexcept {
  using Fn = int (*)(const struct timespec*, struct timespec*);
  static const Fn next = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "nanosleep"));
  if (g_short_tsc_calibration.load(std::memory_order_relaxed) && req != nullptr &&
      req->tv_sec == 0 && req->tv_nsec == 100000000) {
    const struct timespec shorter = {0, 10000000};
    return next(&shorter, rem);
  }
  return next(req, rem);
}

namespace smtpguard {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};
std::atomic<bool> g_reopen{false};

namespace {

void onSignal(int) {
  g_stop.store(true, std::memory_order_relaxed);
}
// SIGHUP: Suricata's and syslog's convention for "reopen your logs", and already this
// program's "reload the policy": it does both. SIGUSR1 and SIGUSR2 do one each.
void onHangup(int) {
  g_reload.store(true, std::memory_order_relaxed);
  g_reopen.store(true, std::memory_order_relaxed);
}
void onReopen(int) {
  g_reopen.store(true, std::memory_order_relaxed);
}
void onReload(int) {
  g_reload.store(true, std::memory_order_relaxed);
}

constexpr unsigned kEventRingSize = 4096;  // per worker; a full ring drops and counts

// Worker tables in DPDK memory on the worker's socket: hugepages where the EAL has them, its
// -m arena with --no-huge. rte_zmalloc_socket zeroes, and falls back to no memory (nullptr),
// upon which the table goes to the heap and start-up says so.
void* dpdkTableAlloc(size_t bytes, size_t align, int socket) {
  return rte_zmalloc_socket("sg_table", bytes, static_cast<unsigned>(align),
                            socket < 0 ? SOCKET_ID_ANY : socket);
}
void dpdkTableFree(void* p) {
  rte_free(p);
}

}  // namespace

void installSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // SA_RESTART: a control signal interrupts no system call of the main lcore's.
  using Handler = void (*)(int);
  const std::pair<int, Handler> control[] = {
      {SIGHUP, onHangup}, {SIGUSR1, onReopen}, {SIGUSR2, onReload}};
  for (const auto& [sig, handler] : control) {
    struct sigaction ctl {};
    ctl.sa_handler = handler;
    ctl.sa_flags = SA_RESTART;
    sigemptyset(&ctl.sa_mask);
    sigaction(sig, &ctl, nullptr);
  }
  // A closed pipe or a file size limit is an output error to report, not a reason to die.
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGXFSZ, SIG_IGN);
}

bool initEal(const Options& opts, std::string& error) {
  std::vector<std::string> args = opts.eal_args;
  if (args.empty()) {
    // Replay needs no devices: one lcore on a CPU this process may use, no hugepages, no
    // PCI scan, no shared runtime files (so replays run in parallel), no telemetry socket.
    cpu_set_t set;
    CPU_ZERO(&set);
    int cpu = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
      for (int c = 0; c < CPU_SETSIZE; ++c) {
        if (CPU_ISSET(c, &set)) {
          cpu = c;
          break;
        }
      }
    }
    args = {"smtpguard", "--no-huge",         "--no-pci", "--no-shconf", "--no-telemetry",
            "-l",        std::to_string(cpu), "-m",       "256",         "--log-level=*:error"};
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The EAL's chatter, complaints and usage text only with --verbose; one line from us.
  OutputCapture capture(!opts.verbose);
  g_short_tsc_calibration.store(opts.mode == Mode::kReplay, std::memory_order_relaxed);
  int rc = rte_eal_init(static_cast<int>(args.size()), argv.data());
  g_short_tsc_calibration.store(false, std::memory_order_relaxed);
  const int eal_errno = rte_errno;
  const std::string eal_output = capture.finish();
  if (rc < 0) {
    error = "DPDK EAL initialisation failed: " +
            summariseEalOutput(eal_output, args[0], rte_strerror(eal_errno)) +
            (opts.verbose ? "" : " (--verbose shows DPDK's messages)");
    return false;
  }
  if (static_cast<size_t>(rc) + 1 != args.size()) {
    error = "unrecognised EAL argument '" + args[static_cast<size_t>(rc) + 1] + "'";
    return false;
  }
  // After start-up too, DPDK's informational lines (a library's table allocated, a port's
  // link) only with --verbose or an explicit --log-level; warnings and errors always.
  const bool log_level_given = std::any_of(args.begin(), args.end(), [](const std::string& a) {
    return a.rfind("--log-level", 0) == 0;
  });
  if (!opts.verbose && !log_level_given) rte_log_set_global_level(RTE_LOG_WARNING);
  return true;
}

void cleanupEal() {
  rte_eal_cleanup();
}

bool MbufTimestamp::registerField(std::string& error) {
  if (rte_mbuf_dyn_rx_timestamp_register(&offset, nullptr) != 0) {
    error = std::string("cannot register the mbuf timestamp field: ") + rte_strerror(rte_errno);
    return false;
  }
  int flag_bit = rte_mbuf_dynflag_lookup(RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME, nullptr);
  if (flag_bit < 0) {
    error = "mbuf timestamp flag missing after registration";
    return false;
  }
  flag = 1ull << flag_bit;
  return true;
}

Runtime::~Runtime() {
  workers_.clear();
  policy_.reset();
  for (rte_ring* r : rings_) rte_ring_free(r);
}

bool Runtime::setup(const std::vector<WorkerPlace>& places, std::string& error) {
  const auto n_workers = static_cast<unsigned>(places.size());
  // Workers allocate and touch their tables up front: too many flows is an error here.
  if (!flowsFitMemory(n_workers, opts_.flows, opts_.subscriber_slots, availableMemory(), error))
    return false;
  if (!events_.open(opts_.events, error)) return false;
  if (!openSinks(error)) return false;
  if (!opts_.ipfix.empty()) {
    IpfixTarget target;
    if (!parseIpfixTarget(opts_.ipfix, target, error)) return false;
    ipfix_ = std::make_unique<IpfixExporter>(target);
    if (!ipfix_->start(error)) return false;
  }
  if (!timestamp_.registerField(error)) return false;
  policy_ = std::make_unique<PolicyHandle>(n_workers);
  placement_ = std::make_unique<PlacementStats[]>(n_workers);
  if (!opts_.policy.empty()) {
    std::string diags;
    if (!applyPolicy(*policy_, compilePolicyFileNow(opts_.policy, diags), diags)) {
      while (!diags.empty() && diags.back() == '\n') diags.pop_back();  // the caller ends the line
      error = "policy " + opts_.policy + " is not usable:\n" + diags;
      return false;
    }
    control_counters_.inc(Counter::kPolicyReloads);
    notePolicyLoaded(opts_.policy);
  }
  for (unsigned w = 0; w < n_workers; ++w) {
    std::string name = "sg_events_" + std::to_string(w);
    rte_ring* ring = rte_ring_create_elem(name.c_str(), sizeof(EventRecord), kEventRingSize,
                                          places[w].socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (ring == nullptr) {
      error = "cannot create event ring: " + std::string(rte_strerror(rte_errno));
      return false;
    }
    rings_.push_back(ring);
    WorkerConfig wc;
    wc.flow_capacity = opts_.flows;
    wc.subscriber_slots = opts_.subscriber_slots;
    // A seed per start that nobody outside can know: crafted colliding tuples then cost no
    // more than any others.
    if (getrandom(&wc.hash_seed, sizeof wc.hash_seed, 0) != sizeof wc.hash_seed) {
      wc.hash_seed ^= rte_rdtsc();
    }
    if (opts_.timeout_handshake_ns != 0) wc.timeouts.handshake_ns = opts_.timeout_handshake_ns;
    if (opts_.timeout_established_ns != 0) {
      wc.timeouts.established_ns = opts_.timeout_established_ns;
    }
    if (opts_.timeout_half_closed_ns != 0) {
      wc.timeouts.half_closed_ns = opts_.timeout_half_closed_ns;
    }
    if (opts_.timeout_closing_ns != 0) wc.timeouts.closing_ns = opts_.timeout_closing_ns;
    wc.enforce = opts_.enforce && opts_.mode != Mode::kMonitor;
    wc.fragments = opts_.fragments == "drop"   ? FragmentMode::kDrop
                   : opts_.fragments == "pass" ? FragmentMode::kPass
                                               : FragmentMode::kReassemble;
    wc.verify_checksums =
        opts_.checksums.empty() ? opts_.mode != Mode::kReplay : opts_.checksums == "verify";
    // Replay's packets carry their capture time. Live packets run on the TSC clock alone: a
    // NIC's own timestamps are in another clock domain, and flow expiry on an idle link uses
    // the TSC.
    if (opts_.mode == Mode::kReplay) wc.timestamp = timestamp_;
    wc.events = ring;
    wc.inject_pool = places[w].inject_pool;
    wc.socket = places[w].socket;
    // Replay: the heap, lazily. Its large blocks are fresh mappings, faulted in only where used
    // and unmapped at exit, while DPDK zeroes every byte it frees (the pools' untouched pages
    // included); a replay runs on one lcore with no device, so placement buys nothing.
    wc.memory = opts_.mode == Mode::kReplay
                    ? MemorySource{nullptr, nullptr, places[w].socket, &placement_[w], true}
                    : MemorySource{dpdkTableAlloc, dpdkTableFree, places[w].socket, &placement_[w]};
    wc.lcore = static_cast<uint8_t>(w);
    try {
      workers_.push_back(std::make_unique<Worker>(wc, *policy_));
    } catch (const std::bad_alloc&) {
      error = "--flows " + std::to_string(opts_.flows) +
              ": cannot allocate the flow tables of worker " + std::to_string(w) +
              " (out of memory)";
      return false;
    }
    // Made whatever --fragments says: a policy's [policy] fragments may ask for it later.
    if (!workers_.back()->reassembles()) {
      error = "cannot create the IP reassembly table of worker " + std::to_string(w) +
              " (out of DPDK memory? give the EAL more with -m)";
      return false;
    }
    const PlacementStats& ps = placement_[w];
    if (ps.heap_bytes != 0 && opts_.mode != Mode::kReplay) {
      std::fprintf(stderr,
                   "smtpguard: worker %u: %.0f MiB of flow tables on the heap, DPDK memory on "
                   "socket %d was short (give the EAL more: -m, or hugepages)\n",
                   w, static_cast<double>(ps.heap_bytes) / (1 << 20), places[w].socket);
    }
  }
  return true;
}

namespace {

// SHA-256 of a regular file of at most 64 MiB, in hex; empty if it cannot be read so.
std::string fileSha256(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string data;
  struct stat st {};
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= (64 << 20)) {
    data.resize(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < data.size()) {
      const ssize_t n = ::read(fd, data.data() + got, data.size() - got);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    data.resize(got);
  } else {
    ::close(fd);
    return {};
  }
  ::close(fd);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

uint64_t wallNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// What a rule does, as a load's diff compares it: a rule of the same name whose text differs
// is "changed".
std::string ruleSignature(const PolicySnapshot& p, size_t i) {
  const CompiledRule& r = p.rule(i);
  const RuleInfo& info = p.ruleInfo(i);
  std::string sig = std::string(actionName(r.action)) + "|" +
                    (r.stage == Stage::kConnection ? "connection" : "session") + "|" +
                    (r.shadow ? "shadow" : "enforce") + "|" +
                    std::string(rejectWithName(r.reject_with)) + "|" + info.rate_text + "|" +
                    info.expires_text + "|" + std::to_string(r.events);
  for (const std::string& c : info.conditions) sig += "|" + c;
  return sig;
}

}  // namespace

void Runtime::notePolicyLoaded(const std::string& path) {
  std::string sha = fileSha256(path);
  // Absolute, so that what /smtpguard/policy reports does not depend on the directory
  // smtpguard was started from; symbolic links are kept (a reload follows the link as it is
  // then, the usual way to deploy a new policy version).
  std::string absolute = path;
  if (!path.empty() && path[0] != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) != nullptr) absolute = std::string(cwd) + "/" + path;
  }
  std::lock_guard lock(policy_mu_);
  policy_path_ = absolute;
  policy_sha256_ = std::move(sha);
  policy_loaded_at_ns_ = wallNs();
  ++policy_loads_;
}

void Runtime::reloadPolicy(int caller_worker) {
  std::string path;
  {
    std::lock_guard lock(policy_mu_);
    path = policy_path_;
  }
  if (path.empty()) {
    std::fprintf(stderr, "smtpguard: reload: no --policy file to reload\n");
    return;
  }
  PolicyLoadResult result;
  loadPolicy(path, caller_worker, result);
}

bool Runtime::loadPolicy(const std::string& path, int caller_worker, PolicyLoadResult& result) {
  result = PolicyLoadResult{};
  std::shared_ptr<const PolicySnapshot> old = policy_->current()->snapshot;
  std::string diags;
  bool ok;
  notifyReloading();
  // Compiled first (it may take a second for a large policy) with the readers free to run ...
  auto snapshot = compilePolicyFileNow(path, diags);
  {
    // ... then other threads' readers are held off the bundle while it is swapped and the old
    // one freed.
    std::lock_guard lock(policy_mu_);
    ok = applyPolicy(*policy_, std::move(snapshot), diags, caller_worker);
  }
  if (!ok) {
    // The running policy stays: the service is ready again, with the old one.
    const auto& running = policy_->current()->snapshot;
    notifyReady("policy reload failed, " + (running ? running->name() : std::string("none")) +
                " stays");
    control_counters_.inc(Counter::kPolicyReloadFailures);
    // Every diagnostic ends its line, so the next message starts on its own.
    if (diags.empty() || diags.back() != '\n') diags += '\n';
    std::fprintf(stderr, "smtpguard: policy reload failed, the running policy stays:\n%s",
                 diags.c_str());
    result.errors = diags;
    return false;
  }
  control_counters_.inc(Counter::kPolicyReloads);
  notePolicyLoaded(path);
  const PolicySnapshot& snap = *policy_->current()->snapshot;
  result.ok = true;
  result.name = std::string(snap.name());
  result.rules = snap.ruleCount();
  std::map<std::string, std::string> before, after;
  if (old != nullptr)
    for (size_t i = 0; i < old->ruleCount(); ++i)
      before[old->ruleInfo(i).name] = ruleSignature(*old, i);
  for (size_t i = 0; i < snap.ruleCount(); ++i)
    after[snap.ruleInfo(i).name] = ruleSignature(snap, i);
  for (const auto& [name, sig] : after) {
    auto it = before.find(name);
    if (it == before.end()) {
      result.added.push_back(name);
    } else if (it->second != sig) {
      result.changed.push_back(name);
    }
  }
  for (const auto& [name, sig] : before)
    if (after.find(name) == after.end()) result.removed.push_back(name);
  std::fprintf(stderr,
               "smtpguard: policy reloaded: %s (%zu rules) from %s: %zu added, %zu removed, "
               "%zu changed\n",
               result.name.c_str(), result.rules, path.c_str(), result.added.size(),
               result.removed.size(), result.changed.size());
  notifyReady("policy " + result.name + " reloaded (" + std::to_string(result.rules) + " rules)");
  return true;
}

std::vector<std::pair<std::string, uint64_t>> Runtime::counters() {
  std::vector<const CounterBlock*> blocks{&control_counters_};
  for (auto& w : workers_) blocks.push_back(&w->counters());
  std::lock_guard lock(policy_mu_);
  CounterNaming naming = policy_->naming(policy_->current()->ports.ports());
  return sumCounters(blocks, naming);
}

PolicyInfo Runtime::policyInfo() {
  auto sums = counters();
  std::map<std::string, uint64_t, std::less<>> by_name(sums.begin(), sums.end());
  PolicyInfo info;
  std::lock_guard lock(policy_mu_);
  info.path = policy_path_;
  info.sha256 = policy_sha256_;
  info.loaded_at_ns = policy_loaded_at_ns_;
  info.loads = policy_loads_;
  const PolicySnapshot* snap = policy_->current()->snapshot.get();
  if (snap == nullptr) return info;
  info.name = std::string(snap->name());
  info.shadow = snap->shadowMode();
  info.default_action = std::string(actionName(snap->defaultAction()));
  info.subscriber_v6_prefix = snap->subscriberV6Prefix();
  for (size_t i = 0; i < snap->ruleCount(); ++i) {
    const CompiledRule& r = snap->rule(i);
    const RuleInfo& ri = snap->ruleInfo(i);
    PolicyInfo::Rule rule;
    rule.name = ri.name;
    rule.action = std::string(actionName(r.action));
    rule.stage = r.stage == Stage::kConnection ? "connection" : "session";
    rule.source = ri.source;
    rule.shadow = r.shadow;
    auto hit = by_name.find("policy.rule." + ri.name);
    if (hit != by_name.end()) rule.hits = hit->second;
    auto sh = by_name.find("policy.shadow." + ri.name);
    if (sh != by_name.end()) rule.shadow_hits = sh->second;
    info.rules.push_back(std::move(rule));
  }
  return info;
}

void Runtime::reopenOutputs() {
  if (opts_.events.empty() || opts_.events == "-") {
    std::fprintf(stderr, "smtpguard: reopen: no events file to reopen\n");
    return;
  }
  std::string error;
  if (events_.reopen(error)) {
    std::fprintf(stderr, "smtpguard: events file reopened: %s\n", opts_.events.c_str());
  } else {
    std::fprintf(stderr, "smtpguard: %s (events go on to the file open until now)\n",
                 error.c_str());
  }
  noteEventErrors();
}

bool Runtime::openSinks(std::string& error) {
  for (const std::string& text : opts_.event_sinks) {
    SinkSpec spec;
    if (!parseSinkSpec(text, spec, error)) return false;
    if (spec.kind == SinkKind::kRedis) {
      // Connects on its own thread: a Redis down at start delays nothing (redis_sink.h).
      sinks_.push_back({std::make_unique<RedisSink>(spec), Counter::kEventsRedisSent,
                        Counter::kEventsRedisDropped});
    } else if (spec.kind == SinkKind::kSyslogUnix || spec.kind == SinkKind::kSyslogUdp) {
      auto sink = std::make_unique<SyslogSink>();
      if (!sink->open(spec, error)) return false;
      sinks_.push_back(
          {std::move(sink), Counter::kEventsSyslogSent, Counter::kEventsSyslogDropped});
    }
  }
  return true;
}

void Runtime::drainEvents() {
  EventRecord batch[32];
  // Rendered once, for the file and every sink of lines alike (IPFIX takes the typed record).
  const bool render = events_.enabled() || !sinks_.empty();
  std::string line;
  for (rte_ring* r : rings_) {
    unsigned n;
    while ((n = rte_ring_sc_dequeue_burst_elem(r, batch, sizeof(EventRecord), 32, nullptr)) > 0) {
      for (unsigned i = 0; i < n; ++i) {
        port25_.note(batch[i]);
        if (render) {
          line = renderEvent(batch[i]);
          events_.write(line);
          for (SinkSlot& s : sinks_) s.sink->write(eventTypeName(batch[i].type), line);
        }
        if (ipfix_ != nullptr) ipfix_->add(batch[i]);
        if (control_ != nullptr) control_->noteEvent(batch[i]);
      }
    }
  }
  events_.flush();
  for (SinkSlot& s : sinks_) s.sink->flush();
  if (ipfix_ != nullptr) ipfix_->flush();
  noteEventErrors();
}

void Runtime::noteEventErrors() {
  // Each output keeps running totals; the control plane's counters take what is new since the
  // last drain.
  auto catchUp = [this](Counter c, uint64_t total, uint64_t& counted) {
    control_counters_.inc(c, total - counted);
    counted = total;
  };
  for (SinkSlot& s : sinks_) {
    catchUp(s.sent, s.sink->sent(), s.sent_counted);
    catchUp(s.dropped, s.sink->dropped(), s.dropped_counted);
  }
  if (ipfix_ != nullptr) {
    catchUp(Counter::kIpfixExported, ipfix_->exported(), ipfix_exported_counted_);
    catchUp(Counter::kIpfixDropped, ipfix_->dropped(), ipfix_dropped_counted_);
  }
  catchUp(Counter::kEventsWriteFailed, events_.lost(), events_lost_counted_);
  if (!events_.error().empty() && !events_error_reported_) {
    std::fprintf(stderr,
                 "smtpguard: %s (lost events are counted in events.write_failed; later ones "
                 "are tried again)\n",
                 events_.error().c_str());
    events_error_reported_ = true;
  }
}

namespace {

// Writes `text` to `path` ("-" or empty: standard output). One-line error naming the output.
bool writeOutput(const std::string& path, const std::string& text, const char* what,
                 std::string& error) {
  const bool to_stdout = path.empty() || path == "-";
  const std::string where = to_stdout ? "standard output" : path;
  auto fail = [&]() {
    error = std::string("cannot write ") + what + " to " + where + ": " + std::strerror(errno);
    return false;
  };
  if (to_stdout) {
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size()) return fail();
    if (std::fflush(stdout) != 0) return fail();
    return true;
  }
  // A regular file (or a new one) is replaced whole: written under a temporary name in its
  // directory, then renamed over it, so a reader (a collector tailing --stats-interval) never
  // sees half a file. Anything else (a device, a FIFO) and a directory that refuses the
  // temporary file are written in place, and so is a symbolic link (a rename would replace the
  // link, not the file it names).
  struct stat st {};
  const bool in_place = lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode);
  std::string tmp;
  int fd = -1;
  if (!in_place) {
    const size_t slash = path.rfind('/');
    tmp = path.substr(0, slash == std::string::npos ? 0 : slash + 1) + "." +
          path.substr(slash == std::string::npos ? 0 : slash + 1) + "." + std::to_string(getpid()) +
          ".tmp";
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
  }
  const bool renaming = fd >= 0;
  if (!renaming)
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
  if (fd < 0) return fail();
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      break;
    }
    done += static_cast<size_t>(n);
  }
  const bool written = done == text.size();
  const int write_errno = errno;
  const bool closed = ::close(fd) == 0;
  if (!written || !closed) {
    if (!written) errno = write_errno;
    const int saved = errno;
    if (renaming) ::unlink(tmp.c_str());
    errno = saved;
    return fail();
  }
  if (renaming && ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(tmp.c_str());
    errno = saved;
    return fail();
  }
  return true;
}

}  // namespace

bool Runtime::finish(double elapsed_s) {
  drainEvents();
  events_.close();
  // The sinks send what they hold (bounded: redis_sink.h), so their counts are final here.
  for (SinkSlot& s : sinks_) s.sink->close();
  if (ipfix_ != nullptr) ipfix_->stop();  // what is queued goes out first
  noteEventErrors();
  const bool events_ok = events_.error().empty();
  const bool report_ok = report(elapsed_s);
  return events_ok && report_ok;
}

bool Runtime::writeCounterFiles(const std::vector<std::pair<std::string, uint64_t>>& counters) {
  bool ok = true;
  std::string error;
  if (!writeOutput(opts_.stats, countersToJson(counters, true), "stats", error)) {
    std::fprintf(stderr, "smtpguard: %s\n", error.c_str());
    ok = false;
  }
  if (!opts_.prometheus.empty() &&
      !writeOutput(opts_.prometheus, countersToPrometheus(counters), "Prometheus text", error)) {
    std::fprintf(stderr, "smtpguard: %s\n", error.c_str());
    ok = false;
  }
  return ok;
}

bool Runtime::writeCounters() {
  // Reported once: the same failure every interval would fill the log. The final write at the
  // end reports again and sets the exit status.
  const auto all = counters();
  std::string error;
  bool ok = writeOutput(opts_.stats, countersToJson(all, true), "stats", error);
  if (ok && !opts_.prometheus.empty())
    ok = writeOutput(opts_.prometheus, countersToPrometheus(all), "Prometheus text", error);
  if (!ok && !counters_error_reported_) {
    std::fprintf(stderr, "smtpguard: %s (tried again every --stats-interval)\n", error.c_str());
    counters_error_reported_ = true;
  }
  return ok;
}

bool Runtime::report(double elapsed_s) {
  const auto counters = this->counters();
  bool ok = writeCounterFiles(counters);
  if (opts_.summary && isatty(STDERR_FILENO)) {
    const auto& snap = policy_->current()->snapshot;
    SummaryInput in;
    in.counters = &counters;
    in.blocks = &port25_;
    in.elapsed_s = elapsed_s;
    if (snap) in.policy = snap->name();
    in.enforcing = opts_.enforce && opts_.mode != Mode::kMonitor && snap && !snap->shadowMode();
    std::fputs(renderSummary(in).c_str(), stderr);
  }
  return ok;
}

LiveClock::LiveClock() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tsc0_ = rte_get_tsc_cycles();
  wall0_ns_ = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
  ns_per_cycle_ = 1e9 / static_cast<double>(rte_get_tsc_hz());
}

uint64_t LiveClock::nowNs() const {
  return wall0_ns_ +
         static_cast<uint64_t>(static_cast<double>(rte_get_tsc_cycles() - tsc0_) * ns_per_cycle_);
}

}  // namespace smtpguard
