#include "app/options.h"

#include "app/ipfix_target.h"
#include "app/listen_address.h"
#include "events/sink_spec.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace smtpguard {

namespace {

constexpr unsigned kReplayBit = 1u << static_cast<unsigned>(Mode::kReplay);
constexpr unsigned kInlineBit = 1u << static_cast<unsigned>(Mode::kInline);
constexpr unsigned kMonitorBit = 1u << static_cast<unsigned>(Mode::kMonitor);
constexpr unsigned kLiveBits = kInlineBit | kMonitorBit;

}  // namespace

const std::vector<OptionDoc>& optionDocs() {
  static const std::vector<OptionDoc> docs = {
      {"--config", "FILE", 0,
       "read settings from FILE (TOML, smtpguard.toml(5));\noptions on the command line "
       "override them"},
      {"--check", "", 0,
       "check the configuration, the policy it names and the\noutputs' directories; start "
       "nothing (exit 0: usable)"},
      {"--version", "", 0, "print the version of smtpguard, DPDK, Hyperscan and OpenSSL"},
      {"--help", "", kAllModes, "this text; after a mode, that mode's options"},
      {"--inside", "PORT", kInlineBit, "inline: the subscribers' side"},
      {"--outside", "PORT", kInlineBit, "inline: the upstream side"},
      {"--port", "PORT", kMonitorBit, "monitor: the port observed"},
      {"--policy", "FILE", kAllModes, "policy (TOML); default: built-in port set, observe only"},
      {"--policy-mode", "M", kAllModes,
       "enforce (default) or shadow: report verdicts, enforce none\n(monitor mode never enforces)"},
      {"--events", "OUT", kAllModes,
       "events as JSON lines (EVE-compatible common fields) to OUT:\na FILE, - (stdout), "
       "redis://HOST:PORT/STREAM[?maxlen=N],\nsyslog (/dev/log), syslog:///SOCKET or "
       "syslog://HOST:PORT;\nrepeatable: one file, one Redis, one syslog at most"},
      {"--ipfix", "[tcp://]HOST:PORT", kAllModes,
       "export SMTP flow records as IPFIX (RFC 7011) to a collector,\nUDP unless tcp:// "
       "(docs/export.md)"},
      {"--stats", "FILE|-", kAllModes, "final counters as one JSON object (default: stdout)"},
      {"--prometheus", "FILE", kAllModes, "final counters as Prometheus text"},
      {"--write", "CAPTURE", kReplayBit, "replay: write the packets smtpguard would forward"},
      {"--golden", "DIR", kReplayBit, "replay: write the golden set of a lab (docs/lab.md)"},
      {"--check-golden", "DIR", kReplayBit,
       "replay: compare with the golden set in DIR; exit 1 if it\ndiffers"},
      {"--loop", "N", kReplayBit, "replay: N passes, each shifted in time (new connections)"},
      {"--flows", "N", kAllModes, "flow table capacity per worker (default 65536)"},
      {"--subscriber-slots", "N", kAllModes,
       "subscribers with statistics per worker (default 4096;\ndocs/subscribers.md)"},
      {"--subscribers", "FILE", kReplayBit, "replay: per-subscriber report at the end, as JSON"},
      {"--subscribers-csv", "FILE", kReplayBit, "replay: the same report as CSV"},
      {"--checksums", "M", kAllModes,
       "verify (live default) or off (replay default: captures taken\non a sending host carry "
       "offloaded checksums)"},
      {"--fragments", "M", kAllModes,
       "TCP fragments: reassemble (default: inspected whole, then sent\non), drop, or pass "
       "(uninspected)"},
      {"--timeout", "S=SECONDS", kAllModes,
       "idle timeout of flows in TCP state S: handshake (30),\nestablished (300), half_closed "
       "(30), closing (10); repeatable"},
      {"--duration", "SECONDS", kLiveBits, "stop after this long (default: until SIGINT)"},
      {"--stats-interval", "SECONDS", kLiveBits,
       "rewrite --stats FILE (and --prometheus) every SECONDS\n(0.1 to 86400), each by a rename: "
       "never half a file;\nreplay refuses it (its counters come at the end)"},
      {"--metrics-listen", "ADDR:PORT", kLiveBits,
       "serve the counters as Prometheus text at\nhttp://ADDR:PORT/metrics (127.0.0.1:9108, "
       "[::1]:9108;\nport 0: any free port, printed at start); replay refuses it"},
      {"--no-summary", "", kAllModes, "no human summary on the terminal"},
      {"--verbose", "", kAllModes,
       "DPDK's own messages at start (EAL), besides our one-line errors"},
  };
  return docs;
}

bool addEventOutput(Options& o, const std::string& value, std::string& error) {
  std::vector<SinkSpec> specs;
  for (const std::string& s : o.event_sinks) {
    SinkSpec spec;
    if (parseSinkSpec(s, spec, error)) specs.push_back(spec);
  }
  if (!o.events.empty()) {
    SinkSpec file;
    file.kind = SinkKind::kFile;
    file.text = o.events;
    specs.push_back(file);
  }
  if (!addSinkSpec(specs, value, error)) return false;
  if (specs.back().kind == SinkKind::kFile) {
    o.events = value;
  } else {
    o.event_sinks.push_back(value);
  }
  return true;
}

const char* modeName(Mode mode) {
  switch (mode) {
    case Mode::kReplay:
      return "replay";
    case Mode::kInline:
      return "inline";
    case Mode::kMonitor:
      return "monitor";
  }
  return "replay";
}

namespace {

void appendOption(std::string& out, const OptionDoc& d) {
  std::string head = std::string("  ") + d.name + (d.arg[0] != '\0' ? " " : "") + d.arg;
  constexpr size_t kTextColumn = 22;  // "  --timeout S=SECONDS "
  head.resize(std::max(kTextColumn, head.size() + 1), ' ');
  out += head;
  for (const char* t = d.text; *t != '\0'; ++t) {
    out += *t;
    if (*t == '\n') out += std::string(kTextColumn, ' ');
  }
  out += '\n';
}

constexpr const char* kFooter =
    "signals: SIGHUP reloads --policy and reopens --events (log rotation); SIGUSR1\n"
    "reopens --events only; SIGUSR2 reloads --policy only. A policy that does not\n"
    "compile leaves the running one. SIGINT/SIGTERM stop, writing the final counters.\n"
    "PORT is a port number or a device name (net_ring0, 0000:01:00.0).\n"
    "Manual: smtpguard(8), smtpguard.toml(5), smtpguard-policy(5).\n";

}  // namespace

std::string usage() {
  std::string out =
      "usage:\n"
      "  smtpguard replay CAPTURE [options]\n"
      "  smtpguard [EAL args] -- replay CAPTURE [options]\n"
      "  smtpguard [EAL args] -- inline --inside PORT --outside PORT [options]\n"
      "  smtpguard [EAL args] -- monitor --port PORT [options]\n"
      "  smtpguard --config FILE [--check] [EAL args --] [MODE [options]]\n"
      "  smtpguard --version | MODE --help\n"
      "global options (first on the line):\n";
  for (const OptionDoc& d : optionDocs())
    if (d.modes == 0) appendOption(out, d);
  out += "options (after the mode; 'smtpguard MODE --help' lists one mode's):\n";
  for (const OptionDoc& d : optionDocs())
    if (d.modes != 0) appendOption(out, d);
  return out + kFooter;
}

std::string usage(Mode mode) {
  std::string out = "usage:\n";
  switch (mode) {
    case Mode::kReplay:
      out +=
          "  smtpguard [--config FILE] replay CAPTURE [options]\n"
          "  smtpguard [EAL args] -- replay CAPTURE [options]\n"
          "A capture (pcap or pcapng) through the same fast path as live traffic, on one lcore,\n"
          "clocked by the packets' timestamps: the same capture always gives the same output.\n"
          "Needs no EAL arguments (no hugepages, no PCI; a config file's [eal] is not used).\n";
      break;
    case Mode::kInline:
      out +=
          "  smtpguard [--config FILE] [EAL args] -- inline --inside PORT --outside PORT "
          "[options]\n"
          "Forwards L2-transparently between two ports and enforces the policy.\n";
      break;
    case Mode::kMonitor:
      out +=
          "  smtpguard [--config FILE] [EAL args] -- monitor --port PORT [options]\n"
          "Observes one port; verdicts are reported (policy.would_block), never enforced.\n";
      break;
  }
  out += std::string("options of ") + modeName(mode) + ":\n";
  const unsigned bit = 1u << static_cast<unsigned>(mode);
  for (const OptionDoc& d : optionDocs())
    if ((d.modes & bit) != 0) appendOption(out, d);
  return out + kFooter;
}

bool parseGlobalOptions(int argc, char** argv, CommandLine& cmd, std::string& error) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--config") {
      if (i + 1 >= argc) {
        error = "option --config needs a value";
        return false;
      }
      cmd.config = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      cmd.config = std::string(a.substr(9));
    } else if (a == "--check") {
      cmd.check = true;
    } else if (a == "--version") {
      cmd.version = true;
    } else {
      break;
    }
  }
  return true;
}

std::optional<Options> parseOptions(int argc, char** argv, const Options& base, bool base_has_mode,
                                    CommandLine& cmd, std::string& error) {
  Options o = base;
  int i = 1;
  // Global options at the front (parseGlobalOptions read them).
  for (; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--config") {
      ++i;
    } else if (a.rfind("--config=", 0) != 0 && a != "--check" && a != "--version") {
      break;
    }
  }
  if (cmd.version) return std::nullopt;
  auto isHelp = [](const char* a) {
    return std::strcmp(a, "--help") == 0 || std::strcmp(a, "-h") == 0;
  };
  // EAL arguments come next, ended by "--", unless the next word is already a mode. EAL
  // arguments always start with a dash; a bare word is the mode.
  // With a mode from the configuration file and no "--" on the line, what follows are
  // smtpguard's options (smtpguard --config F --duration 60).
  bool separator = false;
  for (int j = i; j < argc; ++j) separator = separator || std::strcmp(argv[j], "--") == 0;
  if (i < argc && argv[i][0] == '-' && !isHelp(argv[i]) && (separator || !base_has_mode)) {
    std::vector<std::string> eal{argv[0]};
    for (; i < argc && std::strcmp(argv[i], "--") != 0; ++i) eal.emplace_back(argv[i]);
    if (i == argc && !base_has_mode) {
      error = "no mode: expected 'replay', 'inline' or 'monitor' after the EAL arguments and --";
      return std::nullopt;
    }
    if (i < argc) ++i;  // skip "--"
    if (eal.size() > 1) {
      o.eal_args = std::move(eal);
      cmd.eal_given = true;
    }
  }
  if (i < argc && isHelp(argv[i])) {
    cmd.help = true;
    return std::nullopt;
  }
  std::string_view mode;
  if (i < argc && argv[i][0] != '-') {
    mode = argv[i++];
    cmd.mode_given = true;
    if (mode == "replay") {
      o.mode = Mode::kReplay;
    } else if (mode == "inline") {
      o.mode = Mode::kInline;
    } else if (mode == "monitor") {
      o.mode = Mode::kMonitor;
    } else {
      error = "unknown mode '" + std::string(mode) + "': expected replay, inline or monitor";
      return std::nullopt;
    }
  } else if (base_has_mode) {
    mode = modeName(o.mode);
  } else {
    error = "no mode: expected 'replay', 'inline' or 'monitor' (see --help)";
    return std::nullopt;
  }
  if (i < argc && isHelp(argv[i])) {
    cmd.help = true;
    cmd.help_mode = o.mode;
    return std::nullopt;
  }
  if (o.mode == Mode::kReplay) {
    if (i < argc && argv[i][0] != '-') {
      o.capture = argv[i++];
    } else if (o.capture.empty()) {
      error = "replay needs a capture file: smtpguard replay CAPTURE";
      return std::nullopt;
    }
  }
  bool events_given = false;
  for (; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) {
        error = "option " + std::string(a) + " needs a value";
        return false;
      }
      out = argv[++i];
      return true;
    };
    std::string num;
    if (a == "--help" || a == "-h") {
      cmd.help = true;
      cmd.help_mode = o.mode;
      return std::nullopt;
    } else if (a == "--check") {
      cmd.check = true;
    } else if (a == "--policy") {
      if (!value(o.policy)) return std::nullopt;
    } else if (a == "--stats") {
      if (!value(o.stats)) return std::nullopt;
    } else if (a == "--events") {
      std::string v;
      if (!value(v)) return std::nullopt;
      // The command line's --events replace the configuration file's, all of them.
      if (!events_given) {
        o.events.clear();
        o.event_sinks.clear();
        events_given = true;
      }
      if (!addEventOutput(o, v, error)) return std::nullopt;
    } else if (a == "--ipfix") {
      if (!value(num)) return std::nullopt;
      IpfixTarget target;
      if (!parseIpfixTarget(num, target, error)) return std::nullopt;
      o.ipfix = num;
    } else if (a == "--prometheus") {
      if (!value(o.prometheus)) return std::nullopt;
    } else if (a == "--write" && o.mode == Mode::kReplay) {
      if (!value(o.write)) return std::nullopt;
    } else if (a == "--golden" && o.mode == Mode::kReplay) {
      if (!value(o.golden)) return std::nullopt;
    } else if (a == "--check-golden" && o.mode == Mode::kReplay) {
      if (!value(o.check_golden)) return std::nullopt;
    } else if (a == "--inside" && o.mode == Mode::kInline) {
      if (!value(o.inside)) return std::nullopt;
    } else if (a == "--outside" && o.mode == Mode::kInline) {
      if (!value(o.outside)) return std::nullopt;
    } else if (a == "--port" && o.mode == Mode::kMonitor) {
      if (!value(o.port)) return std::nullopt;
    } else if (a == "--flows") {
      if (!value(num)) return std::nullopt;
      char* end = nullptr;
      unsigned long v = std::strtoul(num.c_str(), &end, 10);
      if (end == num.c_str() || *end != '\0' || v < 16 || v > (1ul << 26)) {
        error = "--flows " + num + ": expected a number of flows from 16 to 67108864";
        return std::nullopt;
      }
      o.flows = static_cast<uint32_t>(v);
      o.flows_given = true;
    } else if (a == "--subscribers" && o.mode == Mode::kReplay) {
      if (!value(o.subscribers)) return std::nullopt;
    } else if (a == "--subscribers-csv" && o.mode == Mode::kReplay) {
      if (!value(o.subscribers_csv)) return std::nullopt;
    } else if (a == "--subscriber-slots") {
      if (!value(num)) return std::nullopt;
      char* end = nullptr;
      unsigned long v = std::strtoul(num.c_str(), &end, 10);
      if (end == num.c_str() || *end != '\0' || v < 16 || v > (1ul << 24)) {
        error = "--subscriber-slots " + num + ": expected a number from 16 to 16777216";
        return std::nullopt;
      }
      o.subscriber_slots = static_cast<uint32_t>(v);
    } else if (a == "--loop" && o.mode == Mode::kReplay) {
      if (!value(num)) return std::nullopt;
      char* end = nullptr;
      unsigned long v = std::strtoul(num.c_str(), &end, 10);
      if (end == num.c_str() || *end != '\0' || v < 1 || v > 1000000) {
        error = "--loop " + num + ": expected a number of passes from 1 to 1000000";
        return std::nullopt;
      }
      o.loop = static_cast<uint32_t>(v);
    } else if (a == "--duration" && o.mode != Mode::kReplay) {
      if (!value(num)) return std::nullopt;
      // Decimal only: no "nan", "inf" or hex floats; and a range a run can have.
      char* end = nullptr;
      bool decimal = !num.empty() && num.find_first_not_of("0123456789.eE+-") == std::string::npos;
      double v = decimal ? std::strtod(num.c_str(), &end) : 0;
      if (!decimal || end == num.c_str() || *end != '\0' || !std::isfinite(v) ||
          v < kMinDurationS || v > kMaxDurationS) {
        error = "--duration " + num + ": expected seconds from 0.001 to 315360000 (ten years)";
        return std::nullopt;
      }
      o.duration_s = v;
    } else if (a == "--stats-interval" || a == "--metrics-listen") {
      if (!value(num)) return std::nullopt;
      if (o.mode == Mode::kReplay) {
        error = std::string(a) +
                ": live modes only (inline, monitor); replay writes its counters when the "
                "capture ends";
        return std::nullopt;
      }
      if (a == "--metrics-listen") {
        ListenAddress la;
        if (!parseListenAddress(num, la, error)) return std::nullopt;
        o.metrics_listen = num;
        continue;
      }
      char* end = nullptr;
      bool decimal = !num.empty() && num.find_first_not_of("0123456789.") == std::string::npos;
      double v = decimal ? std::strtod(num.c_str(), &end) : 0;
      if (!decimal || end == num.c_str() || *end != '\0' || !(v >= kMinStatsIntervalS) ||
          v > kMaxStatsIntervalS) {
        error = "--stats-interval " + num + ": expected seconds from 0.1 to 86400";
        return std::nullopt;
      }
      o.stats_interval_s = v;
    } else if (a == "--policy-mode") {
      if (!value(num)) return std::nullopt;
      if (num != "enforce" && num != "shadow") {
        error = "--policy-mode " + num + ": expected enforce or shadow";
        return std::nullopt;
      }
      o.enforce = num == "enforce";
    } else if (a == "--checksums") {
      if (!value(o.checksums)) return std::nullopt;
      if (o.checksums != "verify" && o.checksums != "off") {
        error = "--checksums " + o.checksums + ": expected verify or off";
        return std::nullopt;
      }
    } else if (a == "--fragments") {
      if (!value(o.fragments)) return std::nullopt;
      if (o.fragments != "reassemble" && o.fragments != "drop" && o.fragments != "pass") {
        error = "--fragments " + o.fragments + ": expected reassemble, drop or pass";
        return std::nullopt;
      }
    } else if (a == "--timeout") {
      if (!value(num)) return std::nullopt;
      const size_t eq = num.find('=');
      const std::string state = num.substr(0, eq);
      uint64_t* slot = state == "handshake"     ? &o.timeout_handshake_ns
                       : state == "established" ? &o.timeout_established_ns
                       : state == "half_closed" ? &o.timeout_half_closed_ns
                       : state == "closing"     ? &o.timeout_closing_ns
                                                : nullptr;
      double v = 0;
      char* end = nullptr;
      if (eq != std::string::npos) v = std::strtod(num.c_str() + eq + 1, &end);
      if (slot == nullptr || eq == std::string::npos || end == num.c_str() + eq + 1 ||
          *end != '\0' || !(v >= 0.001 && v <= 86400.0 * 7)) {
        error = "--timeout " + num +
                ": expected STATE=SECONDS, STATE one of handshake, established, half_closed, "
                "closing, SECONDS from 0.001 to 604800";
        return std::nullopt;
      }
      *slot = static_cast<uint64_t>(v * 1e9);
    } else if (a == "--no-summary") {
      o.summary = false;
    } else if (a == "--verbose") {
      o.verbose = true;
    } else {
      error =
          "unknown option '" + std::string(a) + "' for mode " + std::string(mode) + " (see --help)";
      return std::nullopt;
    }
  }
  if (o.mode == Mode::kInline && (o.inside.empty() || o.outside.empty())) {
    error =
        "inline needs --inside PORT and --outside PORT (or [ports] inside and outside in "
        "the configuration file)";
    return std::nullopt;
  }
  if (o.mode == Mode::kInline && o.inside == o.outside) {
    error = "inline needs two different ports; --inside and --outside are both " + o.inside;
    return std::nullopt;
  }
  if (o.stats_interval_s > 0 && (o.stats.empty() || o.stats == "-")) {
    error = "--stats-interval needs --stats FILE (the file it rewrites)";
    return std::nullopt;
  }
  if (o.mode == Mode::kMonitor && o.port.empty()) {
    error = "monitor needs --port PORT (or [ports] port in the configuration file)";
    return std::nullopt;
  }
  return o;
}

std::optional<Options> parseOptions(int argc, char** argv, std::string& error, bool& help) {
  CommandLine cmd;
  auto o = parseOptions(argc, argv, Options{}, false, cmd, error);
  help = cmd.help;
  return o;
}

}  // namespace smtpguard
