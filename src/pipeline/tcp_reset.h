#pragma once
// TCP RST frames for the reject verdict, built from the packet that triggered it. Pure: writes
// into a caller's buffer, knows nothing of mbufs.
//
// RFC 9293 §3.5.2 / RFC 5961 §3.2: a RST is accepted when its sequence number is exactly the
// receiver's next expected one. So:
//   toward the packet's sender (spoofing its peer): seq = the packet's ACK (what the sender
//     expects next from its peer), ACK = the packet's seq + its length; a segment without ACK
//     (a SYN) gets seq 0 and RST|ACK, as a closed port answers (RFC 9293 §3.10.7.1).
//   toward the packet's receiver (spoofing the sender): seq = the packet's own seq, which the
//     receiver expects exactly because the packet itself is dropped.

#include <cstddef>
#include <cstdint>

#include "common/bytes.h"
#include "packet/packet_parser.h"

namespace smtpguard {

enum class ResetTarget : uint8_t { kSender, kReceiver };

// Largest frame buildTcpReset writes: Ethernet + two VLAN tags + IPv6 + TCP.
inline constexpr size_t kMaxResetFrame = 14 + 8 + 40 + 20;

// Writes the RST into out[0..kMaxResetFrame) and returns its length; 0 when `info` is not a
// TCP packet. L2 (MACs, VLAN tags) is kept, MACs swapped toward the sender; IP options and
// IPv6 extension headers are not copied. Checksums are computed.
size_t buildTcpReset(Bytes frame, const PacketInfo& info, ResetTarget target, uint8_t* out);

// Largest frame buildIcmpProhibited writes: Ethernet + two VLAN tags + IP + ICMP header, then
// the invoking packet's IP header and first 8 transport bytes (RFC 792, RFC 4443 §3.1).
inline constexpr size_t kMaxIcmpFrame = 14 + 8 + 40 + 8 + 40 + 8;

// ICMP destination unreachable, administratively prohibited (ICMPv4 type 3 code 13, RFC 1812
// §5.2.7.1; ICMPv6 type 1 code 1, RFC 4443), toward the packet's sender from its destination
// address: smtpguard is L2-transparent and has no address of its own. Returns the length, 0
// when the packet carries IP options or extension headers beyond what is quoted.
size_t buildIcmpProhibited(Bytes frame, const PacketInfo& info, uint8_t* out);

}  // namespace smtpguard
