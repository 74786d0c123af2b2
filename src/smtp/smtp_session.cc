#include "smtp/smtp_session.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <iterator>
#include <type_traits>

namespace smtpguard {
namespace {

// SmtpHot::flags_ bits.
enum Flag : uint32_t {
  kClientSeen = 1u << 0,            // the client sent something (implicit TLS is decided there)
  kGreetingDone = 1u << 1,          // the server's first reply is over
  kReplyContinues = 1u << 2,        // inside a multi-line reply (RFC 5321 §4.2.1)
  kStarttlsOffered = 1u << 3,       // an EHLO reply listed STARTTLS
  kStarttlsAttempted = 1u << 4,     // the client sent STARTTLS
  kTlsImplicit = 1u << 5,           // TLS from the first client byte
  kTlsAfterStarttls = 1u << 6,      // a TLS handshake followed a 220 to STARTTLS
  kPlaintextAfterTls = 1u << 7,     // a 220 to STARTTLS was followed by cleartext
  kReportedNotUsed = 1u << 8,       // starttls_offered_not_used raised (once per flow)
  kReportedNotOffered = 1u << 9,    // starttls_not_offered raised (once per flow)
  kReportedMasked = 1u << 10,       // starttls_masked raised (once per flow)
  kReportedImplicit = 1u << 11,     // plaintext_on_implicit_tls_port raised (once per flow)
  kReportedInjection = 1u << 12,    // starttls_injection raised for the outstanding STARTTLS
  kShadow = 1u << 13,               // DATA awaits its reply: client bytes are also read as a body
  kBdatLast = 1u << 14,             // the chunk being skipped ends the message
  kClientResyncOnReply = 1u << 15,  // a gap hit a body: resume commands when the server replies
  kClientInStash = 1u << 16,        // the client line head is in scratch_ (the pool was empty)
  kClientTruncated = 1u << 17,      // bytes of the client line were dropped (overlong or stash)
  kServerTruncated = 1u << 18,      // bytes of the server line were dropped (overlong)
  kStarttlsResultShift = 19,        // 2 bits: SmtpStarttlsResult of the last STARTTLS
  // Mirrors of the cold lengths (client_len, server_len, helo_len != 0), so that the common
  // packet, whose lines are whole, never touches the cold object to learn that it holds nothing.
  kColdClient = 1u << 21,
  kColdServer = 1u << 22,
  kColdHelo = 1u << 23,
  // The client's first bytes (or its first after a 220 to STARTTLS) are being read as a
  // possible TLS record header; those seen so far are the client line head.
  kTlsProbe = 1u << 24,
  kReportedLongLine = 1u << 25,  // command_line_too_long raised (once per flow)
  kShadowEnded = 1u << 26,       // the body read alongside the commands reached CRLF.CRLF
  kShadowStateShift = 27,        // 3 bits: the ClientState of that body (kBody + n)
};
constexpr uint32_t kShadowStateMask = 7u << kShadowStateShift;
constexpr uint32_t kStarttlsResultMask = 3u << kStarttlsResultShift;
constexpr uint32_t kColdInUse = kColdClient | kColdServer | kColdHelo;

enum class ClientState : uint8_t {
  kLineStart,  // before the first byte of a command line
  kLine,       // inside a command line; its head is buffered
  kResync,     // after a gap: drop bytes to the next LF
  kSasl,       // inside a SASL response or AUTH initial response: never stored (RFC 4954 §4)
  kBody,       // DATA body, mid-line (RFC 5321 §4.1.1.4: ends at CRLF "." CRLF)
  kBodyCr,     // body, just after CR
  kBodyLineStart,
  kBodyDot,    // body, "." at a line start
  kBodyDotCr,  // body, ".\r" at a line start
  kBdat,       // inside a BDAT chunk (RFC 3030 §2); octets left in scratch_
};

enum class ServerState : uint8_t {
  kLineStart,
  kLine,    // inside a reply line; its head is buffered in the cold state
  kLost,    // inside a reply line whose head could not be kept (pool empty)
  kResync,  // after a gap: drop bytes to the next LF
};

// Commands awaiting a reply, so that each reply is matched to its command under pipelining
// (RFC 2920 §3.1: replies come in command order).
enum class Pending : uint8_t { kNone, kOther, kEhlo, kHelo, kStarttls, kAuth, kData, kBdat };
constexpr size_t kPendingSlots = sizeof(SmtpHot::pending_);
constexpr uint8_t kRunMax = 31;  // count - 1 held in 5 bits

constexpr size_t kStashSize = sizeof(SmtpHot::scratch_);
constexpr std::string_view kAnomalyNames[] = {
    "starttls_injection",        "plaintext_after_starttls", "plaintext_on_implicit_tls_port",
    "starttls_offered_not_used", "starttls_not_offered",     "starttls_masked",
    "command_line_too_long",
};
constexpr Counter kAnomalyCounters[] = {
    Counter::kSmtpAnomalyStarttlsInjection,      Counter::kSmtpAnomalyPlaintextAfterStarttls,
    Counter::kSmtpAnomalyPlaintextOnImplicitTls, Counter::kSmtpAnomalyStarttlsOfferedNotUsed,
    Counter::kSmtpAnomalyStarttlsNotOffered,     Counter::kSmtpAnomalyStarttlsMasked,
    Counter::kSmtpAnomalyCommandLineTooLong,
};
static_assert(std::size(kAnomalyNames) == static_cast<size_t>(SmtpAnomaly::kCount));
static_assert(std::size(kAnomalyCounters) == static_cast<size_t>(SmtpAnomaly::kCount));

constexpr bool anomalyNamesMatchCounters() {
  constexpr std::string_view kPrefix = "smtp.anomaly.";
  for (size_t i = 0; i < std::size(kAnomalyNames); ++i) {
    std::string_view c = counterName(kAnomalyCounters[i]);
    if (c.substr(0, kPrefix.size()) != kPrefix || c.substr(kPrefix.size()) != kAnomalyNames[i])
      return false;
  }
  return true;
}
static_assert(anomalyNamesMatchCounters(), "anomaly names are their counters' suffixes");

constexpr std::array<Counter, kAuthMechCount> kMechCounters = {
    Counter::kSmtpAuthPlaintextOther,  // kNone: never counted
    Counter::kSmtpAuthPlaintextPlain,     Counter::kSmtpAuthPlaintextLogin,
    Counter::kSmtpAuthPlaintextCramMd5,   Counter::kSmtpAuthPlaintextDigestMd5,
    Counter::kSmtpAuthPlaintextNtlm,      Counter::kSmtpAuthPlaintextGssapi,
    Counter::kSmtpAuthPlaintextXoauth2,   Counter::kSmtpAuthPlaintextOauthbearer,
    Counter::kSmtpAuthPlaintextScramSha1, Counter::kSmtpAuthPlaintextScramSha256,
    Counter::kSmtpAuthPlaintextExternal,  Counter::kSmtpAuthPlaintextAnonymous,
    Counter::kSmtpAuthPlaintextOther,
};

enum class TlsProbe : uint8_t { kTls, kCleartext, kUndecided };

// RFC 8446 §5.1: a TLS stream starts with a handshake record (type 22), legacy version 3.0 to
// 3.4, a length no record may exceed (2^14), and its first message is a ClientHello (§4.1.2,
// type 1). All six bytes must be there: a lone 0x16 followed by cleartext is SMTP to the server,
// so it must be to us (issue 9). The line head holds the first bytes when they came alone.
TlsProbe probeClientHello(std::string_view head, Bytes d) {
  const size_t n = head.size() + d.size();
  auto at = [&](size_t i) -> uint8_t {
    return i < head.size() ? static_cast<uint8_t>(head[i]) : d[i - head.size()];
  };
  constexpr size_t kProbeBytes = 6;
  constexpr unsigned kMaxRecord = 1u << 14;
  if (n > 0 && at(0) != 0x16) return TlsProbe::kCleartext;
  if (n > 1 && at(1) != 0x03) return TlsProbe::kCleartext;
  if (n > 2 && at(2) > 0x04) return TlsProbe::kCleartext;
  if (n > 4) {
    const unsigned len = (unsigned{at(3)} << 8) | at(4);
    if (len == 0 || len > kMaxRecord) return TlsProbe::kCleartext;
  }
  if (n > 5 && at(5) != 0x01) return TlsProbe::kCleartext;
  return n < kProbeBytes ? TlsProbe::kUndecided : TlsProbe::kTls;
}

using smtp_detail::isBlank;

using smtp_detail::isCommandSpace;

// Whether a new command line can be AUTH, judged by its first byte: inspectAuthHead() skips
// white space, then wants 'A' in either case. Most lines are spared the inspection.
bool mayStartAuth(std::string_view frag) {
  return !frag.empty() && (isCommandSpace(frag[0]) || (frag[0] | 0x20) == 'a');
}

// Follows a DATA body (RFC 5321 §4.1.1.4: it ends at CRLF "." CRLF; a line starting with a dot
// is otherwise dot-stuffed content, §4.5.2) from state s over d[pos..]. Returns the position
// after the end of the body, or d.size() with s where the chunk left it. Bare LF never ends it
// (§2.3.8): the SMTP smuggling fixes of 2023 made servers agree.
size_t followBody(Bytes d, size_t pos, ClientState& s, bool& ended) {
  ended = false;
  const size_t n = d.size();
  while (pos < n) {
    if (s == ClientState::kBody) {
      const void* cr = std::memchr(d.data() + pos, '\r', n - pos);
      if (!cr) return n;
      pos = static_cast<size_t>(static_cast<const uint8_t*>(cr) - d.data()) + 1;
      s = ClientState::kBodyCr;
      continue;
    }
    uint8_t c = d[pos++];
    switch (s) {
      case ClientState::kBodyCr:
        s = c == '\n' ? ClientState::kBodyLineStart
                      : (c == '\r' ? ClientState::kBodyCr : ClientState::kBody);
        break;
      case ClientState::kBodyLineStart:
        s = c == '.' ? ClientState::kBodyDot
                     : (c == '\r' ? ClientState::kBodyCr : ClientState::kBody);
        break;
      case ClientState::kBodyDot:
        s = c == '\r' ? ClientState::kBodyDotCr : ClientState::kBody;
        break;
      case ClientState::kBodyDotCr:
        if (c == '\n') {
          ended = true;
          return pos;
        }
        s = c == '\r' ? ClientState::kBodyCr : ClientState::kBody;
        break;
      default:
        s = ClientState::kBody;
        break;
    }
  }
  return pos;
}

bool isBodyState(ClientState s) {
  return s == ClientState::kBody || s == ClientState::kBodyCr || s == ClientState::kBodyLineStart ||
         s == ClientState::kBodyDot || s == ClientState::kBodyDotCr || s == ClientState::kBdat;
}

// One call's view of a session: the hot state, the caller's context and this chunk's result.
class Session {
 public:
  Session(SmtpHot& hot, SmtpContext& ctx, SmtpChunkResult& result)
      : hot_(hot), ctx_(ctx), result_(result) {}

  void onClient(Bytes d);
  void parseClient(Bytes d);
  bool probeTls(Bytes d);
  void onServer(Bytes d);
  void onGap(Direction dir);

 private:
  // --- state helpers
  bool has(uint32_t f) const { return (hot_.flags_ & f) != 0; }
  void set(uint32_t f) { hot_.flags_ |= f; }
  void clear(uint32_t f) { hot_.flags_ &= ~f; }
  ClientState clientState() const { return static_cast<ClientState>(hot_.client_state_); }
  void setClientState(ClientState s) { hot_.client_state_ = static_cast<uint8_t>(s); }
  ServerState serverState() const { return static_cast<ServerState>(hot_.server_state_); }
  void setServerState(ServerState s) { hot_.server_state_ = static_cast<uint8_t>(s); }
  void count(Counter c) { ctx_.counters.inc(c); }

  SmtpCold* cold() { return hot_.cold_ref_ ? &ctx_.pool.get(hot_.cold_ref_ - 1) : nullptr; }
  // Only while a kCold* flag is set, which implies an attached object.
  SmtpCold& attached() { return ctx_.pool.get(hot_.cold_ref_ - 1); }
  SmtpCold* attachCold();
  // After every chunk: gives the cold object back once it holds nothing, which the flags tell
  // without touching it.
  void maybeReleaseCold() {
    if (hot_.cold_ref_ != 0 && !has(kColdInUse)) releaseCold();
  }
  void releaseCold();

  uint64_t bdatRemaining() const;
  void setBdatRemaining(uint64_t n);

  // --- reply matching
  Pending front() const { return static_cast<Pending>(hot_.pending_[0] >> 5); }
  uint64_t pendingWord() const;
  void setPendingWord(uint64_t w);
  bool pendingHas(Pending k) const;
  void push(Pending k);
  void pop();

  // --- client side
  std::string_view clientHead();
  void appendClient(std::string_view frag);
  void appendRaw(std::string_view frag);
  void clearClientLine();
  uint32_t lineSeen() { return has(kColdClient) ? attached().client_seen : 0; }
  void addSeen(size_t n);
  size_t clientLine(Bytes d, size_t pos);
  size_t clientLineSlow(Bytes d, size_t pos, const void* lf, std::string_view frag);
  size_t skipToLf(Bytes d, size_t pos, bool& found);
  size_t scanBody(Bytes d, size_t pos);
  void followShadow(Bytes d, size_t pos);
  ClientState shadowState() const {
    return static_cast<ClientState>(static_cast<uint32_t>(ClientState::kBody) +
                                    ((hot_.flags_ & kShadowStateMask) >> kShadowStateShift));
  }
  void setShadowState(ClientState st) {
    const auto n = static_cast<uint32_t>(st) - static_cast<uint32_t>(ClientState::kBody);
    hot_.flags_ = (hot_.flags_ & ~kShadowStateMask) | (n << kShadowStateShift);
  }
  size_t skipBdat(Bytes d, size_t pos);
  // Inlined into the common path; the rare paths call the out-of-line copy. length: octets of
  // the whole line with its LF, kept or not.
  [[gnu::always_inline]] void processCommand(std::string_view line, bool truncated, size_t length);
  [[gnu::noinline]] void processCommandOutOfLine(std::string_view line, bool truncated,
                                                 size_t length);
  void longCommandLine();
  void processAuth(std::string_view mech);
  void storeHelo(std::string_view name);
  void endOfData();
  void messageEnd();

  // --- server side
  void clearServerLine();
  size_t serverLine(Bytes d, size_t pos);
  [[gnu::always_inline]] void processReply(std::string_view line, bool truncated);
  [[gnu::noinline]] void processReplyOutOfLine(std::string_view line, bool truncated);
  void endOfReply(uint16_t code);
  Pending matchReply(uint16_t code, unsigned cls);
  void dispatchReply(Pending kind, uint16_t code, unsigned cls);
  void ehloLine(std::string_view text);
  void lostServerLine();
  void startBody();

  // --- events
  void anomaly(SmtpAnomaly a, std::string_view detail);
  void checkImplicitPort(std::string_view detail);
  void checkOfferedNotUsed(std::string_view detail);
  void beginTls(Direction dir, uint32_t offset, SmtpTlsKind kind);

  SmtpHot& hot_;
  SmtpContext& ctx_;
  SmtpChunkResult& result_;
  bool data_line_ended_ = false;  // processCommand() read a DATA that starts a body shadow
};

SmtpCold* Session::attachCold() {
  if (SmtpCold* c = cold()) return c;
  PoolHandle h = ctx_.pool.acquire();
  if (h == kNoHandle) {
    count(Counter::kPoolExhausted);
    return nullptr;
  }
  hot_.cold_ref_ = h + 1;
  return &ctx_.pool.get(h);
}

void Session::releaseCold() {
  ctx_.pool.release(hot_.cold_ref_ - 1);
  hot_.cold_ref_ = 0;
}

uint64_t Session::bdatRemaining() const {
  uint64_t n;
  std::memcpy(&n, hot_.scratch_, sizeof(n));
  return n;
}

void Session::setBdatRemaining(uint64_t n) {
  std::memcpy(hot_.scratch_, &n, sizeof(n));
}

// The six runs as one integer, the oldest in the low byte.
inline uint64_t Session::pendingWord() const {
  uint64_t w = 0;
  std::memcpy(&w, hot_.pending_, kPendingSlots);
  if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
  return w;
}

inline void Session::setPendingWord(uint64_t w) {
  if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
  std::memcpy(hot_.pending_, &w, kPendingSlots);
}

// All six runs at once: a byte of x is zero where the run's kind (top three bits) is k, and
// (x - 0x01..) & ~x & 0x80.. is non-zero exactly when some byte is (Hacker's Delight §6-1).
inline bool Session::pendingHas(Pending k) const {
  constexpr uint64_t kLow = 0x010101010101;
  constexpr uint64_t kHigh = kLow << 7;
  constexpr uint64_t kKinds = kLow * 0xe0;
  const uint64_t x = (pendingWord() & kKinds) ^ (kLow * (static_cast<uint64_t>(k) << 5));
  return ((x - kLow) & ~x & kHigh) != 0;
}

inline void Session::push(Pending k) {
  size_t n = 0;
  while (n < kPendingSlots && hot_.pending_[n] != 0) ++n;
  if (n > 0 && static_cast<Pending>(hot_.pending_[n - 1] >> 5) == k &&
      (hot_.pending_[n - 1] & kRunMax) < kRunMax) {
    ++hot_.pending_[n - 1];
    return;
  }
  // Full: the command goes untracked and its reply will find nothing to match, rather than
  // being matched to the wrong command.
  if (n == kPendingSlots) return;
  hot_.pending_[n] = static_cast<uint8_t>(static_cast<uint8_t>(k) << 5);
}

inline void Session::pop() {
  const uint8_t run = hot_.pending_[0];
  if (run == 0) return;
  if ((run & kRunMax) != 0) {
    hot_.pending_[0] = static_cast<uint8_t>(run - 1);
    return;
  }
  setPendingWord(pendingWord() >> 8);
}

// ---------------------------------------------------------------------------------------------
// Client side

inline std::string_view Session::clientHead() {
  if (has(kClientInStash)) return {reinterpret_cast<const char*>(hot_.scratch_), hot_.stash_len_};
  if (!has(kColdClient)) return {};
  const SmtpCold& c = attached();
  return {c.client_line, c.client_len};
}

// Callers pass only bytes that may be kept: never past an AUTH mechanism. White space before
// the verb is kept as one blank, however much of it comes: it cannot push the verb out of the
// head (issue 9: 1100 blanks in one segment, AUTH in the next), and it reads the same.
void Session::appendClient(std::string_view frag) {
  const std::string_view head = clientHead();
  if (head.empty() || (head.size() == 1 && head[0] == ' ')) {
    size_t k = 0;
    while (k < frag.size() && isCommandSpace(frag[k])) ++k;
    if (k != 0 && head.empty()) appendRaw(" ");
    frag.remove_prefix(k);
  }
  appendRaw(frag);
}

void Session::appendRaw(std::string_view frag) {
  if (frag.empty() || has(kClientTruncated)) return;
  if (!has(kClientInStash)) {
    if (SmtpCold* c = attachCold()) {
      size_t room = kMaxLineLength - c->client_len;
      size_t n = std::min(room, frag.size());
      std::memcpy(c->client_line + c->client_len, frag.data(), n);
      c->client_len = static_cast<uint16_t>(c->client_len + n);
      set(kColdClient);  // frag is not empty, so neither is the line
      if (n < frag.size()) set(kClientTruncated);
      return;
    }
    // Pool empty: keep the head in the hot state, enough for the verb; the rest is lost.
    set(kClientInStash);
    hot_.stash_len_ = 0;
  }
  size_t n = std::min(kStashSize - hot_.stash_len_, frag.size());
  std::memcpy(hot_.scratch_ + hot_.stash_len_, frag.data(), n);
  hot_.stash_len_ = static_cast<uint8_t>(hot_.stash_len_ + n);
  if (n < frag.size()) set(kClientTruncated);
}

void Session::addSeen(size_t n) {
  if (!has(kColdClient)) return;  // the pool was empty: the length is not followed
  SmtpCold& c = attached();
  c.client_seen = static_cast<uint32_t>(std::min<size_t>(c.client_seen + n, UINT32_MAX));
}

inline void Session::clearClientLine() {
  clear(kClientInStash | kClientTruncated);
  hot_.stash_len_ = 0;
  if (has(kColdClient)) {
    attached().client_len = 0;
    attached().client_seen = 0;
    clear(kColdClient);
  }
}

size_t Session::skipToLf(Bytes d, size_t pos, bool& found) {
  const void* lf = std::memchr(d.data() + pos, '\n', d.size() - pos);
  found = lf != nullptr;
  return found ? static_cast<size_t>(static_cast<const uint8_t*>(lf) - d.data()) + 1 : d.size();
}

void Session::onClient(Bytes d) {
  if (hot_.mode_ == SmtpMode::kTls) {
    result_.tls_offset = 0;
    return;
  }
  if (d.empty()) return;
  if (!has(kClientSeen)) set(kClientSeen | kTlsProbe);
  if (has(kTlsProbe) && probeTls(d)) return;
  parseClient(d);
  maybeReleaseCold();
}

// Reads the chunk as the possible start of a TLS stream. True when the chunk was taken (TLS
// began, or the header is still undecided); false to parse it as SMTP, after the held bytes.
bool Session::probeTls(Bytes d) {
  const std::string_view head = clientHead();
  switch (probeClientHello(head, d)) {
    case TlsProbe::kTls: {
      clear(kTlsProbe);
      result_.tls_head_len = static_cast<uint8_t>(head.size());
      if (!head.empty()) std::memcpy(result_.tls_head.data(), head.data(), head.size());
      beginTls(
          Direction::kClientToServer, 0,
          hot_.mode_ == SmtpMode::kTlsPending ? SmtpTlsKind::kStarttls : SmtpTlsKind::kImplicit);
      maybeReleaseCold();
      return true;
    }
    case TlsProbe::kUndecided:
      // At most five bytes of a record header: nothing a credential could be in.
      appendClient({reinterpret_cast<const char*>(d.data()), d.size()});
      setClientState(ClientState::kLine);
      return true;
    case TlsProbe::kCleartext:
      break;
  }
  clear(kTlsProbe);
  if (hot_.mode_ == SmtpMode::kTlsPending) {
    // RFC 3207 §4: after the 220 the client must start the TLS handshake at once.
    hot_.mode_ = SmtpMode::kSmtp;
    set(kPlaintextAfterTls);
    anomaly(SmtpAnomaly::kPlaintextAfterStarttls, "client sent cleartext after the 220");
  }
  if (!head.empty()) {
    // The held bytes begin the first line, and may end it (an LF in a length byte): parse them
    // as the server does, from a line start.
    std::array<uint8_t, kStashSize> held{};
    const size_t n = std::min(head.size(), held.size());
    std::memcpy(held.data(), head.data(), n);
    clearClientLine();
    setClientState(ClientState::kLineStart);
    parseClient(Bytes(held.data(), n));
  }
  return false;
}

void Session::parseClient(Bytes d) {
  // The body read alongside the commands covers this chunk from its start, or from the end of a
  // DATA line in it.
  size_t shadow_from = has(kShadow) ? 0 : SIZE_MAX;
  size_t pos = 0;
  while (pos < d.size()) {
    bool found = false;
    switch (clientState()) {
      case ClientState::kLineStart:
        if (pendingHas(Pending::kAuth)) {
          // RFC 4954 §4: until the AUTH exchange ends, each client line is a SASL response.
          setClientState(ClientState::kSasl);
          break;
        }
        if (pendingHas(Pending::kStarttls) && !has(kReportedInjection)) {
          set(kReportedInjection);
          anomaly(SmtpAnomaly::kStarttlsInjection, "client data before the STARTTLS reply");
        }
        setClientState(ClientState::kLine);
        [[fallthrough]];
      case ClientState::kLine:
        pos = clientLine(d, pos);
        if (data_line_ended_) {
          data_line_ended_ = false;
          shadow_from = pos;
        }
        break;
      case ClientState::kSasl:
        result_.auth_in_clear = true;
        pos = skipToLf(d, pos, found);
        if (found) setClientState(ClientState::kLineStart);
        break;
      case ClientState::kResync:
        pos = skipToLf(d, pos, found);
        if (found) {
          count(Counter::kTcpResync);
          setClientState(ClientState::kLineStart);
        }
        break;
      case ClientState::kBdat:
        pos = skipBdat(d, pos);
        break;
      default:
        pos = scanBody(d, pos);
        break;
    }
    if (hot_.mode_ == SmtpMode::kTls) break;
  }
  if (shadow_from < d.size() && has(kShadow) && !has(kShadowEnded)) followShadow(d, shadow_from);
}

// A command line from pos: complete it, act on an AUTH as soon as its mechanism ends, or keep
// its head for the next chunk.
size_t Session::clientLine(Bytes d, size_t pos) {
  const uint8_t* begin = d.data() + pos;
  const void* lf = std::memchr(begin, '\n', d.size() - pos);
  size_t avail = lf ? static_cast<size_t>(static_cast<const uint8_t*>(lf) - begin) : d.size() - pos;
  std::string_view frag(reinterpret_cast<const char*>(begin), avail);

  // Most lines arrive whole with nothing buffered before them and cannot be AUTH: read those in
  // place, with nothing to clear after.
  if (lf != nullptr && !mayStartAuth(frag) && !has(kClientInStash | kColdClient | kClientTruncated))
      [[likely]] {
    setClientState(ClientState::kLineStart);
    if (frag.size() >= kMaxCommandLine) {
      processCommandOutOfLine(frag.substr(0, std::min(frag.size(), kMaxLineLength)),
                              frag.size() > kMaxLineLength, avail + 1);
    } else {
      processCommand(frag, false, avail + 1);
    }
    return pos + avail + 1;
  }
  return clientLineSlow(d, pos, lf, frag);
}

// clientLine() for a line that has a buffered head, may be AUTH or does not end in this chunk.
size_t Session::clientLineSlow(Bytes d, size_t pos, const void* lf, std::string_view frag) {
  const size_t avail = frag.size();
  std::string_view head = clientHead();
  const bool truncated = has(kClientTruncated);

  // A truncated head no longer joins the new bytes: judge it alone.
  AuthLineHead auth;  // kUndecided, which acts like kNotAuth below
  if (!head.empty() || mayStartAuth(frag))
    auth = inspectAuthHead(head, truncated ? std::string_view{} : frag);
  if (auth.kind == AuthLineHead::Kind::kMechOpen || auth.kind == AuthLineHead::Kind::kMechClosed)
    result_.auth_in_clear = true;
  if (auth.kind == AuthLineHead::Kind::kMechClosed) {
    // Act now: what follows the mechanism is the initial response, skipped unread.
    std::string_view mech;
    size_t consumed = 0;
    if (truncated || auth.mech_end <= head.size()) {
      mech = head.substr(auth.mech_begin, auth.mech_end - auth.mech_begin);
    } else if (auth.mech_begin >= head.size()) {
      mech = frag.substr(auth.mech_begin - head.size(), auth.mech_end - auth.mech_begin);
      consumed = auth.mech_end - head.size();
    } else {
      consumed = auth.mech_end - head.size();
      appendClient(frag.substr(0, consumed));
      head = clientHead();
      mech = head.substr(std::min(auth.mech_begin, head.size()));
    }
    count(Counter::kSmtpCommands);
    checkImplicitPort("client command in clear");
    processAuth(mech);
    clearClientLine();
    setClientState(ClientState::kSasl);
    return pos + consumed;
  }

  if (!lf) {
    appendClient(frag);
    addSeen(avail);
    return d.size();
  }
  setClientState(ClientState::kLineStart);
  const size_t length = lineSeen() + avail + 1;
  if (head.empty()) {
    processCommandOutOfLine(frag.substr(0, std::min(frag.size(), kMaxLineLength)),
                            frag.size() > kMaxLineLength, length);
  } else {
    appendClient(frag);
    processCommandOutOfLine(clientHead(), has(kClientTruncated), length);
  }
  clearClientLine();
  return pos + avail + 1;
}

void Session::processCommandOutOfLine(std::string_view line, bool truncated, size_t length) {
  processCommand(line, truncated, length);
}

inline void Session::processCommand(std::string_view line, bool truncated, size_t length) {
  SmtpCommand cmd = parseCommand(line);
  // AUTH lines may be longer (RFC 4954 §4: 12288 octets).
  if (length > kMaxCommandLine && cmd.verb != SmtpVerb::kAuth) [[unlikely]]
    longCommandLine();
  if (cmd.verb == SmtpVerb::kNone) return;
  count(Counter::kSmtpCommands);
  checkImplicitPort("client command in clear");
  switch (cmd.verb) {
    case SmtpVerb::kHelo:
    case SmtpVerb::kEhlo: {
      bool ehlo = cmd.verb == SmtpVerb::kEhlo;
      push(ehlo ? Pending::kEhlo : Pending::kHelo);
      if (truncated) break;  // a cut name would be a wrong name
      std::string_view name = heloName(cmd.arg);
      ctx_.observer.onHelo(name, ehlo);
      storeHelo(name);
      break;
    }
    case SmtpVerb::kMail:
      push(Pending::kOther);
      result_.mail_in_clear = true;
      if (!truncated) ctx_.observer.onMailFrom(mailFromDomain(cmd.arg));
      checkOfferedNotUsed("MAIL in clear");
      break;
    case SmtpVerb::kStarttls:
      push(Pending::kStarttls);
      set(kStarttlsAttempted);
      clear(kReportedInjection);
      count(Counter::kSmtpStarttlsAttempted);
      result_.starttls = true;
      ctx_.observer.onStarttlsAttempt();
      break;
    case SmtpVerb::kAuth:
      // Reached only when the line ended inside the mechanism ("AUTH PLAIN" LF).
      processAuth(heloName(cmd.arg));
      break;
    case SmtpVerb::kData:
      // The body starts at the 354, not here: a server that refuses DATA reads on as commands
      // (issue 9: DATA refused, AUTH pipelined behind it). Until the reply the client's bytes are
      // read as commands and, alongside, as a body from the end of this line, so that the 354
      // finds where that body stands. With two DATAs in flight neither body can be placed.
      if (pendingHas(Pending::kData) || has(kShadow)) {
        clear(kShadow | kShadowEnded);
      } else {
        set(kShadow);
        clear(kShadowEnded);
        setShadowState(ClientState::kBodyLineStart);
        data_line_ended_ = true;
      }
      push(Pending::kData);
      break;
    case SmtpVerb::kBdat: {
      push(Pending::kBdat);
      BdatArgs bdat = parseBdatArgs(cmd.arg);
      clearClientLine();  // the line may live in scratch_, which now holds the octet count
      // RFC 3030 §2: the chunk follows without waiting for a reply, but only a server that
      // offered CHUNKING and can read the size takes it as a chunk; any other answers 5xx and
      // reads the octets as commands, and so do we. A cut line may have lost digits.
      const bool chunking = (hot_.extensions_ & extensionBit(SmtpExtension::kChunking)) != 0;
      if (truncated || !bdat.valid || !chunking) break;
      if (bdat.size > 0) {
        setBdatRemaining(bdat.size);
        if (bdat.last) set(kBdatLast);
        setClientState(ClientState::kBdat);
      } else if (bdat.last) {
        messageEnd();
      }
      break;
    }
    default:
      push(Pending::kOther);
      break;
  }
}

void Session::longCommandLine() {
  count(Counter::kSmtpLinesOverlong);
  if (has(kReportedLongLine)) return;
  set(kReportedLongLine);
  anomaly(SmtpAnomaly::kCommandLineTooLong, "command line over 512 octets");
}

void Session::processAuth(std::string_view mech_text) {
  SmtpAuthMech mech = authMechFromName(mech_text);
  push(Pending::kAuth);
  count(Counter::kSmtpAuth);
  count(Counter::kSmtpAuthPlaintext);
  count(kMechCounters[static_cast<size_t>(mech)]);
  hot_.auth_mechs_ = static_cast<uint16_t>(hot_.auth_mechs_ | authMechBit(mech));
  result_.auth_in_clear = true;
  result_.auth_mech = mech;
  ctx_.observer.onAuth({.mech = mech, .mech_name = authMechName(mech), .tls_protected = false});
  checkOfferedNotUsed("AUTH in clear");
}

void Session::storeHelo(std::string_view name) {
  SmtpCold* c = attachCold();
  if (!c) return;
  size_t n = std::min(name.size(), SmtpCold::kMaxHeloLength);
  std::memcpy(c->helo, name.data(), n);
  c->helo_len = static_cast<uint16_t>(n);
  if (n != 0) {
    set(kColdHelo);
  } else {
    clear(kColdHelo);
  }
}

size_t Session::scanBody(Bytes d, size_t pos) {
  ClientState st = clientState();
  bool ended = false;
  pos = followBody(d, pos, st, ended);
  if (ended) {
    endOfData();
  } else {
    setClientState(st);
  }
  return pos;
}

// While a DATA awaits its reply the client's bytes are read as commands (a refused DATA leaves
// the server reading commands) and, here, as the body they become if the reply is 354.
void Session::followShadow(Bytes d, size_t pos) {
  ClientState st = shadowState();
  bool ended = false;
  followBody(d, pos, st, ended);
  if (ended) {
    set(kShadowEnded);
  } else {
    setShadowState(st);
  }
}

void Session::endOfData() {
  if (has(kClientResyncOnReply)) {
    clear(kClientResyncOnReply);
    count(Counter::kTcpResync);
  }
  push(Pending::kOther);  // the server answers the whole message
  setClientState(ClientState::kLineStart);
  messageEnd();
}

size_t Session::skipBdat(Bytes d, size_t pos) {
  uint64_t left = bdatRemaining();
  size_t take = static_cast<size_t>(std::min<uint64_t>(left, d.size() - pos));
  left -= take;
  setBdatRemaining(left);
  if (left == 0) {
    setClientState(ClientState::kLineStart);
    if (has(kBdatLast)) {
      clear(kBdatLast);
      messageEnd();
    }
  }
  return pos + take;
}

void Session::messageEnd() {
  if (hot_.messages_ != UINT16_MAX) ++hot_.messages_;
  count(Counter::kSmtpMessages);
  ctx_.observer.onMessageEnd();
}

// ---------------------------------------------------------------------------------------------
// Server side

inline void Session::clearServerLine() {
  clear(kServerTruncated);
  if (has(kColdServer)) {
    attached().server_len = 0;
    clear(kColdServer);
  }
}

void Session::onServer(Bytes d) {
  if (hot_.mode_ == SmtpMode::kTls) {
    result_.tls_offset = 0;
    return;
  }
  size_t pos = 0;
  while (pos < d.size()) {
    bool found = false;
    switch (serverState()) {
      case ServerState::kLineStart:
      case ServerState::kLine:
        pos = serverLine(d, pos);
        break;
      case ServerState::kLost:
        pos = skipToLf(d, pos, found);
        if (found) lostServerLine();
        break;
      case ServerState::kResync:
        pos = skipToLf(d, pos, found);
        if (found) {
          count(Counter::kTcpResync);
          setServerState(ServerState::kLineStart);
        }
        break;
    }
  }
  maybeReleaseCold();
}

size_t Session::serverLine(Bytes d, size_t pos) {
  const uint8_t* begin = d.data() + pos;
  const void* lf = std::memchr(begin, '\n', d.size() - pos);
  size_t avail = lf ? static_cast<size_t>(static_cast<const uint8_t*>(lf) - begin) : d.size() - pos;
  std::string_view frag(reinterpret_cast<const char*>(begin), avail);
  // Most replies arrive whole, from a line start with nothing buffered: read them in place, with
  // nothing to clear after.
  if (lf != nullptr && serverState() == ServerState::kLineStart &&
      !has(kColdServer | kServerTruncated)) [[likely]] {
    if (frag.size() > kMaxLineLength) {
      count(Counter::kSmtpLinesOverlong);
      processReplyOutOfLine(frag.substr(0, kMaxLineLength), true);
    } else {
      processReply(frag, false);
    }
    return pos + avail + 1;
  }
  // kLine always holds at least one byte, so the flag says whether this line was buffered.
  const bool buffered = serverState() == ServerState::kLine && has(kColdServer);
  SmtpCold* c = buffered ? &attached() : nullptr;

  if (buffered && !has(kServerTruncated)) {
    size_t n = std::min(kMaxLineLength - c->server_len, frag.size());
    std::memcpy(c->server_line + c->server_len, frag.data(), n);
    c->server_len = static_cast<uint16_t>(c->server_len + n);
    if (n < frag.size()) {
      set(kServerTruncated);
      count(Counter::kSmtpLinesOverlong);
    }
  }
  if (!lf) {
    if (!buffered) {
      c = attachCold();
      if (!c) {
        // Pool empty: this line is lost; the reply queue is reset when it ends.
        setServerState(ServerState::kLost);
        return d.size();
      }
      size_t n = std::min(kMaxLineLength, frag.size());
      std::memcpy(c->server_line, frag.data(), n);
      c->server_len = static_cast<uint16_t>(n);
      set(kColdServer);  // frag is not empty
      if (n < frag.size()) {
        set(kServerTruncated);
        count(Counter::kSmtpLinesOverlong);
      }
      setServerState(ServerState::kLine);
    }
    return d.size();
  }
  setServerState(ServerState::kLineStart);
  if (buffered) {
    processReplyOutOfLine({c->server_line, c->server_len}, has(kServerTruncated));
  } else if (frag.size() > kMaxLineLength) {
    count(Counter::kSmtpLinesOverlong);
    processReplyOutOfLine(frag.substr(0, kMaxLineLength), true);
  } else {
    processReplyOutOfLine(frag, false);
  }
  clearServerLine();
  return pos + avail + 1;
}

void Session::lostServerLine() {
  setServerState(ServerState::kLineStart);
  // Without the line we cannot tell which command it answered: forget them all rather than
  // match later replies to the wrong commands. An AUTH exchange stays on: the safe side.
  bool auth = pendingHas(Pending::kAuth);
  std::memset(hot_.pending_, 0, kPendingSlots);
  if (auth) push(Pending::kAuth);
  set(kGreetingDone);
}

void Session::processReplyOutOfLine(std::string_view line, bool truncated) {
  processReply(line, truncated);
}

inline void Session::processReply(std::string_view line, bool truncated) {
  const SmtpReplyLine reply = parseReplyLine(line);
  if (!reply.valid) return;  // not a reply line: nothing to match
  if (ctx_.port_class == PortClass::kImplicitTls)
    checkImplicitPort(has(kGreetingDone) ? "server reply in clear" : "server greeting in clear");
  // RFC 5321 §4.1.1.1: the first line of the EHLO reply names the server, the others are
  // keywords.
  if (has(kReplyContinues) && has(kGreetingDone) && reply.code / 100 == 2 && !truncated &&
      front() == Pending::kEhlo)
    ehloLine(reply.text);
  if (!reply.final) {
    set(kReplyContinues);
    return;
  }
  endOfReply(reply.code);
}

// The last line of a reply (RFC 5321 §4.2.1): match it to its command.
void Session::endOfReply(uint16_t code) {
  const unsigned cls = code / 100u;
  clear(kReplyContinues);
  count(Counter::kSmtpReplies);
  if (!has(kGreetingDone)) {
    set(kGreetingDone);
  } else {
    dispatchReply(matchReply(code, cls), code, cls);
  }
  if (has(kClientResyncOnReply) && cls != 3) {
    // The server answers only once the body it was reading is over.
    ClientState s = clientState();
    if (isBodyState(s)) {
      clear(kClientResyncOnReply);
      if (s == ClientState::kBodyLineStart) {
        count(Counter::kTcpResync);
        setClientState(ClientState::kLineStart);
      } else {
        setClientState(ClientState::kResync);
      }
    }
  }
}

// The command a final reply answers. Normally the oldest pending one; after a client gap some
// commands went unseen, so codes that answer one command only realign the queue: 220 after the
// greeting answers STARTTLS (RFC 3207 §4), 354 DATA (RFC 5321 §4.3.2), 334 and 235 AUTH
// (RFC 4954 §4), and a 2xx that none of those three may get answers a command we did not see.
Pending Session::matchReply(uint16_t code, unsigned cls) {
  Pending only = Pending::kNone;
  if (code == 220) only = Pending::kStarttls;
  if (code == 354) only = Pending::kData;
  if (code == 334 || code == 235) only = Pending::kAuth;
  if (only != Pending::kNone && front() != only && pendingHas(only))
    while (front() != only) pop();
  // Only DATA gets a 354; its entry may have gone with a lost reply line, but the body read
  // alongside says a DATA is waiting.
  if (code == 354 && !pendingHas(Pending::kData) && has(kShadow)) return Pending::kData;
  Pending kind = front();
  if (cls == 2 && ((kind == Pending::kStarttls && code != 220) || kind == Pending::kData ||
                   (kind == Pending::kAuth && code != 235)))
    return Pending::kNone;
  return kind;
}

void Session::dispatchReply(Pending kind, uint16_t code, unsigned cls) {
  switch (kind) {
    case Pending::kEhlo:
      pop();
      // RFC 8314 §3.3 and RFC 6409: a submission server should offer STARTTLS.
      if (cls == 2 && ctx_.port_class == PortClass::kSubmission && !has(kStarttlsOffered) &&
          !has(kReportedNotOffered)) {
        set(kReportedNotOffered);
        anomaly(SmtpAnomaly::kStarttlsNotOffered, "EHLO reply without STARTTLS");
      }
      break;
    case Pending::kStarttls: {
      pop();
      SmtpStarttlsResult res = SmtpStarttlsResult::kOther;
      if (code == 220) {
        res = SmtpStarttlsResult::kAccepted;
        count(Counter::kSmtpStarttlsAccepted);
        hot_.mode_ = SmtpMode::kTlsPending;
        // RFC 3207 §4.2: commands injected behind STARTTLS are discarded (or answered inside
        // TLS): none of them will get a cleartext reply. The next client bytes are read as a
        // possible ClientHello.
        std::memset(hot_.pending_, 0, kPendingSlots);
        clearClientLine();
        setClientState(ClientState::kLineStart);
        set(kTlsProbe);
      } else if (cls == 4 || cls == 5) {
        res = SmtpStarttlsResult::kRefused;
        count(Counter::kSmtpStarttlsRefused);
      }
      hot_.flags_ = (hot_.flags_ & ~kStarttlsResultMask) |
                    (static_cast<uint32_t>(res) << kStarttlsResultShift);
      ctx_.observer.onStarttlsResult(code);
      break;
    }
    case Pending::kAuth:
      if (cls == 3) break;  // 334: the exchange goes on (RFC 4954 §4)
      pop();
      if (cls == 2) count(Counter::kSmtpAuthSuccess);
      if (cls == 4 || cls == 5) count(Counter::kSmtpAuthFailure);
      ctx_.observer.onAuthResult(code, cls == 2);
      break;
    case Pending::kData:
      if (front() == Pending::kData) pop();
      if (code == 354) startBody();
      // Any other reply: the server reads on as commands, as we did.
      clear(kShadow | kShadowEnded);
      break;
    case Pending::kBdat:
      pop();
      // RFC 3030 §2: an error reply to the BDAT whose chunk we are still skipping means the
      // server did not take the octets as a chunk: they are commands from here.
      if ((cls == 4 || cls == 5) && clientState() == ClientState::kBdat &&
          !pendingHas(Pending::kBdat)) {
        setBdatRemaining(0);
        clear(kBdatLast);
        setClientState(ClientState::kLineStart);
      }
      break;
    case Pending::kHelo:
    case Pending::kOther:
      pop();
      break;
    case Pending::kNone:
      break;
  }
}

// The 354: the client's bytes since DATA were a body, not the commands they were read as.
void Session::startBody() {
  if (!has(kShadow)) return;  // two DATAs in flight, or bytes lost: stay with commands
  // The replies the server will send are for the message, not for the "commands" read in it
  // (nor, with the body already over, for the ones read after its dot: those go unmatched).
  std::memset(hot_.pending_, 0, kPendingSlots);
  if (has(kShadowEnded)) {
    // The whole body came before the 354 (RFC 2920 forbids it): what followed its dot was read
    // as the commands it is.
    push(Pending::kOther);
    messageEnd();
    return;
  }
  clearClientLine();
  clear(kBdatLast | kClientResyncOnReply);
  setClientState(shadowState());
}

void Session::ehloLine(std::string_view text) {
  // The keyword runs to a blank, '=' or CR (ehloKeyword()); ehloExtension() names it without
  // measuring it first.
  text = smtp_detail::trimLeft(text);
  if (text.empty() || text[0] == '=' || text[0] == '\r' || isBlank(text[0])) return;  // none
  SmtpExtension ext = ehloExtension(text);
  hot_.extensions_ = static_cast<uint16_t>(hot_.extensions_ | extensionBit(ext));
  if (ext == SmtpExtension::kStarttls && !has(kStarttlsOffered)) {
    set(kStarttlsOffered);
    count(Counter::kSmtpStarttlsOffered);
  }
  // Masked: an eight-character keyword, so only a line whose keyword could be that is measured.
  if (ext == SmtpExtension::kOther && text.size() >= 8 && !has(kReportedMasked)) {
    const std::string_view keyword = ehloKeyword(text);
    if (isMaskedStarttls(keyword)) {
      set(kReportedMasked);
      anomaly(SmtpAnomaly::kStarttlsMasked, keyword);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Events

void Session::anomaly(SmtpAnomaly a, std::string_view detail) {
  count(kAnomalyCounters[static_cast<size_t>(a)]);
  result_.anomalies = static_cast<uint8_t>(result_.anomalies | (1u << static_cast<unsigned>(a)));
  ctx_.observer.onAnomaly(a, detail);
}

void Session::checkImplicitPort(std::string_view detail) {
  // Callers test the port class first: it is the same for every line of the flow.
  if (ctx_.port_class != PortClass::kImplicitTls || has(kReportedImplicit)) return;
  set(kReportedImplicit);
  anomaly(SmtpAnomaly::kPlaintextOnImplicitTlsPort, detail);
}

void Session::checkOfferedNotUsed(std::string_view detail) {
  if (!has(kStarttlsOffered) || has(kStarttlsAttempted) || has(kReportedNotUsed)) return;
  set(kReportedNotUsed);
  anomaly(SmtpAnomaly::kStarttlsOfferedNotUsed, detail);
}

void Session::beginTls(Direction dir, uint32_t offset, SmtpTlsKind kind) {
  hot_.mode_ = SmtpMode::kTls;
  if (kind == SmtpTlsKind::kImplicit) {
    set(kTlsImplicit);
    count(Counter::kSmtpTlsImplicit);
  } else {
    set(kTlsAfterStarttls);
  }
  // Line heads are of no use any more; the HELO name stays for the flow event.
  clearClientLine();
  clearServerLine();
  setClientState(ClientState::kLineStart);
  setServerState(ServerState::kLineStart);
  result_.tls_offset = offset;
  ctx_.observer.onTlsBegin(dir, offset, kind);
}

void Session::onGap(Direction dir) {
  if (hot_.mode_ == SmtpMode::kTls) return;
  if (dir == Direction::kClientToServer) {
    set(kClientSeen);
    // Bytes lost after a DATA: where its body stands is unknown.
    clear(kTlsProbe | kShadow | kShadowEnded);
    if (hot_.mode_ == SmtpMode::kTlsPending) {
      // The lost bytes followed a 220 to STARTTLS: most likely the ClientHello.
      beginTls(dir, 0, SmtpTlsKind::kStarttls);
      maybeReleaseCold();
      return;
    }
    clearClientLine();
    ClientState s = clientState();
    if (isBodyState(s)) {
      // The lone dot (or the chunk end) may have been lost: follow body lines until the server
      // answers the message.
      clear(kBdatLast);
      setClientState(ClientState::kBody);
      set(kClientResyncOnReply);
    } else {
      setClientState(ClientState::kResync);
    }
  } else {
    clearServerLine();
    clear(kReplyContinues);
    setServerState(ServerState::kResync);
    // Replies were lost with the bytes: match none of the older commands.
    bool auth = pendingHas(Pending::kAuth);
    std::memset(hot_.pending_, 0, kPendingSlots);
    if (auth) push(Pending::kAuth);
    set(kGreetingDone);
  }
  maybeReleaseCold();
}

}  // namespace

std::string_view anomalyName(SmtpAnomaly a) {
  size_t i = static_cast<size_t>(a);
  return i < std::size(kAnomalyNames) ? kAnomalyNames[i] : std::string_view{};
}

void smtpOnData(SmtpHot& hot, SmtpContext& ctx, Direction dir, Bytes data,
                SmtpChunkResult& result) {
  // Reset in place (see parsePacket): a temporary would be copied with wide loads over narrow
  // stores, a store-forwarding stall on every chunk.
  static_assert(std::is_trivially_copyable_v<SmtpChunkResult>);
  std::memset(static_cast<void*>(&result), 0, sizeof result);
  result.tls_offset = SmtpChunkResult::kNoTls;
  Session s(hot, ctx, result);
  if (dir == Direction::kClientToServer) {
    s.onClient(data);
  } else {
    s.onServer(data);
  }
}

void smtpOnGap(SmtpHot& hot, SmtpContext& ctx, Direction dir) {
  SmtpChunkResult unused;
  Session s(hot, ctx, unused);
  s.onGap(dir);
}

void smtpRelease(SmtpHot& hot, ObjectPool<SmtpCold>& pool) {
  if (hot.cold_ref_ == 0) return;
  pool.release(hot.cold_ref_ - 1);
  hot.cold_ref_ = 0;
  hot.flags_ &= ~kColdInUse;
}

bool smtpClientMidCommand(const SmtpHot& hot) {
  const auto state = static_cast<ClientState>(hot.client_state_);
  return hot.mode_ == SmtpMode::kSmtp &&
         (state == ClientState::kLine || state == ClientState::kSasl);
}

SmtpSummary smtpSummary(const SmtpHot& hot, const ObjectPool<SmtpCold>& pool) {
  SmtpSummary s;
  if (hot.cold_ref_ != 0) {
    const SmtpCold& c = pool.get(hot.cold_ref_ - 1);
    s.helo = {c.helo, c.helo_len};
  }
  const uint32_t f = hot.flags_;
  s.extensions = hot.extensions_;
  s.starttls_offered = (f & kStarttlsOffered) != 0;
  s.starttls_attempted = (f & kStarttlsAttempted) != 0;
  s.starttls_result =
      static_cast<SmtpStarttlsResult>((f & kStarttlsResultMask) >> kStarttlsResultShift);
  s.plaintext_after_starttls = (f & kPlaintextAfterTls) != 0;
  s.tls = (f & kTlsImplicit)        ? SmtpTlsKind::kImplicit
          : (f & kTlsAfterStarttls) ? SmtpTlsKind::kStarttls
                                    : SmtpTlsKind::kNone;
  s.auth_mechs = hot.auth_mechs_;
  s.messages = hot.messages_;
  s.mode = hot.mode_;
  return s;
}

}  // namespace smtpguard
