// capture_dump [--libpcap] FILE: every frame CaptureReader hands out, one line each, for
// capture_reader_test.py to compare our reader with libpcap's:
//   open own|libpcap      (or: open error: MESSAGE)
//   TS_NS WIRE_LEN CAPLEN FNV1A64   (per frame, the data as replay would see it)
//   end | error: MESSAGE
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "drivers/capture_reader.h"

int main(int argc, char** argv) {
  using smtpguard::CaptureReader;
  const bool libpcap = argc == 3 && std::strcmp(argv[1], "--libpcap") == 0;
  if (argc != (libpcap ? 3 : 2)) {
    std::fprintf(stderr, "usage: capture_dump [--libpcap] FILE\n");
    return 2;
  }
  CaptureReader reader;
  if (!reader.open(argv[argc - 1],
                   libpcap ? CaptureReader::Backend::kLibpcap : CaptureReader::Backend::kAuto)) {
    std::printf("open error: %s\n", reader.error().c_str());
    return 0;
  }
  std::printf("open %s\n", reader.ownReader() ? "own" : "libpcap");
  smtpguard::CaptureFrame frame;
  while (reader.next(frame)) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint8_t b : frame.data) h = (h ^ b) * 0x100000001b3ull;
    std::printf("%" PRIu64 " %" PRIu32 " %zu %016" PRIx64 "\n", frame.ts_ns, frame.wire_len,
                frame.data.size(), h);
  }
  if (reader.error().empty()) {
    std::printf("end\n");
  } else {
    std::printf("error: %s\n", reader.error().c_str());
  }
  return 0;
}
