// Random TOML must never crash the policy loader and compiler: errors only.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "policy/policy_compiler.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  smtpguard::Diagnostics diags;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto snap = smtpguard::compilePolicyText(text, "fuzz.toml", diags, {.now_unix_s = 1800000000});
  // Either a snapshot or at least one error, never both, never neither.
  if ((snap != nullptr) == diags.hasErrors()) __builtin_trap();
  for (const auto& d : diags.items()) (void)smtpguard::formatDiagnostic(d);
  return 0;
}
