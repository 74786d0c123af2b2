#include "policy/policy_compiler.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "stats/counter_block.h"

namespace smtpguard {

namespace {

std::atomic<uint64_t> g_next_generation{1};

uint32_t nameHash(std::string_view s) {  // FNV-1a; 0 is reserved for "no rule"
  uint32_t h = 2166136261u;
  for (char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 16777619u;
  }
  return h == 0 ? 1 : h;
}

bool subset(uint64_t inner, uint64_t outer) {
  return (inner & ~outer) == 0;
}

// "any" (0) covers everything; a constrained condition covers only a constrained subset.
bool anyOfCovers(uint64_t a, uint64_t b) {
  return a == 0 || (b != 0 && subset(b, a));
}

std::string joinStrings(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ", ";
    out += v[i];
  }
  return out;
}

// "index 3" in a Hyperscan message: the offending character of the expression.
std::optional<uint32_t> hyperscanIndex(const std::string& message) {
  size_t at = message.find("index ");
  if (at == std::string::npos) return std::nullopt;
  char* end = nullptr;
  unsigned long n = std::strtoul(message.c_str() + at + 6, &end, 10);
  if (end == message.c_str() + at + 6) return std::nullopt;
  return static_cast<uint32_t>(n);
}

}  // namespace

class PolicyCompiler {
 public:
  PolicyCompiler(const PolicySpec& spec, Diagnostics& diags, const CompileOptions& options)
      : spec_(spec), diags_(diags), options_(options), snap_(std::make_shared<PolicySnapshot>()) {}

  std::shared_ptr<const PolicySnapshot> compile() {
    PolicySnapshot& s = *snap_;
    s.generation_ = g_next_generation.fetch_add(1, std::memory_order_relaxed);
    s.name_ = spec_.name.empty() ? "unnamed" : spec_.name;
    s.source_ = spec_.file;
    s.shadow_mode_ = spec_.shadow;
    s.default_action_ = spec_.default_action;
    s.fragments_ = spec_.fragments == "reassemble" ? FragmentSetting::kReassemble
                   : spec_.fragments == "drop"     ? FragmentSetting::kDrop
                   : spec_.fragments == "pass"     ? FragmentSetting::kPass
                                                   : FragmentSetting::kCommandLine;
    s.exhaustion_pass_ = spec_.exhaustion_pass;
    if (spec_.rules.size() > kMaxPolicyRules) {
      diags_.error(spec_.rules[kMaxPolicyRules].pos,
                   "too many rules (" + std::to_string(spec_.rules.size()) + ")",
                   "at most " + std::to_string(kMaxPolicyRules) +
                       " rules (the size of the per-rule counter families)",
                   "merge rules with the same action into one rule with a larger set");
    }
    buildPorts();
    buildPrefixes();
    buildRules();
    buildDetectors();
    buildPatterns();
    checkReachability();
    checkExpiry();
    checkUnusedSets();
    if (diags_.hasErrors()) return nullptr;
    return snap_;
  }

 private:
  void buildPorts() {
    PolicySnapshot& s = *snap_;
    // In class order; the first port past the limit is where the error points.
    size_t total = 0;
    SourcePos first_too_many{spec_.file, 0, 0, 1, {}};
    for (size_t c = 1; c < spec_.class_ports.size(); ++c)
      for (size_t i = 0; i < spec_.class_ports[c].size(); ++i) {
        uint16_t p = spec_.class_ports[c][i];
        if (s.ports_[p].cls != PortClass::kNone) continue;
        if (++total == kMaxSmtpPorts + 1 && i < spec_.class_port_pos[c].size())
          first_too_many = spec_.class_port_pos[c][i];
        if (total > kMaxSmtpPorts) continue;
        s.ports_[p].cls = static_cast<PortClass>(c);
        s.smtp_ports_.push_back(p);
      }
    std::sort(s.smtp_ports_.begin(), s.smtp_ports_.end());
    if (total > kMaxSmtpPorts) {
      diags_.error(std::move(first_too_many),
                   "too many SMTP ports (" + std::to_string(total) + ") in [ports]",
                   "at most " + std::to_string(kMaxSmtpPorts), "list only ports carrying SMTP");
    }
    for (size_t i = 0; i < s.smtp_ports_.size(); ++i)
      s.ports_[s.smtp_ports_[i]].index = static_cast<uint8_t>(i);
  }

  void buildPrefixes() {
    PolicySnapshot& s = *snap_;
    PrefixTableBuilder builder;
    for (size_t i = 0; i < spec_.sets.size(); ++i) {
      s.set_names_.push_back(spec_.sets[i].name);
      if (spec_.sets[i].defined) ++s.defined_sets_;
      if (spec_.sets[i].dynamic) s.quarantine_set_ = SetMask{1} << i;
      for (const Prefix& p : spec_.sets[i].prefixes) builder.add(p, static_cast<unsigned>(i));
    }
    s.prefix_count_ = builder.prefixCount();
    s.prefixes_ = builder.build();
  }

  uint64_t portMask(const RuleSpec& r) const {
    const PolicySnapshot& s = *snap_;
    uint64_t mask = 0;
    for (uint16_t p : r.ports)
      if (s.ports_[p].cls != PortClass::kNone) mask |= uint64_t{1} << s.ports_[p].index;
    for (size_t c = 1; c < spec_.class_ports.size(); ++c) {
      if (!(r.port_classes & (1u << c))) continue;
      for (uint16_t p : spec_.class_ports[c])
        if (s.ports_[p].cls != PortClass::kNone) mask |= uint64_t{1} << s.ports_[p].index;
    }
    return mask;
  }

  static uint8_t eventsOf(const RuleSpec& r) {
    uint8_t ev = 0;
    for (size_t f = 0; f < kFactCount; ++f)
      if ((r.fact_mask & r.fact_value) & (1u << f)) ev |= kFactEvents[f];
    if (r.anomaly_mask) ev |= SessionEvent::kAnomaly;
    if (!r.patterns[static_cast<size_t>(PatternField::kEhlo)].empty()) ev |= SessionEvent::kEhlo;
    if (!r.patterns[static_cast<size_t>(PatternField::kMailFromDomain)].empty())
      ev |= SessionEvent::kMail;
    if (!r.patterns[static_cast<size_t>(PatternField::kSni)].empty() || !r.ja3.empty() ||
        !r.ja4.empty())
      ev |= SessionEvent::kTlsHello;
    // Only negated facts ("tls_seen = false"): true from the start, so any event may decide.
    return ev ? ev : static_cast<uint8_t>(SessionEvent::kAll);
  }

  void buildRules() {
    PolicySnapshot& s = *snap_;
    size_t n = std::min(spec_.rules.size(), kMaxPolicyRules);
    for (size_t i = 0; i < n; ++i) {
      const RuleSpec& r = spec_.rules[i];
      CompiledRule c;
      for (unsigned set : r.src_sets) c.src_sets |= SetMask{1} << set;
      for (unsigned set : r.dst_sets) c.dst_sets |= SetMask{1} << set;
      c.port_mask = portMask(r);
      c.anomaly_mask = r.anomaly_mask;
      c.expires_unix = r.expires_unix;
      c.fact_mask = r.fact_mask;
      c.fact_value = r.fact_value & r.fact_mask;
      c.ja3_begin = static_cast<uint32_t>(s.fingerprints_.size());
      // Every fingerprint (a policy file holds far fewer than 2^32).
      c.ja3_count = static_cast<uint32_t>(r.ja3.size());
      s.fingerprints_.insert(s.fingerprints_.end(), r.ja3.begin(), r.ja3.end());
      c.ja4_begin = static_cast<uint32_t>(s.fingerprints_.size());
      c.ja4_count = static_cast<uint32_t>(r.ja4.size());
      s.fingerprints_.insert(s.fingerprints_.end(), r.ja4.begin(), r.ja4.end());
      c.stage = r.hasSessionConditions() ? Stage::kSession : Stage::kConnection;
      c.events = c.stage == Stage::kSession ? eventsOf(r) : 0;
      c.action = r.action;
      c.reject_with = r.reject_with;
      c.shadow = r.shadow || spec_.shadow;
      c.rate = r.rate.params;
      c.rate_id = nameHash(r.name);
      s.rules_.push_back(c);
      if (c.stage == Stage::kConnection) s.connection_rules_.push_back(static_cast<uint16_t>(i));
      s.rule_names_.push_back(r.name);
      s.info_.push_back(describe(r));
    }
  }

  // Detectors share at most kMaxDetectorWindows window lengths: each subscriber entry keeps one
  // window per length.
  void buildDetectors() {
    PolicySnapshot& s = *snap_;
    s.subscriber_v6_prefix_ = spec_.subscriber_v6_prefix;
    size_t windows = 0;
    for (size_t i = 0; i < spec_.detectors.size() && i < kMaxDetectors; ++i) {
      const DetectorSpec& d = spec_.detectors[i];
      DetectorRule r;
      r.stat = d.stat == SubStat::kCount ? SubStat::kConnections : d.stat;
      r.threshold = d.threshold;
      size_t w = 0;
      while (w < windows && s.window_plan_.len_s[w] != d.window_s) ++w;
      if (w == windows && d.window_s != 0) {
        if (windows == kMaxDetectorWindows) {
          std::string lens;
          for (size_t j = 0; j < windows; ++j)
            lens += (j ? ", " : "") + std::to_string(s.window_plan_.len_s[j]) + "s";
          diags_.error(d.window_pos,
                       "detector '" + d.name + "' needs a third window length (" +
                           std::to_string(d.window_s) + "s)",
                       "at most " + std::to_string(kMaxDetectorWindows) +
                           " distinct window lengths over all detectors (here " + lens + ")",
                       "give it the window of another detector");
          w = 0;
        } else {
          s.window_plan_.len_s[windows++] = d.window_s;
        }
      }
      r.window_slot = static_cast<uint8_t>(w);
      s.detector_rules_.push_back(r);
      DetectorInfo info;
      info.name = d.name;
      info.description = d.description;
      info.stat = r.stat;
      info.threshold = d.threshold;
      info.window_s = d.window_s;
      info.quarantine = d.quarantine;
      info.quarantine_ns = d.quarantine_s * 1000000000ull;
      info.shadow = d.shadow || spec_.shadow;
      info.source = d.pos.file + ":" + std::to_string(d.pos.line);
      s.detectors_.push_back(std::move(info));
      if (d.quarantine && !d.shadow && s.quarantine_set_ == 0) {
        diags_.warning(d.pos,
                       "detector '" + d.name +
                           "' quarantines, but no rule names the set "
                           "'quarantine'",
                       "add a rule such as src = [\"quarantine\"], action = \"reject\" above "
                       "the rules that allow the traffic");
      }
    }
  }

  RuleInfo describe(const RuleSpec& r) const {
    RuleInfo info;
    info.name = r.name;
    info.description = r.description;
    info.ticket = r.ticket;
    info.expires_text = r.expires_text;
    info.source = r.pos.file + ":" + std::to_string(r.pos.line);
    auto sets = [&](const std::vector<unsigned>& v) {
      std::vector<std::string> names;
      for (unsigned i : v) names.push_back(spec_.sets[i].name);
      return "[" + joinStrings(names) + "]";
    };
    if (!r.src_sets.empty()) info.conditions.push_back("src in " + sets(r.src_sets));
    if (!r.dst_sets.empty()) info.conditions.push_back("dst in " + sets(r.dst_sets));
    if (r.port_classes || !r.ports.empty()) {
      std::vector<std::string> parts;
      for (size_t c = 1; c < spec_.class_ports.size(); ++c) {
        if (!(r.port_classes & (1u << c))) continue;
        std::vector<std::string> ports;
        for (uint16_t p : spec_.class_ports[c]) ports.push_back(std::to_string(p));
        parts.push_back(std::string(portClassName(static_cast<PortClass>(c))) + " (" +
                        joinStrings(ports) + ")");
      }
      for (uint16_t p : r.ports) parts.push_back(std::to_string(p));
      info.conditions.push_back("dport in [" + joinStrings(parts) + "]");
    }
    for (size_t f = 0; f < kFactCount; ++f) {
      if (!(r.fact_mask & (1u << f))) continue;
      info.conditions.push_back(std::string((r.fact_value & (1u << f)) ? "" : "not ") +
                                std::string(kFactNames[f]));
    }
    if (r.anomaly_mask) {
      std::vector<std::string> names;
      for (size_t a = 0; a < kAnomalyCount; ++a)
        if (r.anomaly_mask & (uint64_t{1} << a)) names.emplace_back(kAnomalyNames[a]);
      info.conditions.push_back("anomaly in [" + joinStrings(names) + "]");
    }
    for (size_t f = 0; f < kPatternFieldCount; ++f) {
      if (r.patterns[f].empty()) continue;
      std::vector<std::string> pats;
      for (const PatternSpec& p : r.patterns[f])
        pats.push_back(p.regex ? "/" + p.text + "/" : "\"" + p.text + "\"");
      info.conditions.push_back(std::string(patternFieldName(static_cast<PatternField>(f))) +
                                " matches [" + joinStrings(pats) + "]");
    }
    auto fps = [&](const char* what, const std::vector<std::string>& v) {
      if (v.empty()) return;
      info.conditions.push_back(std::string(what) + " in " +
                                (v.size() <= 2 ? "[" + joinStrings(v) + "]"
                                               : std::to_string(v.size()) + " fingerprints"));
    };
    fps("ja3", r.ja3);
    fps("ja4", r.ja4);
    if (r.action == Action::kRateLimit)
      info.rate_text =
          r.rate.text + " burst " + std::to_string(r.rate.params.burst) + " per " + r.rate.per_text;
    return info;
  }

  void buildPatterns() {
    PolicySnapshot& s = *snap_;
    std::vector<PatternInput> inputs;
    struct Origin {
      const RuleSpec* rule;
      const PatternSpec* pattern;
      PatternField field;
    };
    std::vector<Origin> origin;
    std::array<size_t, kPatternFieldCount> groups{};
    for (size_t i = 0; i < s.rules_.size(); ++i) {
      const RuleSpec& r = spec_.rules[i];
      for (size_t f = 0; f < kPatternFieldCount; ++f) {
        if (r.patterns[f].empty()) continue;
        if (groups[f] >= kMaxPatternGroups) {
          diags_.error(r.patterns[f].front().pos,
                       "too many rules with " +
                           std::string(patternFieldName(static_cast<PatternField>(f))) +
                           " patterns",
                       "at most " + std::to_string(kMaxPatternGroups) + " rules per field",
                       "put the patterns of rules with the same action into one rule");
          continue;
        }
        uint8_t group = static_cast<uint8_t>(groups[f]++);
        s.rules_[i].pattern_group[f] = group;
        for (const PatternSpec& p : r.patterns[f]) {
          inputs.push_back({p.regex ? p.text : literalPatternExpression(p.text),
                            static_cast<PatternField>(f), group});
          origin.push_back({&r, &p, static_cast<PatternField>(f)});
        }
      }
    }
    std::vector<PatternCompileError> errors;
    s.patterns_ = PatternDatabase::compile(inputs, errors);
    for (const PatternCompileError& e : errors) {
      if (e.input == PatternCompileError::kGlobal) {
        diags_.error(
            {spec_.file, 0, 0, 1, {}}, "the pattern database failed to build: " + e.message,
            "patterns Hyperscan can compile together", "simplify the largest regular expressions");
        continue;
      }
      const RuleSpec* rule = origin[e.input].rule;
      const PatternSpec* pat = origin[e.input].pattern;
      SourcePos pos = pat->pos;
      if (auto idx = hyperscanIndex(e.message); idx && pat->text_column > 0) {
        pos.column = pat->text_column + *idx;
        pos.length = 1;
      }
      const std::string field(patternFieldName(origin[e.input].field));
      diags_.error(
          pos,
          "bad regular expression in " + field + "_regex of rule '" + rule->name +
              "': " + e.message,
          "a Hyperscan regular expression (PCRE syntax without backreferences or "
          "lookaround)",
          e.message.find("empty buffer") != std::string::npos
              ? "it matches an empty " + field + "; to match any value, leave the condition out"
          : pat->text_column == 0
              ? "write it as a TOML 'literal string' so backslashes stay as typed"
              : "patterns are matched case-insensitively against the whole " + field +
                    " value; anchor with ^ and $");
    }
  }

  // Does rule a match everything rule b matches? Only the simple, exact cases: set and port
  // inclusion by name, facts, identical pattern lists, fingerprint inclusion.
  bool covers(size_t ai, size_t bi) const {
    const CompiledRule& a = snap_->rules_[ai];
    const CompiledRule& b = snap_->rules_[bi];
    const RuleSpec& as = spec_.rules[ai];
    const RuleSpec& bs = spec_.rules[bi];
    if (!anyOfCovers(a.src_sets, b.src_sets) || !anyOfCovers(a.dst_sets, b.dst_sets) ||
        !anyOfCovers(a.port_mask, b.port_mask) || !anyOfCovers(a.anomaly_mask, b.anomaly_mask))
      return false;
    if (!subset(a.fact_mask, b.fact_mask) || (b.fact_value & a.fact_mask) != a.fact_value)
      return false;
    for (size_t f = 0; f < kPatternFieldCount; ++f) {
      if (as.patterns[f].empty()) continue;
      if (as.patterns[f].size() != bs.patterns[f].size()) return false;
      for (size_t k = 0; k < as.patterns[f].size(); ++k)
        if (as.patterns[f][k].text != bs.patterns[f][k].text ||
            as.patterns[f][k].regex != bs.patterns[f][k].regex)
          return false;
    }
    auto fpCovers = [](const std::vector<std::string>& x, const std::vector<std::string>& y) {
      return x.empty() || (!y.empty() && std::includes(x.begin(), x.end(), y.begin(), y.end()));
    };
    return fpCovers(as.ja3, bs.ja3) && fpCovers(as.ja4, bs.ja4);
  }

  static bool unconditional(const CompiledRule& r) {
    return r.src_sets == 0 && r.dst_sets == 0 && r.port_mask == 0 && r.anomaly_mask == 0 &&
           r.fact_mask == 0 && r.stage == Stage::kConnection;
  }

  void checkReachability() {
    const auto& rules = snap_->rules_;
    for (size_t b = 0; b < rules.size(); ++b) {
      if (spec_.rules[b].broken) continue;
      for (size_t a = 0; a < b; ++a) {
        const RuleSpec& as = spec_.rules[a];
        // Only a rule that always decides hides the ones below it: not one that is broken,
        // shadow-only (evaluation passes over it) or due to expire.
        if (as.broken || as.shadow || rules[a].expires_unix != 0 || !covers(a, b)) continue;
        const RuleSpec& bs = spec_.rules[b];
        std::string hint;
        if (unconditional(rules[a])) {
          hint = "rule '" + as.name + "' (line " + std::to_string(as.pos.line) +
                 ") has no conditions, so no rule after it is ever evaluated; move it last";
        } else if (covers(b, a)) {
          hint = "rules '" + as.name + "' (line " + std::to_string(as.pos.line) + ") and '" +
                 bs.name + "' have the same conditions; delete one";
        } else if (rules[a].stage == Stage::kConnection && rules[b].stage == Stage::kSession) {
          hint = "connection rule '" + as.name + "' (line " + std::to_string(as.pos.line) +
                 ") decides these connections at the SYN; put session rules above the "
                 "connection rules for the same traffic";
        } else {
          hint = "move '" + bs.name + "' above '" + as.name + "' (line " +
                 std::to_string(as.pos.line) + "), or narrow '" + as.name + "'";
        }
        diags_.error(bs.pos,
                     "rule '" + bs.name + "' can never match: rule '" + as.name +
                         "' above it matches everything it would",
                     "every rule reachable (first match wins)", hint);
        break;
      }
    }
  }

  void checkExpiry() {
    if (options_.now_unix_s == 0) return;
    for (size_t i = 0; i < snap_->rules_.size(); ++i) {
      const RuleSpec& r = spec_.rules[i];
      if (r.expires_unix == 0 || options_.now_unix_s < r.expires_unix) continue;
      diags_.warning(r.expires_pos,
                     "rule '" + r.name + "' expired on " + r.expires_text +
                         (r.ticket.empty() ? "" : " (ticket " + r.ticket + ")") +
                         " and no longer matches",
                     "renew it with a new expires date, or delete it");
    }
  }

  void checkUnusedSets() {
    SetMask used = 0;
    for (const CompiledRule& r : snap_->rules_) used |= r.src_sets | r.dst_sets;
    for (size_t i = 0; i < spec_.sets.size(); ++i) {
      if (!spec_.sets[i].defined || (used & (SetMask{1} << i)) || i == kInsideSet) continue;
      diags_.warning(spec_.sets[i].pos, "set '" + spec_.sets[i].name + "' is not used by any rule",
                     "reference it in a rule's src or dst, or delete it");
    }
  }

  const PolicySpec& spec_;
  Diagnostics& diags_;
  CompileOptions options_;
  std::shared_ptr<PolicySnapshot> snap_;
};

std::shared_ptr<const PolicySnapshot> compilePolicy(const PolicySpec& spec, Diagnostics& diags,
                                                    const CompileOptions& options) {
  return PolicyCompiler(spec, diags, options).compile();
}

std::shared_ptr<const PolicySnapshot> compilePolicyFile(const std::string& path, Diagnostics& diags,
                                                        const CompileOptions& options) {
  PolicySpec spec = loadPolicyFile(path, diags);
  return compilePolicy(spec, diags, options);
}

std::shared_ptr<const PolicySnapshot> compilePolicyFileNow(const std::string& path,
                                                           std::string& error) {
  Diagnostics diags;
  auto snapshot = compilePolicyFile(path, diags, CompileOptions{.now_unix_s = std::time(nullptr)});
  if (snapshot == nullptr) error = formatDiagnostics(diags);
  return snapshot;
}

std::shared_ptr<const PolicySnapshot> compilePolicyText(std::string_view text,
                                                        const std::string& name, Diagnostics& diags,
                                                        const CompileOptions& options) {
  PolicySpec spec = loadPolicyText(text, name, diags);
  return compilePolicy(spec, diags, options);
}

}  // namespace smtpguard
