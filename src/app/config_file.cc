#include "app/config_file.h"

#include "app/listen_address.h"

#include <toml.hpp>

#include "app/ipfix_target.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <optional>
#include <sstream>

#include "events/sink_spec.h"
#include "policy/policy_text.h"

namespace smtpguard {
namespace {

using Value = toml::basic_value<toml::discard_comments, std::map, std::vector>;
using toml::value_t;

constexpr size_t kExcerptMax = 200;  // bytes of a long line shown around the mark

std::string joinList(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
  return out;
}

const char* typeName(value_t t) {
  switch (t) {
    case value_t::boolean:
      return "a boolean";
    case value_t::integer:
      return "an integer";
    case value_t::floating:
      return "a float";
    case value_t::string:
      return "a string";
    case value_t::array:
      return "an array";
    case value_t::table:
      return "a table";
    case value_t::empty:
      return "nothing";
    default:
      return "a date or time";
  }
}

// [[dddd:]bb:dd.f], as the EAL's -a takes it.
bool isPciAddress(std::string_view s) {
  auto hex = [&](size_t from, size_t n) {
    return std::all_of(s.begin() + static_cast<ptrdiff_t>(from),
                       s.begin() + static_cast<ptrdiff_t>(from + n),
                       [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
  };
  if (s.size() == 12) return hex(0, 4) && s[4] == ':' && isPciAddress(s.substr(5));
  return s.size() == 7 && hex(0, 2) && s[2] == ':' && hex(3, 2) && s[5] == '.' && s[6] >= '0' &&
         s[6] <= '7';
}

bool validPrefix(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

class ConfigReader {
 public:
  ConfigReader(Diagnostics& diags, std::string file, std::string dir)
      : diags_(diags), file_(std::move(file)), dir_(std::move(dir)) {}

  ConfigFile read(const Value& root) {
    if (!root.is_table()) {
      diags_.error(posOf(root), "a configuration file is a TOML table at the top level");
      return std::move(cfg_);
    }
    checkKeys(root, {"mode", "eal", "ports", "replay", "policy", "outputs", "flows", "timeouts"},
              "the configuration file");
    Options& o = cfg_.options;
    std::string mode;
    if (getChoice(root, "mode", {"replay", "inline", "monitor"}, mode)) {
      cfg_.has_mode = true;
      o.mode = mode == "inline"    ? Mode::kInline
               : mode == "monitor" ? Mode::kMonitor
                                   : Mode::kReplay;
    }
    if (const Value* t = table(root, "policy")) {
      checkKeys(*t, {"file", "mode"}, "[policy]");
      getPath(*t, "file", o.policy);
      std::string m;
      if (getChoice(*t, "mode", {"enforce", "shadow"}, m)) o.enforce = m == "enforce";
    }
    if (const Value* t = table(root, "outputs")) readOutputs(*t);
    if (const Value* t = table(root, "flows")) {
      checkKeys(*t, {"capacity", "subscriber_slots", "checksums", "fragments"}, "[flows]");
      int64_t n = 0;
      if (getInt(*t, "capacity", 16, int64_t{1} << 26, n, "capacity = 65536")) {
        o.flows = static_cast<uint32_t>(n);
        o.flows_given = true;
      }
      if (getInt(*t, "subscriber_slots", 16, int64_t{1} << 24, n, "subscriber_slots = 4096"))
        o.subscriber_slots = static_cast<uint32_t>(n);
      getChoice(*t, "checksums", {"verify", "off"}, o.checksums);
      getChoice(*t, "fragments", {"reassemble", "drop", "pass"}, o.fragments);
    }
    if (const Value* t = table(root, "timeouts")) {
      checkKeys(*t, {"handshake", "established", "half_closed", "closing"}, "[timeouts]");
      const std::pair<const char*, uint64_t*> slots[] = {{"handshake", &o.timeout_handshake_ns},
                                                         {"established", &o.timeout_established_ns},
                                                         {"half_closed", &o.timeout_half_closed_ns},
                                                         {"closing", &o.timeout_closing_ns}};
      for (auto [key, slot] : slots) {
        double s = 0;
        if (getSeconds(*t, key, 0.001, 86400.0 * 7, s, "established = 300"))
          *slot = static_cast<uint64_t>(s * 1e9);
      }
    }
    if (const Value* t = table(root, "replay")) {
      checkKeys(*t, {"capture", "loop", "write", "subscribers", "subscribers_csv"}, "[replay]");
      getPath(*t, "capture", o.capture);
      getPath(*t, "write", o.write);
      getPath(*t, "subscribers", o.subscribers);
      getPath(*t, "subscribers_csv", o.subscribers_csv);
      int64_t n = 0;
      if (getInt(*t, "loop", 1, 1000000, n, "loop = 1")) o.loop = static_cast<uint32_t>(n);
    }
    readEal(root);
    return std::move(cfg_);
  }

 private:
  // -- positions --------------------------------------------------------------------------

  SourcePos posOf(const Value& v) const {
    const toml::source_location loc = v.location();
    SourcePos p{file_, 0, 0, 1, {}};
    if (loc.file_name() != file_ || loc.line() == 0) return p;
    p.line = loc.line();
    p.column = loc.column();
    p.length = std::max<uint32_t>(1, loc.region());
    p.line_text = loc.line_str();
    // A multi-line value (an array over lines) is marked on its first line.
    if (size_t nl = p.line_text.find('\n'); nl != std::string::npos) p.line_text.resize(nl);
    excerpt(p);
    return p;
  }

  static void excerpt(SourcePos& p) {
    if (p.line_text.size() <= kExcerptMax) return;
    const size_t from = p.column > kExcerptMax / 2 ? p.column - kExcerptMax / 2 : 1;
    p.line_cut = from - 1 + kExcerptMax < p.line_text.size();
    p.line_text = p.line_text.substr(from - 1, kExcerptMax);
    p.excerpt_column = static_cast<uint32_t>(from);
  }

  // toml11 locates values, not keys: the key is the last occurrence of its name before the
  // value on the value's line (`key = value`), else the first on the line (a [table] header).
  SourcePos keyPos(const Value& v, std::string_view key) const {
    SourcePos p = posOf(v);
    if (p.line == 0) return p;
    const toml::source_location loc = v.location();
    std::string_view line = loc.line_str();
    line = line.substr(0, line.find('\n'));
    const size_t value_at = std::min<size_t>(loc.column() - 1, line.size());
    size_t at = line.substr(0, value_at).rfind(key);
    if (at == std::string_view::npos) at = line.find(key);
    if (at == std::string_view::npos) return p;
    p.line_text = std::string(line);
    p.column = static_cast<uint32_t>(at + 1);
    p.length = static_cast<uint32_t>(key.size());
    p.excerpt_column = 1;
    p.line_cut = false;
    excerpt(p);
    return p;
  }

  // -- generic checks ---------------------------------------------------------------------

  void checkKeys(const Value& t, const std::vector<std::string>& allowed,
                 const std::string& where) {
    for (const auto& [key, value] : t.as_table()) {
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
      const std::string meant = closestWord(key, allowed);
      diags_.error(keyPos(value, key), "unknown key '" + key + "' in " + where,
                   "one of " + joinList(allowed),
                   meant.empty() ? "remove it; smtpguard.toml(5) lists every key"
                                 : "did you mean '" + meant + "'?");
    }
  }

  const Value* find(const Value& t, const char* key) const {
    const auto& tab = t.as_table();
    auto it = tab.find(key);
    return it == tab.end() ? nullptr : &it->second;
  }

  void typeError(const Value& v, const std::string& key, const char* want,
                 const std::string& example) {
    std::string hint;
    if (v.is_string() && std::string_view(want).find("integer") != std::string_view::npos)
      hint = "remove the quotes";
    if (!v.is_string() && std::string_view(want).find("string") != std::string_view::npos)
      hint = "put the value in double quotes";
    diags_.error(posOf(v), "'" + key + "' must be " + want + ", not " + typeName(v.type()), example,
                 hint);
  }

  const Value* table(const Value& root, const char* key) {
    const Value* v = find(root, key);
    if (v == nullptr) return nullptr;
    if (!v->is_table()) {
      typeError(*v, key, "a table", std::string("[") + key + "]");
      return nullptr;
    }
    return v;
  }

  bool getString(const Value& t, const char* key, std::string& out, const std::string& example) {
    const Value* v = find(t, key);
    if (v == nullptr) return false;
    if (!v->is_string()) {
      typeError(*v, key, "a string", example);
      return false;
    }
    out = v->as_string().str;
    return true;
  }

  bool getChoice(const Value& t, const char* key, const std::vector<std::string>& choices,
                 std::string& out) {
    std::string s;
    const std::string example = std::string(key) + " = \"" + choices[0] + "\"";
    if (!getString(t, key, s, example)) return false;
    if (std::find(choices.begin(), choices.end(), s) == choices.end()) {
      const std::string meant = closestWord(s, choices);
      diags_.error(posOf(*find(t, key)), "'" + s + "' is not a valid " + key,
                   "one of " + joinList(choices),
                   meant.empty() ? "" : "did you mean '" + meant + "'?");
      return false;
    }
    out = s;
    return true;
  }

  // A file name; relative ones are taken from the configuration file's directory (a service
  // runs in /). "-" (standard output) and "" (none) stay as they are.
  bool getPath(const Value& t, const char* key, std::string& out) {
    std::string s;
    if (!getString(t, key, s, std::string(key) + " = \"/path/to/file\"")) return false;
    if (!s.empty() && s != "-" && s[0] != '/') s = dir_ + "/" + s;
    out = s;
    return true;
  }

  bool getBool(const Value& t, const char* key, bool& out) {
    const Value* v = find(t, key);
    if (v == nullptr) return false;
    if (!v->is_boolean()) {
      typeError(*v, key, "a boolean", std::string(key) + " = true");
      return false;
    }
    out = v->as_boolean();
    return true;
  }

  bool getInt(const Value& t, const char* key, int64_t min, int64_t max, int64_t& out,
              const std::string& example) {
    const Value* v = find(t, key);
    if (v == nullptr) return false;
    if (!v->is_integer()) {
      typeError(*v, key, "an integer", example);
      return false;
    }
    const int64_t n = v->as_integer();
    if (n < min || n > max) {
      diags_.error(posOf(*v), "'" + std::string(key) + "' is out of range",
                   "an integer from " + std::to_string(min) + " to " + std::to_string(max));
      return false;
    }
    out = n;
    return true;
  }

  // Seconds: an integer or a float, finite, in [min, max]; 0 also accepted when `zero_ok`.
  bool getSeconds(const Value& t, const char* key, double min, double max, double& out,
                  const std::string& example, bool zero_ok = false) {
    const Value* v = find(t, key);
    if (v == nullptr) return false;
    double s = 0;
    if (v->is_integer()) {
      s = static_cast<double>(v->as_integer());
    } else if (v->is_floating()) {
      s = v->as_floating();
    } else {
      typeError(*v, key, "a number of seconds (an integer or a float)", example);
      return false;
    }
    if (!std::isfinite(s) || ((s < min || s > max) && !(zero_ok && s == 0))) {
      char range[96];
      std::snprintf(range, sizeof range, "%sseconds from %g to %g", zero_ok ? "0, or " : "", min,
                    max);
      diags_.error(posOf(*v), "'" + std::string(key) + "' is out of range", range);
      return false;
    }
    out = s;
    return true;
  }

  // Strings, each checked by `ok` (false: error on that element with `expected`).
  template <typename Ok>
  bool getStringList(const Value& t, const char* key, std::vector<std::string>& out,
                     const std::string& example, Ok ok, const std::string& expected) {
    const Value* v = find(t, key);
    if (v == nullptr) return false;
    if (!v->is_array()) {
      typeError(*v, key, "an array of strings", example);
      return false;
    }
    bool good = true;
    for (const Value& e : v->as_array()) {
      if (!e.is_string()) {
        typeError(e, std::string(key) + "[]", "a string", example);
        good = false;
      } else if (!ok(e.as_string().str)) {
        diags_.error(posOf(e), "'" + e.as_string().str + "' is not valid in " + key, expected);
        good = false;
      } else {
        out.push_back(e.as_string().str);
      }
    }
    return good;
  }

  // -- tables -----------------------------------------------------------------------------

  // events = "FILE" or a sink URL, or an array of them (one file, one Redis, one syslog).
  void readEvents(const Value& t) {
    const Value* v = find(t, "events");
    if (v == nullptr) return;
    const std::string example =
        "events = [\"/var/log/smtpguard/eve.json\", \"redis://127.0.0.1:6379/smtpguard\"]";
    std::vector<const Value*> items;
    if (v->is_string()) {
      items.push_back(v);
    } else if (v->is_array()) {
      for (const Value& e : v->as_array()) items.push_back(&e);
    } else {
      typeError(*v, "events", "a string or an array of strings", example);
      return;
    }
    Options& o = cfg_.options;
    o.events.clear();
    o.event_sinks.clear();
    for (const Value* e : items) {
      if (!e->is_string()) {
        typeError(*e, "events[]", "a string", example);
        continue;
      }
      std::string s = e->as_string().str;
      if (s.empty()) continue;  // "": no events written (still counted)
      if (!isSinkUrl(s) && s != "-" && s[0] != '/') s = dir_ + "/" + s;
      std::string error;
      if (!addEventOutput(o, s, error)) {
        const std::string prefix = "--events ";
        if (error.rfind(prefix, 0) == 0) error = "events " + error.substr(prefix.size());
        diags_.error(posOf(*e), error,
                     "a file, \"-\", \"redis://HOST:PORT/STREAM[?maxlen=N]\", \"syslog\" or "
                     "\"syslog://HOST:PORT\"");
      }
    }
  }

  void readOutputs(const Value& t) {
    checkKeys(
        t,
        {"events", "stats", "prometheus", "metrics_listen", "stats_interval", "telemetry", "ipfix"},
        "[outputs]");
    Options& o = cfg_.options;
    readEvents(t);
    getPath(t, "stats", o.stats);
    getPath(t, "prometheus", o.prometheus);
    std::string listen;
    if (getString(t, "metrics_listen", listen, "metrics_listen = \"127.0.0.1:9464\"")) {
      // The command line's parser (numeric ADDR:PORT, [IPv6]:PORT; port 0: any free port).
      ListenAddress la;
      std::string why;
      if (!parseListenAddress(listen, la, why)) {
        diags_.error(posOf(*find(t, "metrics_listen")),
                     "'" + listen + "' is not an address and port",
                     "a numeric ADDR:PORT, e.g. \"127.0.0.1:9464\" or \"[::1]:9464\" (port 0: "
                     "any free port)");
      } else {
        o.metrics_listen = listen;
      }
    }
    std::string ipfix;
    if (getString(t, "ipfix", ipfix, "ipfix = \"127.0.0.1:4739\"")) {
      IpfixTarget target;
      std::string error;
      if (parseIpfixTarget(ipfix, target, error)) {
        o.ipfix = ipfix;
      } else {
        diags_.error(posOf(*find(t, "ipfix")), "'" + ipfix + "' is not an IPFIX collector",
                     "HOST:PORT (UDP), udp://HOST:PORT or tcp://HOST:PORT, e.g. "
                     "\"127.0.0.1:4739\"");
      }
    }
    getSeconds(t, "stats_interval", 0.1, 86400, o.stats_interval_s, "stats_interval = 10", true);
    getBool(t, "telemetry", telemetry_);
  }

  // One port of [ports]: a PCI address (allow-listed), "name,args" (a vdev), or a port number
  // or vdev name used as it is. Returns the name smtpguard looks the port up by.
  std::string portDevice(const Value& t, const char* key) {
    std::string spec;
    if (!getString(t, key, spec, std::string(key) + " = \"0000:01:00.0\"")) return {};
    const Value& v = *find(t, key);
    if (spec.empty()) {
      diags_.error(posOf(v), "'" + std::string(key) + "' is empty",
                   "a PCI address (\"0000:01:00.0\"), a vdev (\"net_af_packet0,iface=eth1\"), or "
                   "a port number");
      return {};
    }
    const size_t comma = spec.find(',');
    const std::string name = spec.substr(0, comma);
    if (isPciAddress(name)) {
      pci_.push_back(spec);
    } else if (comma != std::string::npos || name.rfind("net_", 0) == 0) {
      vdevs_.push_back(spec);
    } else if (name.find_first_not_of("0123456789") != std::string::npos) {
      diags_.error(posOf(v), "'" + spec + "' is not a port",
                   "a PCI address (\"0000:01:00.0\"), a vdev (\"net_af_packet0,iface=eth1\"), or "
                   "a port number",
                   name.find(':') != std::string::npos
                       ? "a PCI address is DDDD:BB:DD.F in hexadecimal (lspci -D)"
                       : "");
      return {};
    }
    return name;
  }

  void readEal(const Value& root) {
    std::vector<std::string>& a = cfg_.eal_args;
    a = {"smtpguard"};
    std::string file_prefix = "smtpguard";
    std::vector<std::string> extra;
    bool hugepages = true;
    int64_t memory_mb = 0;
    const Value* eal = table(root, "eal");
    if (eal != nullptr) {
      checkKeys(*eal, {"lcores", "workers", "memory_mb", "hugepages", "file_prefix", "args"},
                "[eal]");
      std::string lcores;
      int64_t workers = -1;
      const bool has_lcores = getString(*eal, "lcores", lcores, "lcores = \"0-2\"");
      if (has_lcores &&
          (lcores.empty() || lcores.find_first_not_of("0123456789,-@()") != std::string::npos)) {
        diags_.error(posOf(*find(*eal, "lcores")), "'" + lcores + "' is not an lcore list",
                     "CPU numbers and ranges, as the EAL's -l takes them: \"0-2\", \"0,4-7\"");
      } else if (has_lcores) {
        a.insert(a.end(), {"-l", lcores});
      }
      if (getInt(*eal, "workers", 0, 1023, workers, "workers = 2")) {
        if (has_lcores) {
          diags_.error(keyPos(*find(*eal, "workers"), "workers"), "'workers' and 'lcores' both set",
                       "one of them",
                       "workers = N is lcores = \"0-N\" (main lcore 0, workers 1 to N)");
        } else {
          a.insert(a.end(), {"-l", workers == 0 ? "0" : "0-" + std::to_string(workers)});
        }
      }
      getInt(*eal, "memory_mb", 64, int64_t{1} << 20, memory_mb, "memory_mb = 1024");
      getBool(*eal, "hugepages", hugepages);
      if (getString(*eal, "file_prefix", file_prefix, "file_prefix = \"smtpguard\"") &&
          !validPrefix(file_prefix)) {
        diags_.error(posOf(*find(*eal, "file_prefix")), "'" + file_prefix + "' is not a prefix",
                     "letters, digits, '-' and '_' (it names /run/dpdk/PREFIX)");
      }
      // Options and their values as separate elements ("-a", "0000:02:00.0"), or joined.
      if (getStringList(
              *eal, "args", extra, "args = [\"--log-level=*:warning\"]",
              [](const std::string& s) { return !s.empty(); }, "a non-empty string") &&
          !extra.empty() && extra[0][0] != '-') {
        diags_.error(posOf(find(*eal, "args")->as_array()[0]),
                     "'" + extra[0] + "' is not an EAL option",
                     "an EAL option first, starting with '-' (dpdk-testpmd --help lists them)");
      }
      if (!hugepages && memory_mb == 0) {
        diags_.error(keyPos(*find(*eal, "hugepages"), "hugepages"),
                     "hugepages = false needs memory_mb",
                     "memory_mb = N: the megabytes of ordinary memory DPDK takes",
                     "about 110 MiB per worker at 65536 flows plus 20 MiB per queue "
                     "(docs/architecture.md, Sizing)");
      }
    }
    if (!hugepages) a.emplace_back("--no-huge");
    if (memory_mb != 0) a.insert(a.end(), {"-m", std::to_string(memory_mb)});
    a.insert(a.end(), {"--file-prefix", file_prefix});
    if (!telemetry_) a.emplace_back("--no-telemetry");

    Options& o = cfg_.options;
    if (const Value* t = table(root, "ports")) {
      checkKeys(*t, {"inside", "outside", "port", "vdevs"}, "[ports]");
      o.inside = portDevice(*t, "inside");
      o.outside = portDevice(*t, "outside");
      o.port = portDevice(*t, "port");
      getStringList(
          *t, "vdevs", vdevs_, "vdevs = [\"net_af_packet0,iface=eth1\"]",
          [](const std::string& s) { return s.rfind("net_", 0) == 0 || s.rfind("eth_", 0) == 0; },
          "a DPDK virtual device: \"net_af_packet0,iface=eth1\", \"net_memif0,role=server\"");
    }
    // The same device named twice (a vdev in `vdevs` and by name as a port) is created once,
    // with its arguments where one of the two has them.
    std::vector<std::string> specs;
    for (const std::string& v : vdevs_) {
      const std::string name = v.substr(0, v.find(','));
      auto same = std::find_if(specs.begin(), specs.end(), [&](const std::string& x) {
        return x.substr(0, x.find(',')) == name;
      });
      if (same == specs.end()) {
        specs.push_back(v);
      } else if (same->find(',') == std::string::npos) {
        *same = v;
      }
    }
    for (const std::string& v : specs) a.insert(a.end(), {"--vdev", v});
    // Only the ports named are probed: an allow list, or no PCI scan at all, so the service
    // never takes over a NIC bound to a DPDK driver for something else.
    const bool args_choose_pci = std::any_of(extra.begin(), extra.end(), [](const std::string& s) {
      return s.rfind("-a", 0) == 0 || s.rfind("--allow", 0) == 0 || s.rfind("-b", 0) == 0 ||
             s.rfind("--block", 0) == 0 || s == "--no-pci";
    });
    for (const std::string& p : pci_) a.insert(a.end(), {"-a", p});
    if (pci_.empty() && !args_choose_pci) a.emplace_back("--no-pci");
    a.insert(a.end(), extra.begin(), extra.end());
  }

  Diagnostics& diags_;
  std::string file_;
  std::string dir_;
  ConfigFile cfg_;
  bool telemetry_ = true;
  std::vector<std::string> pci_, vdevs_;
};

}  // namespace

ConfigFile loadConfigText(std::string_view text, const std::string& name, const std::string& dir,
                          Diagnostics& diags) {
  // The checks toml11 must not meet (invalid UTF-8 makes it assert, deep nesting recurse) are
  // the policy reader's; the text toml11 parses is the file as written.
  PolicyText checked(text, name);
  if (!checked.prepare(diags)) return {};
  try {
    std::istringstream in{std::string(text)};
    Value root = toml::parse<toml::discard_comments, std::map, std::vector>(in, name);
    return ConfigReader(diags, name, dir).read(root);
  } catch (const toml::syntax_error& e) {
    const toml::source_location loc = e.location();
    SourcePos pos{name, loc.line(), loc.column(), 1, loc.line_str()};
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    if (what.rfind("[error]", 0) == 0) what.erase(0, 7);
    what.erase(0, what.find_first_not_of(' '));
    if (what.rfind("toml::", 0) == 0 && what.find(": ") != std::string::npos)
      what.erase(0, what.find(": ") + 2);
    diags.error(std::move(pos), "TOML syntax error: " + what,
                "valid TOML (https://toml.io/en/v1.0.0)");
  } catch (const std::exception& e) {
    // Duplicate keys and redefined tables: toml11 gives the place only in its text.
    std::string what = e.what();
    SourcePos pos{name, 0, 0, 1, {}};
    const size_t arrow = what.find(" --> ");
    const size_t bar = what.find(" | ", arrow == std::string::npos ? 0 : arrow);
    if (bar != std::string::npos) {
      size_t start = what.rfind('\n', bar);
      start = start == std::string::npos ? 0 : start + 1;
      const std::string num = what.substr(start, bar - start);
      const size_t digits = num.find_first_of("0123456789");
      if (digits != std::string::npos) {
        pos.line = static_cast<uint32_t>(std::stoul(num.substr(digits)));
        pos.column = 1;
        const size_t eol = what.find('\n', bar);
        pos.line_text = what.substr(bar + 3, eol == std::string::npos ? eol : eol - bar - 3);
      }
    }
    what = what.substr(0, what.find('\n'));
    if (what.rfind("[error]", 0) == 0) what.erase(0, 7);
    what.erase(0, what.find_first_not_of(' '));
    if (what.rfind("toml::", 0) == 0 && what.find(": ") != std::string::npos)
      what.erase(0, what.find(": ") + 2);
    diags.error(std::move(pos), "TOML error: " + what, "valid TOML (https://toml.io/en/v1.0.0)",
                "each key and each [table] once");
  }
  return {};
}

ConfigFile loadConfigFile(const std::string& path, Diagnostics& diags) {
  std::string text, why;
  if (!readBoundedFile(path, kMaxConfigBytes, "configuration file", text, why)) {
    diags.error({path, 0, 0, 1, {}}, why, "a readable TOML file (a regular file)",
                "check the path; smtpguard.toml(5) describes the format");
    return {};
  }
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  return loadConfigText(text, path, dir, diags);
}

}  // namespace smtpguard
