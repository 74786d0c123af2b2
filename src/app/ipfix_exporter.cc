#include "app/ipfix_exporter.h"

#include <fixbuf/public.h>

#include <chrono>
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
  ~Link() { close(); }
  void close() {
    if (fbuf != nullptr) fBufFree(fbuf);  // frees the session and the exporter too
    fbuf = nullptr;
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
  fbConnSpec_t spec{};
  spec.transport = t.tcp ? FB_TCP : FB_UDP;
  spec.host = const_cast<char*>(t.host.c_str());
  spec.svc = const_cast<char*>(t.port.c_str());
  fbExporter_t* exporter = fbExporterAllocNet(&spec);
  link.fbuf = fBufAllocForExport(session, exporter);
  if (!fbSessionExportTemplates(session, &err)) return fail("IPFIX templates");
  if (!fBufEmit(link.fbuf, &err)) return fail("IPFIX templates");
  return true;
}

}  // namespace

IpfixExporter::IpfixExporter(IpfixTarget target) : target_(std::move(target)) {}

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
  thread_ = std::thread([this] { run(); });
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
  std::lock_guard lock(mu_);
  if (queue_.size() >= kQueueLimit) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  queue_.push_back(rec);
  queue_sni_.push_back(std::move(sni));
}

void IpfixExporter::flush() {
  cv_.notify_one();
}

void IpfixExporter::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void IpfixExporter::run() {
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
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(200),
                   [&] { return stopping_ || !queue_.empty(); });
      batch.swap(queue_);
      batch_sni.swap(queue_sni_);
      stopping = stopping_;
    }
    const auto now = Clock::now();
    auto lose = [&](const char* why, const std::string& detail) {
      link.close();
      if (!reported) {
        std::fprintf(stderr,
                     "smtpguard: IPFIX to %s:%s (%s): %s: %s; records are dropped and counted "
                     "in ipfix.dropped until it answers\n",
                     target_.host.c_str(), target_.port.c_str(), target_.tcp ? "tcp" : "udp", why,
                     detail.c_str());
        reported = true;
      }
      next_attempt = now + std::chrono::milliseconds(static_cast<int64_t>(backoff_s * 1000));
      backoff_s = std::min(backoff_s * 2, kBackoffMaxS);
    };
    if (link.fbuf == nullptr && now >= next_attempt) {
      std::string error;
      if (openLink(model, target_, link, error)) {
        templates_sent = now;
        backoff_s = kBackoffFirstS;
      } else {
        lose("cannot connect", error);
      }
    }
    // RFC 7011 §8.4: over UDP the templates are sent again, periodically.
    if (link.fbuf != nullptr && !target_.tcp &&
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
        dropped_.fetch_add(batch.size(), std::memory_order_relaxed);
      } else {
        uint64_t appended = 0;
        GError* err = nullptr;
        bool ok = true;
        for (size_t i = 0; i < batch.size() && ok; ++i) {
          const EventRecord& r = batch[i];
          const FlowRecord& f = r.flow;
          Row row{};
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
          exported_.fetch_add(appended, std::memory_order_relaxed);
        } else {
          // What went into the failed message (and what was not appended) is lost. Records of
          // messages emitted earlier in this batch (a full buffer emits on its own) cannot be
          // told apart: all are counted as dropped.
          dropped_.fetch_add(batch.size(), std::memory_order_relaxed);
          lose("cannot send", err != nullptr ? err->message : "");
          if (err != nullptr) g_clear_error(&err);
        }
      }
      batch.clear();
      batch_sni.clear();
    }
    if (stopping) break;
  }
  link.close();
  fbInfoModelFree(model);
}

}  // namespace smtpguard
