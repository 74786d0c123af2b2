#include "app/ipfix_exporter.h"

#include <fcntl.h>
#include <fixbuf/public.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <vector>

#include "events/event_render.h"
#include "smtp/smtp_line.h"

namespace smtpguard {

namespace {

constexpr size_t kQueueLimit = 65536;  // flow records waiting for the thread; more are dropped
constexpr size_t kSniLimit = 65536;    // SNIs waiting for their flow's record
constexpr uint16_t kTidV4 = 256;
constexpr uint16_t kTidV6 = 257;
constexpr double kBackoffFirstS = 1;
constexpr double kBackoffMaxS = 30;

// Our elements (docs/export.md). Numbers stay stable: collectors key on them.
fbInfoElement_t kElements[] = {
    FB_IE_INIT_FULL("smtpStarttlsResult", kIpfixPen, 1, 1, FB_IE_F_ENDIAN, 0, 0, FB_UINT_8,
                    nullptr),
    FB_IE_INIT_FULL("smtpTlsKind", kIpfixPen, 2, 1, FB_IE_F_ENDIAN, 0, 0, FB_UINT_8, nullptr),
    FB_IE_INIT_FULL("smtpPlaintextAuthMechanism", kIpfixPen, 3, FB_IE_VARLEN, 0, 0, 0, FB_STRING,
                    nullptr),
    FB_IE_INIT_FULL("tlsClientJa3", kIpfixPen, 4, FB_IE_VARLEN, 0, 0, 0, FB_STRING, nullptr),
    FB_IE_INIT_FULL("tlsClientJa4", kIpfixPen, 5, FB_IE_VARLEN, 0, 0, 0, FB_STRING, nullptr),
    FB_IE_INIT_FULL("tlsServerName", kIpfixPen, 6, FB_IE_VARLEN, 0, 0, 0, FB_STRING, nullptr),
    FB_IE_INIT_FULL("smtpguardPolicyRule", kIpfixPen, 7, FB_IE_VARLEN, 0, 0, 0, FB_STRING, nullptr),
    FB_IE_INIT_FULL("smtpguardPolicyAction", kIpfixPen, 8, FB_IE_VARLEN, 0, 0, 0, FB_STRING,
                    nullptr),
    FB_IE_NULL,
};

constexpr uint32_t kInternalOnly = 1;  // padding: in the internal template, never exported

#define SPEC(name, len) \
  { const_cast<char*>(name), len, 0 }
#define PAD(len) \
  { const_cast<char*>("paddingOctets"), len, kInternalOnly }

// Shared tail of both templates; the heads differ only by the address elements.
#define COMMON_SPECS                                                                             \
  SPEC("flowStartMilliseconds", 8), SPEC("flowEndMilliseconds", 8), SPEC("packetDeltaCount", 8), \
      SPEC("octetDeltaCount", 8), SPEC("reversePacketDeltaCount", 8),                            \
      SPEC("reverseOctetDeltaCount", 8), SPEC("smtpPlaintextAuthMechanism", FB_IE_VARLEN),       \
      SPEC("tlsClientJa3", FB_IE_VARLEN), SPEC("tlsClientJa4", FB_IE_VARLEN),                    \
      SPEC("tlsServerName", FB_IE_VARLEN), SPEC("smtpguardPolicyRule", FB_IE_VARLEN),            \
      SPEC("smtpguardPolicyAction", FB_IE_VARLEN), SPEC("sourceTransportPort", 2),               \
      SPEC("destinationTransportPort", 2), SPEC("tcpControlBits", 2),                            \
      SPEC("protocolIdentifier", 1), SPEC("flowEndReason", 1), SPEC("smtpStarttlsResult", 1),    \
      SPEC("smtpTlsKind", 1)

fbInfoElementSpec_t kSpecV4[] = {COMMON_SPECS, SPEC("sourceIPv4Address", 4),
                                 SPEC("destinationIPv4Address", 4), PAD(6), FB_IESPEC_NULL};
fbInfoElementSpec_t kSpecV6[] = {COMMON_SPECS, SPEC("sourceIPv6Address", 16),
                                 SPEC("destinationIPv6Address", 16), PAD(6), FB_IESPEC_NULL};

#undef COMMON_SPECS
#undef PAD
#undef SPEC

// RFC 5102 flowEndReason: 1 idle timeout, 2 active timeout, 3 end of flow (FIN/RST), 4 forced
// end (shutdown), 5 lack of resources (eviction). A policy block ends the flow: 3.
uint8_t flowEndReason(EndReason r) {
  switch (r) {
    case EndReason::kTimeout:
      return 1;
    case EndReason::kFin:
    case EndReason::kRst:
    case EndReason::kPolicy:
      return 3;
    case EndReason::kShutdown:
      return 4;
    case EndReason::kEvicted:
      return 5;
  }
  return 0;
}

}  // namespace

// Field order and sizes are those of the internal templates above (V4 and V6 share the head).
struct IpfixExporter::Row {
  uint64_t start_ms, end_ms;
  uint64_t packets, octets, rev_packets, rev_octets;
  fbVarfield_t auth, ja3, ja4, sni, rule, action;
  uint16_t src_port, dst_port, tcp_flags;
  uint8_t proto, end_reason, starttls_result, tls_kind;
  union {
    struct {
      uint8_t src[4], dst[4];
      uint8_t pad[6];
    } v4;
    struct {
      uint8_t src[16], dst[16];
      uint8_t pad[6];
    } v6;
  };
};

namespace {
static_assert(offsetof(IpfixExporter::Row, src_port) == 144);
static_assert(offsetof(IpfixExporter::Row, v4) == 154);
constexpr size_t kRowV4 = 154 + 14;
constexpr size_t kRowV6 = 154 + 38;
static_assert(sizeof(IpfixExporter::Row) >= kRowV6);

// One transport session with the collector: libfixbuf's session, exporter and buffer.
struct Link {
  fBuf_t* fbuf = nullptr;
  FILE* tcp = nullptr;  // TCP: our own connection, which libfixbuf writes to and never closes
  ~Link() { close(); }
  void close() {
    if (fbuf != nullptr) fBufFree(fbuf);  // frees the session and the exporter too
    fbuf = nullptr;
    if (tcp != nullptr) std::fclose(tcp);
    tcp = nullptr;
  }
};

bool openLink(fbInfoModel_t* model, const IpfixTarget& t, Link& link, std::string& error) {
  GError* err = nullptr;
  auto fail = [&](const char* what) {
    error = std::string(what) + ": " + (err != nullptr ? err->message : "unknown error");
    if (err != nullptr) g_clear_error(&err);
    return false;
  };
  fbSession_t* session = fbSessionAlloc(model);
  for (auto [tid, spec] : {std::pair{kTidV4, kSpecV4}, std::pair{kTidV6, kSpecV6}}) {
    fbTemplate_t* internal = fbTemplateAlloc(model);
    if (!fbTemplateAppendSpecArray(internal, spec, UINT32_MAX, &err)) {
      fbSessionFree(session);
      return fail("IPFIX internal template");
    }
    if (fbSessionAddTemplate(session, TRUE, tid, internal, &err) == 0) {
      fbSessionFree(session);
      return fail("IPFIX internal template");
    }
    fbTemplate_t* external = fbTemplateAlloc(model);
    if (!fbTemplateAppendSpecArray(external, spec, 0, &err)) {
      fbSessionFree(session);
      return fail("IPFIX template");
    }
    if (fbSessionAddTemplate(session, FALSE, tid, external, &err) == 0) {
      fbSessionFree(session);
      return fail("IPFIX template");
    }
  }
  fbExporter_t* exporter;
  if (link.tcp != nullptr) {
    exporter = fbExporterAllocFP(link.tcp);
  } else {
    fbConnSpec_t spec{};
    spec.transport = FB_UDP;
    spec.host = const_cast<char*>(t.host.c_str());
    spec.svc = const_cast<char*>(t.port.c_str());
    exporter = fbExporterAllocNet(&spec);
  }
  link.fbuf = fBufAllocForExport(session, exporter);
  if (!fbSessionExportTemplates(session, &err)) return fail("IPFIX templates");
  if (!fBufEmit(link.fbuf, &err)) return fail("IPFIX templates");
  return true;
}

// A TCP connection to the collector of our own, for libfixbuf to write to (its own would
// connect() and send() without a timeout: a collector that drops SYNs held the exporter for
// the kernel's minutes, and one that stops reading would hold it for good). The connection
// must open within kIpfixConnectTimeoutS; a write that cannot go out within kIpfixSendTimeoutS
// fails, and the exporter reconnects with its back-off. Null with `error` set on failure.
FILE* connectTcp(const IpfixTarget& t, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (const int rc = getaddrinfo(t.host.c_str(), t.port.c_str(), &hints, &res); rc != 0) {
    error = gai_strerror(rc);
    return nullptr;
  }
  int fd = -1;
  for (const addrinfo* a = res; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      error = std::strerror(errno);
      continue;
    }
    bool ok = connect(fd, a->ai_addr, a->ai_addrlen) == 0;
    if (!ok && errno != EINPROGRESS) {
      error = std::strerror(errno);
    } else if (!ok) {
      pollfd p{fd, POLLOUT, 0};
      int n;
      do {
        n = poll(&p, 1, static_cast<int>(kIpfixConnectTimeoutS * 1000));
      } while (n < 0 && errno == EINTR);
      int e = 0;
      socklen_t len = sizeof e;
      if (n > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == 0 && e == 0) {
        ok = true;
      } else if (n == 0) {
        error =
            "no answer within " + std::to_string(static_cast<int>(kIpfixConnectTimeoutS)) + " s";
      } else {
        error = std::strerror(n < 0 ? errno : e);
      }
    }
    if (!ok) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0) return nullptr;
  // Blocking from here (libfixbuf writes with fwrite), with a bound on each write.
  const timeval send_timeout{static_cast<time_t>(kIpfixSendTimeoutS), 0};
  FILE* fp = nullptr;
  if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout) != 0 ||
      (fp = fdopen(fd, "w")) == nullptr) {
    error = std::strerror(errno);
    close(fd);
    return nullptr;
  }
  std::setvbuf(fp, nullptr, _IONBF, 0);  // each IPFIX message goes out as libfixbuf emits it
  return fp;
}

}  // namespace

struct IpfixExporter::State {
  explicit State(IpfixTarget t) : target(std::move(t)) {}
  const IpfixTarget target;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<EventRecord> queue;      // smtp_flow records not yet taken by the thread
  std::deque<std::string> queue_sni;  // beside queue
  bool stopping = false;
  bool done = false;  // the thread has ended (under mu)
  std::atomic<uint64_t> exported{0};
  std::atomic<uint64_t> dropped{0};
  std::atomic<uint64_t> in_flight{0};  // records the thread took and has not counted yet
  bool frozen = false;                 // stop() left the thread behind: the counts below are final
  uint64_t final_exported = 0;
  uint64_t final_dropped = 0;
};

namespace {
void runExporter(const std::shared_ptr<IpfixExporter::State>& st);
}  // namespace

IpfixExporter::IpfixExporter(IpfixTarget target)
    : state_(std::make_shared<State>(std::move(target))) {}

uint64_t IpfixExporter::exported() const {
  std::lock_guard lock(state_->mu);
  return state_->frozen ? state_->final_exported : state_->exported.load();
}

uint64_t IpfixExporter::dropped() const {
  std::lock_guard lock(state_->mu);
  return state_->frozen ? state_->final_dropped : state_->dropped.load();
}

IpfixExporter::~IpfixExporter() {
  stop();
}

bool IpfixExporter::start(std::string& error) {
  // The templates are checked here, once, so a mistake shows at start, not in the thread.
  fbInfoModel_t* model = fbInfoModelAlloc();
  fbInfoModelAddElementArray(model, kElements);
  GError* err = nullptr;
  bool ok = true;
  for (fbInfoElementSpec_t* spec : {kSpecV4, kSpecV6}) {
    fbTemplate_t* t = fbTemplateAlloc(model);
    if (!fbTemplateAppendSpecArray(t, spec, UINT32_MAX, &err)) {
      error = std::string("IPFIX template: ") + err->message;
      g_clear_error(&err);
      ok = false;
    }
    fbTemplateFreeUnused(t);
  }
  fbInfoModelFree(model);
  if (!ok) return false;
  thread_ = std::thread([st = state_] { runExporter(st); });
  return true;
}

void IpfixExporter::add(const EventRecord& rec) {
  if (rec.type == EventType::kTlsClientHello) {
    if (rec.hello.sni_len == 0) return;
    if (sni_order_.size() >= kSniLimit) {
      sni_.erase(sni_order_.front());
      sni_order_.pop_front();
    }
    if (sni_.insert_or_assign(rec.flow_id, std::string(rec.hello.sni())).second)
      sni_order_.push_back(rec.flow_id);
    return;
  }
  if (rec.type != EventType::kSmtpFlow) return;
  std::string sni;
  if (auto it = sni_.find(rec.flow_id); it != sni_.end()) {
    sni = std::move(it->second);
    sni_.erase(it);  // its order entry goes when it reaches the front
  }
  State& st = *state_;
  std::lock_guard lock(st.mu);
  if (st.queue.size() >= kQueueLimit || st.frozen) {
    st.dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  st.queue.push_back(rec);
  st.queue_sni.push_back(std::move(sni));
}

void IpfixExporter::flush() {
  state_->cv.notify_all();
}

void IpfixExporter::stop() {
  if (!thread_.joinable()) return;
  State& st = *state_;
  std::unique_lock lock(st.mu);
  st.stopping = true;
  st.cv.notify_all();
  if (st.cv.wait_for(lock, std::chrono::duration<double>(kIpfixStopWaitS),
                     [&] { return st.done; })) {
    lock.unlock();
    thread_.join();
    return;
  }
  // Still held by the network (a TCP collector that stopped reading): what the thread holds and
  // what is queued are lost. The thread keeps its own reference to the state and ends when the
  // call returns, or with the process.
  st.final_exported = st.exported.load();
  st.final_dropped = st.dropped.load() + st.in_flight.load() + st.queue.size();
  st.frozen = true;
  st.queue.clear();
  st.queue_sni.clear();
  lock.unlock();
  std::fprintf(stderr,
               "smtpguard: IPFIX to %s:%s: the collector did not take the last records within "
               "%.0f s; left behind, they are counted in ipfix.dropped\n",
               st.target.host.c_str(), st.target.port.c_str(), kIpfixStopWaitS);
  thread_.detach();
}

namespace {

void runExporter(const std::shared_ptr<IpfixExporter::State>& shared) {
  // A collector that closed the connection: the write fails with EPIPE, no signal.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  IpfixExporter::State& st = *shared;
  const IpfixTarget& target = st.target;
  using Clock = std::chrono::steady_clock;
  fbInfoModel_t* model = fbInfoModelAlloc();
  fbInfoModelAddElementArray(model, kElements);
  Link link;
  auto next_attempt = Clock::now();
  auto templates_sent = Clock::now();
  double backoff_s = kBackoffFirstS;
  bool reported = false;
  std::deque<EventRecord> batch;
  std::deque<std::string> batch_sni;
  for (;;) {
    bool stopping;
    {
      std::unique_lock lock(st.mu);
      st.cv.wait_for(lock, std::chrono::milliseconds(200),
                     [&] { return st.stopping || !st.queue.empty(); });
      batch.swap(st.queue);
      batch_sni.swap(st.queue_sni);
      st.in_flight.store(batch.size(), std::memory_order_relaxed);
      stopping = st.stopping;
    }
    const auto now = Clock::now();
    auto lose = [&](const char* why, const std::string& detail) {
      link.close();
      if (!reported) {
        std::fprintf(stderr,
                     "smtpguard: IPFIX to %s:%s (%s): %s: %s; records are dropped and counted "
                     "in ipfix.dropped until it answers\n",
                     target.host.c_str(), target.port.c_str(), target.tcp ? "tcp" : "udp", why,
                     detail.c_str());
        reported = true;
      }
      // From now, not the loop's start: a connect may have taken seconds.
      next_attempt =
          Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(backoff_s * 1000));
      backoff_s = std::min(backoff_s * 2, kBackoffMaxS);
    };
    if (link.fbuf == nullptr && now >= next_attempt) {
      std::string error;
      if (target.tcp) link.tcp = connectTcp(target, error);
      if ((target.tcp && link.tcp == nullptr) || !openLink(model, target, link, error)) {
        lose("cannot connect", error);
      } else {
        templates_sent = now;
        backoff_s = kBackoffFirstS;
      }
    }
    // RFC 7011 §8.4: over UDP the templates are sent again, periodically.
    if (link.fbuf != nullptr && !target.tcp &&
        std::chrono::duration<double>(now - templates_sent).count() >= kTemplateRefreshS) {
      GError* err = nullptr;
      if (fbSessionExportTemplates(fBufGetSession(link.fbuf), &err) && fBufEmit(link.fbuf, &err)) {
        templates_sent = now;
      } else {
        lose("cannot send templates", err != nullptr ? err->message : "");
        if (err != nullptr) g_clear_error(&err);
      }
    }
    if (!batch.empty()) {
      if (link.fbuf == nullptr) {
        st.dropped.fetch_add(batch.size(), std::memory_order_relaxed);
      } else {
        uint64_t appended = 0;
        GError* err = nullptr;
        bool ok = true;
        for (size_t i = 0; i < batch.size() && ok; ++i) {
          const EventRecord& r = batch[i];
          const FlowRecord& f = r.flow;
          IpfixExporter::Row row{};
          row.start_ms = f.start_ns / 1000000u;
          row.end_ms = f.end_ns / 1000000u;
          row.packets = f.packets_toserver;
          row.octets = f.octets_toserver;
          row.rev_packets = f.packets_toclient;
          row.rev_octets = f.octets_toclient;
          std::string auth;
          for (unsigned m = 1; m < 16; ++m) {
            if (!(f.auth_mechs & (1u << m))) continue;
            if (!auth.empty()) auth += ',';
            auth += authMechName(static_cast<SmtpAuthMech>(m));
          }
          const std::string& sni = batch_sni[i];
          const std::string_view action =
              f.has_verdict ? actionName(f.verdict_action) : std::string_view();
          const std::string_view rule = f.has_verdict ? f.verdict_rule.view() : std::string_view();
          auto var = [](std::string_view s) {
            return fbVarfield_t{s.size(), reinterpret_cast<uint8_t*>(const_cast<char*>(s.data()))};
          };
          row.auth = var(auth);
          row.ja3 = var(f.has_ja ? std::string_view(f.ja3, sizeof f.ja3) : std::string_view());
          row.ja4 = var(f.has_ja ? std::string_view(f.ja4, sizeof f.ja4) : std::string_view());
          row.sni = var(sni);
          row.rule = var(rule);
          row.action = var(action);
          row.src_port = r.src_port;
          row.dst_port = r.dst_port;
          row.tcp_flags = f.tcp_flags;
          row.proto = 6;
          row.end_reason = flowEndReason(f.reason);
          row.starttls_result = static_cast<uint8_t>(f.starttls_result);
          row.tls_kind = static_cast<uint8_t>(f.tls);
          const bool v4 = r.src.isV4() && r.dst.isV4();
          if (v4) {
            // unsigned32 elements: host order in the internal record, libfixbuf swaps them.
            const uint32_t src = r.src.v4(), dst = r.dst.v4();
            std::memcpy(row.v4.src, &src, 4);
            std::memcpy(row.v4.dst, &dst, 4);
          } else {
            std::memcpy(row.v6.src, r.src.b, 16);
            std::memcpy(row.v6.dst, r.dst.b, 16);
          }
          const uint16_t tid = v4 ? kTidV4 : kTidV6;
          ok = fBufSetInternalTemplate(link.fbuf, tid, &err) &&
               fBufSetExportTemplate(link.fbuf, tid, &err) &&
               fBufAppend(link.fbuf, reinterpret_cast<uint8_t*>(&row), v4 ? kRowV4 : kRowV6, &err);
          if (ok) ++appended;
        }
        if (ok) ok = fBufEmit(link.fbuf, &err);
        if (ok) {
          st.exported.fetch_add(appended, std::memory_order_relaxed);
        } else {
          // What went into the failed message (and what was not appended) is lost. Records of
          // messages emitted earlier in this batch (a full buffer emits on its own) cannot be
          // told apart: all are counted as dropped.
          st.dropped.fetch_add(batch.size(), std::memory_order_relaxed);
          lose("cannot send", err != nullptr ? err->message : "");
          if (err != nullptr) g_clear_error(&err);
        }
      }
      batch.clear();
      batch_sni.clear();
    }
    st.in_flight.store(0, std::memory_order_relaxed);
    if (stopping) break;
  }
  link.close();
  fbInfoModelFree(model);
  {
    std::lock_guard lock(st.mu);
    st.done = true;
  }
  st.cv.notify_all();
}

}  // namespace

}  // namespace smtpguard
