// Feeds arbitrary frames to parsePacket and checks what every caller relies on: whatever the
// result, the offsets it reports stay inside the frame, so the fast path can index with them.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "packet/packet_parser.h"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace smtpguard;
  PacketInfo info;
  ParseResult r = parsePacket(Bytes(data, size), info);
  require(parseResultText(r) != nullptr);
  require(info.vlan_count <= 2);
  require(info.l3_offset <= size);
  require(info.ip_version == 0 || info.ip_version == 4 || info.ip_version == 6);
  if (info.ip_version != 0) require(info.l3_offset + size_t{info.l3_len} <= size);
  if (r == ParseResult::kOk && info.ip_version != 0) {
    require(info.l4_offset >= info.l3_offset + 20u);
    require(info.l4_offset <= info.l3_offset + size_t{info.l3_len});
    if (info.l4_proto == kIpProtoTcp) {
      require(info.payload_offset >= info.l4_offset + 20u);
      require(size_t{info.payload_offset} + info.payload_len <= size);
      require(size_t{info.payload_offset} + info.payload_len ==
              size_t{info.l3_offset} + info.l3_len);
    }
  }
  if (r == ParseResult::kFragment) require(info.fragment && info.l4_offset == 0);
  if (r == ParseResult::kNonIp) require(info.ip_version == 0);
  // The lenient port finder runs on the frames parsePacket rejects: it must agree with
  // parsePacket wherever that one found a TCP header, and never read past the bytes.
  uint16_t sport = 0, dport = 0;
  const bool found = findTcpPorts(Bytes(data, size), sport, dport);
  if (r == ParseResult::kOk && info.l4_proto == kIpProtoTcp) {
    require(found && sport == info.src_port && dport == info.dst_port);
  }
  // formatIp is control plane, but it sees the same bytes; it must not overrun either.
  char buf[46];
  formatIp(info.src, buf, sizeof(buf));
  formatIp(info.dst, buf, 7);
  return 0;
}
