#pragma once
// A JSON object fragment written into a fixed buffer: no heap, bounded, safe to call on the
// fast path (events are per-flow, not per-packet). Strings are escaped; bytes that are not
// printable ASCII become \u00XX so hostile names cannot break the line or the encoding.
// When the buffer would overflow, the member is dropped whole and truncated() turns true;
// the fragment always stays valid JSON.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace smtpguard {

class JsonBuilder {
 public:
  JsonBuilder(char* buf, size_t cap) : buf_(buf), cap_(cap) {}

  JsonBuilder& str(std::string_view key, std::string_view value) {
    size_t mark = len_;
    if (!beginMember(key) || !putChar('"') || !putEscaped(value) || !putChar('"')) rollback(mark);
    return *this;
  }
  JsonBuilder& num(std::string_view key, uint64_t value) {
    size_t mark = len_;
    if (!beginMember(key) || !putUnsigned(value)) rollback(mark);
    return *this;
  }
  JsonBuilder& boolean(std::string_view key, bool value) {
    size_t mark = len_;
    if (!beginMember(key) || !putRaw(value ? "true" : "false")) rollback(mark);
    return *this;
  }
  // An array of strings from a callback: each(i) for i < n.
  template <typename Each>
  JsonBuilder& strArray(std::string_view key, size_t n, Each&& each) {
    size_t mark = len_;
    bool ok = beginMember(key) && putChar('[');
    for (size_t i = 0; ok && i < n; ++i) {
      ok = (i == 0 || putChar(',')) && putChar('"') && putEscaped(each(i)) && putChar('"');
    }
    if (!(ok && putChar(']'))) rollback(mark);
    return *this;
  }
  // Opens a nested object member; close with endObject().
  JsonBuilder& beginObject(std::string_view key) {
    size_t mark = len_;
    if (!beginMember(key) || !putChar('{')) {
      rollback(mark);
      ++dead_depth_;  // members until endObject() are dropped
      return *this;
    }
    first_ = true;
    ++depth_;
    return *this;
  }
  JsonBuilder& endObject() {
    if (dead_depth_ > 0) {
      --dead_depth_;
      return *this;
    }
    if (depth_ > 0) {
      // Room for the brace was reserved by beginMember's slack.
      buf_[len_++] = '}';
      --depth_;
      first_ = false;
    }
    return *this;
  }

  std::string_view view() const { return {buf_, len_}; }
  size_t size() const { return len_; }
  bool truncated() const { return truncated_; }

 private:
  // Keeps one byte per open object so endObject() can always close it.
  size_t limit() const { return cap_ - depth_ - 1; }
  bool putChar(char c) {
    if (len_ >= limit()) return false;
    buf_[len_++] = c;
    return true;
  }
  bool putRaw(std::string_view s) {
    for (char c : s)
      if (!putChar(c)) return false;
    return true;
  }
  bool putUnsigned(uint64_t v) {
    char tmp[20];
    size_t n = 0;
    do {
      tmp[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    while (n > 0)
      if (!putChar(tmp[--n])) return false;
    return true;
  }
  bool putEscaped(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (char ch : s) {
      auto c = static_cast<unsigned char>(ch);
      if (c == '"' || c == '\\') {
        if (!putChar('\\') || !putChar(static_cast<char>(c))) return false;
      } else if (c < 0x20 || c >= 0x7f) {
        if (!putRaw("\\u00") || !putChar(kHex[c >> 4]) || !putChar(kHex[c & 15])) return false;
      } else if (!putChar(static_cast<char>(c))) {
        return false;
      }
    }
    return true;
  }
  bool beginMember(std::string_view key) {
    if (dead_depth_ > 0) return false;
    if (!first_ && !putChar(',')) return false;
    if (!putChar('"') || !putEscaped(key) || !putRaw("\":")) return false;
    first_ = false;
    return true;
  }
  void rollback(size_t mark) {
    if (dead_depth_ == 0 || len_ != mark) truncated_ = true;
    len_ = mark;
    first_ = (len_ == 0) || buf_[len_ - 1] == '{';
  }

  char* buf_;
  size_t cap_;
  size_t len_ = 0;
  size_t depth_ = 0;
  size_t dead_depth_ = 0;
  bool first_ = true;
  bool truncated_ = false;
};

}  // namespace smtpguard
