#pragma once
// Policy file (TOML) -> PolicySpec: one reader per table, every problem collected with its
// file:line:column, what was expected and a hint (STYLE.md rule 14). The spec keeps the source
// positions the compiler needs for its own checks (unreachable rules, regex errors); it holds
// no pointers into the TOML tree. Schema: docs/policy.md.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/port_class.h"
#include "policy/pattern_matcher.h"
#include "policy/policy_types.h"
#include "policy/prefix_table.h"
#include "policy/rate_limiter.h"
#include "subscriber/subscriber_table.h"

namespace smtpguard {

struct SourcePos {
  std::string file;
  uint32_t line = 0;  // 1-based; 0 when the problem is the file as a whole
  uint32_t column = 0;
  uint32_t length = 1;          // characters to underline
  std::string line_text;        // the source line (or a window of a long one), for the excerpt
  uint32_t excerpt_column = 1;  // column of line_text's first byte
  bool line_cut = false;        // the line goes on after line_text
};

enum class Severity : uint8_t { kError, kWarning };

struct Diagnostic {
  Severity severity = Severity::kError;
  SourcePos pos;
  std::string message;   // what is wrong
  std::string expected;  // what would have been accepted
  std::string hint;      // how to fix it
};

class Diagnostics {
 public:
  void error(SourcePos pos, std::string message, std::string expected = {}, std::string hint = {});
  void warning(SourcePos pos, std::string message, std::string hint = {});

  bool hasErrors() const { return errors_ > 0; }
  size_t errorCount() const { return errors_; }
  size_t warningCount() const { return items_.size() - errors_; }
  // In file order (line, column), errors before warnings at the same place.
  std::vector<Diagnostic> sorted() const;
  const std::vector<Diagnostic>& items() const { return items_; }

 private:
  std::vector<Diagnostic> items_;
  size_t errors_ = 0;
};

// file:line:column: error: message
//    12 | acton = "reject"
//       | ^~~~~
//   expected: ...
//   hint: ...
std::string formatDiagnostic(const Diagnostic& d);
std::string formatDiagnostics(const Diagnostics& diags);

struct PatternSpec {
  std::string text;
  bool regex = false;
  SourcePos pos;
  // Column of the pattern's first character when the TOML string has no escapes (a literal
  // 'string'), so a Hyperscan "at index N" can point at the character; 0 otherwise.
  uint32_t text_column = 0;
};

struct RateSpec {
  RateParams params;
  std::string text;  // "30/minute", for show
  std::string per_text;
};

struct RuleSpec {
  std::string name;
  SourcePos pos;        // the name value (or the [[rule]] header when the name is missing)
  bool broken = false;  // had an error: the compiler skips its cross-rule checks
  std::string description;

  // Conditions. An empty list / zero mask means "any".
  std::vector<unsigned> src_sets;  // indices into PolicySpec::sets
  std::vector<unsigned> dst_sets;
  std::vector<uint16_t> ports;  // explicit destination ports
  uint8_t port_classes = 0;     // bit per PortClass
  uint32_t fact_mask = 0;       // facts constrained ...
  uint32_t fact_value = 0;      // ... and the value each must have
  uint64_t anomaly_mask = 0;    // any of these anomalies
  std::array<std::vector<PatternSpec>, kPatternFieldCount> patterns;
  std::vector<std::string> ja3;  // lower-case hex, any of
  std::vector<std::string> ja4;

  Action action = Action::kAllow;
  RejectWith reject_with = RejectWith::kTcpReset;
  bool shadow = false;  // mode = "shadow" on the rule (the policy-wide mode is separate)
  RateSpec rate;        // action == kRateLimit

  int64_t expires_unix = 0;  // 0: never
  std::string expires_text;
  SourcePos expires_pos;
  std::string ticket;

  bool hasSessionConditions() const;
};

struct SetSpec {
  std::string name;
  SourcePos pos;
  std::vector<Prefix> prefixes;
  bool defined = false;  // `inside` exists even when [networks] does not define it
  // The dynamic set `quarantine` (docs/subscribers.md): no prefixes, its members come from
  // detectors and `smtpguardctl quarantine`; it exists once a rule names it.
  bool dynamic = false;
};

// [[detector]] (docs/subscribers.md): a condition over one subscriber statistic in a tumbling
// window on packet time, reported as subscriber_alert, optionally quarantining the source.
struct DetectorSpec {
  std::string name;
  SourcePos pos;  // the name value (or the [[detector]] header)
  std::string description;
  SubStat stat = SubStat::kCount;
  uint32_t threshold = 0;  // fires when the window's count exceeds it
  uint32_t window_s = 0;
  std::string window_text;
  SourcePos window_pos;
  bool quarantine = false;  // action = "quarantine" (else "alert")
  uint64_t quarantine_s = 0;
  std::string quarantine_text;
  bool shadow = false;  // mode = "shadow": reports only, never quarantines
};

inline constexpr std::string_view kQuarantineSet = "quarantine";

inline constexpr unsigned kInsideSet = 0;

struct PolicySpec {
  std::string file;
  std::string name;
  std::string description;
  bool shadow = false;  // [policy] mode = "shadow": evaluate and count, enforce nothing
  Action default_action = Action::kAllow;
  // [policy] fragments: TCP IP fragments "reassemble", "drop" or "pass"; empty: as the
  // command line says (--fragments, default reassemble).
  std::string fragments;
  // [policy] state_exhaustion: "refuse" (default: a new session with no line state left is
  // reset) or "pass" (forwarded, its session rules not applied, counted in pool.exhausted).
  bool exhaustion_pass = false;
  // Destination ports per PortClass (index by the enum; kNone unused). Defaults: relay 25,
  // submission 587 and 2525, implicit TLS 465.
  std::array<std::vector<uint16_t>, 4> class_ports;
  // Where each port of class_ports was written (empty for a class left at its defaults).
  std::array<std::vector<SourcePos>, 4> class_port_pos;
  std::vector<SetSpec> sets;  // sets[kInsideSet] is `inside`
  std::vector<RuleSpec> rules;
  uint8_t subscriber_v6_prefix = kDefaultSubscriberV6Prefix;  // [subscribers] v6_prefix
  std::vector<DetectorSpec> detectors;
};

// The largest policy file read: about 800,000 prefixes or JA3 hashes one per line. A policy is a
// regular file; directories, devices and pipes are refused before a byte is read (docs/policy.md,
// "Limits").
inline constexpr size_t kMaxPolicyBytes = size_t{16} << 20;

// The bytes of a regular file of at most `limit` bytes, or false with a one-line reason
// ("cannot read <what>: ...", "not a regular file: a directory", "... larger than the limit").
// Directories, devices and pipes are refused before a byte is read. The config file uses it too.
bool readBoundedFile(const std::string& path, size_t limit, const char* what, std::string& out,
                     std::string& why);

// The candidate close enough to `word` to be what was meant (a typo), or "".
std::string closestWord(std::string_view word, const std::vector<std::string>& candidates);

// Reads and checks a policy file. Always returns the best spec it could build; the file is
// usable only when `diags` has no errors. Never throws: toml11's exceptions stop here.
PolicySpec loadPolicyFile(const std::string& path, Diagnostics& diags);
// The same over text in memory; `name` stands in for the file name in positions.
PolicySpec loadPolicyText(std::string_view text, const std::string& name, Diagnostics& diags);

// Days since 1970-01-01 for a proleptic Gregorian date (month and day 1-based).
int64_t unixDays(int year, unsigned month, unsigned day);
// "2026-06-30" at midnight UTC, "2026-06-30T12:00:00Z" otherwise.
std::string formatUnixTime(int64_t unix_s);

}  // namespace smtpguard
