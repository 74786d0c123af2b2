#pragma once
// Synthetic traffic for the benchmark: Ethernet frames built in memory, deterministic.

#include <cstdint>
#include <string>
#include <vector>

namespace smtpguard::bench {

struct Frame {
  std::vector<uint8_t> bytes;
};

// Names accepted by --mix, with one line each for --help.
struct MixInfo {
  const char* name;
  const char* description;
};
const std::vector<MixInfo>& mixes();

// Builds `count` frames of the named mix; `generation` varies addresses/ports so a new
// generation is new flows to a flow table. False if the name is unknown.
bool buildMix(const std::string& name, size_t count, uint32_t generation, std::vector<Frame>& out);

}  // namespace smtpguard::bench
