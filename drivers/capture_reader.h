#pragma once
// Reads a pcap or pcapng capture (libpcap understands both) frame by frame for replay mode.
// Captures of other link types that carry IP (BSD loopback NULL/LOOP, raw IP, Linux cooked
// SLL/SLL2) are handed out as Ethernet frames with a synthetic header, so replay runs them
// through the same fast path. Control plane: may allocate, reports errors as text.

#include <cstdint>
#include <string>
#include <vector>

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
  // type carries neither Ethernet nor IP.
  bool open(const std::string& path);
  // False at end of file or on a read error (error() non-empty then).
  bool next(CaptureFrame& frame);
  const std::string& error() const { return error_; }

 private:
  // Wraps a non-Ethernet frame into buffer_; false if it carries no IP (then passed as is).
  bool toEthernet(const uint8_t* data, uint32_t caplen, CaptureFrame& frame);

  pcap_t* pcap_ = nullptr;
  int linktype_ = 0;
  std::vector<uint8_t> buffer_;
  std::vector<char> io_buffer_;  // the capture file's stdio buffer (outlives pcap_)
  std::string error_;
};

}  // namespace smtpguard
