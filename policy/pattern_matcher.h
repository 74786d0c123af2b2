#pragma once
// One Hyperscan block-mode database for every EHLO / MAIL FROM domain / SNI pattern of a
// policy, and its per-lcore scratch. Ownership follows lifetime: the database belongs to the
// policy snapshot (control plane), a scratch to one lcore; both are RAII owners and nothing
// outside this file calls hs_free_*.
//
// Patterns of one field are grouped: a group is one rule's pattern list for that field, and a
// scan returns the bitmask of groups with at least one matching pattern. The fast path scans a
// field once, when the SMTP or TLS engine observes it, and keeps the mask with the session.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct hs_database;
struct hs_scratch;

namespace smtpguard {

enum class PatternField : uint8_t {
  kEhlo,            // the EHLO/HELO argument
  kMailFromDomain,  // the domain of the MAIL FROM reverse-path (empty for the null sender)
  kSni,             // the ClientHello server_name
};
inline constexpr size_t kPatternFieldCount = 3;
inline constexpr size_t kMaxPatternGroups = 64;  // per field: the mask is one uint64_t

const char* patternFieldName(PatternField f);

struct PatternInput {
  std::string expression;  // Hyperscan (PCRE subset) syntax; literals arrive escaped
  PatternField field = PatternField::kEhlo;
  uint8_t group = 0;  // < kMaxPatternGroups
};

struct PatternCompileError {
  size_t input = 0;  // index into the inputs, or kGlobal when no single pattern is at fault
  std::string message;
  static constexpr size_t kGlobal = ~size_t{0};
};

// Hyperscan syntax for a literal that must equal the whole field, case-insensitively. A leading
// "*." matches any name below the domain ("*.example.com" matches "mx.example.com" only).
std::string literalPatternExpression(std::string_view literal);

class PatternScratch;

class PatternDatabase {
 public:
  PatternDatabase();  // empty: every scan returns 0
  ~PatternDatabase();
  PatternDatabase(PatternDatabase&&) noexcept;
  PatternDatabase& operator=(PatternDatabase&&) noexcept;

  // Compiles every valid input into one database; invalid ones are left out and each is
  // reported in `errors` (all of them, not only the first Hyperscan complains about).
  static PatternDatabase compile(std::span<const PatternInput> inputs,
                                 std::vector<PatternCompileError>& errors);

  bool empty() const { return patternCount() == 0; }
  size_t patternCount() const;
  size_t databaseBytes() const;

  // One scratch per lcore, made on the control plane before the snapshot is published.
  PatternScratch makeScratch() const;

  // Bitmask of the field's groups matching `value`. No heap, no exceptions. A scratch made for
  // another database, or a Hyperscan error, yields 0 (patterns then do not match).
  uint64_t scan(PatternField field, std::string_view value, PatternScratch& scratch) const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class PatternScratch {
 public:
  PatternScratch();
  ~PatternScratch();
  PatternScratch(PatternScratch&&) noexcept;
  PatternScratch& operator=(PatternScratch&&) noexcept;

 private:
  friend class PatternDatabase;
  struct Deleter {
    void operator()(hs_scratch* s) const noexcept;
  };
  std::unique_ptr<hs_scratch, Deleter> scratch_;
  uint64_t database_id_ = 0;
};

}  // namespace smtpguard
