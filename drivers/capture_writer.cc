#include "drivers/capture_writer.h"

#include <cerrno>
#include <cstring>

namespace smtpguard {

namespace {

// pcap file format, nanosecond variant (the magic says so), in host byte order as readers
// expect (they detect it from the magic).
constexpr uint32_t kMagicNanosecond = 0xa1b23c4d;
constexpr uint32_t kSnapLen = 262144;
constexpr uint32_t kLinkTypeEthernet = 1;

struct FileHeader {
  uint32_t magic = kMagicNanosecond;
  uint16_t version_major = 2;
  uint16_t version_minor = 4;
  int32_t thiszone = 0;
  uint32_t sigfigs = 0;
  uint32_t snaplen = kSnapLen;
  uint32_t linktype = kLinkTypeEthernet;
};
static_assert(sizeof(FileHeader) == 24);

struct RecordHeader {
  uint32_t ts_sec;
  uint32_t ts_nsec;
  uint32_t caplen;
  uint32_t len;
};
static_assert(sizeof(RecordHeader) == 16);

}  // namespace

CaptureWriter::~CaptureWriter() {
  close();
}

void CaptureWriter::fail() {
  if (error_.empty()) error_ = "cannot write capture " + path_ + ": " + std::strerror(errno);
}

bool CaptureWriter::open(const std::string& path) {
  path_ = path;
  out_ = std::fopen(path.c_str(), "wb");
  if (out_ == nullptr) {
    fail();
    return false;
  }
  const FileHeader h;
  if (std::fwrite(&h, sizeof h, 1, out_) != 1) fail();
  return true;
}

void CaptureWriter::write(uint64_t ts_ns, Bytes frame) {
  if (out_ == nullptr || !error_.empty()) return;
  const RecordHeader r{static_cast<uint32_t>(ts_ns / 1000000000ull),
                       static_cast<uint32_t>(ts_ns % 1000000000ull),
                       static_cast<uint32_t>(frame.size()), static_cast<uint32_t>(frame.size())};
  if (std::fwrite(&r, sizeof r, 1, out_) != 1 ||
      (!frame.empty() && std::fwrite(frame.data(), frame.size(), 1, out_) != 1))
    fail();
}

bool CaptureWriter::close() {
  if (out_ == nullptr) return error_.empty();
  if (std::fflush(out_) != 0) fail();
  if (std::fclose(out_) != 0) fail();
  out_ = nullptr;
  return error_.empty();
}

}  // namespace smtpguard
