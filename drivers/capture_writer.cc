#include "drivers/capture_writer.h"

#include <pcap/pcap.h>

namespace smtpguard {

CaptureWriter::~CaptureWriter() {
  if (dumper_ != nullptr) pcap_dump_close(dumper_);
  if (pcap_ != nullptr) pcap_close(pcap_);
}

bool CaptureWriter::open(const std::string& path) {
  pcap_ = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 262144, PCAP_TSTAMP_PRECISION_NANO);
  if (pcap_ == nullptr) {
    error_ = "cannot create pcap handle";
    return false;
  }
  dumper_ = pcap_dump_open(pcap_, path.c_str());
  if (dumper_ == nullptr) {
    error_ = "cannot write capture " + path + ": " + pcap_geterr(pcap_);
    return false;
  }
  return true;
}

void CaptureWriter::write(uint64_t ts_ns, Bytes frame) {
  if (dumper_ == nullptr) return;
  pcap_pkthdr hdr{};
  hdr.ts.tv_sec = static_cast<time_t>(ts_ns / 1000000000ull);
  hdr.ts.tv_usec = static_cast<suseconds_t>(ts_ns % 1000000000ull);  // ns: nano precision file
  hdr.caplen = static_cast<bpf_u_int32>(frame.size());
  hdr.len = hdr.caplen;
  pcap_dump(reinterpret_cast<u_char*>(dumper_), &hdr, frame.data());
}

}  // namespace smtpguard
