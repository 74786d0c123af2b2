#pragma once
// A policy file's text as the loader hands it to toml11, and every position mapped back.
//
// toml11 3.x is linear in the number of lines but not in their length: every value costs a pass
// over its whole line (comments are collected and error text formatted from it), and asking a
// value for its line number counts newlines from the start of the file. A one-line list of
// 200,000 prefixes took minutes. So, in one pass over the file:
//  - lists of single-line strings (prefixes, set names, JA3/JA4, patterns) are read here and
//    toml11 sees an empty array in their place;
//  - other arrays are broken after each comma, where TOML allows a newline;
//  - what toml11 still sees is bounded: kMaxLineTokens on one line (a huge inline table or
//    dotted key is an error, not minutes of parsing) and kMaxTomlTokens in the file (toml11
//    keeps a few hundred bytes per value: 16 MiB of `1,` took 28 s and 2 GB);
//  - the checks toml11 must not meet come first: invalid UTF-8 (it asserts) and nesting
//    deeper than kMaxNesting (it recurses).
// Positions are computed from one line index of the original file; an excerpt is a window of
// its line, so a diagnostic on a megabyte-long line prints a few hundred bytes.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy_loader.h"

namespace smtpguard {

// Arrays and inline tables, one inside another (toml11 recurses once per level).
inline constexpr size_t kMaxNesting = 64;
// '=', ',' and '.' outside strings on one line as toml11 sees it (commas between array
// elements do not count: the line is broken there).
inline constexpr size_t kMaxLineTokens = 1024;
// The same, plus table headers and array elements, in the whole file outside string lists. A
// policy of 256 rules needs a few thousand.
inline constexpr size_t kMaxTomlTokens = 200000;

class PolicyText {
 public:
  // One string of a list read here: the quoted token's place in the original text.
  struct ListItem {
    uint32_t offset;  // of the opening quote
    uint32_t length;  // quotes included
    int32_t decoded;  // -1: the text between the quotes is the value; else its escapes decoded
  };

  // `original` must outlive this object.
  PolicyText(std::string_view original, std::string file);

  // Checks and prepares the text. False, with the problem in `diags`, when toml11 must not see
  // it.
  bool prepare(Diagnostics& diags);

  const std::string& prepared() const { return prepared_; }
  std::string_view original() const { return original_; }
  const std::string& file() const { return file_; }

  // Original offset of a prepared offset.
  size_t originalOffset(size_t prepared_offset) const;
  // Prepared offset of a 1-based line and column of the prepared text (toml11's messages).
  size_t preparedOffset(uint32_t line, uint32_t column) const;
  // The list read in place of the empty array whose '[' is at `prepared_offset`, or nullptr.
  const std::vector<ListItem>* listAt(size_t prepared_offset) const;
  // The string value of a list item.
  std::string_view text(const ListItem& item) const {
    return item.decoded >= 0 ? std::string_view(decoded_[static_cast<size_t>(item.decoded)])
                             : original_.substr(item.offset + 1, item.length - 2);
  }

  // file:line:column of an original offset, `length` bytes underlined, with an excerpt.
  SourcePos pos(size_t offset, size_t length = 1) const;
  // The file as a whole (line 0).
  SourcePos filePos() const { return SourcePos{file_, 0, 0, 1, {}}; }
  // Offset of the first byte of the line holding `offset`.
  size_t lineStart(size_t offset) const;
  size_t lineEnd(size_t offset) const;  // of the '\n' ending that line, or the text's end

 private:
  struct Segment {
    size_t prepared;  // from this prepared offset on ...
    size_t original;  // ... the text is the original's from here
  };
  struct List {
    size_t prepared;  // the '[' of the empty array standing in for it
    std::vector<ListItem> items;
  };

  bool readList(size_t open, std::vector<ListItem>& items, size_t& end);
  size_t endOfString(size_t at) const;

  std::string_view original_;
  std::string file_;
  std::vector<uint32_t> line_starts_;  // of the original (at most kMaxPolicyBytes)
  std::string prepared_;
  std::vector<Segment> segments_;
  std::vector<List> lists_;
  std::vector<std::string> decoded_;                    // strings of lists that had escapes
  mutable std::vector<uint32_t> prepared_line_starts_;  // built on the first syntax error
};

}  // namespace smtpguard
