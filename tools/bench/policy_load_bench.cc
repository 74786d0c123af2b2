#include "tools/bench/policy_load_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "policy/policy_compiler.h"
#include "policy/policy_loader.h"

namespace smtpguard::bench {
namespace {

constexpr int kRounds = 3;  // best of: the machine is shared and noisy

std::string policyText(size_t prefixes, bool one_line) {
  const size_t hashes = prefixes / 2;
  std::string t = "[policy]\nname = \"feeds\"\n[sets]\nblocklist = [";
  t.reserve(prefixes * 20 + hashes * 40 + 256);
  const char* first = one_line ? "\"" : "\n  \"";
  const char* next = one_line ? ", \"" : ",\n  \"";
  char buf[64];
  for (size_t i = 0; i < prefixes; ++i) {
    // Distinct /24s from 10.0.0.0 on (up to 2^24 of them).
    std::snprintf(buf, sizeof buf, "%s%zu.%zu.%zu.0/24\"", i ? next : first, 10 + (i >> 16),
                  (i >> 8) & 255, i & 255);
    t += buf;
  }
  t += one_line ? "]\n" : "\n]\n";
  t += "[[rule]]\nname = \"blocklist\"\nsrc = [\"blocklist\"]\naction = \"drop\"\n";
  t += "[[rule]]\nname = \"ja3-feed\"\naction = \"drop\"\nja3 = [";
  for (size_t i = 0; i < hashes; ++i) {
    std::snprintf(buf, sizeof buf, "%s%016zx%016zx\"", i ? next : first, i * 0x9e3779b97f4a7c15u,
                  ~i);
    t += buf;
  }
  t += one_line ? "]\n" : "\n]\n";
  return t;
}

struct Timing {
  double load_s = 1e9;
  double compile_s = 1e9;
  bool ok = false;
};

Timing measure(const std::string& text) {
  Timing best;
  for (int r = 0; r < kRounds; ++r) {
    Diagnostics diags;
    auto t0 = std::chrono::steady_clock::now();
    PolicySpec spec = loadPolicyText(text, "bench.toml", diags);
    auto t1 = std::chrono::steady_clock::now();
    auto snap = compilePolicy(spec, diags);
    auto t2 = std::chrono::steady_clock::now();
    best.ok = snap != nullptr;
    if (!best.ok) {
      std::fputs(formatDiagnostics(diags).substr(0, 2000).c_str(), stderr);
      return best;
    }
    best.load_s = std::min(best.load_s, std::chrono::duration<double>(t1 - t0).count());
    best.compile_s = std::min(best.compile_s, std::chrono::duration<double>(t2 - t1).count());
  }
  return best;
}

}  // namespace

int runPolicyLoadBench(size_t prefixes) {
  std::printf("policy load: N prefixes in one set + N/2 JA3 hashes in one rule, best of %d\n",
              kRounds);
  std::printf("%-9s %9s %9s %10s %10s %10s %12s\n", "lists", "prefixes", "ja3", "MiB", "load s",
              "compile s", "ns/entry");
  for (bool one_line : {false, true}) {
    for (size_t n : {prefixes / 4, prefixes / 2, prefixes}) {
      const std::string text = policyText(n, one_line);
      Timing t = measure(text);
      if (!t.ok) return 1;
      const double total = t.load_s + t.compile_s;
      std::printf("%-9s %9zu %9zu %10.1f %10.3f %10.3f %12.0f\n",
                  one_line ? "one line" : "per line", n, n / 2,
                  static_cast<double>(text.size()) / (1 << 20), t.load_s, t.compile_s,
                  total * 1e9 / static_cast<double>(n + n / 2));
    }
  }
  return 0;
}

}  // namespace smtpguard::bench
