#include "app/golden.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "app/modes.h"
#include "drivers/capture_reader.h"

namespace smtpguard {
namespace {

constexpr size_t kDiffLines = 10;  // lines shown per section of a diff

// A cursor over one JSON text: enough of a parser to copy values through and drop members.
// Our own writer's output is the input, but a hand-edited golden file may be anything.
struct Json {
  std::string_view s;
  size_t i = 0;

  void space() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  }
  bool eat(char c) {
    space();
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  // A string starting at s[i] == '"'; its raw text (quotes and escapes kept).
  bool string(std::string_view& raw) {
    space();
    if (i >= s.size() || s[i] != '"') return false;
    const size_t start = i++;
    while (i < s.size() && s[i] != '"') i += s[i] == '\\' ? 2 : 1;
    if (i >= s.size()) return false;
    raw = s.substr(start, ++i - start);
    return true;
  }
  // Any value; its raw text.
  bool value(std::string_view& raw) {
    space();
    if (i >= s.size()) return false;
    const size_t start = i;
    if (s[i] == '"') return string(raw);
    if (s[i] == '{' || s[i] == '[') {
      const char close = s[i] == '{' ? '}' : ']';
      ++i;
      if (eat(close)) {
        raw = s.substr(start, i - start);
        return true;
      }
      do {
        std::string_view k, v;
        if (close == '}' && (!string(k) || !eat(':'))) return false;
        if (!value(v)) return false;
      } while (eat(','));
      if (!eat(close)) return false;
      raw = s.substr(start, i - start);
      return true;
    }
    while (i < s.size() && std::strchr(",}] \t\r\n", s[i]) == nullptr) ++i;
    raw = s.substr(start, i - start);
    return !raw.empty();
  }
};

bool dropped(std::string_view path) {
  return std::find(std::begin(kRunDependentFields), std::end(kRunDependentFields), path) !=
         std::end(kRunDependentFields);
}

// Copies the object at j into out less the members whose dotted path is run-dependent.
bool copyObject(Json& j, const std::string& prefix, std::string& out) {
  if (!j.eat('{')) return false;
  out += '{';
  bool first = true;
  if (j.eat('}')) {
    out += '}';
    return true;
  }
  do {
    std::string_view key, v;
    if (!j.string(key) || !j.eat(':')) return false;
    const std::string path = prefix + std::string(key.substr(1, key.size() - 2));
    j.space();
    if (dropped(path)) {
      if (!j.value(v)) return false;
      continue;
    }
    if (!first) out += ',';
    first = false;
    out.append(key);
    out += ':';
    if (j.i < j.s.size() && j.s[j.i] == '{') {
      if (!copyObject(j, path + ".", out)) return false;
    } else {
      if (!j.value(v)) return false;
      out.append(v);
    }
  } while (j.eat(','));
  if (!j.eat('}')) return false;
  out += '}';
  return true;
}

bool readFile(const std::string& path, std::string& out, std::string& error) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    error = "cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  std::ostringstream ss;
  ss << f.rdbuf();
  out = ss.str();
  return true;
}

bool writeFile(const std::string& path, const std::string& text, std::string& error) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.flush();
  if (!f) {
    error = "cannot write " + path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

std::vector<std::string> splitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream ss(text);
  for (std::string line; std::getline(ss, line);) lines.push_back(line);
  return lines;
}

std::string countersText(const std::vector<std::pair<std::string, uint64_t>>& counters) {
  std::string out = "{";
  for (size_t k = 0; k < counters.size(); ++k) {
    out += (k == 0 ? "\n  \"" : ",\n  \"") + counters[k].first + "\": ";
    out += std::to_string(counters[k].second);
  }
  return out + "\n}\n";
}

// Raw replay outputs in dir become the golden set in the same dir.
bool normaliseDir(const std::string& dir, std::string& error) {
  std::string raw;
  if (!readFile(dir + "/counters.raw.json", raw, error)) return false;
  std::vector<std::pair<std::string, uint64_t>> counters, kept;
  if (!parseCounters(raw, counters, error)) return false;
  for (auto& c : counters) {
    if (std::find(std::begin(kRunDependentCounters), std::end(kRunDependentCounters), c.first) ==
        std::end(kRunDependentCounters)) {
      kept.push_back(c);
    }
  }
  if (!writeFile(dir + "/counters.json", countersText(kept), error)) return false;
  if (!readFile(dir + "/events.raw.jsonl", raw, error)) return false;
  std::string events;
  size_t n = 0;
  for (const std::string& line : splitLines(raw)) {
    ++n;
    std::string norm;
    if (!normaliseEventLine(line, norm, error)) {
      error = "events line " + std::to_string(n) + ": " + error;
      return false;
    }
    events += norm + "\n";
  }
  if (!writeFile(dir + "/events.jsonl", events, error)) return false;
  std::remove((dir + "/counters.raw.json").c_str());
  std::remove((dir + "/events.raw.jsonl").c_str());
  return true;
}

std::string hexAt(const std::vector<uint8_t>& v, size_t off) {
  char b[4];
  std::snprintf(b, sizeof b, "%02x", v[off]);
  return b;
}

// Frame by frame: timestamps and bytes. Replay is deterministic, so order counts.
bool diffCaptures(const std::string& golden, const std::string& now, std::string& diff,
                  std::string& error) {
  CaptureReader a, b;
  if (!a.open(golden)) {
    error = a.error();
    return false;
  }
  if (!b.open(now)) {
    error = b.error();
    return false;
  }
  CaptureFrame fa, fb;
  size_t index = 0, differing = 0, n_a = 0, n_b = 0;
  std::string shown;
  for (;;) {
    const bool ha = a.next(fa);
    std::vector<uint8_t> da;
    if (ha) da.assign(fa.data.begin(), fa.data.end());  // fa.data lives until the next read
    const bool hb = b.next(fb);
    n_a += ha;
    n_b += hb;
    if (!ha && !hb) break;
    ++index;
    std::string what;
    if (ha && hb) {
      std::vector<uint8_t> db(fb.data.begin(), fb.data.end());
      if (da != db) {
        size_t off = 0;
        while (off < da.size() && off < db.size() && da[off] == db[off]) ++off;
        what = "frame " + std::to_string(index) + ": golden " + std::to_string(da.size()) +
               " bytes, now " + std::to_string(db.size()) + "; first difference at byte " +
               std::to_string(off);
        if (off < da.size() && off < db.size()) {
          what += " (" + hexAt(da, off) + " -> " + hexAt(db, off) + ")";
        }
      } else if (fa.ts_ns != fb.ts_ns) {
        what = "frame " + std::to_string(index) + ": same bytes, timestamp golden " +
               std::to_string(fa.ts_ns) + " ns, now " + std::to_string(fb.ts_ns) + " ns";
      }
    } else {
      what = "frame " + std::to_string(index) + ": only in " + (ha ? "golden" : "this run") + " (" +
             std::to_string(ha ? da.size() : fb.data.size()) + " bytes)";
    }
    if (!what.empty() && ++differing <= kDiffLines) shown += "  " + what + "\n";
  }
  if (!a.error().empty() || !b.error().empty()) {
    error = a.error().empty() ? b.error() : a.error();
    return false;
  }
  if (differing > 0) {
    diff += "forwarded.pcap: " + std::to_string(differing) + " of " +
            std::to_string(std::max(n_a, n_b)) + " frames differ (golden " + std::to_string(n_a) +
            " frames, now " + std::to_string(n_b) + ")\n" + shown;
    if (differing > kDiffLines) diff += "  ...\n";
  }
  return true;
}

}  // namespace

bool normaliseEventLine(std::string_view line, std::string& out, std::string& error) {
  Json j{line};
  out.clear();
  if (!copyObject(j, "", out)) {
    error = "not a JSON object at byte " + std::to_string(j.i);
    return false;
  }
  j.space();
  if (j.i != line.size()) {
    error = "text after the JSON object at byte " + std::to_string(j.i);
    return false;
  }
  return true;
}

bool parseCounters(std::string_view json, std::vector<std::pair<std::string, uint64_t>>& out,
                   std::string& error) {
  Json j{json};
  out.clear();
  auto fail = [&](const char* what) {
    error = std::string("counters: ") + what + " at byte " + std::to_string(j.i);
    return false;
  };
  if (!j.eat('{')) return fail("expected {");
  if (!j.eat('}')) {
    do {
      std::string_view key, v;
      if (!j.string(key) || !j.eat(':')) return fail("expected \"name\":");
      if (!j.value(v)) return fail("expected a number");
      char* end = nullptr;
      const std::string num(v);
      const unsigned long long n = std::strtoull(num.c_str(), &end, 10);
      if (num.empty() || *end != '\0' || num[0] == '-') return fail("expected a whole number");
      out.emplace_back(std::string(key.substr(1, key.size() - 2)), n);
    } while (j.eat(','));
    if (!j.eat('}')) return fail("expected }");
  }
  j.space();
  if (j.i != json.size()) return fail("text after the object");
  return true;
}

std::string diffCounters(const std::vector<std::pair<std::string, uint64_t>>& golden,
                         const std::vector<std::pair<std::string, uint64_t>>& now) {
  std::map<std::string, uint64_t> g(golden.begin(), golden.end()), n(now.begin(), now.end());
  std::string shown;
  size_t differing = 0;
  auto note = [&](const std::string& line) {
    if (++differing <= kDiffLines) shown += "  " + line + "\n";
  };
  for (const auto& [name, v] : g) {
    auto it = n.find(name);
    if (it == n.end()) {
      note(name + ": golden " + std::to_string(v) + ", absent now");
    } else if (it->second != v) {
      note(name + ": golden " + std::to_string(v) + ", now " + std::to_string(it->second));
    }
  }
  for (const auto& [name, v] : n) {
    if (g.find(name) == g.end()) note(name + ": absent in golden, now " + std::to_string(v));
  }
  if (differing == 0) return "";
  std::string out = "counters.json: " + std::to_string(differing) + " counters differ\n" + shown;
  if (differing > kDiffLines) out += "  ...\n";
  return out;
}

std::string diffLines(const std::vector<std::string>& golden, const std::vector<std::string>& now) {
  if (golden == now) return "";
  // Lines on one side only (as multisets), then, if there are none, the first reordering.
  std::map<std::string, long> count;
  for (const auto& l : golden) ++count[l];
  for (const auto& l : now) --count[l];
  std::string out;
  size_t only_golden = 0, only_now = 0, shown = 0;
  std::string lines;
  for (const auto& l : golden) {
    auto it = count.find(l);
    if (it->second > 0) {
      --it->second;
      ++only_golden;
      if (shown++ < kDiffLines) lines += "  - " + l + "\n";
    }
  }
  for (auto& [l, c] : count) c = std::min<long>(c, 0);
  for (const auto& l : now) {
    auto it = count.find(l);
    if (it->second < 0) {
      ++it->second;
      ++only_now;
      if (shown++ < kDiffLines) lines += "  + " + l + "\n";
    }
  }
  if (only_golden + only_now == 0) {
    size_t k = 0;
    while (golden[k] == now[k]) ++k;
    return "events.jsonl: the same " + std::to_string(golden.size()) +
           " events in another order, first at line " + std::to_string(k + 1) + "\n  - " +
           golden[k] + "\n  + " + now[k] + "\n";
  }
  out = "events.jsonl: " + std::to_string(only_golden) + " events only in golden (-), " +
        std::to_string(only_now) + " only in this run (+)\n" + lines;
  if (shown > kDiffLines) out += "  ...\n";
  return out;
}

int runGoldenReplay(const Options& opts) {
  const bool checking = !opts.check_golden.empty();
  if (checking && !opts.golden.empty()) {
    std::fprintf(stderr, "smtpguard: --golden and --check-golden: one at a time\n");
    return 1;
  }
  if (!opts.write.empty() || !opts.events.empty() || !opts.stats.empty()) {
    std::fprintf(stderr,
                 "smtpguard: --%s writes its own capture, events and counters: leave out "
                 "--write, --events and --stats\n",
                 checking ? "check" : "golden");
    return 1;
  }
  std::string dir;
  if (checking) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/smtpguard-check.XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      std::fprintf(stderr, "smtpguard: cannot create a temporary directory %s: %s\n",
                   pattern.c_str(), std::strerror(errno));
      return 1;
    }
    dir = pattern;
  } else {
    dir = opts.golden;
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      std::fprintf(stderr, "smtpguard: cannot create %s: %s\n", dir.c_str(), std::strerror(errno));
      return 1;
    }
  }
  auto cleanup = [&]() {
    if (!checking) return;
    for (const char* f : {"forwarded.pcap", "counters.json", "events.jsonl", "counters.raw.json",
                          "events.raw.jsonl"}) {
      std::remove((dir + "/" + f).c_str());
    }
    rmdir(dir.c_str());
  };
  Options run = opts;
  run.write = dir + "/forwarded.pcap";
  run.events = dir + "/events.raw.jsonl";
  run.stats = dir + "/counters.raw.json";
  int rc = runReplay(run);
  std::string error;
  if (rc != 0 || !normaliseDir(dir, error)) {
    if (!error.empty()) std::fprintf(stderr, "smtpguard: golden: %s\n", error.c_str());
    cleanup();
    return rc != 0 ? rc : 1;
  }
  if (!checking) {
    std::fprintf(stderr,
                 "smtpguard: golden set written to %s (forwarded.pcap, counters.json, "
                 "events.jsonl)\n",
                 dir.c_str());
    return 0;
  }
  std::string diff;
  std::string g_text, n_text;
  std::vector<std::pair<std::string, uint64_t>> g_counters, n_counters;
  bool ok =
      diffCaptures(opts.check_golden + "/forwarded.pcap", dir + "/forwarded.pcap", diff, error) &&
      readFile(opts.check_golden + "/counters.json", g_text, error) &&
      parseCounters(g_text, g_counters, error) && readFile(dir + "/counters.json", n_text, error) &&
      parseCounters(n_text, n_counters, error);
  if (ok) {
    diff += diffCounters(g_counters, n_counters);
    ok = readFile(opts.check_golden + "/events.jsonl", g_text, error) &&
         readFile(dir + "/events.jsonl", n_text, error);
  }
  if (ok) diff += diffLines(splitLines(g_text), splitLines(n_text));
  cleanup();
  if (!ok) {
    std::fprintf(stderr, "smtpguard: --check-golden %s: %s\n", opts.check_golden.c_str(),
                 error.c_str());
    return 1;
  }
  if (diff.empty()) {
    std::printf("golden %s: this run agrees (frames, counters, events)\n",
                opts.check_golden.c_str());
    return 0;
  }
  std::printf("golden %s: this run differs\n%s", opts.check_golden.c_str(), diff.c_str());
  std::fflush(stdout);
  return 1;
}

}  // namespace smtpguard
