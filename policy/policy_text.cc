#include "policy/policy_text.h"

#include <algorithm>
#include <utility>

namespace smtpguard {

namespace {

// Lines up to this long are shown whole; longer ones as a window around the problem.
constexpr size_t kWholeLine = 160;
constexpr size_t kContext = 60;  // bytes shown before and after the underlined part
constexpr size_t kMaxUnderline = 400;

bool isContinuation(char c) {
  return (static_cast<unsigned char>(c) & 0xc0) == 0x80;
}

// Offset of the first byte that is not well-formed UTF-8 (RFC 3629), or npos. TOML files are
// UTF-8; checking first also keeps toml11 off its own invalid-UTF-8 paths, which assert.
size_t invalidUtf8(std::string_view t) {
  size_t i = 0;
  while (i < t.size()) {
    auto b = static_cast<unsigned char>(t[i]);
    size_t n;
    uint32_t cp;
    if (b < 0x80) {
      ++i;
      continue;
    } else if ((b & 0xe0) == 0xc0) {
      n = 1;
      cp = b & 0x1fu;
    } else if ((b & 0xf0) == 0xe0) {
      n = 2;
      cp = b & 0x0fu;
    } else if ((b & 0xf8) == 0xf0) {
      n = 3;
      cp = b & 0x07u;
    } else {
      return i;
    }
    if (i + n >= t.size()) return i;
    for (size_t k = 1; k <= n; ++k) {
      auto c = static_cast<unsigned char>(t[i + k]);
      if ((c & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (c & 0x3fu);
    }
    static constexpr uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return std::string_view::npos;
}

// TOML forbids control characters other than tab in strings and comments (CR only before LF).
bool badControl(std::string_view t, size_t at) {
  auto b = static_cast<unsigned char>(t[at]);
  if (b == '\r') return at + 1 >= t.size() || t[at + 1] != '\n';
  return (b < 0x20 && b != '\t') || b == 0x7f;
}

}  // namespace

PolicyText::PolicyText(std::string_view original, std::string file)
    : original_(original), file_(std::move(file)) {
  line_starts_.push_back(0);
  for (size_t i = 0; i < original_.size(); ++i)
    if (original_[i] == '\n') line_starts_.push_back(static_cast<uint32_t>(i + 1));
}

size_t PolicyText::lineStart(size_t offset) const {
  auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
  return *(it - 1);
}

size_t PolicyText::lineEnd(size_t offset) const {
  auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
  return it == line_starts_.end() ? original_.size() : *it - 1;
}

SourcePos PolicyText::pos(size_t offset, size_t length) const {
  offset = std::min(offset, original_.size());
  auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
  const size_t start = *(it - 1);
  size_t end = it == line_starts_.end() ? original_.size() : *it - 1;
  if (end > start && original_[end - 1] == '\r') --end;
  SourcePos p;
  p.file = file_;
  p.line = static_cast<uint32_t>(it - line_starts_.begin());
  p.column = static_cast<uint32_t>(offset - start + 1);
  p.length = static_cast<uint32_t>(std::max<size_t>(length, 1));
  size_t from = start, to = end;
  if (end - start > kWholeLine) {
    from = offset - start > kContext ? offset - kContext : start;
    to = std::min(end, offset + std::min<size_t>(p.length, kMaxUnderline) + kContext);
    // Whole characters only.
    while (from > start && from < end && isContinuation(original_[from])) --from;
    while (to < end && isContinuation(original_[to])) ++to;
  }
  if (to < from) to = from;
  p.line_text = std::string(original_.substr(from, to - from));
  p.excerpt_column = static_cast<uint32_t>(from - start + 1);
  p.line_cut = to < end;
  return p;
}

size_t PolicyText::originalOffset(size_t prepared_offset) const {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), prepared_offset,
                             [](size_t p, const Segment& s) { return p < s.prepared; });
  const Segment& s = *(it - 1);
  return std::min(s.original + (prepared_offset - s.prepared), original_.size());
}

size_t PolicyText::preparedOffset(uint32_t line, uint32_t column) const {
  if (prepared_line_starts_.empty()) {
    prepared_line_starts_.push_back(0);
    for (size_t i = 0; i < prepared_.size(); ++i)
      if (prepared_[i] == '\n') prepared_line_starts_.push_back(static_cast<uint32_t>(i + 1));
  }
  if (line == 0) return 0;
  size_t start = prepared_line_starts_[std::min<size_t>(line, prepared_line_starts_.size()) - 1];
  return std::min(start + (column > 0 ? column - 1 : 0), prepared_.size());
}

const std::vector<PolicyText::ListItem>* PolicyText::listAt(size_t prepared_offset) const {
  auto it = std::lower_bound(lists_.begin(), lists_.end(), prepared_offset,
                             [](const List& l, size_t p) { return l.prepared < p; });
  return it != lists_.end() && it->prepared == prepared_offset ? &it->items : nullptr;
}

// One past the end of the string starting at `at` (a quote). TOML: "..." and '...' end on
// their line; """...""" and '''...''' at three quotes, which may be followed by up to two more
// that belong to the string. An unterminated string ends at its newline (toml11 reports it).
size_t PolicyText::endOfString(size_t at) const {
  const std::string_view t = original_;
  const char q = t[at];
  const bool basic = q == '"';
  if (at + 2 < t.size() && t[at + 1] == q && t[at + 2] == q) {
    for (size_t j = at + 3; j < t.size(); ++j) {
      if (basic && t[j] == '\\') {
        ++j;
        continue;
      }
      if (t[j] == q && j + 2 < t.size() && t[j + 1] == q && t[j + 2] == q) {
        j += 3;
        for (int extra = 0; extra < 2 && j < t.size() && t[j] == q; ++extra) ++j;
        return j;
      }
    }
    return t.size();
  }
  size_t j = at + 1;
  while (j < t.size() && t[j] != '\n') {
    if (basic && t[j] == '\\' && j + 1 < t.size() && t[j + 1] != '\n') {
      j += 2;
      continue;
    }
    if (t[j] == q) return j + 1;
    ++j;
  }
  return j;
}

// The escape at t[at] ('\\') of a basic string, decoded onto `out` (TOML 1.0: \b \t \n \f \r
// \" \\ \uXXXX \UXXXXXXXX, a Unicode scalar value). Returns its length, or 0 if toml11 must judge.
size_t decodeEscape(std::string_view t, size_t at, std::string& out) {
  if (at + 1 >= t.size()) return 0;
  switch (t[at + 1]) {
    case 'b':
      out += '\b';
      return 2;
    case 't':
      out += '\t';
      return 2;
    case 'n':
      out += '\n';
      return 2;
    case 'f':
      out += '\f';
      return 2;
    case 'r':
      out += '\r';
      return 2;
    case '"':
      out += '"';
      return 2;
    case '\\':
      out += '\\';
      return 2;
    case 'u':
    case 'U':
      break;
    default:
      return 0;
  }
  const size_t digits = t[at + 1] == 'u' ? 4 : 8;
  if (at + 2 + digits > t.size()) return 0;
  uint32_t cp = 0;
  for (size_t k = 0; k < digits; ++k) {
    const char c = t[at + 2 + k];
    uint32_t d;
    if (c >= '0' && c <= '9') {
      d = static_cast<uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<uint32_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      d = static_cast<uint32_t>(c - 'A' + 10);
    } else {
      return 0;
    }
    cp = cp << 4 | d;
  }
  if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  auto byte = [&](uint32_t b) { out += static_cast<char>(static_cast<unsigned char>(b)); };
  if (cp < 0x80) {
    byte(cp);
  } else if (cp < 0x800) {
    byte(0xc0 | cp >> 6);
    byte(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    byte(0xe0 | cp >> 12);
    byte(0x80 | (cp >> 6 & 0x3f));
    byte(0x80 | (cp & 0x3f));
  } else {
    byte(0xf0 | cp >> 18);
    byte(0x80 | (cp >> 12 & 0x3f));
    byte(0x80 | (cp >> 6 & 0x3f));
    byte(0x80 | (cp & 0x3f));
  }
  return 2 + digits;
}

// A list of single-line strings starting at `open` ('['): basic strings (escapes decoded) and
// literal strings, separated by commas, whitespace, newlines and comments, with an optional
// trailing comma. Anything else (multi-line strings, other values, nested arrays, an empty
// list, anything malformed) is toml11's to read and judge: false.
bool PolicyText::readList(size_t open, std::vector<ListItem>& items, size_t& end) {
  const size_t decoded_before = decoded_.size();
  auto give_up = [&]() {
    decoded_.resize(decoded_before);
    return false;
  };
  const std::string_view t = original_;
  size_t j = open + 1;
  auto skip = [&]() {
    while (j < t.size()) {
      const char c = t[j];
      if (c == ' ' || c == '\t' || c == '\n') {
        ++j;
      } else if (c == '\r') {
        if (badControl(t, j)) return false;
        j += 2;
      } else if (c == '#') {
        for (++j; j < t.size() && t[j] != '\n'; ++j)
          if (badControl(t, j)) return false;
      } else {
        return true;
      }
    }
    return false;  // the file ends inside the list
  };
  std::string value;
  for (;;) {
    if (!skip()) return give_up();
    if (t[j] == ']') {
      end = j + 1;
      return items.empty() ? give_up() : true;
    }
    const char q = t[j];
    if (q != '"' && q != '\'') return give_up();
    size_t k = j + 1;
    if (k < t.size() && t[k] == q && k + 1 < t.size() && t[k + 1] == q) return give_up();  // """
    bool escaped = false;
    value.clear();
    while (k < t.size() && t[k] != q) {
      if (q == '"' && t[k] == '\\') {
        if (!escaped) value.assign(t.substr(j + 1, k - j - 1));
        escaped = true;
        const size_t n = decodeEscape(t, k, value);
        if (n == 0) return give_up();
        k += n;
        continue;
      }
      if (t[k] == '\n' || badControl(t, k)) return give_up();
      if (escaped) value += t[k];
      ++k;
    }
    if (k >= t.size()) return give_up();
    int32_t decoded = -1;
    if (escaped) {
      decoded = static_cast<int32_t>(decoded_.size());
      decoded_.push_back(value);
    }
    items.push_back({static_cast<uint32_t>(j), static_cast<uint32_t>(k - j + 1), decoded});
    j = k + 1;
    if (!skip()) return give_up();
    if (t[j] == ',') {
      ++j;
    } else if (t[j] == ']') {
      end = j + 1;
      return true;
    } else {
      return give_up();
    }
  }
}

bool PolicyText::prepare(Diagnostics& diags) {
  const std::string_view t = original_;
  if (size_t bad = invalidUtf8(t); bad != std::string_view::npos) {
    SourcePos p = pos(bad);
    // Only the valid part of the line is shown: the rest could not be decoded.
    p.line_text.resize(std::min<size_t>(p.line_text.size(), p.column - p.excerpt_column));
    p.line_cut = false;
    diags.error(std::move(p), "the file is not valid UTF-8", "UTF-8 text, as TOML requires",
                "re-save the file as UTF-8");
    return false;
  }

  prepared_.clear();
  prepared_.reserve(t.size() + t.size() / 8);
  segments_.assign(1, Segment{0, 0});
  lists_.clear();
  size_t run = 0;  // original offset where the text not yet copied begins
  auto copyTo = [&](size_t upto) {
    if (upto <= run) return;
    const Segment& s = segments_.back();
    if (prepared_.size() - s.prepared != run - s.original)
      segments_.push_back({prepared_.size(), run});
    prepared_.append(t.data() + run, upto - run);
    run = upto;
  };
  // A character of the prepared text standing for the original one at `at`.
  auto put = [&](char c, size_t at) {
    const Segment& s = segments_.back();
    if (prepared_.size() - s.prepared != at - s.original)
      segments_.push_back({prepared_.size(), at});
    prepared_.push_back(c);
  };

  std::vector<char> open;  // brackets of the value being read: '[' array, '{' inline table
  bool value = false;      // after the '=' of a top-level key/value, until its line ends
  size_t tokens = 0;
  size_t all_tokens = 0;  // the file's, outside string lists
  std::vector<ListItem> items;
  size_t i = 0;
  while (i < t.size()) {
    const char c = t[i];
    if (c == '#') {
      while (i < t.size() && t[i] != '\n') ++i;
      continue;
    }
    if (c == '"' || c == '\'') {
      const size_t end = endOfString(i);
      if (std::find(t.begin() + static_cast<ptrdiff_t>(i), t.begin() + static_cast<ptrdiff_t>(end),
                    '\n') != t.begin() + static_cast<ptrdiff_t>(end))
        tokens = 0;  // a multi-line string: toml11's next line begins inside it
      i = end;
      continue;
    }
    if (c == '\n') {
      ++i;
      tokens = 0;
      if (open.empty()) value = false;
      continue;
    }
    const size_t at = i++;
    const size_t tokens_before = tokens;
    if (!value && open.empty()) {
      // A key, or a [table] / [[array]] header.
      if (c == '=') {
        value = true;
        ++tokens;
      } else if (c == '.' || c == '[') {
        ++tokens;
      }
    } else if (c == '[') {
      items.clear();
      size_t end = 0;
      if (readList(at, items, end)) {
        copyTo(at);
        lists_.push_back({prepared_.size(), std::move(items)});
        put('[', at);
        put(']', end - 1);
        run = i = end;
        continue;
      }
      open.push_back('[');
    } else if (c == '{') {
      open.push_back('{');
    } else if (c == ']' || c == '}') {
      if (!open.empty()) open.pop_back();
    } else if (c == ',' && !open.empty() && open.back() == '[') {
      copyTo(i);
      put('\n', i);
      tokens = 0;
      ++all_tokens;
    } else if (c == ',' || c == '=' || c == '.') {
      ++tokens;
    }
    if (open.size() > kMaxNesting) {
      diags.error(pos(at), "arrays or inline tables nested too deep",
                  "at most " + std::to_string(kMaxNesting) + " levels",
                  "a policy never needs more than two");
      return false;
    }
    if (tokens > tokens_before) ++all_tokens;
    if (all_tokens > kMaxTomlTokens) {
      diags.error(pos(at),
                  "too many keys and values outside lists of strings (more than " +
                      std::to_string(kMaxTomlTokens) + ")",
                  "at most " + std::to_string(kMaxTomlTokens) +
                      " keys, table headers and array elements; lists of strings (prefixes, "
                      "names, fingerprints) do not count",
                  "a policy of 256 rules needs a few thousand: is this the right file?");
      return false;
    }
    if (tokens > kMaxLineTokens) {
      diags.error(
          pos(at),
          "too many keys and values on one line (more than " + std::to_string(kMaxLineTokens) + ")",
          "at most " + std::to_string(kMaxLineTokens) +
              " of '=', ',' and '.' on a line, outside strings and lists",
          "write a long inline table as a [table] with one key per line, and a long "
          "dotted key as a [table] header");
      return false;
    }
  }
  copyTo(t.size());
  return true;
}

}  // namespace smtpguard
