#include "policy/policy_loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <toml.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <sstream>
#include <tuple>
#include <utility>

#include "policy/policy_text.h"

namespace smtpguard {

// ---------------------------------------------------------------------------------------------
// Diagnostics

void Diagnostics::error(SourcePos pos, std::string message, std::string expected,
                        std::string hint) {
  items_.push_back(
      {Severity::kError, std::move(pos), std::move(message), std::move(expected), std::move(hint)});
  ++errors_;
}

void Diagnostics::warning(SourcePos pos, std::string message, std::string hint) {
  items_.push_back({Severity::kWarning, std::move(pos), std::move(message), {}, std::move(hint)});
}

std::vector<Diagnostic> Diagnostics::sorted() const {
  std::vector<Diagnostic> out = items_;
  std::stable_sort(out.begin(), out.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.pos.line, a.pos.column, a.severity) <
           std::tie(b.pos.line, b.pos.column, b.severity);
  });
  return out;
}

std::string formatDiagnostic(const Diagnostic& d) {
  std::ostringstream o;
  o << d.pos.file;
  if (d.pos.line > 0) o << ':' << d.pos.line << ':' << d.pos.column;
  o << (d.severity == Severity::kError ? ": error: " : ": warning: ") << d.message << '\n';
  if (d.pos.line > 0 && !d.pos.line_text.empty()) {
    std::string num = std::to_string(d.pos.line);
    std::string pad(num.size(), ' ');
    // A window of a long line is marked "..." where it was cut.
    const bool cut_before = d.pos.excerpt_column > 1;
    o << "  " << num << " | " << (cut_before ? "..." : "") << d.pos.line_text
      << (d.pos.line_cut ? "..." : "") << '\n';
    const std::string& text = d.pos.line_text;
    size_t col = d.pos.column > d.pos.excerpt_column ? d.pos.column - d.pos.excerpt_column : 0;
    col = std::min(col, text.size());
    size_t len = std::max<size_t>(
        1, std::min<size_t>(d.pos.length, text.size() > col ? text.size() - col : 1));
    o << "  " << pad << " | " << std::string(col + (cut_before ? 3 : 0), ' ') << '^'
      << std::string(len - 1, '~') << '\n';
  }
  if (!d.expected.empty()) o << "  expected: " << d.expected << '\n';
  if (!d.hint.empty()) o << "  hint: " << d.hint << '\n';
  return o.str();
}

std::string formatDiagnostics(const Diagnostics& diags) {
  std::string out;
  for (const Diagnostic& d : diags.sorted()) out += formatDiagnostic(d);
  return out;
}

int64_t unixDays(int year, unsigned month, unsigned day) {
  // Howard Hinnant's days_from_civil.
  int y = year - (month <= 2 ? 1 : 0);
  int era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = static_cast<unsigned>(y - era * 400);
  unsigned mp = month > 2 ? month - 3 : month + 9;
  unsigned doy = (153 * mp + 2) / 5 + day - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return static_cast<int64_t>(era) * 146097 + static_cast<int64_t>(doe) - 719468;
}

std::string formatUnixTime(int64_t t) {
  int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
  int64_t secs = t - days * 86400;
  // Howard Hinnant's civil_from_days.
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t day = doy - (153 * mp + 2) / 5 + 1;
  int64_t month = mp < 10 ? mp + 3 : mp - 9;
  int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  char buf[128];
  if (secs == 0) {
    std::snprintf(buf, sizeof(buf), "%04lld-%02lld-%02lld", static_cast<long long>(year),
                  static_cast<long long>(month), static_cast<long long>(day));
  } else {
    std::snprintf(buf, sizeof(buf), "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ",
                  static_cast<long long>(year), static_cast<long long>(month),
                  static_cast<long long>(day), static_cast<long long>(secs / 3600),
                  static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60));
  }
  return buf;
}

bool RuleSpec::hasSessionConditions() const {
  if (fact_mask != 0 || anomaly_mask != 0 || !ja3.empty() || !ja4.empty()) return true;
  for (const auto& p : patterns)
    if (!p.empty()) return true;
  return false;
}

namespace {

using Value = toml::basic_value<toml::discard_comments, std::map, std::vector>;
using toml::value_t;

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::string closestWord(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = ~size_t{0};
  for (const std::string& c : candidates) {
    size_t d = editDistance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  if (best.empty() || best_d > std::max<size_t>(2, word.size() / 3)) return {};
  return best;
}

namespace {

std::string closest(std::string_view word, const std::vector<std::string>& candidates) {
  return closestWord(word, candidates);
}

// "did you mean 'action'?", or "" when nothing is close.
std::string suggest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best = closest(word, candidates);
  return best.empty() ? best : "did you mean '" + best + "'?";
}

std::string joinList(const std::vector<std::string>& v, std::string_view sep = ", ") {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += sep;
    out += v[i];
  }
  return out;
}

std::string quotedList(const std::vector<std::string>& v) {
  std::vector<std::string> q;
  for (const auto& s : v) q.push_back("\"" + s + "\"");
  return joinList(q, " | ");
}

const char* typeName(value_t t) {
  switch (t) {
    case value_t::empty:
      return "nothing";
    case value_t::boolean:
      return "a boolean";
    case value_t::integer:
      return "an integer";
    case value_t::floating:
      return "a float";
    case value_t::string:
      return "a string";
    case value_t::offset_datetime:
      return "a date-time";
    case value_t::local_datetime:
      return "a local date-time";
    case value_t::local_date:
      return "a date";
    case value_t::local_time:
      return "a time";
    case value_t::array:
      return "an array";
    case value_t::table:
      return "a table";
  }
  return "a value";
}

// A place toml11 underlined in its message, in the prepared text's lines and columns, with
// toml11's comment on it.
struct TomlMark {
  uint32_t line, column, length;
  std::string comment;
};

// toml11 reports where its parser stopped; the underlines in its message are more precise.
// With several (a key defined twice), the last is the offending one.
std::vector<TomlMark> tomlMarks(const std::string& what) {
  std::vector<TomlMark> marks;
  std::istringstream in(what);
  std::string line;
  std::string num_text;
  while (std::getline(in, line)) {
    size_t bar = line.find(" | ");
    if (bar == std::string::npos) continue;
    std::string left = line.substr(0, bar);
    left.erase(0, left.find_first_not_of(' '));
    if (!left.empty() && std::all_of(left.begin(), left.end(), isDigit)) {
      num_text = left;
      continue;
    }
    if (num_text.empty() || !left.empty()) continue;
    std::string under = line.substr(bar + 3);
    size_t c = under.find_first_of("^~");
    if (c == std::string::npos || num_text.size() > 9) continue;
    size_t end = under.find_first_not_of(under[c] == '~' ? "~" : "^-", c);
    if (end == std::string::npos) end = under.size();
    marks.push_back({static_cast<uint32_t>(std::stoul(num_text)), static_cast<uint32_t>(c + 1),
                     under[c] == '~' ? static_cast<uint32_t>(end - c) : 1u,
                     end < under.size() ? under.substr(end + 1) : std::string{}});
    num_text.clear();
  }
  return marks;
}

std::string syntaxErrorMessage(const std::string& what) {
  std::string first = what.substr(0, what.find('\n'));
  if (first.rfind("[error]", 0) == 0) first.erase(0, 7);
  first.erase(0, first.find_first_not_of(' '));
  // "toml::parse_basic_string: the next token ..." -> "the next token ..."
  if (first.rfind("toml::", 0) == 0) {
    size_t colon = first.find(": ");
    if (colon != std::string::npos) first.erase(0, colon + 2);
  }
  return first;
}

bool validName(std::string_view s, size_t max_len) {
  if (s.empty() || s.size() > max_len) return false;
  if (!std::isalnum(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

bool isHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

const std::vector<std::string> kActionNames = {"allow", "alert", "drop", "reject", "rate_limit"};
const std::vector<std::string> kClassKeys = {"relay", "submission", "implicit_tls"};

// One reader per table; each reports into the shared Diagnostics and keeps going.
class Reader {
 public:
  Reader(Diagnostics& diags, const PolicyText& text)
      : diags_(diags), text_(text), file_(text.file()) {}

  PolicySpec read(const Value& root) {
    spec_.file = file_;
    spec_.class_ports[static_cast<size_t>(PortClass::kRelay)] = {25};
    spec_.class_ports[static_cast<size_t>(PortClass::kSubmission)] = {587, 2525};
    spec_.class_ports[static_cast<size_t>(PortClass::kImplicitTls)] = {465};
    spec_.sets.push_back({"inside", {}, {}, false});

    if (!root.is_table()) {
      diags_.error(posOf(root), "a policy file is a TOML table at the top level");
      return std::move(spec_);
    }
    checkKeys(root, {"policy", "ports", "networks", "sets", "rule", "subscribers", "detector"},
              "the policy file");
    const auto& t = root.as_table();
    // Tables that others refer to first, whatever their order in the file.
    if (auto it = t.find("policy"); it != t.end()) readPolicy(it->second);
    if (auto it = t.find("ports"); it != t.end()) readPorts(it->second);
    if (auto it = t.find("networks"); it != t.end()) readNetworks(it->second);
    if (auto it = t.find("sets"); it != t.end()) readSets(it->second);
    if (auto it = t.find("rule"); it != t.end()) readRules(it->second);
    if (auto it = t.find("subscribers"); it != t.end()) readSubscribers(it->second);
    if (auto it = t.find("detector"); it != t.end()) readDetectors(it->second);
    return std::move(spec_);
  }

 private:
  // -- positions ---------------------------------------------------------------------------

  // One element of a list: a value toml11 parsed, or a string PolicyText read itself.
  struct Elem {
    std::string_view text;  // strings only
    const Value* value;     // nullptr: read by PolicyText, at offset/length
    size_t offset = 0;
    size_t length = 0;
  };

  // Where toml11 put `v`, in the prepared text; false for values without a place (the root).
  static bool preparedRange(const Value& v, size_t& offset, size_t& length) {
    const auto* r = dynamic_cast<const toml::detail::region*>(toml::detail::get_region(v));
    if (r == nullptr) return false;
    offset = static_cast<size_t>(r->first() - r->begin());
    length = r->size();
    return true;
  }

  // Original offset and length of `v`.
  bool range(const Value& v, size_t& offset, size_t& length) const {
    size_t p, n;
    if (!preparedRange(v, p, n)) return false;
    offset = text_.originalOffset(p);
    size_t end = n > 0 ? text_.originalOffset(p + n - 1) + 1 : offset;
    length = end > offset ? end - offset : 1;
    return true;
  }

  SourcePos posOf(const Value& v) const {
    size_t offset, length;
    if (!range(v, offset, length)) return text_.filePos();
    return text_.pos(offset, length);
  }

  SourcePos posOf(const Elem& e) const {
    return e.value != nullptr ? posOf(*e.value) : text_.pos(e.offset, e.length);
  }

  // toml11 locates values, not keys; an unknown key is best shown at the key itself: the last
  // occurrence before its value on the value's line, else the first after (a [table] header).
  SourcePos keyPos(const Value& v, std::string_view key) const {
    size_t offset, length;
    if (!range(v, offset, length)) return text_.filePos();
    const std::string_view t = text_.original();
    const size_t reach = key.size() + 256;  // bounded: a line may be megabytes long
    const size_t start = std::max(text_.lineStart(offset), offset > reach ? offset - reach : 0);
    size_t at = t.substr(start, offset - start).rfind(key);
    if (at != std::string_view::npos) return text_.pos(start + at, key.size());
    const size_t end = std::max(offset, std::min(text_.lineEnd(offset), offset + reach));
    at = t.substr(offset, end - offset).find(key);
    if (at != std::string_view::npos) return text_.pos(offset + at, key.size());
    return text_.pos(offset, length);
  }

  // The elements of an array: PolicyText's list in place of an empty array, or toml11's values.
  std::vector<Elem> elements(const Value& v) const {
    std::vector<Elem> out;
    size_t p, n;
    if (v.as_array().empty() && preparedRange(v, p, n)) {
      if (const auto* items = text_.listAt(p)) {
        out.reserve(items->size());
        for (const PolicyText::ListItem& item : *items)
          out.push_back({text_.text(item), nullptr, item.offset, item.length});
        return out;
      }
    }
    out.reserve(v.as_array().size());
    for (const Value& e : v.as_array()) {
      Elem elem{{}, &e};
      if (e.is_string()) elem.text = e.as_string().str;
      out.push_back(elem);
    }
    return out;
  }

  static value_t typeOf(const Elem& e) {
    return e.value != nullptr ? e.value->type() : value_t::string;
  }

  // -- generic checks ---------------------------------------------------------------------

  // Returns the keys suggested as corrections, so a missing-key error does not repeat a typo.
  std::vector<std::string> checkKeys(const Value& table, std::vector<std::string> allowed,
                                     const std::string& where) {
    std::vector<std::string> suggested;
    for (const auto& [key, value] : table.as_table()) {
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
      std::string meant = closest(key, allowed);
      if (!meant.empty()) suggested.push_back(meant);
      std::string hint = meant.empty() ? "" : "did you mean '" + meant + "'?";
      if (hint.empty()) hint = "remove it; docs/policy.md lists every key";
      diags_.error(keyPos(value, key), "unknown key '" + key + "' in " + where,
                   "one of " + joinList(allowed), hint);
    }
    return suggested;
  }

  void typeError(SourcePos pos, value_t type, const std::string& key, const std::string& want,
                 const std::string& example, std::string hint = {}) {
    if (hint.empty() && type == value_t::string && want.find("integer") != std::string::npos)
      hint = "remove the quotes";
    diags_.error(std::move(pos), "'" + key + "' must be " + want + ", not " + typeName(type),
                 example, std::move(hint));
  }
  void typeError(const Value& v, const std::string& key, const std::string& want,
                 const std::string& example, std::string hint = {}) {
    typeError(posOf(v), v.type(), key, want, example, std::move(hint));
  }
  void typeError(const Elem& e, const std::string& key, const std::string& want,
                 const std::string& example, std::string hint = {}) {
    typeError(posOf(e), typeOf(e), key, want, example, std::move(hint));
  }

  std::optional<std::string> getString(const Value& v, const std::string& key,
                                       const std::string& example) {
    if (!v.is_string()) {
      typeError(v, key, "a string", example);
      return std::nullopt;
    }
    return v.as_string().str;
  }

  std::optional<bool> getBool(const Value& v, const std::string& key) {
    if (!v.is_boolean()) {
      std::string hint;
      if (v.is_string() && (v.as_string().str == "true" || v.as_string().str == "false"))
        hint = "remove the quotes";
      typeError(v, key, "a boolean", key + " = true", hint);
      return std::nullopt;
    }
    return v.as_boolean();
  }

  // A string or an array of strings: both spellings are accepted for lists.
  std::vector<Elem> getStringList(const Value& v, const std::string& key,
                                  const std::string& example) {
    std::vector<Elem> out;
    if (v.is_string()) {
      out.push_back({v.as_string().str, &v});
      return out;
    }
    if (!v.is_array()) {
      typeError(v, key, "an array of strings", example);
      return out;
    }
    out = elements(v);
    std::erase_if(out, [&](const Elem& e) {
      if (typeOf(e) == value_t::string) return false;
      typeError(e, key, "an array of strings", example);
      return true;
    });
    return out;
  }

  std::optional<std::string> getEnum(const Value& v, const std::string& key,
                                     const std::vector<std::string>& choices) {
    auto s = getString(v, key, key + " = " + quotedList(choices));
    if (!s) return std::nullopt;
    if (std::find(choices.begin(), choices.end(), *s) == choices.end()) {
      std::string hint = suggest(*s, choices);
      diags_.error(posOf(v), "'" + *s + "' is not a valid " + key, "one of " + quotedList(choices),
                   hint);
      return std::nullopt;
    }
    return s;
  }

  std::optional<uint16_t> getPort(const Value& v, const std::string& key) {
    if (!v.is_integer()) {
      typeError(v, key, "an integer port number", key + " = [25, 587]");
      return std::nullopt;
    }
    auto n = v.as_integer();
    if (n < 1 || n > 65535) {
      diags_.error(posOf(v), "port " + std::to_string(n) + " is out of range", "1 to 65535");
      return std::nullopt;
    }
    return static_cast<uint16_t>(n);
  }

  std::vector<std::pair<uint16_t, const Value*>> getPortList(const Value& v,
                                                             const std::string& key) {
    std::vector<std::pair<uint16_t, const Value*>> out;
    if (v.is_integer()) {
      if (auto p = getPort(v, key)) out.emplace_back(*p, &v);
      return out;
    }
    if (!v.is_array()) {
      typeError(v, key, "an array of integer ports", key + " = [587, 2525]");
      return out;
    }
    for (const Elem& e : elements(v)) {
      if (e.value == nullptr) {
        typeError(e, key, "an integer port number", key + " = [25, 587]");
      } else if (auto p = getPort(*e.value, key)) {
        out.emplace_back(*p, e.value);
      }
    }
    return out;
  }

  std::optional<Prefix> getPrefix(const Elem& e, const std::string& key) {
    if (typeOf(e) != value_t::string) {
      typeError(e, key, "an array of prefix strings",
                key + " = [\"198.18.0.0/15\", \"2001:db8::/32\"]");
      return std::nullopt;
    }
    std::string why;
    std::optional<Prefix> meant;
    auto p = parsePrefix(e.text, &why, &meant);
    if (!p) {
      diags_.error(posOf(e), "bad prefix '" + std::string(e.text) + "': " + why,
                   "an IPv4 or IPv6 prefix such as \"100.64.0.0/10\" or \"2001:db8::/32\"",
                   meant ? "did you mean \"" + formatPrefix(*meant) + "\"?" : std::string{});
    }
    return p;
  }

  // -- [policy] ----------------------------------------------------------------------------

  void readPolicy(const Value& v) {
    if (!v.is_table()) {
      typeError(v, "policy", "a table", "[policy]\nname = \"isp-port25\"");
      return;
    }
    checkKeys(v, {"name", "description", "mode", "default", "fragments", "state_exhaustion"},
              "[policy]");
    for (const auto& [key, value] : v.as_table()) {
      if (key == "name") {
        if (auto s = getString(value, key, "name = \"isp-port25\"")) spec_.name = *s;
      } else if (key == "description") {
        if (auto s = getString(value, key, "description = \"...\"")) spec_.description = *s;
      } else if (key == "mode") {
        if (auto s = getEnum(value, key, {"enforce", "shadow"})) spec_.shadow = *s == "shadow";
      } else if (key == "default") {
        if (auto s = getEnum(value, key, {"allow", "alert", "drop", "reject"}))
          spec_.default_action = actionFromName(*s);
      } else if (key == "fragments") {
        if (auto s = getEnum(value, key, {"reassemble", "drop", "pass"})) spec_.fragments = *s;
      } else if (key == "state_exhaustion") {
        if (auto s = getEnum(value, key, {"refuse", "pass"})) spec_.exhaustion_pass = *s == "pass";
      }
    }
  }

  static Action actionFromName(std::string_view s) {
    for (size_t i = 0; i < kActionNames.size(); ++i)
      if (kActionNames[i] == s) return static_cast<Action>(i);
    return Action::kAllow;
  }

  // -- [ports] -----------------------------------------------------------------------------

  void readPorts(const Value& v) {
    if (!v.is_table()) {
      typeError(v, "ports", "a table", "[ports]\nrelay = [25]");
      return;
    }
    checkKeys(v, kClassKeys, "[ports]");
    std::map<uint16_t, std::string> owner;
    // Classes not named keep their defaults; collect those first so a clash is reported at the
    // value the operator wrote.
    const auto& t = v.as_table();
    for (size_t c = 0; c < kClassKeys.size(); ++c)
      if (!t.count(kClassKeys[c]))
        for (uint16_t p : spec_.class_ports[c + 1]) owner[p] = kClassKeys[c] + " (default)";
    for (size_t c = 0; c < kClassKeys.size(); ++c) {
      auto it = t.find(kClassKeys[c]);
      if (it == t.end()) continue;
      std::vector<uint16_t> ports;
      std::vector<SourcePos> positions;
      std::vector<bool> listed(65536);
      for (auto [port, where] : getPortList(it->second, kClassKeys[c])) {
        auto [o, fresh] = owner.emplace(port, kClassKeys[c]);
        if (!fresh && o->second != kClassKeys[c]) {
          diags_.error(posOf(*where),
                       "port " + std::to_string(port) + " is already in class " + o->second,
                       "each port in one class", "remove it from one of the two lists");
          continue;
        }
        if (listed[port]) continue;
        listed[port] = true;
        ports.push_back(port);
        positions.push_back(posOf(*where));
      }
      spec_.class_ports[c + 1] = std::move(ports);
      spec_.class_port_pos[c + 1] = std::move(positions);
    }
  }

  bool isSmtpPort(uint16_t port) {
    if (smtp_ports_.empty()) {
      smtp_ports_.resize(65536);
      for (size_t c = 1; c < spec_.class_ports.size(); ++c)
        for (uint16_t p : spec_.class_ports[c]) smtp_ports_[p] = true;
    }
    return smtp_ports_[port];
  }

  // -- [networks] and [sets] ---------------------------------------------------------------

  void readNetworks(const Value& v) {
    if (!v.is_table()) {
      typeError(v, "networks", "a table", "[networks]\ninside = [\"100.64.0.0/10\"]");
      return;
    }
    checkKeys(v, {"inside"}, "[networks]");
    const auto& t = v.as_table();
    auto it = t.find("inside");
    if (it == t.end()) return;
    SetSpec& inside = spec_.sets[kInsideSet];
    inside.defined = true;
    inside.pos = keyPos(it->second, "inside");
    readPrefixList(it->second, "inside", inside);
  }

  void readPrefixList(const Value& v, const std::string& key, SetSpec& set) {
    if (!v.is_array()) {
      typeError(v, key, "an array of prefix strings", key + " = [\"198.18.0.0/15\"]");
      return;
    }
    std::vector<Elem> elems = elements(v);
    set.prefixes.reserve(set.prefixes.size() + elems.size());
    // An IPv6 spelling inside ::ffff:0:0/96 is the IPv4 prefix it maps (docs/policy.md): say
    // so once per set, at the first one.
    size_t mapped = 0;
    const Elem* first_mapped = nullptr;
    for (const Elem& e : elems) {
      auto p = getPrefix(e, key);
      if (!p) continue;
      set.prefixes.push_back(*p);
      if (p->isV4() && e.text.find(':') != std::string_view::npos && mapped++ == 0)
        first_mapped = &e;
    }
    if (first_mapped != nullptr) {
      const std::string v4 = formatPrefix(*parsePrefix(first_mapped->text));
      diags_.warning(posOf(*first_mapped),
                     "'" + std::string(first_mapped->text) +
                         "' is an IPv4-mapped prefix: it is the IPv4 prefix " + v4 +
                         " and matches IPv4 addresses" +
                         (mapped > 1 ? " (" + std::to_string(mapped) + " such prefixes in set '" +
                                           set.name + "')"
                                     : ""),
                     "write it as \"" + v4 + "\"");
    }
  }

  void readSets(const Value& v) {
    if (!v.is_table()) {
      typeError(v, "sets", "a table of named prefix lists", "[sets]\nmtas = [\"100.64.12.25\"]");
      return;
    }
    for (const auto& [name, value] : v.as_table()) {
      SourcePos pos = keyPos(value, name);
      if (name == "inside") {
        diags_.error(pos, "'inside' cannot be redefined in [sets]",
                     "a set name other than 'inside'",
                     "list the subscriber prefixes under [networks] inside = [...]");
        continue;
      }
      if (name == kQuarantineSet) {
        diags_.error(pos, "'quarantine' cannot be defined in [sets]",
                     "a set name other than 'inside' and 'quarantine'",
                     "'quarantine' is the dynamic set filled by [[detector]] and smtpguardctl "
                     "quarantine add; name it in rules without defining it");
        continue;
      }
      if (!validName(name, 64) || name.find('.') != std::string::npos) {
        diags_.error(pos, "bad set name '" + name + "'",
                     "letters, digits, '_' and '-', starting with a letter or digit");
        continue;
      }
      if (spec_.sets.size() >= kMaxPrefixSets) {
        diags_.error(pos, "too many prefix sets",
                     "at most " + std::to_string(kMaxPrefixSets) + " including 'inside'",
                     "merge sets that are always used together");
        continue;
      }
      SetSpec set{name, pos, {}, true};
      readPrefixList(value, name, set);
      spec_.sets.push_back(std::move(set));
    }
  }

  // -- [[rule]] ----------------------------------------------------------------------------

  void readRules(const Value& v) {
    if (!v.is_array() || (v.as_array().empty() && !elements(v).empty()) ||
        !std::all_of(v.as_array().begin(), v.as_array().end(),
                     [](const Value& e) { return e.is_table(); })) {
      diags_.error(posOf(v),
                   "'rule' must be an array of tables, not " +
                       std::string(v.is_array() ? "an array of other values" : typeName(v.type())),
                   "[[rule]] headers, one per rule",
                   "write each rule as [[rule]] followed by its keys");
      return;
    }
    std::map<std::string, SourcePos> names;
    for (const Value& r : v.as_array()) {
      RuleSpec rule = readRule(r);
      if (!rule.name.empty()) {
        auto [it, fresh] = names.emplace(rule.name, rule.pos);
        if (!fresh) {
          diags_.error(rule.pos, "duplicate rule name '" + rule.name + "'",
                       "a unique name per rule (it names the counters policy.rule.<name>)",
                       "the first is at line " + std::to_string(it->second.line) + "; rename one");
          rule.broken = true;
        }
      }
      spec_.rules.push_back(std::move(rule));
    }
  }

  RuleSpec readRule(const Value& r) {
    static const std::vector<std::string> kRuleKeys = [] {
      std::vector<std::string> k = {"name",
                                    "description",
                                    "mode",
                                    "action",
                                    "reject_with",
                                    "rate",
                                    "burst",
                                    "per",
                                    "per_v6",
                                    "expires",
                                    "ticket",
                                    "src",
                                    "dst",
                                    "ports",
                                    "port_class",
                                    "anomaly",
                                    "ehlo",
                                    "ehlo_regex",
                                    "mail_from_domain",
                                    "mail_from_domain_regex",
                                    "sni",
                                    "sni_regex",
                                    "ja3",
                                    "ja4"};
      for (auto f : kFactNames) k.emplace_back(f);
      return k;
    }();
    RuleSpec rule;
    rule.pos = posOf(r);
    const auto& t = r.as_table();
    size_t errors_before = diags_.errorCount();

    if (auto it = t.find("name"); it != t.end()) {
      if (auto s = getString(it->second, "name", "name = \"block-relay-inside\"")) {
        rule.pos = posOf(it->second);
        if (validName(*s, 64)) {
          rule.name = *s;
        } else {
          diags_.error(rule.pos, "bad rule name '" + *s + "'",
                       "1 to 64 letters, digits, '_', '-' or '.', starting with a letter or digit",
                       "the name becomes the counter policy.rule.<name>");
        }
      }
    } else {
      diags_.error(rule.pos, "rule #" + std::to_string(spec_.rules.size() + 1) + " has no name",
                   "name = \"...\"", "every rule needs a unique name for its counters");
    }
    std::string where = rule.name.empty() ? "rule #" + std::to_string(spec_.rules.size() + 1)
                                          : "rule '" + rule.name + "'";
    std::vector<std::string> misspelled = checkKeys(r, kRuleKeys, where);

    const Value* action_v = nullptr;
    const Value* reject_with_v = nullptr;
    std::vector<const Value*> rate_keys;
    for (const auto& [key, value] : t) {
      if (key == "description") {
        if (auto s = getString(value, key, "description = \"...\"")) rule.description = *s;
      } else if (key == "mode") {
        if (auto s = getEnum(value, key, {"enforce", "shadow"})) rule.shadow = *s == "shadow";
      } else if (key == "action") {
        action_v = &value;
        if (auto s = getEnum(value, key, kActionNames)) rule.action = actionFromName(*s);
      } else if (key == "reject_with") {
        reject_with_v = &value;
        if (auto s = getEnum(value, key, {"tcp_rst", "icmp"}))
          rule.reject_with = *s == "icmp" ? RejectWith::kIcmp : RejectWith::kTcpReset;
      } else if (key == "rate" || key == "burst" || key == "per" || key == "per_v6") {
        rate_keys.push_back(&value);
      } else if (key == "expires") {
        readExpires(value, rule);
      } else if (key == "ticket") {
        if (auto s = getString(value, key, "ticket = \"NOC-4812\"")) rule.ticket = *s;
      } else if (key == "src" || key == "dst") {
        readSetRefs(value, key, where, key == "src" ? rule.src_sets : rule.dst_sets);
      } else if (key == "ports") {
        for (auto [port, e] : getPortList(value, key)) {
          if (!isSmtpPort(port)) {
            diags_.error(posOf(*e), "port " + std::to_string(port) + " is not an SMTP port",
                         "a port listed in [ports] (relay, submission, implicit_tls)",
                         "add it to a class under [ports]; other ports pass without policy");
            continue;
          }
          rule.ports.push_back(port);
        }
      } else if (key == "port_class") {
        for (const Elem& e : getStringList(value, key, "port_class = [\"relay\"]")) {
          const std::string name(e.text);
          auto c = std::find(kClassKeys.begin(), kClassKeys.end(), name);
          if (c == kClassKeys.end()) {
            diags_.error(posOf(e), "unknown port class '" + name + "'",
                         "one of " + quotedList(kClassKeys), suggest(name, kClassKeys));
            continue;
          }
          rule.port_classes |= static_cast<uint8_t>(1u << (c - kClassKeys.begin() + 1));
        }
      } else if (key == "anomaly") {
        std::vector<std::string> names(std::begin(kAnomalyNames), std::end(kAnomalyNames));
        for (const Elem& e : getStringList(value, key, "anomaly = [\"starttls_injection\"]")) {
          const std::string name(e.text);
          auto a = std::find(names.begin(), names.end(), name);
          if (a == names.end()) {
            std::string hint = suggest(name, names);
            diags_.error(posOf(e), "unknown anomaly '" + name + "'", "one of " + joinList(names),
                         hint);
            continue;
          }
          rule.anomaly_mask |= uint64_t{1} << (a - names.begin());
        }
      } else if (key == "ehlo" || key == "ehlo_regex") {
        readPatterns(value, key, rule.patterns[static_cast<size_t>(PatternField::kEhlo)]);
      } else if (key == "mail_from_domain" || key == "mail_from_domain_regex") {
        readPatterns(value, key, rule.patterns[static_cast<size_t>(PatternField::kMailFromDomain)]);
      } else if (key == "sni" || key == "sni_regex") {
        readPatterns(value, key, rule.patterns[static_cast<size_t>(PatternField::kSni)]);
      } else if (key == "ja3" || key == "ja4") {
        readFingerprints(value, key, key == "ja3" ? rule.ja3 : rule.ja4);
      } else {
        for (size_t f = 0; f < kFactCount; ++f) {
          if (key != kFactNames[f]) continue;
          if (auto b = getBool(value, key)) {
            rule.fact_mask |= 1u << f;
            if (*b) rule.fact_value |= 1u << f;
          }
        }
      }
    }

    if (!action_v &&
        std::find(misspelled.begin(), misspelled.end(), "action") == misspelled.end()) {
      diags_.error(rule.pos, where + " has no action", "action = " + quotedList(kActionNames),
                   "first match wins: say what this rule does with what it matches");
    }
    bool session = rule.hasSessionConditions();
    if (reject_with_v && rule.action != Action::kReject && action_v) {
      diags_.error(posOf(*reject_with_v), "'reject_with' applies only to action = \"reject\"",
                   "no reject_with on a " + std::string(actionName(rule.action)) + " rule",
                   "remove reject_with, or set action = \"reject\"");
    }
    if (reject_with_v && rule.action == Action::kReject && rule.reject_with == RejectWith::kIcmp &&
        session) {
      diags_.error(posOf(*reject_with_v),
                   "reject_with = \"icmp\" cannot end an established session",
                   "reject_with = \"tcp_rst\" on a session rule",
                   "ICMP administratively prohibited answers a SYN; session rules decide after "
                   "the handshake, so they reset both sides");
    }
    if (rule.action == Action::kRateLimit) {
      readRate(t, rule, where);
      if (session)
        diags_.error(
            posOf(*action_v),
            "rate_limit counts new connections, so " + where + " cannot use session conditions",
            "only src, dst, ports and port_class on a rate_limit rule",
            "split it: one rate_limit rule, and a session rule for the facts/patterns");
    } else {
      for (const Value* k : rate_keys) {
        std::string key;
        for (const auto& [name, value] : t)
          if (&value == k) key = name;
        diags_.error(keyPos(*k, key), "'" + key + "' applies only to action = \"rate_limit\"",
                     "no " + key + " on a " + std::string(actionName(rule.action)) + " rule",
                     "remove it, or set action = \"rate_limit\"");
      }
    }
    if (rule.expires_unix != 0 && rule.ticket.empty())
      diags_.warning(rule.expires_pos, where + " expires but carries no ticket",
                     "add ticket = \"...\" so the audit trail says why the exception exists");
    if (diags_.errorCount() != errors_before) rule.broken = true;
    return rule;
  }

  void readSetRefs(const Value& v, const std::string& key, const std::string& where,
                   std::vector<unsigned>& out) {
    std::vector<std::string> known;
    for (const SetSpec& s : spec_.sets)
      if (s.defined) known.push_back(s.name);
    for (const Elem& e : getStringList(v, key, key + " = [\"inside\"]")) {
      const std::string name(e.text);
      unsigned idx = 0;
      for (; idx < spec_.sets.size(); ++idx)
        if (spec_.sets[idx].name == name) break;
      if (name == kQuarantineSet && idx == spec_.sets.size()) {
        if (spec_.sets.size() >= kMaxPrefixSets) {
          diags_.error(
              posOf(e), "too many prefix sets for 'quarantine'",
              "at most " + std::to_string(kMaxPrefixSets) + " including 'inside' and 'quarantine'",
              "merge sets that are always used together");
          continue;
        }
        spec_.sets.push_back({std::string(kQuarantineSet), posOf(e), {}, true, true});
      }
      if (idx == spec_.sets.size() || !spec_.sets[idx].defined) {
        std::string hint = suggest(name, known);
        if (hint.empty())
          hint = name == "inside" ? "define the subscriber space: [networks] inside = [...]"
                                  : "define it under [sets]: " + name + " = [\"198.18.0.0/15\"]";
        std::string expected =
            known.empty() ? "a set defined in [sets] or [networks]" : "one of " + joinList(known);
        diags_.error(posOf(e), "unknown set '" + name + "' in " + where, expected, hint);
        continue;
      }
      if (std::find(out.begin(), out.end(), idx) == out.end()) out.push_back(idx);
    }
    std::sort(out.begin(), out.end());
  }

  void readPatterns(const Value& v, const std::string& key, std::vector<PatternSpec>& out) {
    bool regex = key.size() > 6 && key.compare(key.size() - 6, 6, "_regex") == 0;
    std::string example =
        regex ? key + " = ['^mx[0-9]+\\.example\\.net$']" : key + " = [\"localhost\"]";
    for (const Elem& e : getStringList(v, key, example)) {
      const std::string_view text = e.text;
      if (text.empty()) {
        diags_.error(posOf(e), "empty pattern in '" + key + "'",
                     regex ? "a regular expression" : "a name to match",
                     "remove it; a rule without '" + key + "' matches any value");
        continue;
      }
      if (std::any_of(text.begin(), text.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
        diags_.error(posOf(e), "control character in '" + key + "' pattern", "printable characters",
                     "EHLO names, domains and SNI never carry them");
        continue;
      }
      PatternSpec p;
      p.text = text;
      p.regex = regex;
      p.pos = posOf(e);
      // A 'literal string' has no escapes: pattern offsets map one to one onto columns.
      size_t offset = e.offset, length = 0;
      const std::string_view t = text_.original();
      if ((e.value == nullptr || range(*e.value, offset, length)) && offset < t.size() &&
          t[offset] == '\'' && t.substr(offset, 3) != "'''")
        p.text_column = p.pos.column + 1;
      out.push_back(std::move(p));
    }
  }

  void readFingerprints(const Value& v, const std::string& key, std::vector<std::string>& out) {
    bool ja3 = key == "ja3";
    std::string example = ja3 ? "ja3 = [\"e7d705a3286e19ea42f587b344ee6865\"]"
                              : "ja4 = [\"t13d1516h2_8daaf6152771_02713d6af862\"]";
    std::vector<Elem> elems = getStringList(v, key, example);
    out.reserve(out.size() + elems.size());
    for (const Elem& e : elems) {
      const std::string_view text = e.text;
      std::string fp = lower(text);
      bool ok;
      if (ja3) {
        ok = fp.size() == 32 && isHex(fp);
      } else {
        // JA4: a_b_c, a = 10 characters of protocol/version/SNI/counts/ALPN, b and c = 12 hex
        ok = fp.size() == 36 && fp[10] == '_' && fp[23] == '_' &&
             std::all_of(fp.begin(), fp.begin() + 10,
                         [](char c) { return std::isalnum(static_cast<unsigned char>(c)); }) &&
             isHex(std::string_view(fp).substr(11, 12)) &&
             isHex(std::string_view(fp).substr(24, 12));
      }
      if (!ok) {
        diags_.error(posOf(e), "bad " + key + " fingerprint '" + std::string(text) + "'",
                     ja3 ? "32 hex digits (the MD5 of the JA3 string)"
                         : "a JA4 fingerprint like t13d1516h2_8daaf6152771_02713d6af862",
                     ja3 ? "paste the JA3 hash, not the raw JA3 string" : "");
        continue;
      }
      out.push_back(std::move(fp));
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }

  void readExpires(const Value& v, RuleSpec& rule) {
    rule.expires_pos = posOf(v);
    const std::string example = "expires = 2026-06-30";
    auto badDate = [&](const std::string& why, const std::string& hint) {
      diags_.error(posOf(v), "bad date for 'expires': " + why,
                   "a TOML date (2026-06-30) or a date-time with offset (2026-06-30T12:00:00Z)",
                   hint);
    };
    if (v.is_local_date()) {
      const auto& d = v.as_local_date();
      if (d.year < 1970) return badDate("year " + std::to_string(d.year) + " is before 1970", "");
      rule.expires_unix = unixDays(d.year, d.month + 1u, d.day) * 86400;
      rule.expires_text = formatUnixTime(rule.expires_unix);
    } else if (v.is_offset_datetime()) {
      const auto& dt = v.as_offset_datetime();
      if (dt.date.year < 1970)
        return badDate("year " + std::to_string(dt.date.year) + " is before 1970", "");
      int64_t secs = unixDays(dt.date.year, dt.date.month + 1u, dt.date.day) * 86400 +
                     dt.time.hour * 3600 + dt.time.minute * 60 + dt.time.second -
                     (dt.offset.hour * 3600 + dt.offset.minute * 60);
      rule.expires_unix = std::max<int64_t>(secs, 1);
      rule.expires_text = formatUnixTime(rule.expires_unix);
    } else if (v.is_local_datetime()) {
      badDate("a date-time needs a UTC offset",
              "add Z or an offset (2026-06-30T00:00:00Z), or give just the date");
    } else if (v.is_string()) {
      const std::string& s = v.as_string().str;
      bool looks_like_date = s.size() == 10 && s[4] == '-' && s[7] == '-';
      badDate("'" + s + "' is a string", looks_like_date
                                             ? "remove the quotes: expires = " + s
                                             : "write the date unquoted, e.g. " + example);
    } else {
      badDate(std::string("found ") + typeName(v.type()),
              "write the date unquoted, e.g. " + example);
    }
  }

  void readRate(const Value::table_type& t, RuleSpec& rule, const std::string& where) {
    RateParams& p = rule.rate.params;
    auto rate_it = t.find("rate");
    if (rate_it == t.end()) {
      diags_.error(rule.pos, where + " is a rate_limit without a rate",
                   "rate = \"30/minute\" (per second, minute or hour)", "");
    } else if (auto s = getString(rate_it->second, "rate", "rate = \"30/minute\"")) {
      size_t slash = s->find('/');
      std::string count_text = s->substr(0, slash);
      std::string unit = slash == std::string::npos ? "" : s->substr(slash + 1);
      uint64_t period_s = unit == "second" || unit == "s"     ? 1
                          : unit == "minute" || unit == "min" ? 60
                          : unit == "hour" || unit == "h"     ? 3600
                                                              : 0;
      uint64_t count = 0;
      bool digits = !count_text.empty() && count_text.size() <= 9 &&
                    std::all_of(count_text.begin(), count_text.end(), isDigit);
      if (digits) count = std::stoull(count_text);
      if (!digits || count == 0 || period_s == 0) {
        diags_.error(posOf(rate_it->second), "bad rate '" + *s + "'",
                     "\"N/second\", \"N/minute\" or \"N/hour\" with N a positive integer",
                     "for example rate = \"30/minute\"");
      } else {
        p.interval_ns = period_s * 1000000000ull / count;
        if (p.interval_ns == 0) p.interval_ns = 1;
        rule.rate.text = *s;
      }
    }
    auto burst_it = t.find("burst");
    if (burst_it == t.end()) {
      diags_.error(rule.pos, where + " is a rate_limit without a burst",
                   "burst = 10 (connections admitted back to back from idle)", "");
    } else if (!burst_it->second.is_integer()) {
      typeError(burst_it->second, "burst", "an integer", "burst = 10");
    } else if (auto b = burst_it->second.as_integer(); b < 1 || b > 1000000) {
      diags_.error(posOf(burst_it->second), "burst " + std::to_string(b) + " is out of range",
                   "1 to 1000000");
    } else {
      p.burst = static_cast<uint32_t>(b);
    }
    p.v4_prefix_len = 32;
    p.v6_prefix_len = 64;
    rule.rate.per_text = "address (v4), /64 (v6)";
    auto readPer = [&](const char* key, unsigned max_len, uint8_t& out) {
      auto it = t.find(key);
      if (it == t.end()) return;
      auto s = getString(it->second, key, std::string(key) + " = \"/24\"");
      if (!s) return;
      if (*s == "address") {
        out = static_cast<uint8_t>(max_len);
        return;
      }
      std::string digits = s->size() > 1 && (*s)[0] == '/' ? s->substr(1) : "";
      bool ok = !digits.empty() && digits.size() <= 3 &&
                std::all_of(digits.begin(), digits.end(), isDigit) && std::stoul(digits) <= max_len;
      if (!ok) {
        diags_.error(
            posOf(it->second), "bad '" + std::string(key) + "' value '" + *s + "'",
            "\"address\" or a prefix length \"/0\" to \"/" + std::to_string(max_len) + "\"",
            std::string(key) == "per" ? "per is the IPv4 key; per_v6 the IPv6 one" : "");
        return;
      }
      out = static_cast<uint8_t>(std::stoul(digits));
    };
    readPer("per", 32, p.v4_prefix_len);
    readPer("per_v6", 128, p.v6_prefix_len);
    rule.rate.per_text =
        (p.v4_prefix_len == 32 ? std::string("address") : "/" + std::to_string(p.v4_prefix_len)) +
        " (v4), " +
        (p.v6_prefix_len == 128 ? std::string("address") : "/" + std::to_string(p.v6_prefix_len)) +
        " (v6)";
  }

  // -- [subscribers] and [[detector]] -----------------------------------------------------

  void readSubscribers(const Value& v) {
    if (!v.is_table()) {
      typeError(v, "subscribers", "a table", "[subscribers]\nv6_prefix = 64");
      return;
    }
    checkKeys(v, {"v6_prefix"}, "[subscribers]");
    for (const auto& [key, value] : v.as_table()) {
      if (key != "v6_prefix") continue;
      if (!value.is_integer()) {
        typeError(value, key, "an integer prefix length", "v6_prefix = 64");
      } else if (auto n = value.as_integer(); n < 1 || n > 64) {
        diags_.error(posOf(value), "v6_prefix " + std::to_string(n) + " is out of range", "1 to 64",
                     "an IPv6 subscriber is usually a /64 or a /56");
      } else {
        spec_.subscriber_v6_prefix = static_cast<uint8_t>(n);
      }
    }
  }

  // "300s", "5m", "24h", "7d": seconds, 0 when bad.
  static uint64_t parseDuration(const std::string& s) {
    if (s.size() < 2 || s.size() > 10) return 0;
    const char unit = s.back();
    const std::string digits = s.substr(0, s.size() - 1);
    if (!std::all_of(digits.begin(), digits.end(), isDigit)) return 0;
    const uint64_t n = std::stoull(digits);
    switch (unit) {
      case 's':
        return n;
      case 'm':
        return n * 60;
      case 'h':
        return n * 3600;
      case 'd':
        return n * 86400;
      default:
        return 0;
    }
  }

  void readDetectors(const Value& v) {
    if (!v.is_array() || (v.as_array().empty() && !elements(v).empty()) ||
        !std::all_of(v.as_array().begin(), v.as_array().end(),
                     [](const Value& e) { return e.is_table(); })) {
      diags_.error(posOf(v), "'detector' must be an array of tables",
                   "[[detector]] headers, one per detector",
                   "write each detector as [[detector]] followed by its keys");
      return;
    }
    std::map<std::string, SourcePos> names;
    for (const Value& d : v.as_array()) {
      DetectorSpec det = readDetector(d);
      if (!det.name.empty()) {
        auto [it, fresh] = names.emplace(det.name, det.pos);
        if (!fresh) {
          diags_.error(det.pos, "duplicate detector name '" + det.name + "'",
                       "a unique name per detector (it names its subscriber_alert events)",
                       "the first is at line " + std::to_string(it->second.line) + "; rename one");
        }
      }
      if (spec_.detectors.size() == kMaxDetectors) {
        diags_.error(det.pos, "too many detectors", "at most " + std::to_string(kMaxDetectors),
                     "merge detectors over the same statistic");
      }
      spec_.detectors.push_back(std::move(det));
    }
  }

  DetectorSpec readDetector(const Value& d) {
    static const std::vector<std::string> kKeys = {
        "name", "description", "stat", "threshold", "window", "action", "quarantine_for", "mode"};
    std::vector<std::string> stat_names(std::begin(kSubStatNames), std::end(kSubStatNames));
    DetectorSpec det;
    det.pos = posOf(d);
    const auto& t = d.as_table();
    if (auto it = t.find("name"); it != t.end()) {
      if (auto s = getString(it->second, "name", "name = \"port25-spray\"")) {
        det.pos = posOf(it->second);
        if (validName(*s, 64)) {
          det.name = *s;
        } else {
          diags_.error(det.pos, "bad detector name '" + *s + "'",
                       "1 to 64 letters, digits, '_', '-' or '.', starting with a letter or digit");
        }
      }
    } else {
      diags_.error(det.pos,
                   "detector #" + std::to_string(spec_.detectors.size() + 1) + " has no name",
                   "name = \"...\"", "a detector's name goes into its subscriber_alert events");
    }
    const std::string where = det.name.empty()
                                  ? "detector #" + std::to_string(spec_.detectors.size() + 1)
                                  : "detector '" + det.name + "'";
    std::vector<std::string> misspelled = checkKeys(d, kKeys, where);
    auto missing = [&](const std::string& key, const std::string& example) {
      if (t.count(key) == 0 &&
          std::find(misspelled.begin(), misspelled.end(), key) == misspelled.end())
        diags_.error(det.pos, where + " has no " + key, example, "");
    };
    missing("stat", "stat = " + quotedList(stat_names));
    missing("threshold", "threshold = 20 (it fires when the window's count exceeds this)");
    missing("window", "window = \"5m\" (s, m, h or d)");
    const Value* quarantine_for = nullptr;
    bool quarantine_action = false;
    for (const auto& [key, value] : t) {
      if (key == "description") {
        if (auto s = getString(value, key, "description = \"...\"")) det.description = *s;
      } else if (key == "stat") {
        if (auto s = getEnum(value, key, stat_names)) det.stat = subStatFromName(*s);
      } else if (key == "threshold") {
        if (!value.is_integer()) {
          typeError(value, key, "an integer", "threshold = 20");
        } else if (auto n = value.as_integer(); n < 0 || n > 1000000000) {
          diags_.error(posOf(value), "threshold " + std::to_string(n) + " is out of range",
                       "0 to 1000000000");
        } else {
          det.threshold = static_cast<uint32_t>(n);
        }
      } else if (key == "window") {
        det.window_pos = posOf(value);
        if (auto s = getString(value, key, "window = \"5m\"")) {
          const uint64_t secs = parseDuration(*s);
          if (secs == 0 || secs > 7 * 86400) {
            diags_.error(posOf(value), "bad window '" + *s + "'",
                         "a duration from 1s to 7d: N followed by s, m, h or d",
                         "for example window = \"5m\"");
          } else {
            det.window_s = static_cast<uint32_t>(secs);
            det.window_text = *s;
          }
        }
      } else if (key == "action") {
        if (auto s = getEnum(value, key, {"alert", "quarantine"})) {
          quarantine_action = *s == "quarantine";
        }
      } else if (key == "quarantine_for") {
        quarantine_for = &value;
        if (auto s = getString(value, key, "quarantine_for = \"24h\"")) {
          const uint64_t secs = parseDuration(*s);
          if (secs == 0 || secs > 365 * 86400) {
            diags_.error(posOf(value), "bad quarantine_for '" + *s + "'",
                         "a duration from 1s to 365d: N followed by s, m, h or d",
                         "for example quarantine_for = \"24h\"");
          } else {
            det.quarantine_s = secs;
            det.quarantine_text = *s;
          }
        }
      } else if (key == "mode") {
        if (auto s = getEnum(value, key, {"enforce", "shadow"})) det.shadow = *s == "shadow";
      }
    }
    det.quarantine = quarantine_action;
    if (quarantine_action && quarantine_for == nullptr) {
      diags_.error(det.pos, where + " quarantines without a duration",
                   "quarantine_for = \"24h\" (s, m, h or d)", "a quarantine always ends; say when");
    }
    if (!quarantine_action && quarantine_for != nullptr) {
      diags_.error(keyPos(*quarantine_for, "quarantine_for"),
                   "'quarantine_for' applies only to action = \"quarantine\"",
                   "no quarantine_for on an alert detector",
                   "remove it, or set action = \"quarantine\"");
    }
    return det;
  }

  Diagnostics& diags_;
  const PolicyText& text_;
  std::string file_;
  PolicySpec spec_;
  std::vector<bool> smtp_ports_;  // by port number, once [ports] is read
};

// The position of toml11's error: its last underline (or where its parser stopped), mapped
// back to the original text. Returns a hint built from toml11's comments on its underlines.
std::string tomlErrorPos(const PolicyText& text, const std::string& what,
                         const toml::source_location* stopped, SourcePos& pos) {
  const std::vector<TomlMark> marks = tomlMarks(what);
  auto original = [&](uint32_t line, uint32_t column) {
    return text.originalOffset(text.preparedOffset(line, column));
  };
  if (marks.empty()) {
    pos = stopped != nullptr ? text.pos(original(stopped->line(), stopped->column()))
                             : text.filePos();
    return {};
  }
  const TomlMark& m = marks.back();
  size_t at = original(m.line, m.column);
  size_t length = m.length;
  // A bad date is reported past its end: point at its first character instead.
  if (what.find("parse_date") != std::string::npos) {
    const std::string_view t = text.original();
    size_t first = at;
    while (first > text.lineStart(at) && (isDigit(t[first - 1]) || t[first - 1] == '-')) --first;
    length = at - first;
    at = first;
  }
  pos = text.pos(at, length);
  if (marks.size() > 1)
    return "first at line " + std::to_string(text.pos(original(marks.front().line, 1)).line) +
           " (" + marks.front().comment + ")";
  if (m.comment == "here") return {};
  return m.comment;
}

PolicySpec loadText(std::string_view original, const std::string& name, Diagnostics& diags) {
  PolicySpec empty;
  empty.file = name;
  PolicyText text(original, name);
  if (!text.prepare(diags)) return empty;
  try {
    std::istringstream in{text.prepared()};
    Value root = toml::parse<toml::discard_comments, std::map, std::vector>(in, name);
    return Reader(diags, text).read(root);
  } catch (const toml::syntax_error& e) {
    SourcePos pos;
    const toml::source_location stopped = e.location();
    std::string hint = tomlErrorPos(text, e.what(), &stopped, pos);
    bool date = std::string_view(e.what()).find("parse_date") != std::string_view::npos;
    diags.error(
        std::move(pos), "TOML syntax error: " + syntaxErrorMessage(e.what()),
        date ? "a calendar date that exists, YYYY-MM-DD" : "valid TOML (https://toml.io/en/v1.0.0)",
        hint);
  } catch (const std::exception& e) {
    // toml11 reports some problems (duplicate keys, redefined tables) as other exceptions,
    // with the position only in the text.
    SourcePos pos;
    std::string hint = tomlErrorPos(text, e.what(), nullptr, pos);
    diags.error(std::move(pos), "TOML error: " + syntaxErrorMessage(e.what()),
                "valid TOML (https://toml.io/en/v1.0.0)", hint);
  }
  return empty;
}

}  // namespace

PolicySpec loadPolicyText(std::string_view text, const std::string& name, Diagnostics& diags) {
  return loadText(text, name, diags);
}

namespace {

const char* fileTypeName(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a named pipe";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a file";
}

}  // namespace

bool readBoundedFile(const std::string& path, size_t limit, const char* what, std::string& out,
                     std::string& why) {
  auto fail = [&](std::string reason) {
    why = std::move(reason);
    return false;
  };
  // O_NONBLOCK: opening a named pipe must not wait for a writer; regular files ignore it.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  const std::string cannot = std::string("cannot read ") + what + ": ";
  if (fd < 0) return fail(cannot + std::strerror(errno));
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail(cannot + std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    return fail(std::string("not a regular file: ") + fileTypeName(st.st_mode));
  const std::string too_large =
      "the file is larger than the limit of " + std::to_string(limit >> 20) + " MiB";
  if (static_cast<uint64_t>(st.st_size) > limit) return fail(too_large);
  // st_size is a hint (files in /proc say 0, a file may grow): read to the end, bounded.
  out.clear();
  out.reserve(static_cast<size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(cannot + std::strerror(errno));
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > limit) return fail(too_large);
    out.append(buf, static_cast<size_t>(n));
  }
  return true;
}

PolicySpec loadPolicyFile(const std::string& path, Diagnostics& diags) {
  std::string text, why;
  if (!readBoundedFile(path, kMaxPolicyBytes, "policy file", text, why)) {
    PolicySpec empty;
    empty.file = path;
    diags.error({path, 0, 0, 1, {}}, why, "a readable TOML file (a regular file)",
                "check the path; docs/policy.md describes the format");
    return empty;
  }
  return loadText(text, path, diags);
}

}  // namespace smtpguard
