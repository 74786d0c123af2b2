#include "tls/client_hello.h"

#include <algorithm>
#include <cstring>

namespace smtpguard {
namespace {

// RFC 8446 §4.1.3: a HelloRetryRequest is a ServerHello whose Random is SHA-256 of
// "HelloRetryRequest".
constexpr uint8_t kHelloRetryRandom[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

// Reads the handshake header and returns the body, or a status.
TlsParseStatus handshakeBody(Bytes message, uint8_t expected_type, Bytes& body) {
  if (message.size() < 4) return TlsParseStatus::kTruncated;
  if (message[0] != expected_type) return TlsParseStatus::kWrongType;
  uint32_t len = loadBe24(message.data() + 1);
  if (message.size() - 4 < len) return TlsParseStatus::kTruncated;
  body = message.subspan(4, len);
  return TlsParseStatus::kOk;
}

// Reads a vector of uint16 whose byte length has a `prefix`-byte (1 or 2) length field filling
// `data` exactly. False when the framing disagrees: the caller flags the extension.
template <size_t N>
bool readU16Vector(Bytes data, size_t prefix, BoundedList<uint16_t, N>& out) {
  if (data.size() < prefix) return false;
  size_t len = prefix == 1 ? data[0] : loadBe16(data.data());
  if (len != data.size() - prefix || (len & 1) != 0) return false;
  out.appendBe16(data.data() + prefix, len / 2);
  return true;
}

// RFC 6066 §3: ServerNameList server_name_list<1..2^16-1>, each {NameType (1 = host_name is
// 0); opaque HostName<1..2^16-1>}.
bool readServerName(Bytes data, ClientHelloInfo& out) {
  ByteReader r(data);
  uint16_t list_len = 0;
  if (!r.u16(list_len) || list_len != r.remaining()) return false;
  unsigned host_names = 0;
  while (r.remaining() > 0) {
    uint8_t type = 0;
    uint16_t len = 0;
    Bytes name;
    if (!r.u8(type) || !r.u16(len) || !r.bytes(len, name)) return false;
    if (type != 0) continue;  // only host_name (0) is defined
    if (++host_names > 1) {
      out.flags |= kHelloFlagMultipleServerNames;  // the first one is kept
      continue;
    }
    size_t keep = std::min(name.size(), kMaxServerNameBytes);
    if (name.size() > kMaxServerNameBytes) out.flags |= kHelloFlagServerNameTooLong;
    for (size_t i = 0; i < keep; ++i) {
      // "represented as a byte string using ASCII encoding": printable, no spaces or controls.
      if (name[i] < 0x21 || name[i] > 0x7e) out.flags |= kHelloFlagServerNameNotAscii;
      out.server_name[i] = static_cast<char>(name[i]);
    }
    out.server_name_length = static_cast<uint8_t>(keep);
  }
  if (out.server_name_length == 0) out.flags |= kHelloFlagServerNameEmpty;
  return true;
}

// RFC 7301 §3.1: ProtocolName protocol_name_list<2..2^16-1>, each opaque ProtocolName<1..2^8-1>.
bool readAlpn(Bytes data, ClientHelloInfo& out) {
  ByteReader r(data);
  uint16_t list_len = 0;
  if (!r.u16(list_len) || list_len != r.remaining()) return false;
  size_t used = 0;
  while (r.remaining() > 0) {
    uint8_t len = 0;
    Bytes name;
    if (!r.u8(len) || !r.bytes(len, name)) return false;
    if (len == 0) out.flags |= kHelloFlagEmptyAlpnProtocol;
    if (out.alpn_total == 0 && len > 0) {
      out.alpn_first_length = len;
      out.alpn_first_front = name.front();
      out.alpn_first_back = name.back();
    }
    ++out.alpn_total;
    if (out.alpn_count < kMaxAlpnProtocols && used + len <= kAlpnStorageBytes) {
      out.alpn_offset[out.alpn_count] = static_cast<uint8_t>(used);
      out.alpn_length[out.alpn_count] = len;
      if (len > 0) std::memcpy(out.alpn_bytes.data() + used, name.data(), len);
      used += len;
      ++out.alpn_count;
    }
  }
  return true;
}

// Bit per extension type whose body we read, to notice a repeated one cheaply.
uint32_t knownExtensionBit(uint16_t type) {
  switch (type) {
    case kExtServerName:
      return 1u << 0;
    case kExtSupportedGroups:
      return 1u << 1;
    case kExtEcPointFormats:
      return 1u << 2;
    case kExtSignatureAlgorithms:
      return 1u << 3;
    case kExtAlpn:
      return 1u << 4;
    case kExtSupportedVersions:
      return 1u << 5;
    default:
      return 0;
  }
}

// Returns false when the extension body is inconsistent (the hello stays usable: the framing of
// the extension block itself was sound).
bool readClientExtension(uint16_t type, Bytes data, ClientHelloInfo& out) {
  switch (type) {
    case kExtServerName:
      out.has_server_name = true;
      return readServerName(data, out);
    case kExtSupportedGroups:
      return readU16Vector(data, 2, out.supported_groups);
    case kExtEcPointFormats: {
      // RFC 8422 §5.1.2: ECPointFormat ec_point_format_list<1..2^8-1>
      if (data.empty() || data[0] != data.size() - 1) return false;
      for (size_t i = 1; i < data.size(); ++i) out.ec_point_formats.push(data[i]);
      return true;
    }
    case kExtSignatureAlgorithms:
      out.has_signature_algorithms = true;
      return readU16Vector(data, 2, out.signature_algorithms);
    case kExtAlpn:
      out.has_alpn = true;
      return readAlpn(data, out);
    case kExtSupportedVersions:
      // RFC 8446 §4.2.1: in a ClientHello, ProtocolVersion versions<2..254> (1-byte length).
      out.has_supported_versions = true;
      return readU16Vector(data, 1, out.supported_versions);
    default:
      return true;
  }
}

}  // namespace

std::string_view tlsParseStatusName(TlsParseStatus s) {
  switch (s) {
    case TlsParseStatus::kOk:
      return "ok";
    case TlsParseStatus::kWrongType:
      return "wrong_type";
    case TlsParseStatus::kTruncated:
      return "truncated";
    case TlsParseStatus::kBadLength:
      return "bad_length";
    case TlsParseStatus::kBadExtension:
      return "bad_extension";
  }
  return "unknown";
}

void ClientHelloInfo::clear() {
  record_version = handshake_version = 0;
  flags = 0;
  message_length = 0;
  session_id_length = 0;
  has_extensions_block = has_server_name = has_alpn = false;
  has_supported_versions = has_signature_algorithms = false;
  cipher_suites_non_grease = extensions_non_grease = 0;
  cipher_suites.clear();
  extensions.clear();
  supported_groups.clear();
  ec_point_formats.clear();
  signature_algorithms.clear();
  supported_versions.clear();
  server_name_length = 0;
  alpn_count = 0;
  alpn_total = 0;
  alpn_first_length = alpn_first_front = alpn_first_back = 0;
}

uint16_t ClientHelloInfo::highestSupportedVersion() const {
  uint16_t best = 0;
  for (uint16_t v : supported_versions.view())
    if (!isGrease(v) && v > best) best = v;
  return best;
}

void ServerHelloInfo::clear() {
  record_version = legacy_version = negotiated_version = cipher_suite = 0;
  compression_method = session_id_length = 0;
  has_extensions_block = has_supported_versions = false;
  flags = 0;
  message_length = 0;
  extensions.clear();
}

TlsParseStatus parseClientHello(Bytes message, ClientHelloInfo& out) {
  out.clear();
  Bytes body;
  if (TlsParseStatus s = handshakeBody(message, kHandshakeClientHello, body);
      s != TlsParseStatus::kOk)
    return s;
  out.message_length = static_cast<uint32_t>(body.size());

  // RFC 8446 §4.1.2: legacy_version, Random random (32), legacy_session_id<0..32>,
  // cipher_suites<2..2^16-2>, legacy_compression_methods<1..2^8-1>, extensions<8..2^16-1>.
  ByteReader r(body);
  uint8_t sid_len = 0;
  if (!r.u16(out.handshake_version) || !r.skip(32) || !r.u8(sid_len))
    return TlsParseStatus::kTruncated;
  if (sid_len > 32) return TlsParseStatus::kBadLength;
  out.session_id_length = sid_len;
  uint16_t cs_len = 0;
  Bytes cs;
  if (!r.skip(sid_len) || !r.u16(cs_len)) return TlsParseStatus::kTruncated;
  if ((cs_len & 1) != 0) return TlsParseStatus::kBadLength;  // a list of uint16
  if (!r.bytes(cs_len, cs)) return TlsParseStatus::kTruncated;
  out.cipher_suites_non_grease =
      static_cast<uint16_t>(cs.size() / 2 - out.cipher_suites.appendBe16(cs.data(), cs.size() / 2));
  uint8_t comp_len = 0;
  if (!r.u8(comp_len)) return TlsParseStatus::kTruncated;
  if (comp_len == 0) return TlsParseStatus::kBadLength;
  if (!r.skip(comp_len)) return TlsParseStatus::kTruncated;

  // RFC 5246 §7.4.1.2: a hello without extensions simply ends after the compression methods.
  if (r.remaining() == 0) return TlsParseStatus::kOk;
  uint16_t ext_len = 0;
  Bytes ext;
  if (!r.u16(ext_len) || !r.bytes(ext_len, ext)) return TlsParseStatus::kTruncated;
  if (r.remaining() != 0) out.flags |= kHelloFlagTrailingBytes;
  out.has_extensions_block = true;

  const uint8_t* e = ext.data();
  size_t left = ext.size();
  uint32_t seen = 0;
  while (left > 0) {
    // A truncated extension breaks the framing of the whole block: JA3/JA4 would be guesses.
    if (left < 4) return TlsParseStatus::kBadExtension;
    const uint16_t type = loadBe16(e);
    const size_t len = loadBe16(e + 2);
    if (left - 4 < len) return TlsParseStatus::kBadExtension;
    const Bytes data(e + 4, len);
    e += 4 + len;
    left -= 4 + len;
    out.extensions.push(type);
    out.extensions_non_grease += !isGrease(type);
    uint32_t bit = knownExtensionBit(type);
    if (bit != 0) {
      if ((seen & bit) != 0) {
        out.flags |= kHelloFlagDuplicateExtension;  // the first occurrence's values are kept
        continue;
      }
      seen |= bit;
      if (!readClientExtension(type, data, out)) out.flags |= kHelloFlagBadExtensionBody;
    }
  }
  if (out.cipher_suites.truncated() || out.extensions.truncated() ||
      out.supported_groups.truncated() || out.ec_point_formats.truncated() ||
      out.signature_algorithms.truncated() || out.supported_versions.truncated() ||
      out.alpn_total > out.alpn_count)
    out.flags |= kHelloFlagListTruncated;
  return TlsParseStatus::kOk;
}

TlsParseStatus parseServerHello(Bytes message, ServerHelloInfo& out) {
  out.clear();
  Bytes body;
  if (TlsParseStatus s = handshakeBody(message, kHandshakeServerHello, body);
      s != TlsParseStatus::kOk)
    return s;
  out.message_length = static_cast<uint32_t>(body.size());

  // RFC 8446 §4.1.3: legacy_version, Random random (32), legacy_session_id_echo<0..32>,
  // CipherSuite cipher_suite, uint8 legacy_compression_method, extensions<6..2^16-1>.
  ByteReader r(body);
  Bytes random;
  uint8_t sid_len = 0;
  if (!r.u16(out.legacy_version) || !r.bytes(32, random) || !r.u8(sid_len))
    return TlsParseStatus::kTruncated;
  if (sid_len > 32) return TlsParseStatus::kBadLength;
  out.session_id_length = sid_len;
  if (!r.skip(sid_len) || !r.u16(out.cipher_suite) || !r.u8(out.compression_method))
    return TlsParseStatus::kTruncated;
  if (std::memcmp(random.data(), kHelloRetryRandom, sizeof kHelloRetryRandom) == 0)
    out.flags |= kHelloFlagHelloRetryRequest;
  out.negotiated_version = out.legacy_version;
  if (r.remaining() == 0) return TlsParseStatus::kOk;

  uint16_t ext_len = 0;
  Bytes ext;
  if (!r.u16(ext_len) || !r.bytes(ext_len, ext)) return TlsParseStatus::kTruncated;
  if (r.remaining() != 0) out.flags |= kHelloFlagTrailingBytes;
  out.has_extensions_block = true;
  ByteReader e(ext);
  while (e.remaining() > 0) {
    uint16_t type = 0;
    uint16_t len = 0;
    Bytes data;
    if (!e.u16(type) || !e.u16(len) || !e.bytes(len, data)) return TlsParseStatus::kBadExtension;
    out.extensions.push(type);
    if (type != kExtSupportedVersions) continue;
    if (out.has_supported_versions) {
      out.flags |= kHelloFlagDuplicateExtension;
      continue;
    }
    // RFC 8446 §4.2.1: in a ServerHello, a single ProtocolVersion selected_version.
    if (data.size() != 2) {
      out.flags |= kHelloFlagBadExtensionBody;
      continue;
    }
    out.has_supported_versions = true;
    out.negotiated_version = loadBe16(data.data());
  }
  if (out.extensions.truncated()) out.flags |= kHelloFlagListTruncated;
  return TlsParseStatus::kOk;
}

}  // namespace smtpguard
