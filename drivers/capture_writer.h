#pragma once
// Writes frames to a pcap file (nanosecond timestamps), for replay's --write: the lab sees
// exactly what would have left the appliance. Control plane. Written directly (the format is
// a 24-byte header and a 16-byte header a frame) so that every write, flush and close error
// is seen: libpcap's dumper reports none of them.

#include <cstdint>
#include <cstdio>
#include <string>

#include "common/bytes.h"

namespace smtpguard {

class CaptureWriter {
 public:
  CaptureWriter() = default;
  ~CaptureWriter();
  CaptureWriter(const CaptureWriter&) = delete;
  CaptureWriter& operator=(const CaptureWriter&) = delete;

  bool open(const std::string& path);
  // After a failure, frames are dropped: the file is incomplete either way.
  void write(uint64_t ts_ns, Bytes frame);
  // Flushes and closes; false if any write, the flush or the close failed.
  bool close();
  bool isOpen() const { return out_ != nullptr; }
  // One line: "cannot write capture PATH: reason".
  const std::string& error() const { return error_; }

 private:
  void fail();

  FILE* out_ = nullptr;
  std::string path_;
  std::string error_;
};

}  // namespace smtpguard
