#pragma once
// Test helpers for src/tls: the captured hello fixtures in tests/data/tls (see its README), the
// expected values the Python reference computed for them (expected.tsv), and one small builder
// of synthetic ClientHello/ServerHello messages and TLS records.
//
// Test code only: allocates freely.

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"

namespace smtpguard::test {

// tests/data/tls, found from this header's path (relative to the build root when meson compiles
// it) via the working directory or the test binary's location; SMTPGUARD_TLS_DATA overrides.
inline std::filesystem::path tlsDataDir() {
  namespace fs = std::filesystem;
  if (const char* env = std::getenv("SMTPGUARD_TLS_DATA")) return env;
  fs::path here = fs::path(__FILE__).parent_path() / ".." / "data" / "tls";
  if (here.is_absolute()) return here;
  std::vector<fs::path> roots = {fs::current_path()};
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  for (fs::path p = exe.parent_path(); !ec && !p.empty() && p != p.root_path(); p = p.parent_path())
    roots.push_back(p);
  for (const fs::path& r : roots)
    if (fs::exists(r / here / "expected.tsv")) return fs::canonical(r / here);
  return here;
}

inline std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  std::streamoff n = in ? static_cast<std::streamoff>(in.tellg()) : 0;
  std::string s(static_cast<size_t>(n > 0 ? n : 0), '\0');
  in.seekg(0);
  in.read(s.data(), static_cast<std::streamsize>(s.size()));
  return s;
}

inline std::vector<uint8_t> readFixture(const std::string& name) {
  std::string s = readFile(tlsDataDir() / name);
  return {s.begin(), s.end()};
}

inline std::vector<std::string> fixtureNames(const std::string& suffix) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(tlsDataDir())) {
    std::string n = e.path().filename().string();
    if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
      names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// expected.tsv: file -> field -> value.
inline std::map<std::string, std::map<std::string, std::string>> expectedValues() {
  std::map<std::string, std::map<std::string, std::string>> out;
  std::ifstream in(tlsDataDir() / "expected.tsv");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t a = line.find('\t');
    size_t b = line.find('\t', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    out[line.substr(0, a)][line.substr(a + 1, b - a - 1)] = line.substr(b + 1);
  }
  return out;
}

// shared/corpus/expected.json beside the checkout (CI has it there), or empty.
inline std::string corpusExpectedJson() {
  return readFile(tlsDataDir() / ".." / ".." / ".." / ".." / "shared" / "corpus" / "expected.json");
}

// Whether the CI variable is set and non-empty: then missing ground truth is a failure, not a
// skip.
inline bool underCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && *ci != '\0';
}

// A synthetic hello. Extensions are raw (type, body) in wire order; helpers build the common
// ones.
struct HelloSpec {
  uint8_t type = 1;
  uint16_t version = 0x0303;
  std::vector<uint8_t> session_id = std::vector<uint8_t>(32, 0x55);
  std::vector<uint16_t> ciphers = {0x1301, 0xc02f};
  std::vector<uint8_t> compression = {0};
  bool with_extensions = true;
  std::vector<std::pair<uint16_t, std::vector<uint8_t>>> extensions;
};

inline void putU16(std::vector<uint8_t>& v, size_t x) {
  v.push_back(static_cast<uint8_t>(x >> 8));
  v.push_back(static_cast<uint8_t>(x));
}

inline std::vector<uint8_t> u16ListBody(const std::vector<uint16_t>& xs, bool one_byte_length) {
  std::vector<uint8_t> b;
  if (one_byte_length)
    b.push_back(static_cast<uint8_t>(xs.size() * 2));
  else
    putU16(b, xs.size() * 2);
  for (uint16_t x : xs) putU16(b, x);
  return b;
}

inline std::vector<uint8_t> serverNameBody(const std::vector<std::string>& names) {
  std::vector<uint8_t> list;
  for (const std::string& n : names) {
    list.push_back(0);  // host_name
    putU16(list, n.size());
    list.insert(list.end(), n.begin(), n.end());
  }
  std::vector<uint8_t> b;
  putU16(b, list.size());
  b.insert(b.end(), list.begin(), list.end());
  return b;
}

inline std::vector<uint8_t> alpnBody(const std::vector<std::string>& protos) {
  std::vector<uint8_t> list;
  for (const std::string& p : protos) {
    list.push_back(static_cast<uint8_t>(p.size()));
    list.insert(list.end(), p.begin(), p.end());
  }
  std::vector<uint8_t> b;
  putU16(b, list.size());
  b.insert(b.end(), list.begin(), list.end());
  return b;
}

inline HelloSpec serverHelloSpec() {
  HelloSpec s;
  s.type = 2;
  return s;
}

inline HelloSpec withoutExtensions(uint16_t version = 0x0303) {
  HelloSpec s;
  s.version = version;
  s.with_extensions = false;
  return s;
}

// The handshake message: header + ClientHello (type 1) or ServerHello (type 2) body. For a
// ServerHello, ciphers[0] is the selected suite.
inline std::vector<uint8_t> buildHello(const HelloSpec& s) {
  std::vector<uint8_t> body;
  putU16(body, s.version);
  body.insert(body.end(), 32, 0xab);  // random
  body.push_back(static_cast<uint8_t>(s.session_id.size()));
  body.insert(body.end(), s.session_id.begin(), s.session_id.end());
  if (s.type == 1) {
    putU16(body, s.ciphers.size() * 2);
    for (uint16_t c : s.ciphers) putU16(body, c);
    body.push_back(static_cast<uint8_t>(s.compression.size()));
    body.insert(body.end(), s.compression.begin(), s.compression.end());
  } else {
    putU16(body, s.ciphers.empty() ? 0 : s.ciphers[0]);
    body.push_back(0);
  }
  if (s.with_extensions) {
    std::vector<uint8_t> ext;
    for (const auto& [type, data] : s.extensions) {
      putU16(ext, type);
      putU16(ext, data.size());
      ext.insert(ext.end(), data.begin(), data.end());
    }
    putU16(body, ext.size());
    body.insert(body.end(), ext.begin(), ext.end());
  }
  // The header goes in front of the body (inserting the body after a 4-byte vector trips a
  // GCC 12 -O3 -Warray-bounds false positive).
  const uint8_t header[4] = {s.type, static_cast<uint8_t>(body.size() >> 16),
                             static_cast<uint8_t>(body.size() >> 8),
                             static_cast<uint8_t>(body.size())};
  body.insert(body.begin(), header, header + 4);
  return body;
}

// Wraps a handshake message into handshake records of at most `record_payload` bytes each.
inline std::vector<uint8_t> toRecords(const std::vector<uint8_t>& msg, size_t record_payload,
                                      uint16_t record_version = 0x0301) {
  std::vector<uint8_t> out;
  for (size_t pos = 0; pos < msg.size(); pos += record_payload) {
    size_t n = std::min(record_payload, msg.size() - pos);
    out.push_back(22);
    putU16(out, record_version);
    putU16(out, n);
    out.insert(out.end(), msg.begin() + static_cast<long>(pos),
               msg.begin() + static_cast<long>(pos + n));
  }
  return out;
}

inline std::vector<uint8_t> fromHex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

}  // namespace smtpguard::test
