#pragma once
// Internet checksums (RFC 1071) of a parsed frame: the IPv4 header and the TCP segment with its
// pseudo-header (RFC 9293 §3.1, RFC 8200 §8.1). Pure, over the frame's bytes and what the
// parser found; the frame must be the one `info` was parsed from.

#include "common/bytes.h"
#include "packet/packet_parser.h"

namespace smtpguard {

// The IPv4 header sums to 0xffff. IPv6 has no header checksum: true.
bool ipv4HeaderChecksumOk(Bytes frame, const PacketInfo& info);

// The TCP segment (header and payload per the IP lengths) with its pseudo-header sums to 0xffff.
bool tcpChecksumOk(Bytes frame, const PacketInfo& info);

}  // namespace smtpguard
