#include "drivers/capture_reader.h"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

#include "common/bytes.h"

namespace smtpguard {
namespace {

constexpr int kDltLinuxSll2 = 276;  // not in every libpcap's headers
constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86dd;

// Classic pcap (pcap-savefile(5)): a 24-byte file header, then records of a 16-byte header
// (seconds, micro- or nanoseconds, captured length, length on the wire) and the frame.
constexpr uint32_t kMagicMicro = 0xa1b2c3d4;
constexpr uint32_t kMagicNano = 0xa1b23c4d;
constexpr size_t kFileHeaderSize = 24;
constexpr size_t kRecordHeaderSize = 16;
// libpcap's largest frame for every link type replay takes (MAXIMUM_SNAPLEN): a record that
// claims more is an error there, and here.
constexpr uint32_t kMaxSnaplen = 262144;
// Reads of up to 1 MiB (fewer system calls than libpcap's stdio, and still in the cache when
// the frame is copied out); it holds the largest record whole.
constexpr size_t kReadBufferSize = 1 << 20;
static_assert(kReadBufferSize >= kRecordHeaderSize + kMaxSnaplen);

uint32_t load32(const uint8_t* p, bool swapped) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return swapped ? __builtin_bswap32(v) : v;
}

// The file's link type (LINKTYPE_*) as libpcap names it (DLT_*), for the types replay takes;
// -1 for the rest, which libpcap then reads (it knows every mapping and says what it refuses).
int dltOfLinkType(uint32_t linktype) {
  switch (linktype & 0x03ffffff) {  // the upper six bits may carry FCS information
    case 0:
      return DLT_NULL;
    case 1:
      return DLT_EN10MB;
    case 101:
      return DLT_RAW;
    case 108:
      return DLT_LOOP;
    case 113:
      return DLT_LINUX_SLL;
    case 228:
      return DLT_IPV4;
    case 229:
      return DLT_IPV6;
    case 276:
      return kDltLinuxSll2;
    default:
      return -1;
  }
}

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
  close();
}

void CaptureReader::close() {
  if (pcap_ != nullptr) pcap_close(pcap_);
  pcap_ = nullptr;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  begin_ = end_ = 0;
}

bool CaptureReader::openClassic(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  uint8_t header[kFileHeaderSize];
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      pread(fd, header, sizeof header, 0) != static_cast<ssize_t>(sizeof header)) {
    ::close(fd);
    return false;
  }
  uint32_t magic;
  std::memcpy(&magic, header, 4);
  const bool swapped =
      magic == __builtin_bswap32(kMagicMicro) || magic == __builtin_bswap32(kMagicNano);
  if (swapped) magic = __builtin_bswap32(magic);
  uint16_t version[2];  // major, minor
  std::memcpy(version, header + 4, sizeof version);
  if (swapped) {
    version[0] = __builtin_bswap16(version[0]);
    version[1] = __builtin_bswap16(version[1]);
  }
  const int dlt = dltOfLinkType(load32(header + 20, swapped));
  // Older versions (whose caplen and len may be swapped), pcapng and the rest: libpcap's.
  if ((magic != kMagicMicro && magic != kMagicNano) || version[0] != 2 || version[1] != 4 ||
      dlt < 0) {
    ::close(fd);
    return false;
  }
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  fd_ = fd;
  read_buffer_.resize(kReadBufferSize);
  begin_ = end_ = 0;
  swapped_ = swapped;
  frac_scale_ = magic == kMagicMicro ? 1000 : 1;
  // As libpcap: a snapshot length of 0 or beyond INT_MAX stands for the largest.
  const uint32_t snaplen = load32(header + 16, swapped);
  snapshot_ = snaplen == 0 || snaplen > INT_MAX ? kMaxSnaplen : snaplen;
  linktype_ = dlt;
  if (!fill(kFileHeaderSize)) {  // read by pread above: only a read error can fail here
    close();
    return false;
  }
  begin_ = kFileHeaderSize;
  return true;
}

bool CaptureReader::fill(size_t need) {
  if (end_ - begin_ >= need) return true;
  if (read_buffer_.size() - begin_ < need) {  // no room behind: what is left moves to the front
    std::memmove(read_buffer_.data(), read_buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  while (end_ - begin_ < need) {
    const ssize_t got = ::read(fd_, read_buffer_.data() + end_, read_buffer_.size() - end_);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      error_ = std::string("capture read error: ") + std::strerror(errno);
      return false;
    }
    if (got == 0) return false;
    end_ += static_cast<size_t>(got);
  }
  return true;
}

bool CaptureReader::open(const std::string& path, Backend backend) {
  close();  // reopening (replay --loop): the previous pass is done with
  error_.clear();
  if (backend == Backend::kAuto && path != "-" && openClassic(path)) return true;
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

// One record, read as libpcap's sf-pcap.c reads one: the end of the file only at a record
// boundary, a header or frame cut short an error, a captured length beyond the largest
// snapshot an error, one beyond the file's snapshot length cut to it (the rest skipped).
// Every length is checked against what is in the buffer before it is used.
bool CaptureReader::readClassic(CaptureFrame& frame) {
  if (!fill(kRecordHeaderSize)) {
    if (error_.empty() && end_ != begin_) {
      error_ = "capture read error: truncated dump file; tried to read 16 header bytes, only got " +
               std::to_string(end_ - begin_);
    }
    close();
    return false;
  }
  const uint8_t* h = read_buffer_.data() + begin_;
  // Seconds and fraction are signed 32-bit fields, as libpcap takes them.
  const auto sec = static_cast<int32_t>(load32(h, swapped_));
  const auto frac = static_cast<int32_t>(load32(h + 4, swapped_));
  uint32_t caplen = load32(h + 8, swapped_);
  const uint32_t len = load32(h + 12, swapped_);
  if (caplen > kMaxSnaplen) {
    error_ = "capture read error: invalid packet capture length " + std::to_string(caplen) +
             ", bigger than " +
             (caplen > snapshot_ ? "snaplen of " + std::to_string(snapshot_)
                                 : "maximum of " + std::to_string(kMaxSnaplen));
    close();
    return false;
  }
  if (!fill(kRecordHeaderSize + caplen)) {
    if (error_.empty()) {
      error_ = "capture read error: truncated dump file; tried to read " + std::to_string(caplen) +
               " captured bytes, only got " + std::to_string(end_ - begin_ - kRecordHeaderSize);
    }
    close();
    return false;
  }
  const uint8_t* data = read_buffer_.data() + begin_ + kRecordHeaderSize;  // fill may move it
  begin_ += kRecordHeaderSize + caplen;
  caplen = std::min(caplen, snapshot_);
  frame.ts_ns = static_cast<uint64_t>(static_cast<int64_t>(sec)) * 1000000000ull +
                static_cast<uint64_t>(static_cast<int64_t>(frac) * frac_scale_);
  frame.data = Bytes(data, caplen);
  frame.wire_len = len;
  if (linktype_ != DLT_EN10MB) toEthernet(data, caplen, frame);
  return true;
}

bool CaptureReader::next(CaptureFrame& frame) {
  if (fd_ >= 0) return readClassic(frame);
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
