#pragma once
// Command line of the smtpguard program. Control plane.
//
//   smtpguard replay CAPTURE [options]                   (EAL arguments optional)
//   smtpguard [EAL args] -- replay CAPTURE [options]
//   smtpguard [EAL args] -- inline --inside P --outside P [options]
//   smtpguard [EAL args] -- monitor --port P [options]
//   smtpguard --config FILE [--check] [EAL args --] [MODE [options]]
//   smtpguard --version | --help | MODE --help
//
// With --config, the file (app/config_file.h) fills Options first and the command line
// overrides what it names; EAL arguments on the command line replace the file's [eal] and
// [ports] devices.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace smtpguard {

enum class Mode { kReplay, kInline, kMonitor };

struct Options {
  Mode mode = Mode::kReplay;
  std::vector<std::string> eal_args;  // argv[0] first; empty means "use replay defaults"
  std::string capture;                // replay
  std::string inside, outside;        // inline
  std::string port;                   // monitor
  std::string policy;
  std::string stats;         // "-" = stdout; empty = stdout at exit
  std::string events;        // "-" = stdout; empty = not written (still counted)
  std::string write;         // replay: pcap of what would be forwarded
  std::string golden;        // replay: write the golden set to this dir (app/golden.h)
  std::string check_golden;  // replay: compare with the golden set in this dir
  std::string prometheus;    // counters also as Prometheus text to this file
  // --events redis://..., syslog[://...]: sinks besides the file `events`, at most one of each
  // kind (events/sink_spec.h); each value already checked by parseSinkSpec().
  std::vector<std::string> event_sinks;
  // Live modes: serve the counters as Prometheus text on ADDR:PORT (GET /metrics).
  std::string metrics_listen;
  std::string ipfix;  // --ipfix: HOST:PORT, udp://HOST:PORT or tcp://HOST:PORT; empty: none
  // Live modes: rewrite --stats (and --prometheus) every this many seconds; 0 = at exit only.
  double stats_interval_s = 0;
  uint32_t flows = 65536;    // flow table capacity per worker
  bool flows_given = false;  // --flows or [flows] capacity: replay then sizes nothing itself
  // Subscriber statistics (docs/subscribers.md): entries per worker; replay's reports.
  uint32_t subscriber_slots = 4096;
  std::string subscribers, subscribers_csv;
  // --policy-mode shadow: verdicts reported, not enforced (monitor mode is always so).
  bool enforce = true;
  // --checksums verify|off; empty: verify live, off in replay (captures taken on a sending
  // host carry offloaded, wrong checksums: Suricata's -k none, Zeek's -C).
  std::string checksums;
  // --fragments reassemble|drop|pass (TCP fragments).
  std::string fragments = "reassemble";
  // --timeout STATE=SECONDS: idle timeouts per TCP state; 0 keeps the built-in default.
  uint64_t timeout_handshake_ns = 0;
  uint64_t timeout_established_ns = 0;
  uint64_t timeout_half_closed_ns = 0;
  uint64_t timeout_closing_ns = 0;
  uint32_t loop = 1;      // replay: passes over the capture, each shifted in time
  double duration_s = 0;  // live modes: stop after this long (0 = until signal)
  bool summary = true;    // human summary on stderr when it is a terminal
  bool verbose = false;   // DPDK's own output at start (EAL) as well as ours
};

// --duration's range: a millisecond to ten years.
inline constexpr double kMinDurationS = 0.001;
inline constexpr double kMaxDurationS = 10.0 * 365 * 86400;
// --stats-interval's range: a tenth of a second to a day.
inline constexpr double kMinStatsIntervalS = 0.1;
inline constexpr double kMaxStatsIntervalS = 86400;

// What the command line asked besides a run.
struct CommandLine {
  bool help = false;              // --help: usage() to stdout, exit 0
  std::optional<Mode> help_mode;  // MODE --help: usage(mode)
  bool version = false;           // --version
  bool check = false;             // --check: validate the configuration, start nothing
  std::string config;             // --config FILE
  bool mode_given = false;        // a mode word on the command line
  bool eal_given = false;         // EAL arguments on the command line
};

// Only the global options at the front (--config, --check, --version, --help), so that the
// config file can be read before the rest is parsed over it.
bool parseGlobalOptions(int argc, char** argv, CommandLine& cmd, std::string& error);

// Parses argv over `base` (defaults, or what a config file set): an option given overrides
// the base, one not given keeps it. Without a mode word the base's mode is used when
// `base_has_mode`. On failure returns nullopt with `error` set to one line naming the
// problem; nullopt without error for --help and --version (see cmd).
std::optional<Options> parseOptions(int argc, char** argv, const Options& base, bool base_has_mode,
                                    CommandLine& cmd, std::string& error);
// The same from built-in defaults, no config file.
std::optional<Options> parseOptions(int argc, char** argv, std::string& error, bool& help);

// The whole usage (every mode and option), or one mode's.
std::string usage();
std::string usage(Mode mode);

// Every option the parser accepts, each once, with the modes it applies to: usage() and the
// test comparing it with man/smtpguard.8.scd read this one table.
struct OptionDoc {
  const char* name;  // "--policy"
  const char* arg;   // "FILE", or "" for a flag
  unsigned modes;    // bit per Mode (1 << int(Mode)); 0: a global option, before the mode
  const char* text;  // may hold '\n' for continuation lines
};
inline constexpr unsigned kAllModes = 7;
const std::vector<OptionDoc>& optionDocs();

const char* modeName(Mode mode);

// One --events value (a file or a sink URL, events/sink_spec.h) added to o.events or
// o.event_sinks: at most one of each kind. One-line error otherwise.
bool addEventOutput(Options& o, const std::string& value, std::string& error);

}  // namespace smtpguard
