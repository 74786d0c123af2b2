#include "policy/pattern_matcher.h"

#include <hs.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <utility>

namespace smtpguard {

namespace {

// Names are case-insensitive (RFC 5321 §2.4, RFC 4343); one report per pattern is enough.
constexpr unsigned kPatternFlags = HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH;

std::atomic<uint64_t> g_next_database_id{1};

struct DatabaseDeleter {
  void operator()(hs_database_t* d) const noexcept { hs_free_database(d); }
};

struct CompileErrorDeleter {
  void operator()(hs_compile_error_t* e) const noexcept { hs_free_compile_error(e); }
};
using CompileErrorPtr = std::unique_ptr<hs_compile_error_t, CompileErrorDeleter>;

struct ExprInfoDeleter {
  // hs_expression_info allocates with the misc allocator, which defaults to malloc.
  void operator()(hs_expr_info_t* i) const noexcept { std::free(i); }
};

}  // namespace

const char* patternFieldName(PatternField f) {
  switch (f) {
    case PatternField::kEhlo:
      return "ehlo";
    case PatternField::kMailFromDomain:
      return "mail_from_domain";
    case PatternField::kSni:
      return "sni";
  }
  return "?";
}

std::string literalPatternExpression(std::string_view literal) {
  std::string out = "^";
  if (literal.size() > 2 && literal.substr(0, 2) == "*.") {
    out += "(?:[^.]+\\.)+";
    literal.remove_prefix(2);
  }
  for (char c : literal) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      out += c;
    } else {
      char hex[5];
      std::snprintf(hex, sizeof(hex), "\\x%02x", static_cast<unsigned char>(c));
      out += hex;
    }
  }
  out += "\\z";
  return out;
}

struct PatternDatabase::Impl {
  struct Ref {
    PatternField field;
    uint8_t group;
  };
  std::unique_ptr<hs_database_t, DatabaseDeleter> db;
  std::unique_ptr<hs_scratch, PatternScratch::Deleter> prototype;  // cloned per lcore
  std::vector<Ref> refs;                                           // Hyperscan id -> group
  uint64_t id = 0;
};

void PatternScratch::Deleter::operator()(hs_scratch* s) const noexcept {
  hs_free_scratch(s);
}

PatternScratch::PatternScratch() = default;
PatternScratch::~PatternScratch() = default;
PatternScratch::PatternScratch(PatternScratch&&) noexcept = default;
PatternScratch& PatternScratch::operator=(PatternScratch&&) noexcept = default;

PatternDatabase::PatternDatabase() : impl_(std::make_unique<Impl>()) {}
PatternDatabase::~PatternDatabase() = default;
PatternDatabase::PatternDatabase(PatternDatabase&&) noexcept = default;
PatternDatabase& PatternDatabase::operator=(PatternDatabase&&) noexcept = default;

size_t PatternDatabase::patternCount() const {
  return impl_ ? impl_->refs.size() : 0;
}

size_t PatternDatabase::databaseBytes() const {
  size_t n = 0;
  if (impl_ && impl_->db) hs_database_size(impl_->db.get(), &n);
  return n;
}

PatternDatabase PatternDatabase::compile(std::span<const PatternInput> inputs,
                                         std::vector<PatternCompileError>& errors) {
  PatternDatabase out;
  // First pass: syntax, per pattern, so every bad expression is reported, not only the first.
  std::vector<size_t> live;
  for (size_t i = 0; i < inputs.size(); ++i) {
    hs_expr_info_t* info_raw = nullptr;
    hs_compile_error_t* err_raw = nullptr;
    hs_error_t rc =
        hs_expression_info(inputs[i].expression.c_str(), kPatternFlags, &info_raw, &err_raw);
    std::unique_ptr<hs_expr_info_t, ExprInfoDeleter> info(info_raw);
    CompileErrorPtr err(err_raw);
    if (rc != HS_SUCCESS) {
      errors.push_back({i, err ? err->message : "invalid expression"});
      continue;
    }
    live.push_back(i);
  }
  // Second pass: the whole set. Some errors (a pattern matching the empty string, resource
  // limits) only show at compile time; drop the culprit, report it, try again.
  while (!live.empty()) {
    std::vector<const char*> exprs;
    std::vector<unsigned> flags(live.size(), kPatternFlags);
    std::vector<unsigned> ids;
    for (size_t k = 0; k < live.size(); ++k) {
      exprs.push_back(inputs[live[k]].expression.c_str());
      ids.push_back(static_cast<unsigned>(k));
    }
    hs_database_t* db_raw = nullptr;
    hs_compile_error_t* err_raw = nullptr;
    hs_error_t rc =
        hs_compile_multi(exprs.data(), flags.data(), ids.data(), static_cast<unsigned>(live.size()),
                         HS_MODE_BLOCK, nullptr, &db_raw, &err_raw);
    CompileErrorPtr err(err_raw);
    if (rc == HS_SUCCESS) {
      out.impl_->db.reset(db_raw);
      for (size_t idx : live) out.impl_->refs.push_back({inputs[idx].field, inputs[idx].group});
      break;
    }
    std::string message = err ? err->message : "pattern compilation failed";
    if (!err || err->expression < 0 || static_cast<size_t>(err->expression) >= live.size()) {
      errors.push_back({PatternCompileError::kGlobal, message});
      return PatternDatabase();
    }
    errors.push_back({live[static_cast<size_t>(err->expression)], message});
    live.erase(live.begin() + err->expression);
  }
  if (out.impl_->db) {
    hs_scratch_t* s = nullptr;
    if (hs_alloc_scratch(out.impl_->db.get(), &s) != HS_SUCCESS) {
      errors.push_back({PatternCompileError::kGlobal, "cannot allocate Hyperscan scratch"});
      return PatternDatabase();
    }
    out.impl_->prototype.reset(s);
  }
  out.impl_->id = g_next_database_id.fetch_add(1, std::memory_order_relaxed);
  return out;
}

PatternScratch PatternDatabase::makeScratch() const {
  PatternScratch s;
  if (!impl_) return s;
  s.database_id_ = impl_->id;
  if (impl_->prototype) {
    hs_scratch_t* clone = nullptr;
    if (hs_clone_scratch(impl_->prototype.get(), &clone) != HS_SUCCESS) throw std::bad_alloc();
    s.scratch_.reset(clone);
  }
  return s;
}

uint64_t PatternDatabase::scan(PatternField field, std::string_view value,
                               PatternScratch& scratch) const noexcept {
  if (!impl_ || !impl_->db || !scratch.scratch_ || scratch.database_id_ != impl_->id ||
      value.size() > 0xffffffffu)
    return 0;
  struct Ctx {
    const Impl* impl;
    PatternField field;
    uint64_t mask;
  } ctx{impl_.get(), field, 0};
  auto onMatch = [](unsigned id, unsigned long long, unsigned long long, unsigned, void* p) -> int {
    auto* c = static_cast<Ctx*>(p);
    if (id < c->impl->refs.size()) {
      const auto& ref = c->impl->refs[id];
      if (ref.field == c->field) c->mask |= uint64_t{1} << ref.group;
    }
    return 0;
  };
  if (hs_scan(impl_->db.get(), value.data(), static_cast<unsigned>(value.size()), 0,
              scratch.scratch_.get(), onMatch, &ctx) != HS_SUCCESS)
    return 0;
  return ctx.mask;
}

}  // namespace smtpguard
