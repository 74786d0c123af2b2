#pragma once
// What a worker hands the main lcore: a fixed-size typed record, the common EVE fields and one
// per-type struct of facts (enums, numbers, bounded strings with explicit lengths). No JSON
// here: the main lcore renders each record once (event_render.h) for every sink, and the IPFIX
// exporter reads smtp_flow records as they are. Fixed size and trivially copyable, so it
// travels through an rte_ring of elements by copy, with no allocation on either side.
//
// Credentials: no struct below has a field that could hold AUTH bytes (the mechanism is an
// enum, never the client's word for it).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "common/ip_addr.h"
#include "flow/flow_table.h"
#include "policy/policy_types.h"
#include "smtp/smtp_line.h"
#include "smtp/smtp_session.h"
#include "subscriber/subscriber_stats.h"

namespace smtpguard {

enum class EventType : uint8_t {
  kSmtpStarttls,
  kSmtpAuth,
  kSmtpAnomaly,
  kSmtpFlow,
  kTlsClientHello,
  kPolicyVerdict,
  kSubscriberAlert,
};

constexpr const char* eventTypeName(EventType t) {
  switch (t) {
    case EventType::kSmtpStarttls:
      return "smtp_starttls";
    case EventType::kSmtpAuth:
      return "smtp_auth";
    case EventType::kSmtpAnomaly:
      return "smtp_anomaly";
    case EventType::kSmtpFlow:
      return "smtp_flow";
    case EventType::kTlsClientHello:
      return "tls_client_hello";
    case EventType::kPolicyVerdict:
      return "policy_verdict";
    case EventType::kSubscriberAlert:
      return "subscriber_alert";
  }
  return "unknown";
}

// A string of at most N bytes, any bytes (the renderer escapes them). set() cuts at N.
template <size_t N>
struct BoundedText {
  static_assert(N <= 65535);
  using Len = std::conditional_t<(N < 256), uint8_t, uint16_t>;
  Len len;
  char text[N];

  static constexpr size_t capacity() { return N; }
  void set(std::string_view s) {
    len = static_cast<Len>(s.size() < N ? s.size() : N);
    if (len != 0) std::memcpy(text, s.data(), len);  // an empty view's data() may be null
  }
  std::string_view view() const { return {text, len <= N ? len : N}; }
};

// A reply to STARTTLS; the result (accepted/refused/other) follows from the code.
struct StarttlsRecord {
  uint16_t reply_code;
};

struct AuthRecord {
  SmtpAuthMech mech;  // kOther for a word we do not know: never echoed
  bool tls;
};

struct AnomalyRecord {
  SmtpAnomaly anomaly;
  BoundedText<63> detail;  // written by smtpguard (or the 8-byte masked keyword)
};

inline constexpr size_t kRecordMaxAlpn = 8;  // = client_hello.h kMaxAlpnProtocols

// SNI, ALPN protocols and the JA3 string's numbers share one byte arena, in that order: a
// hello with a long SNI and many ALPN names has a short cipher list in practice, and the
// record stays small. The JA3 string is kept as its numbers (2 bytes each, not ~5.5 as text)
// and written again, byte for byte, by the renderer (ja3Format()); when they do not fit after
// SNI and ALPN, ja3_values is 0 and the renderer leaves the string out, as the JSON body's
// own bound always did for over-long strings.
struct ClientHelloRecord {
  SmtpTlsKind from;
  uint8_t alpn_count;
  uint16_t version;  // highest offered
  uint8_t sni_len;   // 0: no usable server_name (the member is left out)
  uint8_t alpn_length[kRecordMaxAlpn];
  uint8_t ja3_lists[4];  // numbers in each list after the version: ciphers, extensions, groups,
                         // point formats
  bool ja3_string_kept;
  uint16_t ja3_version;
  char ja4[36];
  char ja3_hash[32];
  uint8_t arena[382];  // sni_len bytes, the ALPN names, then the JA3 numbers (uint16, host order)

  static constexpr size_t kArena = sizeof arena;

  // Worker side: fills sni_len, alpn_*, ja3_* and the arena. `alpn(i)` for i < n_alpn.
  template <typename Alpn>
  void setStrings(std::string_view sni, size_t n_alpn, Alpn&& alpn, std::string_view ja3_string) {
    size_t at = 0;
    sni_len = static_cast<uint8_t>(sni.size() < 255 ? sni.size() : 255);
    if (sni_len != 0) std::memcpy(arena, sni.data(), sni_len);
    at = sni_len;
    alpn_count = 0;
    for (size_t i = 0; i < n_alpn && i < kRecordMaxAlpn; ++i) {
      std::string_view p = alpn(i);
      if (p.size() > 255 || at + p.size() > kArena) break;
      if (!p.empty()) std::memcpy(arena + at, p.data(), p.size());
      at += p.size();
      alpn_length[alpn_count++] = static_cast<uint8_t>(p.size());
    }
    ja3_string_kept = packJa3(ja3_string, at);
  }
  std::string_view sni() const { return {reinterpret_cast<const char*>(arena), sni_len}; }
  // Byte offset of ALPN name i in the arena.
  size_t alpnOffset(size_t i) const {
    size_t at = sni_len;
    for (size_t k = 0; k < i; ++k) at += alpn_length[k];
    return at;
  }
  std::string_view alpnName(size_t i) const {
    return {reinterpret_cast<const char*>(arena) + alpnOffset(i), alpn_length[i]};
  }
  size_t ja3Offset() const { return alpnOffset(alpn_count); }

 private:
  // "771,4865-4866,0-23,29-23,0": the version, then four '-'-separated lists of decimal
  // numbers (each below 65536, as tls_fingerprint writes them).
  bool packJa3(std::string_view s, size_t at) {
    size_t field = 0, n = 0;
    uint32_t v = 0;
    bool digits = false;
    ja3_lists[0] = ja3_lists[1] = ja3_lists[2] = ja3_lists[3] = 0;
    ja3_version = 0;
    auto put = [&]() {
      if (!digits || v > 0xffff) return false;
      if (field == 0) {
        ja3_version = static_cast<uint16_t>(v);
      } else {
        if (at + 2 > kArena || ja3_lists[field - 1] == 255) return false;
        const uint16_t w = static_cast<uint16_t>(v);
        std::memcpy(arena + at, &w, 2);
        at += 2;
        ++ja3_lists[field - 1];
      }
      ++n;
      v = 0;
      digits = false;
      return true;
    };
    for (char c : s) {
      if (c >= '0' && c <= '9') {
        // A leading zero would not be written again as it was.
        if (digits && v == 0) return false;
        v = v * 10 + static_cast<uint32_t>(c - '0');
        digits = true;
      } else if (c == '-') {
        if (field == 0 || !put()) return false;
      } else if (c == ',') {
        if ((digits || field == 0) && !put()) return false;
        if (++field > 4) return false;
      } else {
        return false;
      }
    }
    if (digits && !put()) return false;
    return field == 4;
  }
};

struct FlowRecord {
  uint64_t start_ns;        // first packet
  uint64_t end_ns;          // last packet (never the idle time before a timeout)
  uint32_t bytes_toserver;  // TCP payload bytes, saturating
  uint32_t bytes_toclient;
  uint32_t packets_toserver;  // every packet seen (blocked ones too), saturating
  uint32_t packets_toclient;
  uint32_t octets_toserver;  // their IP octets (headers and payload), saturating
  uint32_t octets_toclient;
  uint16_t extensions;  // 1 << SmtpExtension
  uint16_t auth_mechs;  // 1 << SmtpAuthMech
  uint16_t messages;
  uint16_t tls_version;  // the ServerHello's, when has_server_hello
  uint16_t cipher_suite;
  SmtpStarttlsResult starttls_result;
  SmtpTlsKind tls;
  EndReason reason;
  Action verdict_action;
  uint8_t tcp_flags;  // OR of every packet's
  bool starttls_offered : 1;
  bool starttls_attempted : 1;
  bool midstream : 1;
  bool has_server_hello : 1;
  bool has_verdict : 1;
  bool verdict_enforced : 1;
  bool has_ja : 1;  // ja3 and ja4 below are the client's
  char ja3s[32];
  char ja3[32];
  char ja4[36];
  BoundedText<64> verdict_rule;  // rule names are at most 64 bytes (policy_loader validName)
  BoundedText<255> helo;         // len 0: none
};

struct VerdictRecord {
  Action action;
  Stage stage;
  bool enforced;
  BoundedText<64> rule;
  BoundedText<400> policy;  // the policy's name; a longer one is cut here
};

inline constexpr size_t kRecordSampleDestinations = 4;  // = subscriber_table.h

struct SubscriberAlertRecord {
  uint64_t count;
  uint64_t threshold;
  uint64_t window_start;
  uint64_t quarantined_until;  // Unix seconds, 0: not quarantined
  uint64_t first_seen_ms;
  uint64_t last_seen_ms;
  uint32_t window_s;
  uint32_t totals[kSubStatCount];
  SubStat stat;
  bool quarantine_action;  // action "quarantine", else "alert"
  bool shadow;
  uint8_t n_samples;
  IpAddr samples[kRecordSampleDestinations];
  BoundedText<63> source;  // the subscriber key as text
  BoundedText<64> detector;
};

// Layout: 0 ts_ns | 8 flow_id | 16 src | 32 dst | 48 src_port | 50 dst_port | 52 type
//         | 53 lcore | 56 the per-type union.
struct EventRecord {
  uint64_t ts_ns;  // wall clock, ns since the epoch (packet time in replay)
  uint64_t flow_id;
  IpAddr src;  // the client (connection initiator)
  IpAddr dst;  // the server
  uint16_t src_port;
  uint16_t dst_port;
  EventType type;
  uint8_t lcore;
  union {
    StarttlsRecord starttls;
    AuthRecord auth;
    AnomalyRecord anomaly;
    ClientHelloRecord hello;
    FlowRecord flow;
    VerdictRecord verdict;
    SubscriberAlertRecord alert;
  };
};

inline constexpr size_t kEventRecordSize = 536;
static_assert(std::is_trivially_copyable_v<EventRecord>);
static_assert(offsetof(EventRecord, starttls) == 56);
static_assert(sizeof(EventRecord) == kEventRecordSize, "record size changed: update the docs");
static_assert(sizeof(EventRecord) % 8 == 0, "rte_ring elements: a multiple of 4 bytes");

}  // namespace smtpguard
