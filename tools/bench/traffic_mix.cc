#include "tools/bench/traffic_mix.h"

#include <cstring>
#include <string_view>

#include "common/bytes.h"

namespace smtpguard::bench {
namespace {

// Minimal frame writer: Ethernet + IPv4 + TCP/UDP with correct lengths. Checksums are left
// zero: nothing on the measured path verifies them.
struct Endpoint {
  uint32_t ip;
  uint16_t port;
};

Frame tcpFrame(Endpoint src, Endpoint dst, uint32_t seq, uint32_t ack, uint8_t flags,
               std::string_view payload) {
  Frame f;
  f.bytes.resize(14 + 20 + 20 + payload.size());
  uint8_t* p = f.bytes.data();
  const uint8_t mac_dst[6] = {0x02, 0, 0, 0, 0, 2}, mac_src[6] = {0x02, 0, 0, 0, 0, 1};
  std::memcpy(p, mac_dst, 6);
  std::memcpy(p + 6, mac_src, 6);
  storeBe16(p + 12, 0x0800);
  uint8_t* ip = p + 14;
  ip[0] = 0x45;
  storeBe16(ip + 2, static_cast<uint16_t>(40 + payload.size()));
  ip[8] = 64;
  ip[9] = 6;
  storeBe32(ip + 12, src.ip);
  storeBe32(ip + 16, dst.ip);
  uint8_t* tcp = ip + 20;
  storeBe16(tcp, src.port);
  storeBe16(tcp + 2, dst.port);
  storeBe32(tcp + 4, seq);
  storeBe32(tcp + 8, ack);
  tcp[12] = 0x50;
  tcp[13] = flags;
  storeBe16(tcp + 14, 65535);
  std::memcpy(tcp + 20, payload.data(), payload.size());
  return f;
}

Frame udpFrame(Endpoint src, Endpoint dst, size_t len) {
  Frame f;
  f.bytes.resize(14 + 20 + 8 + len);
  uint8_t* p = f.bytes.data();
  p[0] = 0x02;
  p[6] = 0x02;
  storeBe16(p + 12, 0x0800);
  uint8_t* ip = p + 14;
  ip[0] = 0x45;
  storeBe16(ip + 2, static_cast<uint16_t>(28 + len));
  ip[8] = 64;
  ip[9] = 17;
  storeBe32(ip + 12, src.ip);
  storeBe32(ip + 16, dst.ip);
  storeBe16(ip + 20, src.port);
  storeBe16(ip + 22, dst.port);
  storeBe16(ip + 24, static_cast<uint16_t>(8 + len));
  return f;
}

constexpr uint8_t kSyn = 0x02, kAck = 0x10, kPshAck = 0x18, kFinAck = 0x11;

// One TCP conversation: handshake, alternating client/server payload lines, FIN both ways.
void conversation(std::vector<Frame>& out, Endpoint c, Endpoint s,
                  const std::vector<std::pair<bool, std::string_view>>& lines) {
  uint32_t cseq = 1000, sseq = 5000;
  out.push_back(tcpFrame(c, s, cseq, 0, kSyn, {}));
  out.push_back(tcpFrame(s, c, sseq, cseq + 1, kSyn | kAck, {}));
  ++cseq;
  ++sseq;
  out.push_back(tcpFrame(c, s, cseq, sseq, kAck, {}));
  for (const auto& [from_client, text] : lines) {
    if (from_client) {
      out.push_back(tcpFrame(c, s, cseq, sseq, kPshAck, text));
      cseq += static_cast<uint32_t>(text.size());
    } else {
      out.push_back(tcpFrame(s, c, sseq, cseq, kPshAck, text));
      sseq += static_cast<uint32_t>(text.size());
    }
  }
  out.push_back(tcpFrame(c, s, cseq, sseq, kFinAck, {}));
  out.push_back(tcpFrame(s, c, sseq, cseq + 1, kFinAck, {}));
  out.push_back(tcpFrame(c, s, cseq + 1, sseq + 1, kAck, {}));
}

// A realistic submission session with small packets: the SMTP-flow scenario.
const std::vector<std::pair<bool, std::string_view>> kSmtpSession = {
    {false, "220 mx.example.test ESMTP ready\r\n"},
    {true, "EHLO client.example.test\r\n"},
    {false,
     "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 35882577\r\n250-STARTTLS\r\n"
     "250-AUTH PLAIN LOGIN\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"},
    {true, "MAIL FROM:<alice@example.test>\r\n"},
    {false, "250 2.1.0 Ok\r\n"},
    {true, "RCPT TO:<bob@example.test>\r\n"},
    {false, "250 2.1.5 Ok\r\n"},
    {true, "DATA\r\n"},
    {false, "354 End data with <CR><LF>.<CR><LF>\r\n"},
    {true, "Subject: benchmark\r\n\r\nHello Bob,\r\nthis is a short message.\r\n.\r\n"},
    {false, "250 2.0.0 Ok: queued\r\n"},
    {true, "QUIT\r\n"},
    {false, "221 2.0.0 Bye\r\n"},
};

const std::vector<std::pair<bool, std::string_view>> kWebSession = {
    {true, "GET /index.html HTTP/1.1\r\nHost: www.example.test\r\n\r\n"},
    {false, "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello world\n"},
};

// IMIX (7:4:1 frames of 64, 594 and 1518 bytes with FCS: 6, 536 and 1460 bytes of TCP
// payload over a 54-byte header): one TLS-like download of 12 segments.
std::vector<std::pair<bool, std::string_view>> imixSession() {
  static const std::string small(6, 'a'), medium(536, 'b'), large(1460, 'c');
  std::vector<std::pair<bool, std::string_view>> lines;
  const char pattern[] = "SMSLSMSSMSSS";  // 7 S, 4 M, 1 L
  for (size_t k = 0; pattern[k] != '\0'; ++k) {
    const std::string& p = pattern[k] == 'S' ? small : pattern[k] == 'M' ? medium : large;
    lines.emplace_back(pattern[k] == 'S', p);  // small ones from the client, the rest back
  }
  return lines;
}

uint32_t subscriber(uint32_t i) {
  return 0x64400000u + (i & 0x3fffffu);
}  // 100.64.0.0/10
uint32_t server(uint32_t i) {
  return 0xc6130000u + (i & 0xffffu);
}  // 198.19.0.0/16

}  // namespace

const std::vector<MixInfo>& mixes() {
  static const std::vector<MixInfo> kMixes = {
      {"passthrough", "web and DNS: HTTP sessions to port 80, UDP/53; no SMTP port"},
      {"smtp", "SMTP submission sessions on 587 with small packets (the SMTP-flow scenario)"},
      {"mixed", "every fourth session SMTP on 587, the others web and DNS"},
      {"imix", "IMIX-sized TCP sessions on 443 (7:4:1 of 64/594/1518 B), 5% of packets SMTP"},
      {"synflood", "SYNs from random subscriber addresses and ports to port 25: each a new flow"},
  };
  return kMixes;
}

bool buildMix(const std::string& name, size_t count, uint32_t generation, std::vector<Frame>& out) {
  out.clear();
  out.reserve(count + 32);
  uint32_t i = 0;
  const uint32_t g = generation * 7919u;
  if (name == "synflood") {
    // A deterministic xorshift: addresses and ports spread over the subscriber space, so every
    // SYN lands in another bucket of the flow table.
    uint64_t x = 0x9e3779b97f4a7c15ull ^ (uint64_t{generation} << 32);
    auto next = [&x]() {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      return x;
    };
    while (out.size() < count) {
      const uint64_t r = next();
      Endpoint c{subscriber(static_cast<uint32_t>(r)),
                 static_cast<uint16_t>(1024 + (r >> 32) % 64000)};
      out.push_back(tcpFrame(c, {server(static_cast<uint32_t>(r >> 48)), 25},
                             static_cast<uint32_t>(r >> 16), 0, kSyn, {}));
    }
    return true;
  }
  static const auto kImix = imixSession();
  while (out.size() < count) {
    Endpoint c{subscriber(i * 13 + g), static_cast<uint16_t>(1024 + (i + g) % 60000)};
    bool smtp =
        name == "smtp" || (name == "mixed" && i % 4 == 3) || (name == "imix" && i % 20 == 19);
    if (name != "passthrough" && name != "smtp" && name != "mixed" && name != "imix") return false;
    if (name == "imix" && !smtp) {
      conversation(out, c, {server(i), 443}, kImix);
    } else if (smtp) {
      conversation(out, c, {server(i), 587}, kSmtpSession);
    } else {
      conversation(out, c, {server(i), 80}, kWebSession);
      out.push_back(udpFrame(c, {server(i), 53}, 40));
    }
    ++i;
  }
  out.resize(count);
  return true;
}

}  // namespace smtpguard::bench
