#pragma once
// Writes frames to a pcap file (nanosecond timestamps), for replay's --write: the lab sees
// exactly what would have left the appliance. Control plane.

#include <cstdint>
#include <string>

#include "common/bytes.h"

typedef struct pcap pcap_t;
typedef struct pcap_dumper pcap_dumper_t;

namespace smtpguard {

class CaptureWriter {
 public:
  CaptureWriter() = default;
  ~CaptureWriter();
  CaptureWriter(const CaptureWriter&) = delete;
  CaptureWriter& operator=(const CaptureWriter&) = delete;

  bool open(const std::string& path);
  void write(uint64_t ts_ns, Bytes frame);
  bool isOpen() const { return dumper_ != nullptr; }
  const std::string& error() const { return error_; }

 private:
  pcap_t* pcap_ = nullptr;
  pcap_dumper_t* dumper_ = nullptr;
  std::string error_;
};

}  // namespace smtpguard
