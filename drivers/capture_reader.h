#pragma once
// Reads a pcap or pcapng capture frame by frame for replay mode. A classic pcap file (version
// 2.4, either byte order, micro- or nanosecond timestamps, a link type below) is read by us:
// large reads into one buffer, each frame handed out where it lies there (libpcap copies every
// frame once more, into a buffer of its own, through a function call per record). Everything
// else (pcapng, older versions, a pipe or "-", other link types) goes through libpcap. Both
// read alike, frame for frame: the same timestamps, a frame longer than the file's snapshot
// length cut to it, and an error (never a crash) where libpcap gives one: a record or header
// cut short by the end of the file, a captured length beyond 262,144 bytes.
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
  Bytes data;          // valid until the next call to next() or open()
  uint32_t wire_len = 0;
};

class CaptureReader {
 public:
  CaptureReader() = default;
  ~CaptureReader();
  CaptureReader(const CaptureReader&) = delete;
  CaptureReader& operator=(const CaptureReader&) = delete;

  enum class Backend { kAuto, kLibpcap };
  // False with error() set when the file is missing, unreadable or not a capture, or its link
  // type carries neither Ethernet nor IP. kLibpcap: libpcap whatever the file (tests compare).
  bool open(const std::string& path, Backend backend = Backend::kAuto);
  // False at end of file or on a read error (error() non-empty then).
  bool next(CaptureFrame& frame);
  const std::string& error() const { return error_; }
  // True when the open file is read by us, not by libpcap.
  bool ownReader() const { return fd_ >= 0; }

 private:
  // A classic pcap file of a link type we know: opened for readClassic(). False with nothing
  // open when it is not one (libpcap then reads it, and says what is wrong with it).
  bool openClassic(const std::string& path);
  bool readClassic(CaptureFrame& frame);
  // At least `need` bytes from begin_ in buffer_, reading more as needed; false at end of file
  // (or a read error: error_ set) with fewer.
  bool fill(size_t need);
  void close();
  // Wraps a non-Ethernet frame into buffer_; false if it carries no IP (then passed as is).
  bool toEthernet(const uint8_t* data, uint32_t caplen, CaptureFrame& frame);

  pcap_t* pcap_ = nullptr;
  // Our reader: the file, the buffer and what of it is unread ([begin_, end_)).
  int fd_ = -1;
  std::vector<uint8_t> read_buffer_;
  size_t begin_ = 0;
  size_t end_ = 0;
  bool swapped_ = false;     // the file's byte order is not ours
  uint32_t frac_scale_ = 1;  // 1000 for microsecond files
  uint32_t snapshot_ = 0;    // the file's snapshot length, as libpcap adjusts it
  int linktype_ = 0;
  std::vector<uint8_t> buffer_;
  std::vector<char> io_buffer_;  // the capture file's stdio buffer (outlives pcap_)
  std::string error_;
};

}  // namespace smtpguard
