#pragma once
// The SMTP session engine: one flow's two in-order byte streams in, counters, observer calls and
// a per-chunk result out. It knows nothing of mbufs, packets or flows: the TCP layer hands it each
// direction's payload in order, split anywhere, and tells it about gaps.
//
// What it follows: the greeting and EHLO capabilities (RFC 5321 §4.1.1.1), STARTTLS (RFC 3207),
// AUTH and its SASL exchange (RFC 4954), MAIL/RCPT/DATA with the body skipped to the lone dot
// (RFC 5321 §4.1.1.4), BDAT chunks skipped by length (RFC 3030), pipelining (RFC 2920), and
// implicit TLS (RFC 8314). Once TLS begins the engine stops: the caller feeds the rest of the
// flow to the TLS parser.
//
// Where the server's reading of the bytes is not yet known, the engine takes the reading under
// which a credential could leave: TLS begins only on a whole record header and ClientHello
// type, client bytes after DATA are commands until the 354, a BDAT chunk is skipped only when
// the server offered CHUNKING and the size is one it can read, and blanks of any length before a
// verb do not hide it.
//
// Credentials never leave the packet: the bytes after an AUTH mechanism and every client line of
// a 334 exchange are skipped in place, never copied, never handed to the observer.
//
// Fast path: no heap, no exceptions, no locks, no syscalls, no logging; every buffer bounded.

#include <array>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "common/bytes.h"
#include "common/object_pool.h"
#include "common/port_class.h"
#include "smtp/smtp_line.h"
#include "stats/counter_block.h"

namespace smtpguard {

enum class Direction : uint8_t { kClientToServer, kServerToClient };

enum class SmtpMode : uint8_t {
  kSmtp,        // cleartext SMTP (the initial mode)
  kTlsPending,  // 220 to STARTTLS seen: the client's next bytes must be a TLS handshake
  kTls,         // TLS began: the engine no longer parses this flow
};

enum class SmtpAnomaly : uint8_t {
  kStarttlsInjection,           // RFC 3207 §4.2, CVE-2011-0411: commands behind STARTTLS
  kPlaintextAfterStarttls,      // 220 given, but the client kept talking in clear
  kPlaintextOnImplicitTlsPort,  // RFC 8314 §3: SMTP in clear where TLS starts at once
  kStarttlsOfferedNotUsed,      // AUTH or MAIL in clear although STARTTLS was offered
  kStarttlsNotOffered,          // submission server without STARTTLS (RFC 8314 §3.3)
  kStarttlsMasked,              // the capability rewritten by a middlebox ("XXXXXXXA")
  kCommandLineTooLong,          // RFC 5321 §4.5.3.1.4: a command line over 512 octets
  kCount,
};

// The suffix of its counter, "smtp.anomaly.<name>".
std::string_view anomalyName(SmtpAnomaly a);

enum class SmtpTlsKind : uint8_t { kNone, kStarttls, kImplicit };

enum class SmtpStarttlsResult : uint8_t { kNone, kAccepted, kRefused, kOther };

struct SmtpAuthEvent {
  SmtpAuthMech mech = SmtpAuthMech::kNone;
  // Canonical name for a known mechanism, "OTHER" otherwise: a client that puts its credential
  // where the mechanism belongs must not get it reported.
  std::string_view mech_name;
  bool tls_protected = false;  // always false today: the engine stops parsing once TLS begins
};

// Rare events, one virtual call each. Every string_view is valid only during the call.
class SmtpObserver {
 public:
  virtual ~SmtpObserver() = default;
  virtual void onStarttlsAttempt() {}
  virtual void onStarttlsResult(uint16_t /*code*/) {}
  virtual void onAuth(const SmtpAuthEvent& /*auth*/) {}
  virtual void onAuthResult(uint16_t /*code*/, bool /*success*/) {}
  virtual void onAnomaly(SmtpAnomaly /*anomaly*/, std::string_view /*detail*/) {}
  virtual void onHelo(std::string_view /*name*/, bool /*ehlo*/) {}
  virtual void onMailFrom(std::string_view /*domain*/) {}
  virtual void onMessageEnd() {}
  // From byte `offset` of the current chunk on, the flow is TLS (0 when called from smtpOnGap:
  // the next chunk of that direction starts inside the TLS stream). Bytes held from earlier
  // chunks (SmtpChunkResult::tls_head) precede it.
  virtual void onTlsBegin(Direction /*dir*/, uint32_t /*offset*/, SmtpTlsKind /*kind*/) {}
};

// Cold state, attached from the pool only while a line straddles two chunks or to keep the HELO
// name for the end-of-flow event. Cache-line aligned so that the lengths and a typical HELO name
// (the part every flow touches) share one line instead of straddling two.
struct alignas(64) SmtpCold {
  static constexpr size_t kMaxHeloLength = 255;  // RFC 1035 §2.3.4: a domain name
  uint16_t client_len = 0;                       // head of a client line waiting for its LF
  uint16_t server_len = 0;
  uint16_t helo_len = 0;
  uint32_t client_seen = 0;  // octets of that line in earlier chunks, kept or not
  char helo[kMaxHeloLength];
  char client_line[kMaxLineLength];
  char server_line[kMaxLineLength];
};

// Hot state, inside the flow entry. All zero is the initial state, so a cleared flow entry
// starts a fresh session. Fields are the engine's own: read them through smtpSummary().
//   0  cold_ref_        pool handle + 1 of the SmtpCold, 0 = none
//   4  flags_           SmtpFlag bits
//   8  extensions_      extensionBit() set advertised so far
//  10  auth_mechs_      authMechBit() set of the AUTH commands sent
//  12  messages_        messages ended (saturating)
//  14  mode_, client_state_, server_state_, stash_len_
//  18  pending_[6]      commands awaiting a reply, oldest first: runs of (kind << 5 | count - 1)
//  24  scratch_[8]      client: BDAT octets still to skip, or a line head when the pool is empty
struct alignas(8) SmtpHot {
  uint32_t cold_ref_;
  uint32_t flags_;
  uint16_t extensions_;
  uint16_t auth_mechs_;
  uint16_t messages_;
  SmtpMode mode_;
  uint8_t client_state_;
  uint8_t server_state_;
  uint8_t stash_len_;
  uint8_t pending_[6];
  uint8_t scratch_[8];
};
static_assert(sizeof(SmtpHot) == 32, "SmtpHot must fit its 32-byte slot in the flow entry");
static_assert(std::is_trivially_copyable_v<SmtpHot>);

struct SmtpContext {
  CounterBlock& counters;
  ObjectPool<SmtpCold>& pool;
  SmtpObserver& observer;
  PortClass port_class;
};

// What one chunk carried that policy may act on before the packet is forwarded.
struct SmtpChunkResult {
  static constexpr uint32_t kNoTls = UINT32_MAX;
  // From this byte of the chunk on, the bytes are TLS: feed them to the TLS parser (also every
  // later chunk of the flow, in both directions). kNoTls: no TLS in this chunk.
  uint32_t tls_offset = kNoTls;
  // The first bytes of the TLS stream when they came in earlier chunks: a record header split
  // before its sixth byte is held until it can be told from cleartext. With tls_offset set, feed
  // these to the TLS parser before data[tls_offset].
  std::array<uint8_t, 5> tls_head{};
  uint8_t tls_head_len = 0;
  // The chunk carries bytes of a cleartext AUTH command (from its verb on) or of a SASL response
  // line: dropping it keeps the credential from leaving.
  bool auth_in_clear = false;
  bool mail_in_clear = false;                    // a MAIL command completed in this chunk, in clear
  bool starttls = false;                         // a STARTTLS command completed in this chunk
  SmtpAuthMech auth_mech = SmtpAuthMech::kNone;  // of the AUTH started in this chunk, once known
  uint8_t anomalies = 0;  // 1 << SmtpAnomaly for each anomaly raised by this chunk
};

// Feeds the next in-order bytes of one direction. result is reset first.
void smtpOnData(SmtpHot& hot, SmtpContext& ctx, Direction dir, Bytes data, SmtpChunkResult& result);

// TCP lost bytes of one direction: skip to the next line boundary, then resume (tcp.resync).
// Inside a message body, resume once the server has replied (it replies only after the body).
void smtpOnGap(SmtpHot& hot, SmtpContext& ctx, Direction dir);

// At flow end: gives the cold state back to the pool. What smtpSummary() reads of the hot state
// is left as it was.
void smtpRelease(SmtpHot& hot, ObjectPool<SmtpCold>& pool);

// Whether the client is inside a command line (or a SASL response line) in clear: the flow
// ending now leaves the rest of that line to arrive where it cannot be read as what it is.
bool smtpClientMidCommand(const SmtpHot& hot);

// For the end-of-flow smtp_flow event.
struct SmtpSummary {
  std::string_view helo;    // last HELO/EHLO name, empty if none or the pool was empty;
                            // valid until smtpRelease()
  uint16_t extensions = 0;  // extensionBit() set advertised by any EHLO reply of the flow
  bool starttls_offered = false;
  bool starttls_attempted = false;
  SmtpStarttlsResult starttls_result = SmtpStarttlsResult::kNone;  // of the last STARTTLS
  bool plaintext_after_starttls = false;
  SmtpTlsKind tls = SmtpTlsKind::kNone;  // kNone unless TLS bytes actually followed
  uint16_t auth_mechs = 0;               // authMechBit() set
  uint16_t messages = 0;
  SmtpMode mode = SmtpMode::kSmtp;
};

SmtpSummary smtpSummary(const SmtpHot& hot, const ObjectPool<SmtpCold>& pool);

}  // namespace smtpguard
