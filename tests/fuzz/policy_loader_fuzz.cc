// Random TOML must never crash the policy loader and compiler: errors only. And the text the
// loader hands toml11 (policy_text.h: lists read ahead, arrays broken after commas) must mean
// exactly what the original means: toml11 accepts both or neither, with the same values.
#include <toml.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy_compiler.h"
#include "policy/policy_text.h"

namespace {

using Value = toml::basic_value<toml::discard_comments, std::map, std::vector>;

bool parse(const std::string& text, Value& out) {
  try {
    std::istringstream in(text);
    out = toml::parse<toml::discard_comments, std::map, std::vector>(in, "fuzz.toml");
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

// `prepared` (from the prepared text) means what `original` means; an empty array there may
// stand for a list PolicyText read.
bool same(const smtpguard::PolicyText& text, const Value& original, const Value& prepared) {
  if (original.is_array() && prepared.is_array()) {
    const auto* r = dynamic_cast<const toml::detail::region*>(toml::detail::get_region(prepared));
    const auto* list = r != nullptr && prepared.as_array().empty()
                           ? text.listAt(static_cast<size_t>(r->first() - r->begin()))
                           : nullptr;
    const auto& a = original.as_array();
    if (list != nullptr) {
      if (a.size() != list->size()) return false;
      for (size_t i = 0; i < a.size(); ++i)
        if (!a[i].is_string() || a[i].as_string().str != text.text((*list)[i])) return false;
      return true;
    }
    const auto& b = prepared.as_array();
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!same(text, a[i], b[i])) return false;
    return true;
  }
  if (original.is_table() && prepared.is_table()) {
    const auto& a = original.as_table();
    const auto& b = prepared.as_table();
    if (a.size() != b.size()) return false;
    for (const auto& [k, v] : a) {
      auto it = b.find(k);
      if (it == b.end() || !same(text, v, it->second)) return false;
    }
    return true;
  }
  return original == prepared;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  smtpguard::Diagnostics diags;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto snap = smtpguard::compilePolicyText(text, "fuzz.toml", diags, {.now_unix_s = 1800000000});
  // Either a snapshot or at least one error, never both, never neither.
  if ((snap != nullptr) == diags.hasErrors()) __builtin_trap();
  for (const auto& d : diags.items()) (void)smtpguard::formatDiagnostic(d);

  smtpguard::PolicyText prepared(text, "fuzz.toml");
  smtpguard::Diagnostics prepare_diags;
  if (!prepared.prepare(prepare_diags)) return 0;  // refused before toml11: nothing to compare
  Value a, b;
  const bool a_ok = parse(std::string(text), a);
  const bool b_ok = parse(prepared.prepared(), b);
  if (a_ok != b_ok) __builtin_trap();
  if (a_ok && !same(prepared, a, b)) __builtin_trap();
  return 0;
}
