#include "drivers/capture_reader.h"

#include <pcap/pcap.h>

namespace smtpguard {

CaptureReader::~CaptureReader() {
  if (pcap_ != nullptr) pcap_close(pcap_);
}

bool CaptureReader::open(const std::string& path) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  // Nanosecond precision: libpcap scales microsecond files up, so both read alike.
  pcap_ = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (pcap_ == nullptr) {
    error_ = std::string("cannot read capture ") + path + ": " + errbuf;
    return false;
  }
  if (pcap_datalink(pcap_) != DLT_EN10MB) {
    error_ = "capture " + path + " has link type " +
             (pcap_datalink_val_to_name(pcap_datalink(pcap_)) != nullptr
                  ? pcap_datalink_val_to_name(pcap_datalink(pcap_))
                  : std::to_string(pcap_datalink(pcap_))) +
             "; only Ethernet (EN10MB) captures can be replayed";
    pcap_close(pcap_);
    pcap_ = nullptr;
    return false;
  }
  return true;
}

bool CaptureReader::next(CaptureFrame& frame) {
  if (pcap_ == nullptr) return false;
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  int rc = pcap_next_ex(pcap_, &hdr, &data);
  if (rc == 1) {
    frame.ts_ns = static_cast<uint64_t>(hdr->ts.tv_sec) * 1000000000ull +
                  static_cast<uint64_t>(hdr->ts.tv_usec);  // tv_usec holds ns here
    frame.data = Bytes(data, hdr->caplen);
    frame.wire_len = hdr->len;
    return true;
  }
  if (rc == PCAP_ERROR) error_ = std::string("capture read error: ") + pcap_geterr(pcap_);
  return false;
}

}  // namespace smtpguard
