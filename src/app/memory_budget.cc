#include "app/memory_budget.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "app/options.h"
#include "pipeline/worker.h"

namespace smtpguard {

namespace {

std::string gib(size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / (1ull << 30));
  return buf;
}

size_t readNumber(const char* path) {
  std::ifstream in(path);
  std::string word;
  if (!(in >> word) || word == "max") return SIZE_MAX;
  return static_cast<size_t>(std::strtoull(word.c_str(), nullptr, 10));
}

}  // namespace

size_t availableMemory() {
  size_t available = SIZE_MAX;
  std::ifstream meminfo("/proc/meminfo");
  for (std::string line; std::getline(meminfo, line);) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream fields(line.substr(13));
    size_t kib = 0;
    if (fields >> kib) available = kib * 1024;
  }
  const size_t max = readNumber("/sys/fs/cgroup/memory.max");
  const size_t current = readNumber("/sys/fs/cgroup/memory.current");
  if (max != SIZE_MAX && current != SIZE_MAX)
    available = std::min(available, max > current ? max - current : 0);
  return available;
}

bool flowsFitMemory(unsigned workers, uint32_t flows, uint32_t subscriber_slots, size_t available,
                    std::string& error) {
  const size_t budget = available - available / 10;
  auto need = [&](uint32_t f) { return workers * Worker::memoryFor(f, subscriber_slots); };
  if (need(flows) <= budget) return true;
  // The largest capacity that fits (memoryFor grows with the capacity).
  uint32_t lo = 0, hi = flows;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo + 1) / 2;
    if (need(mid) <= budget) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  error =
      "--flows " + std::to_string(flows) + ": " + std::to_string(workers) + " worker" +
      (workers == 1 ? "" : "s") + " would need " + gib(need(flows)) + " of memory, " +
      gib(available) + " is available; " +
      (lo >= 16 ? "at most --flows " + std::to_string(lo) + " fits" : "not even --flows 16 fits");
  return false;
}

}  // namespace smtpguard
