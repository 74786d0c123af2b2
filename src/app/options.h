#pragma once
// Command line of the smtpguard program. Control plane.
//
//   smtpguard replay CAPTURE [options]                   (EAL arguments optional)
//   smtpguard [EAL args] -- replay CAPTURE [options]
//   smtpguard [EAL args] -- inline --inside P --outside P [options]
//   smtpguard [EAL args] -- monitor --port P [options]

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
  std::string stats;       // "-" = stdout; empty = stdout at exit
  std::string events;      // "-" = stdout; empty = not written (still counted)
  std::string write;       // replay: pcap of what would be forwarded
  std::string prometheus;  // counters also as Prometheus text to this file
  uint32_t flows = 65536;  // flow table capacity per worker
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

// Parses argv. On failure returns nullopt with `error` set to one line naming the problem;
// `help` is set for --help (usage goes to stdout, exit 0).
std::optional<Options> parseOptions(int argc, char** argv, std::string& error, bool& help);

const char* usage();

}  // namespace smtpguard
