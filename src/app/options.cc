#include "app/options.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace smtpguard {

const char* usage() {
  return "usage:\n"
         "  smtpguard replay CAPTURE [options]\n"
         "  smtpguard [EAL args] -- replay CAPTURE [options]\n"
         "  smtpguard [EAL args] -- inline --inside PORT --outside PORT [options]\n"
         "  smtpguard [EAL args] -- monitor --port PORT [options]\n"
         "options:\n"
         "  --policy FILE       policy (TOML); default: built-in port set, observe only\n"
         "  --stats FILE|-      final counters as one JSON object (default: stdout)\n"
         "  --prometheus FILE   final counters as Prometheus text\n"
         "  --events FILE|-     events as JSON lines (EVE-compatible common fields)\n"
         "  --write CAPTURE     replay: write the packets smtpguard would forward\n"
         "  --loop N            replay: N passes, each shifted in time (new connections)\n"
         "  --flows N           flow table capacity per worker (default 65536)\n"
         "  --subscriber-slots N  subscribers with statistics per worker (default 4096)\n"
         "  --subscribers FILE  replay: per-subscriber report at the end, JSON (--subscribers-csv\n"
         "                      FILE: the same as CSV); docs/subscribers.md\n"
         "  --policy-mode M     enforce (default) or shadow: report verdicts, enforce none\n"
         "                      (monitor mode never enforces)\n"
         "  --checksums M       verify (live default) or off (replay default: captures taken\n"
         "                      on a sending host carry offloaded checksums)\n"
         "  --fragments M       TCP fragments: reassemble (default: inspected whole, then sent\n"
         "                      on), drop, or pass (uninspected)\n"
         "  --timeout S=SECONDS idle timeout of flows in TCP state S: handshake (30),\n"
         "                      established (300), half_closed (30), closing (10); repeatable\n"
         "  --duration SECONDS  live modes: stop after this long (default: until SIGINT)\n"
         "  --no-summary        no human summary on the terminal\n"
         "  --verbose           DPDK's own messages at start (EAL), besides our one-line errors\n"
         "SIGHUP reloads --policy; a policy that does not compile leaves the running one.\n"
         "PORT is a port number or a device name (net_ring0, 0000:01:00.0).\n";
}

std::optional<Options> parseOptions(int argc, char** argv, std::string& error, bool& help) {
  help = false;
  Options o;
  int i = 1;
  // EAL arguments come first, ended by "--", unless the first word is already a mode.
  // EAL arguments always start with a dash; a bare first word is the mode.
  if (argc > 1 && argv[1][0] == '-' && std::strcmp(argv[1], "--help") != 0 &&
      std::strcmp(argv[1], "-h") != 0) {
    o.eal_args.emplace_back(argv[0]);
    for (; i < argc && std::strcmp(argv[i], "--") != 0; ++i) o.eal_args.emplace_back(argv[i]);
    if (i == argc) {
      error = "no mode: expected 'replay', 'inline' or 'monitor' after the EAL arguments and --";
      return std::nullopt;
    }
    ++i;  // skip "--"
  }
  if (i >= argc) {
    error = "no mode: expected 'replay', 'inline' or 'monitor' (see --help)";
    return std::nullopt;
  }
  std::string_view mode = argv[i];
  if (mode == "--help" || mode == "-h") {
    help = true;
    return std::nullopt;
  }
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
  ++i;
  if (o.mode == Mode::kReplay) {
    if (i >= argc || argv[i][0] == '-') {
      error = "replay needs a capture file: smtpguard replay CAPTURE";
      return std::nullopt;
    }
    o.capture = argv[i++];
  }
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
      help = true;
      return std::nullopt;
    } else if (a == "--policy") {
      if (!value(o.policy)) return std::nullopt;
    } else if (a == "--stats") {
      if (!value(o.stats)) return std::nullopt;
    } else if (a == "--events") {
      if (!value(o.events)) return std::nullopt;
    } else if (a == "--prometheus") {
      if (!value(o.prometheus)) return std::nullopt;
    } else if (a == "--write" && o.mode == Mode::kReplay) {
      if (!value(o.write)) return std::nullopt;
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
    error = "inline needs --inside PORT and --outside PORT";
    return std::nullopt;
  }
  if (o.mode == Mode::kInline && o.inside == o.outside) {
    error = "inline needs two different ports; --inside and --outside are both " + o.inside;
    return std::nullopt;
  }
  if (o.mode == Mode::kMonitor && o.port.empty()) {
    error = "monitor needs --port PORT";
    return std::nullopt;
  }
  return o;
}

}  // namespace smtpguard
