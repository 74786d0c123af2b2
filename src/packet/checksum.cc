#include "packet/checksum.h"

namespace smtpguard {
namespace {

// One's-complement sum of 16-bit big-endian words, unfolded (a 64-bit accumulator cannot
// overflow for any frame we parse).
uint64_t sumWords(const uint8_t* p, size_t n) {
  uint64_t s = 0;
  size_t i = 0;
  for (; i + 1 < n; i += 2) s += static_cast<uint64_t>(p[i]) << 8 | p[i + 1];
  if (i < n) s += static_cast<uint64_t>(p[i]) << 8;  // odd length: pad with a zero byte
  return s;
}

uint16_t fold(uint64_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

}  // namespace

bool ipv4HeaderChecksumOk(Bytes frame, const PacketInfo& info) {
  if (info.ip_version != 4) return true;
  const size_t ihl = static_cast<size_t>(frame[info.l3_offset] & 0x0f) * 4;
  return fold(sumWords(frame.data() + info.l3_offset, ihl)) == 0xffff;
}

bool tcpChecksumOk(Bytes frame, const PacketInfo& info) {
  const size_t tcp_len =
      static_cast<size_t>(info.payload_offset - info.l4_offset) + info.payload_len;
  uint64_t s = sumWords(frame.data() + info.l4_offset, tcp_len);
  if (info.ip_version == 4) {
    s += sumWords(info.src.b + 12, 4) + sumWords(info.dst.b + 12, 4);
  } else {
    s += sumWords(info.src.b, 16) + sumWords(info.dst.b, 16);
  }
  s += kIpProtoTcp + tcp_len;
  return fold(s) == 0xffff;
}

}  // namespace smtpguard
