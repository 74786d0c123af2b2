#include "policy/policy_snapshot.h"

#include <algorithm>

namespace smtpguard {

namespace {

inline bool anyOf(uint64_t want, uint64_t have) {
  return want == 0 || (want & have) != 0;
}

inline bool matchesConnection(const CompiledRule& r, SetMask src, SetMask dst, uint64_t port_bit) {
  return anyOf(r.src_sets, src) && anyOf(r.dst_sets, dst) && anyOf(r.port_mask, port_bit);
}

inline void noteShadow(Verdict& v, const CompiledRule& r, size_t i) {
  if (v.shadow_index != kNoRule) return;
  v.shadow_index = static_cast<uint16_t>(i);
  v.shadow_action = r.action;
}

inline void decide(Verdict& v, const CompiledRule& r, size_t i) {
  v.action = r.action;
  v.reject_with = r.reject_with;
  v.rule_index = static_cast<uint16_t>(i);
}

}  // namespace

bool PolicySnapshot::fingerprintIn(uint32_t begin, uint32_t count,
                                   std::string_view fp) const noexcept {
  if (fp.empty()) return false;
  auto first = fingerprints_.begin() + begin;
  auto last = first + count;
  auto it = std::lower_bound(first, last, fp,
                             [](const std::string& a, std::string_view b) { return a < b; });
  return it != last && *it == fp;
}

bool PolicySnapshot::matchesSession(const CompiledRule& r, const SessionFacts& f) const noexcept {
  if ((f.flags & r.fact_mask) != r.fact_value) return false;
  if (r.anomaly_mask != 0 && (f.anomalies & r.anomaly_mask) == 0) return false;
  bool masks_current = f.patterns.generation == generation_;
  for (size_t i = 0; i < kPatternFieldCount; ++i) {
    uint8_t g = r.pattern_group[i];
    if (g == kNoGroup) continue;
    if (!masks_current || ((f.patterns.mask[i] >> g) & 1) == 0) return false;
  }
  if (r.ja3_count != 0 && !fingerprintIn(r.ja3_begin, r.ja3_count, f.ja3)) return false;
  if (r.ja4_count != 0 && !fingerprintIn(r.ja4_begin, r.ja4_count, f.ja4)) return false;
  return true;
}

Verdict PolicySnapshot::defaultVerdict() const noexcept {
  Verdict v;
  v.action = shadow_mode_ ? Action::kAllow : default_action_;
  return v;
}

Verdict evaluateConnection(const PolicySnapshot& p, const ConnFacts& c,
                           uint64_t now_unix_s) noexcept {
  const auto& port = p.ports_[c.dport];
  if (port.cls == PortClass::kNone) return Verdict{};
  uint64_t port_bit = uint64_t{1} << port.index;
  SetMask src = p.prefixes_.lookup(c.src) | c.src_dynamic;
  SetMask dst = p.prefixes_.lookup(c.dst);
  Verdict v = p.defaultVerdict();
  for (uint16_t i : p.connection_rules_) {
    const CompiledRule& r = p.rules_[i];
    if (r.expiredAt(now_unix_s) || !matchesConnection(r, src, dst, port_bit)) continue;
    if (r.shadow) {
      noteShadow(v, r, i);
      continue;
    }
    decide(v, r, i);
    return v;
  }
  return v;
}

Verdict evaluateSession(const PolicySnapshot& p, const SessionFacts& f,
                        uint64_t now_unix_s) noexcept {
  const auto& port = p.ports_[f.conn.dport];
  if (port.cls == PortClass::kNone) return Verdict{};
  uint64_t port_bit = uint64_t{1} << port.index;
  SetMask src = p.prefixes_.lookup(f.conn.src) | f.conn.src_dynamic;
  SetMask dst = p.prefixes_.lookup(f.conn.dst);
  Verdict v = p.defaultVerdict();
  for (size_t i = 0; i < p.rules_.size(); ++i) {
    const CompiledRule& r = p.rules_[i];
    if (r.expiredAt(now_unix_s) || !matchesConnection(r, src, dst, port_bit)) continue;
    if (r.stage == Stage::kConnection) {
      // Decided (and counted, shadow or not) at the SYN.
      if (r.shadow) continue;
      decide(v, r, i);
      return v;
    }
    if (!p.matchesSession(r, f)) continue;
    if (r.shadow) {
      noteShadow(v, r, i);
      continue;
    }
    decide(v, r, i);
    v.stage = Stage::kSession;
    return v;
  }
  return v;
}

void scanField(const PolicySnapshot& p, PatternField field, std::string_view value,
               PolicyScratch& scratch, PatternMatches& m) noexcept {
  if (m.generation != p.generation()) m = PatternMatches{p.generation(), {}};
  m.mask[static_cast<size_t>(field)] = p.patterns().scan(field, value, scratch.patterns);
}

bool admitRateLimited(const PolicySnapshot& p, const Verdict& v, const IpAddr& src,
                      RateLimiter& limiter, uint64_t now_ns) noexcept {
  if (v.action != Action::kRateLimit || v.rule_index >= p.ruleCount()) return true;
  const CompiledRule& r = p.rule(v.rule_index);
  return limiter.admit(rateKey(src, r.rate, r.rate_id), r.rate, now_ns);
}

}  // namespace smtpguard
