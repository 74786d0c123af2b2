#include "drivers/capture_reader.h"

#include <pcap/pcap.h>

#include <cstdio>
#include <cstring>

#include "common/bytes.h"

namespace smtpguard {
namespace {

constexpr int kDltLinuxSll2 = 276;  // not in every libpcap's headers
constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86dd;

bool supportedLinkType(int dlt) {
  return dlt == DLT_EN10MB || dlt == DLT_NULL || dlt == DLT_LOOP || dlt == DLT_RAW ||
         dlt == DLT_IPV4 || dlt == DLT_IPV6 || dlt == DLT_LINUX_SLL || dlt == kDltLinuxSll2;
}

// BSD loopback: the address family, in the capturing host's byte order (DLT_NULL) or network
// order (DLT_LOOP). AF_INET6 differs between BSDs: 24, 28 or 30.
uint16_t etherTypeOfFamily(uint32_t family) {
  if (family == 2) return kEtherIpv4;
  if (family == 24 || family == 28 || family == 30) return kEtherIpv6;
  return 0;
}

}  // namespace

CaptureReader::~CaptureReader() {
  if (pcap_ != nullptr) pcap_close(pcap_);
}

bool CaptureReader::open(const std::string& path) {
  if (pcap_ != nullptr) {  // reopening (replay --loop): the previous pass is done with
    pcap_close(pcap_);
    pcap_ = nullptr;
  }
  error_.clear();
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  // Nanosecond precision: libpcap scales microsecond files up, so both read alike.
  // Read through a 1 MiB stdio buffer of ours: libpcap's own FILE reads 4 KiB a system call,
  // 90,000 calls for a 350 MB capture. "-" (stdin), or a file fopen cannot open, goes to
  // libpcap, which says why.
  FILE* file = path == "-" ? nullptr : std::fopen(path.c_str(), "rb");
  if (file != nullptr) {
    io_buffer_.resize(1 << 20);
    std::setvbuf(file, io_buffer_.data(), _IOFBF, io_buffer_.size());
    pcap_ = pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (pcap_ == nullptr) std::fclose(file);
  } else {
    pcap_ =
        pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  }
  if (pcap_ == nullptr) {
    error_ = std::string("cannot read capture ") + path + ": " + errbuf;
    return false;
  }
  linktype_ = pcap_datalink(pcap_);
  if (!supportedLinkType(linktype_)) {
    const char* name = pcap_datalink_val_to_name(linktype_);
    error_ = "capture " + path + " has link type " +
             (name != nullptr ? name : std::to_string(linktype_)) +
             "; replay takes Ethernet, BSD loopback, raw IP and Linux cooked captures";
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
    if (linktype_ != DLT_EN10MB) toEthernet(data, hdr->caplen, frame);
    return true;
  }
  if (rc == PCAP_ERROR) error_ = std::string("capture read error: ") + pcap_geterr(pcap_);
  return false;
}

bool CaptureReader::toEthernet(const uint8_t* data, uint32_t caplen, CaptureFrame& frame) {
  uint32_t skip = 0;
  uint16_t ether_type = 0;
  switch (linktype_) {
    case DLT_NULL:
      if (caplen < 4) return false;
      uint32_t family;
      std::memcpy(&family, data, 4);  // host order of the capturing machine: try both
      ether_type = etherTypeOfFamily(family);
      if (ether_type == 0) ether_type = etherTypeOfFamily(__builtin_bswap32(family));
      skip = 4;
      break;
    case DLT_LOOP:
      if (caplen < 4) return false;
      ether_type = etherTypeOfFamily(loadBe32(data));
      skip = 4;
      break;
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
      if (caplen < 1) return false;
      ether_type = (data[0] >> 4) == 6 ? kEtherIpv6 : kEtherIpv4;
      break;
    case DLT_LINUX_SLL:  // 16-byte header, protocol last
      if (caplen < 16) return false;
      ether_type = loadBe16(data + 14);
      skip = 16;
      break;
    case kDltLinuxSll2:  // 20-byte header, protocol first
      if (caplen < 20) return false;
      ether_type = loadBe16(data);
      skip = 20;
      break;
    default:
      return false;
  }
  if (ether_type == 0) return false;
  // Locally administered MACs mark the header as ours, not the wire's.
  static constexpr uint8_t kMacs[12] = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};
  buffer_.resize(14 + caplen - skip);
  std::memcpy(buffer_.data(), kMacs, 12);
  storeBe16(buffer_.data() + 12, ether_type);
  std::memcpy(buffer_.data() + 14, data + skip, caplen - skip);
  frame.data = Bytes(buffer_.data(), buffer_.size());
  return true;
}

}  // namespace smtpguard
