// Runs a libFuzzer target without libFuzzer: every seed file, then N deterministic mutations
// of the seeds (bit flips, truncations, byte insertions, length-field smashing). Used by the
// ordinary test suite so every fuzz target runs on every build, sanitizers included.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<uint8_t> readFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void mutate(std::vector<uint8_t>& d, std::mt19937& rng) {
  std::uniform_int_distribution<int> kind(0, 5);
  auto pos = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n)(rng); };
  switch (kind(rng)) {
    case 0:  // flip a bit
      if (!d.empty()) d[pos(d.size() - 1)] ^= static_cast<uint8_t>(1u << (rng() % 8));
      break;
    case 1:  // truncate
      d.resize(pos(d.size()));
      break;
    case 2:  // insert random bytes
      d.insert(d.begin() + static_cast<long>(pos(d.size())), 1 + rng() % 8,
               static_cast<uint8_t>(rng()));
      break;
    case 3:  // smash a would-be length field with an extreme value
      if (d.size() >= 2) {
        size_t i = pos(d.size() - 2);
        d[i] = (rng() & 1) ? 0xff : 0x00;
        d[i + 1] = (rng() & 1) ? 0xff : 0x00;
      }
      break;
    case 4:  // overwrite a byte
      if (!d.empty()) d[pos(d.size() - 1)] = static_cast<uint8_t>(rng());
      break;
    default:  // duplicate a chunk
      if (d.size() > 4 && d.size() < 65536) {
        size_t a = pos(d.size() - 1);
        size_t n = std::min<size_t>(d.size() - a, 1 + rng() % 64);
        std::vector<uint8_t> chunk(d.begin() + static_cast<long>(a),
                                   d.begin() + static_cast<long>(a + n));
        d.insert(d.begin() + static_cast<long>(pos(d.size())), chunk.begin(), chunk.end());
      }
  }
}

}  // namespace

int main(int argc, char** argv) {
  long mutations = 0;
  std::vector<std::vector<uint8_t>> seeds;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--mutations=", 12) == 0) {
      mutations = std::strtol(argv[i] + 12, nullptr, 10);
      continue;
    }
    std::filesystem::path p(argv[i]);
    if (std::filesystem::is_directory(p)) {
      // In name order: directory order differs between file systems, and the mutations of
      // seed k are only the same on every machine if seed k is.
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::directory_iterator(p))
        if (e.is_regular_file()) files.push_back(e.path());
      std::sort(files.begin(), files.end());
      for (const auto& f : files) seeds.push_back(readFile(f));
    } else {
      seeds.push_back(readFile(p));
    }
  }
  if (seeds.empty()) seeds.emplace_back();
  for (const auto& s : seeds) LLVMFuzzerTestOneInput(s.data(), s.size());
  std::mt19937 rng(12345);
  for (long i = 0; i < mutations; ++i) {
    std::vector<uint8_t> d = seeds[static_cast<size_t>(i) % seeds.size()];
    int rounds = 1 + static_cast<int>(rng() % 4);
    for (int r = 0; r < rounds; ++r) mutate(d, rng);
    LLVMFuzzerTestOneInput(d.data(), d.size());
  }
  std::printf("%zu seeds, %ld mutations: no crash\n", seeds.size(), mutations);
  return 0;
}
