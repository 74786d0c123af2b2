#pragma once
// A compiled policy: one immutable object holding the prefix table, the port -> class table,
// the Hyperscan database, the fingerprint lists and the rules in order. The control plane builds
// it (policy_compiler.h), publishes it with one pointer swap, and frees it after a grace period;
// workers only read it. Nothing in it points into the TOML tree.
//
// Evaluation is first match wins, in two moments (docs/policy.md, "Enforcement moments"):
//   evaluateConnection  at the SYN, over the connection rules (address and port conditions);
//   evaluateSession     at each session event, over all rules in order, with the session facts.
// Both are fast-path functions: no heap, no exceptions, no locks.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip_addr.h"
#include "common/port_class.h"
#include "policy/pattern_matcher.h"
#include "policy/policy_types.h"
#include "policy/prefix_table.h"
#include "policy/rate_limiter.h"
#include "subscriber/subscriber_table.h"

namespace smtpguard {

inline constexpr uint16_t kNoRule = 0xffff;
inline constexpr uint8_t kNoGroup = 0xff;
inline constexpr size_t kMaxSmtpPorts = 64;  // a rule's port condition is one uint64_t

struct ConnFacts {
  IpAddr src{};
  IpAddr dst{};
  uint16_t dport = 0;
  // Dynamic sets the source is in (PolicySnapshot::quarantineSet() when quarantined): the
  // prefix table cannot know them.
  SetMask src_dynamic = 0;
};

// Pattern match masks for one session, valid for the snapshot whose generation they carry.
// After a policy swap they are stale: pattern conditions then do not match until the field is
// scanned again against the new snapshot.
struct PatternMatches {
  uint64_t generation = 0;
  std::array<uint64_t, kPatternFieldCount> mask{};
};

struct SessionFacts {
  ConnFacts conn;
  uint32_t flags = 0;       // factBit(Fact::k...) for every fact that holds
  uint64_t anomalies = 0;   // 1 << SmtpAnomaly for every anomaly seen (policy_types.h)
  PatternMatches patterns;  // filled by scanField() as EHLO, MAIL FROM and SNI are observed
  std::string_view ja3;     // lower-case hex MD5; empty until a ClientHello was parsed
  std::string_view ja4;
};

struct Verdict {
  Action action = Action::kAllow;  // what to enforce now
  // kConnection from evaluateSession means "nothing new": the SYN verdict stands.
  Stage stage = Stage::kConnection;
  RejectWith reject_with = RejectWith::kTcpReset;
  Action shadow_action = Action::kAllow;  // what the shadow rule would have done
  uint16_t rule_index = kNoRule;    // deciding rule (policy.rule.<name>); kNoRule: the default
  uint16_t shadow_index = kNoRule;  // first shadow rule matched before it (policy.shadow.<name>)

  bool shadow() const { return shadow_index != kNoRule; }
};

// The hot part of a rule: everything evaluation reads.
struct CompiledRule {
  SetMask src_sets = 0;  // any of these sets; 0 = any address
  SetMask dst_sets = 0;
  uint64_t port_mask = 0;     // bit per SMTP port index; 0 = any port
  uint64_t anomaly_mask = 0;  // any of these anomalies; 0 = no anomaly condition
  int64_t expires_unix = 0;   // stops matching at this time; 0 = never
  uint32_t fact_mask = 0;     // facts constrained ...
  uint32_t fact_value = 0;    // ... and their required values
  uint32_t ja3_begin = 0;     // [begin, begin + count) in the snapshot's fingerprint list
  uint32_t ja4_begin = 0;
  uint32_t ja3_count = 0;
  uint32_t ja4_count = 0;
  std::array<uint8_t, kPatternFieldCount> pattern_group{kNoGroup, kNoGroup, kNoGroup};
  Stage stage = Stage::kConnection;
  Action action = Action::kAllow;
  RejectWith reject_with = RejectWith::kTcpReset;
  bool shadow = false;   // the rule's mode, or the policy's
  uint8_t events = 0;    // session rules: SessionEvent bits that can make it match
  uint32_t rate_id = 0;  // rate_limit: bucket key part, stable across reloads (name hash)
  RateParams rate;

  bool expiredAt(uint64_t now_unix_s) const {
    return expires_unix != 0 && static_cast<int64_t>(now_unix_s) >= expires_unix;
  }
};

// The cold part: what `smtpguardctl show`, events and logs print.
struct RuleInfo {
  std::string name;
  std::string description;
  std::string ticket;
  std::string expires_text;  // empty when the rule never expires
  std::string source;        // file:line
  std::vector<std::string> conditions;
  std::string rate_text;  // "30/minute burst 10 per address (v4), /64 (v6)"
};

// A [[detector]] as events, logs and `smtpguardctl show` print it; DetectorRule (same index)
// is what the fast path evaluates.
struct DetectorInfo {
  std::string name;
  std::string description;
  SubStat stat = SubStat::kConnections;
  uint32_t threshold = 0;
  uint32_t window_s = 0;
  bool quarantine = false;
  uint64_t quarantine_ns = 0;
  bool shadow = false;  // the detector's mode, or the policy's
  std::string source;   // file:line
};

// One per lcore; made on the control plane by PolicySnapshot::makeScratch().
struct PolicyScratch {
  PatternScratch patterns;
};

// [policy] fragments, as the fast path applies it.
enum class FragmentSetting : uint8_t { kCommandLine, kReassemble, kDrop, kPass };

class PolicySnapshot {
 public:
  uint64_t generation() const { return generation_; }
  const std::string& name() const { return name_; }
  const std::string& source() const { return source_; }
  bool shadowMode() const { return shadow_mode_; }
  Action defaultAction() const { return default_action_; }
  FragmentSetting fragments() const { return fragments_; }
  // [policy] state_exhaustion = "pass": a session without line state is let through.
  bool exhaustionPasses() const { return exhaustion_pass_; }

  // How the fast path treats a destination port.
  PortClass portClass(uint16_t port) const noexcept { return ports_[port].cls; }
  // Every SMTP port, ascending: the flows.port.<N> family is exported for these.
  std::span<const uint16_t> smtpPorts() const { return smtp_ports_; }

  size_t ruleCount() const { return rules_.size(); }
  const CompiledRule& rule(size_t i) const { return rules_[i]; }
  const RuleInfo& ruleInfo(size_t i) const { return info_[i]; }
  // Index-aligned with the rules: policy.rule.<name> and policy.shadow.<name>.
  std::span<const std::string> ruleNames() const { return rule_names_; }

  const std::vector<std::string>& setNames() const { return set_names_; }
  size_t definedSetCount() const { return defined_sets_; }
  size_t prefixCount() const { return prefix_count_; }
  size_t intervalCount() const { return prefixes_.intervalCount(); }
  SetMask setsOf(const IpAddr& a) const noexcept { return prefixes_.lookup(a); }
  const PatternDatabase& patterns() const { return patterns_; }
  size_t fingerprintCount() const { return fingerprints_.size(); }

  // Subscriber detectors (docs/subscribers.md), index-aligned.
  std::span<const DetectorRule> detectorRules() const { return detector_rules_; }
  const DetectorInfo& detector(size_t i) const { return detectors_[i]; }
  size_t detectorCount() const { return detectors_.size(); }
  const WindowPlan& windowPlan() const { return window_plan_; }
  // The bit of the dynamic set `quarantine`; 0 when no rule names it.
  SetMask quarantineSet() const { return quarantine_set_; }
  uint8_t subscriberV6Prefix() const { return subscriber_v6_prefix_; }

  PolicyScratch makeScratch() const { return PolicyScratch{patterns_.makeScratch()}; }

 private:
  friend class PolicyCompiler;
  friend Verdict evaluateConnection(const PolicySnapshot&, const ConnFacts&, uint64_t) noexcept;
  friend Verdict evaluateSession(const PolicySnapshot&, const SessionFacts&, uint64_t) noexcept;

  struct PortEntry {  // trivial, so the table below is zero-filled: kNone everywhere
    PortClass cls;    // kNone: not an SMTP port
    uint8_t index;    // SMTP ports: the bit in CompiledRule::port_mask
  };

  bool fingerprintIn(uint32_t begin, uint32_t count, std::string_view fp) const noexcept;
  bool matchesSession(const CompiledRule& r, const SessionFacts& f) const noexcept;
  Verdict defaultVerdict() const noexcept;

  uint64_t generation_ = 0;
  std::string name_;
  std::string source_;
  bool shadow_mode_ = false;
  Action default_action_ = Action::kAllow;
  FragmentSetting fragments_ = FragmentSetting::kCommandLine;
  bool exhaustion_pass_ = false;
  std::array<PortEntry, 65536> ports_{};
  std::vector<uint16_t> smtp_ports_;
  PrefixTable prefixes_;
  std::vector<std::string> set_names_;
  size_t defined_sets_ = 0;
  size_t prefix_count_ = 0;
  PatternDatabase patterns_;
  std::vector<std::string> fingerprints_;  // per-rule sorted runs
  std::vector<CompiledRule> rules_;
  std::vector<uint16_t> connection_rules_;  // indices of connection-stage rules, in order
  std::vector<RuleInfo> info_;
  std::vector<std::string> rule_names_;
  std::vector<DetectorRule> detector_rules_;
  std::vector<DetectorInfo> detectors_;
  WindowPlan window_plan_;
  SetMask quarantine_set_ = 0;
  uint8_t subscriber_v6_prefix_ = 64;
};

// At the SYN: the first connection rule matching (src, dst, dport) decides; session rules are
// skipped (their facts are unknown yet). Shadow rules are recorded and passed over. A port
// outside every class is not policed: allow, kNoRule. Expired rules do not match.
Verdict evaluateConnection(const PolicySnapshot& p, const ConnFacts& c,
                           uint64_t now_unix_s) noexcept;

// At a session event: all rules in order with the facts so far. If the first match is a
// session rule, the verdict has stage kSession and is to be enforced now; if it is a connection
// rule (or nothing matches), stage is kConnection: the SYN verdict stands, nothing new to do.
Verdict evaluateSession(const PolicySnapshot& p, const SessionFacts& f,
                        uint64_t now_unix_s) noexcept;

// When the SMTP or TLS engine observes a field: one Hyperscan scan, result kept in `m` for
// every later evaluateSession of the session. Masks from an older snapshot are discarded.
void scanField(const PolicySnapshot& p, PatternField field, std::string_view value,
               PolicyScratch& scratch, PatternMatches& m) noexcept;

// For a kRateLimit verdict from evaluateConnection: true if the SYN is admitted (treat as
// allow), false if over the rate (drop, count policy.rate_limited).
bool admitRateLimited(const PolicySnapshot& p, const Verdict& v, const IpAddr& src,
                      RateLimiter& limiter, uint64_t now_ns) noexcept;

}  // namespace smtpguard
