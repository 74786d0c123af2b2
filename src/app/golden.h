#pragma once
// Golden files for labs: `replay --golden DIR` writes the set a lab commits, `replay --check-golden
// DIR` replays again and compares with it. Control plane.
//
//   DIR/forwarded.pcap   what --write writes: every frame that would leave, in order
//   DIR/counters.json    the final counters (--stats), less kRunDependentCounters
//   DIR/events.jsonl     the events, each less its run-dependent fields (kRunDependentFields)
//
// What is dropped, and why, is listed in docs/lab.md ("Golden files").

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "app/options.h"

namespace smtpguard {

// Counters that depend on the output, not on the traffic.
inline constexpr std::string_view kRunDependentCounters[] = {"events.write_failed"};

// Event fields that differ between two runs over the same traffic: when (`timestamp`), the
// flow id (hashed with a seed drawn at start), and the flow record's clock readings.
inline constexpr std::string_view kRunDependentFields[] = {"timestamp", "flow_id", "flow.age",
                                                           "flow.duration_ms"};

// One EVE line less kRunDependentFields, compact, members otherwise in their order. False
// (error set) when the line is not one JSON object.
bool normaliseEventLine(std::string_view line, std::string& out, std::string& error);

// A flat JSON object of counters (what --stats writes) as name/value pairs in file order.
bool parseCounters(std::string_view json, std::vector<std::pair<std::string, uint64_t>>& out,
                   std::string& error);

// Readable differences between two golden sets; empty when they agree. Each section says what
// differs (counters by name, events as lines only on one side, frames by index and offset),
// at most a few lines each.
std::string diffCounters(const std::vector<std::pair<std::string, uint64_t>>& golden,
                         const std::vector<std::pair<std::string, uint64_t>>& now);
std::string diffLines(const std::vector<std::string>& golden, const std::vector<std::string>& now);

// replay with --golden or --check-golden: runs runReplay() with its outputs in DIR (or, to check, a
// temporary directory), normalises them, and compares. Exit status: 0 written or agrees, 1
// differs (the diff on stdout) or the replay failed.
int runGoldenReplay(const Options& opts);

}  // namespace smtpguard
