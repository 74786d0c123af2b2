#pragma once
// Reads a pcap or pcapng capture (libpcap understands both) frame by frame for replay mode.
// Control plane: may allocate, reports errors as text.

#include <cstdint>
#include <string>

#include "common/bytes.h"

typedef struct pcap pcap_t;

namespace smtpguard {

struct CaptureFrame {
  uint64_t ts_ns = 0;  // the frame's timestamp, nanoseconds since the Unix epoch
  Bytes data;          // valid until the next call to next()
  uint32_t wire_len = 0;
};

class CaptureReader {
 public:
  CaptureReader() = default;
  ~CaptureReader();
  CaptureReader(const CaptureReader&) = delete;
  CaptureReader& operator=(const CaptureReader&) = delete;

  // False with error() set when the file is missing, unreadable or not a capture, or its link
  // type is not Ethernet.
  bool open(const std::string& path);
  // False at end of file or on a read error (error() non-empty then).
  bool next(CaptureFrame& frame);
  const std::string& error() const { return error_; }

 private:
  pcap_t* pcap_ = nullptr;
  std::string error_;
};

}  // namespace smtpguard
