#include "policy/policy_loader.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "policy/policy_compiler.h"
#include "policy/policy_snapshot.h"

namespace smtpguard {
namespace {

constexpr int64_t kNow = 1795000000;  // 2026-11-18

struct BrokenFile {
  const char* name;
  std::string text;
  uint32_t line;
  uint32_t column;
  const char* message;
  const char* hint;  // nullptr: not checked
};

// Each file has exactly one problem; the loader and compiler must report exactly that one,
// at that place, with that message.
const BrokenFile kBrokenFiles[] = {
    {"unknown_key", "[[rule]]\nname = \"r\"\nacton = \"allow\"\n", 3, 1,
     "unknown key 'acton' in rule 'r'", "did you mean 'action'?"},
    {"unknown_table", "[polcy]\nname = \"x\"\n", 1, 2, "unknown key 'polcy' in the policy file",
     "did you mean 'policy'?"},
    {"unknown_key_far_from_any", "[networks]\ninside = []\nsubscribers = [\"100.64.0.0/10\"]\n", 3,
     1, "unknown key 'subscribers' in [networks]", "remove it; docs/policy.md lists every key"},
    {"wrong_type_string_port", "[ports]\nrelay = [\"25\"]\n", 2, 10,
     "'relay' must be an integer port number, not a string", "remove the quotes"},
    {"wrong_type_bool", "[[rule]]\nname = \"r\"\nplaintext_auth = \"yes\"\naction = \"alert\"\n", 3,
     18, "'plaintext_auth' must be a boolean, not a string", nullptr},
    {"wrong_type_table", "policy = \"isp\"\n", 1, 10, "'policy' must be a table, not a string",
     nullptr},
    {"bad_prefix_host_bits", "[networks]\ninside = [\"100.64.1.0/10\"]\n", 2, 11,
     "bad prefix '100.64.1.0/10': host bits are set after /10", "did you mean \"100.64.0.0/10\"?"},
    {"bad_prefix_length", "[sets]\nlab = [\"198.18.0.0/15\", \"198.18.0.0/33\"]\n", 2, 25,
     "bad prefix '198.18.0.0/33': prefix length /33 exceeds /32 for IPv4", nullptr},
    {"bad_prefix_address", "[sets]\nv6 = [\"2001:db8::g/32\"]\n", 2, 7,
     "bad prefix '2001:db8::g/32': '2001:db8::g' is not an IPv4 or IPv6 address", nullptr},
    {"unknown_set",
     "[sets]\nmtas = [\"198.18.0.25\"]\n[[rule]]\nname = \"r\"\nsrc = [\"mta\"]\naction = "
     "\"allow\"\n",
     5, 8, "unknown set 'mta' in rule 'r'", "did you mean 'mtas'?"},
    {"inside_undefined", "[[rule]]\nname = \"r\"\nsrc = \"inside\"\naction = \"allow\"\n", 3, 7,
     "unknown set 'inside' in rule 'r'", "define the subscriber space: [networks] inside = [...]"},
    {"inside_in_sets", "[sets]\ninside = [\"10.0.0.0/8\"]\n", 2, 1,
     "'inside' cannot be redefined in [sets]", nullptr},
    {"quarantine_in_sets", "[sets]\nquarantine = [\"10.0.0.0/8\"]\n", 2, 1,
     "'quarantine' cannot be defined in [sets]", nullptr},
    {"detector_unknown_stat",
     "[[detector]]\nname = \"d\"\nstat = \"port25_destinatons\"\nthreshold = 20\nwindow = \"5m\"\n",
     3, 8, "'port25_destinatons' is not a valid stat", "did you mean 'port25_destinations'?"},
    {"detector_bad_window",
     "[[detector]]\nname = \"d\"\nstat = \"messages\"\nthreshold = 20\nwindow = \"5 minutes\"\n", 5,
     10, "bad window '5 minutes'", "for example window = \"5m\""},
    {"detector_unknown_key",
     "[[detector]]\nname = \"d\"\nstat = \"messages\"\nthreshhold = 20\nwindow = \"5m\"\n", 4, 1,
     "unknown key 'threshhold' in detector 'd'", "did you mean 'threshold'?"},
    {"detector_quarantine_without_duration",
     "[[detector]]\nname = \"d\"\nstat = \"messages\"\nthreshold = 20\nwindow = \"5m\"\naction = "
     "\"quarantine\"\n",
     2, 8, "detector 'd' quarantines without a duration", nullptr},
    {"detector_duration_on_alert",
     "[[detector]]\nname = \"d\"\nstat = \"messages\"\nthreshold = 20\nwindow = \"5m\"\n"
     "quarantine_for = \"24h\"\n",
     6, 1, "'quarantine_for' applies only to action = \"quarantine\"", nullptr},
    {"detector_third_window",
     "[[detector]]\nname = \"a\"\nstat = \"messages\"\nthreshold = 1\nwindow = \"5m\"\n"
     "[[detector]]\nname = \"b\"\nstat = \"messages\"\nthreshold = 1\nwindow = \"10m\"\n"
     "[[detector]]\nname = \"c\"\nstat = \"messages\"\nthreshold = 1\nwindow = \"1h\"\n",
     15, 10, "detector 'c' needs a third window length (3600s)", nullptr},
    {"subscribers_v6_prefix_range", "[subscribers]\nv6_prefix = 96\n", 2, 13,
     "v6_prefix 96 is out of range", nullptr},
    {"duplicate_rule_name",
     "[[rule]]\nname = \"r\"\nports = [25]\naction = \"allow\"\n"
     "[[rule]]\nname = \"r\"\nports = [587]\naction = \"allow\"\n",
     6, 8, "duplicate rule name 'r'", "the first is at line 2; rename one"},
    {"unreachable_after_unconditional",
     "[[rule]]\nname = \"everything\"\naction = \"allow\"\n"
     "[[rule]]\nname = \"later\"\nports = [25]\naction = \"reject\"\n",
     5, 8, "rule 'later' can never match: rule 'everything' above it matches everything it would",
     "rule 'everything' (line 2) has no conditions, so no rule after it is ever evaluated; move "
     "it last"},
    {"unreachable_same_conditions",
     "[networks]\ninside = [\"100.64.0.0/10\"]\n"
     "[[rule]]\nname = \"a\"\nsrc = [\"inside\"]\nport_class = \"relay\"\naction = \"reject\"\n"
     "[[rule]]\nname = \"b\"\nsrc = [\"inside\"]\nports = [25]\naction = \"drop\"\n",
     9, 8, "rule 'b' can never match: rule 'a' above it matches everything it would",
     "rules 'a' (line 4) and 'b' have the same conditions; delete one"},
    {"unreachable_session_below_connection",
     "[[rule]]\nname = \"allow-587\"\nports = [587]\naction = \"allow\"\n"
     "[[rule]]\nname = \"auth\"\nports = [587]\nplaintext_auth = true\naction = \"reject\"\n",
     6, 8, "rule 'auth' can never match: rule 'allow-587' above it matches everything it would",
     "connection rule 'allow-587' (line 2) decides these connections at the SYN; put session "
     "rules above the connection rules for the same traffic"},
    {"invalid_regex", "[[rule]]\nname = \"r\"\nehlo_regex = ['^mx(a|b$']\naction = \"alert\"\n", 3,
     19,
     "bad regular expression in ehlo_regex of rule 'r': Missing close parenthesis for group "
     "started at index 3.",
     nullptr},
    {"regex_matches_empty", "[[rule]]\nname = \"r\"\nsni_regex = [\"x*\"]\naction = \"alert\"\n", 3,
     14,
     "bad regular expression in sni_regex of rule 'r': Pattern matches empty buffer; use "
     "HS_FLAG_ALLOWEMPTY to enable support.",
     "it matches an empty sni; to match any value, leave the condition out"},
    {"date_as_string",
     "[[rule]]\nname = \"r\"\nports = [25]\naction = \"allow\"\nexpires = \"2026-06-30\"\n"
     "ticket = \"T-1\"\n",
     5, 11, "bad date for 'expires': '2026-06-30' is a string",
     "remove the quotes: expires = 2026-06-30"},
    {"date_that_does_not_exist",
     "[[rule]]\nname = \"r\"\nports = [25]\naction = \"allow\"\nexpires = 2026-02-30\n", 5, 11,
     "TOML syntax error: invalid date: it does not conform RFC3339.", nullptr},
    {"date_time_without_offset",
     "[[rule]]\nname = \"r\"\nports = [25]\naction = \"allow\"\nexpires = 2026-06-30T12:00:00\n"
     "ticket = \"T-1\"\n",
     5, 11, "bad date for 'expires': a date-time needs a UTC offset", nullptr},
    {"toml_syntax", "[policy]\nname = \"unterminated\n", 2, 8,
     "TOML syntax error: the next token is not a valid string", nullptr},
    {"reject_with_on_drop",
     "[[rule]]\nname = \"r\"\nports = [25]\naction = \"drop\"\nreject_with = \"icmp\"\n", 5, 15,
     "'reject_with' applies only to action = \"reject\"", nullptr},
    {"icmp_on_session_rule",
     "[[rule]]\nname = \"r\"\nplaintext_auth = true\naction = \"reject\"\n"
     "reject_with = \"icmp\"\n",
     5, 15, "reject_with = \"icmp\" cannot end an established session", nullptr},
    {"rate_without_rate_limit",
     "[[rule]]\nname = \"r\"\nports = [25]\naction = \"allow\"\nburst = 5\n", 5, 1,
     "'burst' applies only to action = \"rate_limit\"", nullptr},
    {"bad_rate",
     "[[rule]]\nname = \"r\"\nports = [25]\naction = \"rate_limit\"\nrate = \"30/fortnight\"\n"
     "burst = 5\n",
     5, 8, "bad rate '30/fortnight'", "for example rate = \"30/minute\""},
    {"bad_per",
     "[[rule]]\nname = \"r\"\nports = [25]\naction = \"rate_limit\"\nrate = \"30/minute\"\n"
     "burst = 5\nper = \"/33\"\n",
     7, 7, "bad 'per' value '/33'", "per is the IPv4 key; per_v6 the IPv6 one"},
    {"rate_limit_on_session_rule",
     "[[rule]]\nname = \"r\"\nports = [587]\nplaintext_auth = true\naction = \"rate_limit\"\n"
     "rate = \"1/second\"\nburst = 1\n",
     5, 10, "rate_limit counts new connections, so rule 'r' cannot use session conditions",
     nullptr},
    {"rate_limit_without_burst",
     "[[rule]]\nname = \"r\"\nports = [25]\naction = \"rate_limit\"\nrate = \"30/minute\"\n", 2, 8,
     "rule 'r' is a rate_limit without a burst", nullptr},
    {"port_not_smtp", "[[rule]]\nname = \"r\"\nports = [25, 8025]\naction = \"reject\"\n", 3, 14,
     "port 8025 is not an SMTP port",
     "add it to a class under [ports]; other ports pass without policy"},
    {"port_out_of_range", "[ports]\nsubmission = [587, 70000]\n", 2, 20,
     "port 70000 is out of range", nullptr},
    {"port_in_two_classes", "[ports]\nrelay = [25]\nsubmission = [587, 25]\n", 3, 20,
     "port 25 is already in class relay", nullptr},
    {"port_clashes_with_default_class", "[ports]\nsubmission = [587, 465]\n", 2, 20,
     "port 465 is already in class implicit_tls (default)", nullptr},
    {"unknown_port_class",
     "[[rule]]\nname = \"r\"\nport_class = [\"submision\"]\naction = \"allow\"\n", 3, 15,
     "unknown port class 'submision'", "did you mean 'submission'?"},
    {"unknown_anomaly",
     "[[rule]]\nname = \"r\"\nanomaly = [\"starttls_stripped\"]\naction = \"alert\"\n", 3, 12,
     "unknown anomaly 'starttls_stripped'", nullptr},
    {"bad_ja3",
     "[[rule]]\nname = \"r\"\nja3 = [\"771,4865-4866,0-23,29-23,0\"]\naction = \"drop\"\n", 3, 8,
     "bad ja3 fingerprint '771,4865-4866,0-23,29-23,0'",
     "paste the JA3 hash, not the raw JA3 string"},
    {"bad_ja4",
     "[[rule]]\nname = \"r\"\nja4 = [\"t13d1516h2-8daaf6152771-02713d6af862\"]\naction = "
     "\"drop\"\n",
     3, 8, "bad ja4 fingerprint 't13d1516h2-8daaf6152771-02713d6af862'", nullptr},
    {"missing_action", "[[rule]]\nname = \"r\"\nports = [25]\n", 2, 8, "rule 'r' has no action",
     nullptr},
    {"bad_action", "[[rule]]\nname = \"r\"\nports = [25]\naction = \"deny\"\n", 4, 10,
     "'deny' is not a valid action", nullptr},
    {"missing_name", "[[rule]]\nports = [25]\naction = \"reject\"\n", 1, 1, "rule #1 has no name",
     nullptr},
    {"bad_rule_name", "[[rule]]\nname = \"block relay\"\nports = [25]\naction = \"reject\"\n", 2, 8,
     "bad rule name 'block relay'", nullptr},
    {"bad_policy_mode", "[policy]\nmode = \"monitor\"\n", 2, 8, "'monitor' is not a valid mode",
     nullptr},
    {"rate_limit_as_default", "[policy]\ndefault = \"rate_limit\"\n", 2, 11,
     "'rate_limit' is not a valid default", nullptr},
    {"rule_not_array_of_tables", "rule = [1, 2]\n", 1, 8,
     "'rule' must be an array of tables, not an array of other values", nullptr},
    {"empty_pattern", "[[rule]]\nname = \"r\"\nmail_from_domain = [\"\"]\naction = \"alert\"\n", 3,
     21, "empty pattern in 'mail_from_domain'", nullptr},
    {"string_list_for_ports", "[ports]\nrelay = [25]\nsubmission = [\"587\", 2525]\n", 3, 15,
     "'submission' must be an integer port number, not a string", "remove the quotes"},
    {"strings_for_rules", "rule = [\"a\", \"b\"]\n", 1, 8,
     "'rule' must be an array of tables, not an array of other values", nullptr},
    {"bad_prefix_in_list_with_escapes",
     "[sets]\nlab = [\"198.18.0.0/15\", \"198.18.\\u0030.1/33\"]\n", 2, 25,
     "bad prefix '198.18.0.1/33': prefix length /33 exceeds /32 for IPv4", nullptr},
    {"bad_prefix_after_comment_in_list",
     "[sets]\nlab = [\n  # the lab\n  '198.18.0.0/15',  # both halves\n  \"198.18.0.0/33\",\n]\n",
     5, 3, "bad prefix '198.18.0.0/33': prefix length /33 exceeds /32 for IPv4", nullptr},
    {"bad_prefix_crlf_list", "[sets]\r\nlab = [\r\n\"198.18.0.0/15\",\r\n\"1.2.3.4/40\"]\r\n", 4, 1,
     "bad prefix '1.2.3.4/40': prefix length /40 exceeds /32 for IPv4", nullptr},
    {"unknown_key_with_string_list", "[networks]\ninside = []\noutside = [\"198.18.0.0/15\"]\n", 3,
     1, "unknown key 'outside' in [networks]", nullptr},
    {"too_many_smtp_ports",
     "[ports]\nrelay = [25" +
         [] {
           std::string s;
           for (int p = 1000; p < 1064; ++p) s += ", " + std::to_string(p);
           return s;
         }() +
         "]\n",
     2, 392, "too many SMTP ports (68) in [ports]", nullptr},
};

class BrokenFileTest : public testing::TestWithParam<BrokenFile> {};

// Test that each broken file yields exactly its one error, at its place, with its message.
TEST_P(BrokenFileTest, ReportsExactlyTheProblem) {
  const BrokenFile& c = GetParam();
  Diagnostics diags;
  auto snap = compilePolicyText(c.text, "broken.toml", diags);
  EXPECT_EQ(snap, nullptr);
  ASSERT_EQ(diags.errorCount(), 1u) << formatDiagnostics(diags);
  const Diagnostic* d = nullptr;
  for (const Diagnostic& x : diags.items())
    if (x.severity == Severity::kError) d = &x;
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->pos.file, "broken.toml");
  EXPECT_EQ(d->pos.line, c.line) << formatDiagnostic(*d);
  EXPECT_EQ(d->pos.column, c.column) << formatDiagnostic(*d);
  EXPECT_EQ(d->message, c.message);
  EXPECT_FALSE(d->expected.empty()) << "every error says what was expected";
  if (c.hint) {
    EXPECT_EQ(d->hint, c.hint);
  }
}

INSTANTIATE_TEST_SUITE_P(PolicyLoader, BrokenFileTest, testing::ValuesIn(kBrokenFiles),
                         [](const testing::TestParamInfo<BrokenFile>& i) {
                           return std::string(i.param.name);
                         });

// Test that every problem of a file is reported in one pass, in file order.
TEST(PolicyLoader, ReportsAllErrorsAtOnce) {
  const char* text =
      "[policy]\n"
      "mode = \"shdow\"\n"  // 2
      "[networks]\n"
      "inside = [\"100.64.1.0/10\"]\n"  // 4
      "[[rule]]\n"
      "name = \"a\"\n"
      "src = [\"mtas\"]\n"  // 7
      "action = \"allow\"\n"
      "[[rule]]\n"
      "name = \"b\"\n"
      "ehlo_regex = ['(']\n"  // 11
      "action = \"alert\"\n"
      "expires = \"soon\"\n";  // 13
  Diagnostics diags;
  EXPECT_EQ(compilePolicyText(text, "many.toml", diags), nullptr);
  std::vector<uint32_t> lines;
  for (const Diagnostic& d : diags.sorted()) lines.push_back(d.pos.line);
  EXPECT_EQ(lines, (std::vector<uint32_t>{2, 4, 7, 11, 13})) << formatDiagnostics(diags);
}

// Test the rendering: file:line:column, the source line, a caret under the value, expected, hint.
TEST(PolicyLoader, FormatsWithExcerptExpectedAndHint) {
  Diagnostics diags;
  loadPolicyText("[[rule]]\nname = \"r\"\nport_class = [\"relya\"]\naction = \"allow\"\n", "p.toml",
                 diags);
  ASSERT_EQ(diags.errorCount(), 1u);
  EXPECT_EQ(formatDiagnostic(diags.items()[0]),
            "p.toml:3:15: error: unknown port class 'relya'\n"
            "  3 | port_class = [\"relya\"]\n"
            "    |               ^~~~~~~\n"
            "  expected: one of \"relay\" | \"submission\" | \"implicit_tls\"\n"
            "  hint: did you mean 'relay'?\n");
}

// Test that an unreadable file is one error naming the file.
TEST(PolicyLoader, MissingFile) {
  Diagnostics diags;
  loadPolicyFile("/nonexistent/policy.toml", diags);
  ASSERT_EQ(diags.errorCount(), 1u);
  EXPECT_EQ(diags.items()[0].pos.file, "/nonexistent/policy.toml");
  EXPECT_EQ(diags.items()[0].message, "cannot read policy file: No such file or directory");
}

// A fresh temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/policy_loader_test.XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string path(const std::string& name) const { return path_ + "/" + name; }
  const std::string& dir() const { return path_; }

 private:
  std::string path_;
};

// The one error of loading `path`, or "" with a test failure.
std::string onlyError(const std::string& path) {
  Diagnostics diags;
  PolicySpec spec = loadPolicyFile(path, diags);
  EXPECT_EQ(diags.errorCount(), 1u) << path << "\n" << formatDiagnostics(diags);
  EXPECT_TRUE(spec.rules.empty());
  if (diags.errorCount() != 1) return "";
  EXPECT_EQ(diags.items()[0].pos.file, path);
  return diags.items()[0].message;
}

// Test that a directory is not a policy (it used to read as an empty, allow-all policy).
TEST(PolicyLoader, DirectoryIsNotAPolicy) {
  TempDir tmp;
  EXPECT_EQ(onlyError(tmp.dir()), "not a regular file: a directory");
}

// Test that devices are refused before a byte is read: /dev/zero would never end.
TEST(PolicyLoader, DevicesAreNotPolicies) {
  EXPECT_EQ(onlyError("/dev/zero"), "not a regular file: a character device");
  EXPECT_EQ(onlyError("/dev/null"), "not a regular file: a character device");
}

// Test that a named pipe is refused without waiting for a writer.
TEST(PolicyLoader, FifoIsNotAPolicy) {
  TempDir tmp;
  ASSERT_EQ(mkfifo(tmp.path("fifo").c_str(), 0600), 0);
  EXPECT_EQ(onlyError(tmp.path("fifo")), "not a regular file: a named pipe");
}

// Test that a /proc file that fails to read is an error, not an empty policy.
TEST(PolicyLoader, UnreadableProcFileIsAnError) {
  EXPECT_EQ(onlyError("/proc/self/mem"), "cannot read policy file: Input/output error");
}

// Test that a file larger than the documented limit is refused without reading it.
TEST(PolicyLoader, SizeLimit) {
  TempDir tmp;
  std::string big = tmp.path("big.toml");
  {
    // Exactly the limit: lines of blanks, an empty policy.
    FILE* f = std::fopen(big.c_str(), "w");
    ASSERT_NE(f, nullptr);
    const std::string line = std::string(1023, ' ') + "\n";
    for (size_t n = 0; n < kMaxPolicyBytes / line.size(); ++n) std::fputs(line.c_str(), f);
    std::fclose(f);
  }
  ASSERT_EQ(std::filesystem::file_size(big), kMaxPolicyBytes);
  Diagnostics diags;
  loadPolicyFile(big, diags);
  EXPECT_FALSE(diags.hasErrors()) << formatDiagnostics(diags);
  // One byte more is refused before anything is read.
  ASSERT_EQ(truncate(big.c_str(), static_cast<off_t>(kMaxPolicyBytes) + 1), 0);
  EXPECT_EQ(onlyError(big), "the file is larger than the limit of 16 MiB");
}

// Test that an empty regular file is still a valid (empty) policy.
TEST(PolicyLoader, EmptyRegularFileIsAnEmptyPolicy) {
  TempDir tmp;
  std::string empty = tmp.path("empty.toml");
  FILE* f = std::fopen(empty.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  Diagnostics diags;
  loadPolicyFile(empty, diags);
  EXPECT_FALSE(diags.hasErrors()) << formatDiagnostics(diags);
}

// Test that more rules than the counter families hold is an error at the first one too many.
TEST(PolicyLoader, TooManyRules) {
  std::string text;
  for (int i = 0; i < 257; ++i)
    text += "[[rule]]\nname = \"r" + std::to_string(i) +
            "\"\nports = [25]\naction = \"allow\"\n"
            "expires = 2030-01-01\nticket = \"t\"\n";
  Diagnostics diags;
  EXPECT_EQ(compilePolicyText(text, "big.toml", diags), nullptr);
  ASSERT_EQ(diags.errorCount(), 1u) << formatDiagnostics(diags);
  EXPECT_EQ(diags.items()[0].message, "too many rules (257)");
  EXPECT_EQ(diags.items()[0].pos.line, 256u * 6 + 2);
}

// Test that a hostile nesting depth is refused before toml11 recurses into it, at the bracket
// one level too deep.
TEST(PolicyLoader, DeepNestingRefused) {
  std::string text = "[policy]\nx = " + std::string(10000, '[');
  Diagnostics diags;
  loadPolicyText(text, "deep.toml", diags);
  ASSERT_EQ(diags.errorCount(), 1u);
  EXPECT_EQ(diags.items()[0].message, "arrays or inline tables nested too deep");
  EXPECT_EQ(diags.items()[0].pos.line, 2u);
  EXPECT_EQ(diags.items()[0].pos.column, 5u + 64u);
}

// Test that brackets inside strings and comments, and table headers, are not nesting.
TEST(PolicyLoader, BracketsInStringsAreNotNesting) {
  std::string deep(100, '[');
  std::string text = "[policy]\n# " + deep + "\nname = \"" + deep + "\"\ndescription = '''" + deep +
                     "\n" + deep + "'''\n";
  Diagnostics diags;
  PolicySpec spec = loadPolicyText(text, "s.toml", diags);
  EXPECT_FALSE(diags.hasErrors()) << formatDiagnostics(diags);
  EXPECT_EQ(spec.name, deep);
}

// Test that a line with more keys and values than toml11 handles in linear time (a huge inline
// table, a dotted key of thousands of parts) is refused where the limit is crossed.
TEST(PolicyLoader, TooManyTokensOnOneLine) {
  std::string table = "[policy]\nx = {";
  for (int i = 0; i < 600; ++i) table += (i ? ", k" : "k") + std::to_string(i) + " = 1";
  table += "}\n";
  std::string dotted = "[policy]\nx";
  for (int i = 0; i < 50000; ++i) dotted += ".k";
  dotted += " = 1\n";
  for (const std::string& text : {table, dotted}) {
    Diagnostics diags;
    loadPolicyText(text, "t.toml", diags);
    ASSERT_EQ(diags.errorCount(), 1u) << formatDiagnostics(diags);
    const Diagnostic& d = diags.items()[0];
    EXPECT_EQ(d.message, "too many keys and values on one line (more than 1024)");
    EXPECT_EQ(d.pos.line, 2u);
    EXPECT_GT(d.pos.column, 1000u);
    EXPECT_LT(formatDiagnostic(d).size(), 1000u) << "the excerpt is a window of the line";
  }
}

// Test that lists read the same however they are spelt: basic and literal strings, escapes,
// comments, CRLF, a trailing comma, multi-line strings, one line or many.
TEST(PolicyLoader, StringListsOfEverySpelling) {
  const char* texts[] = {
      "[sets]\ns = [\"198.18.0.0/24\", '198.18.1.0/24', \"198.18.\\u0032.0/24\"]\n",
      "[sets]\ns = [\n  \"198.18.0.0/24\",  # one\n  # two\n  '198.18.1.0/24',\n"
      "  \"198.18.2.0/24\",\n]\n",
      "[sets]\r\ns = [\r\n\"198.18.0.0/24\",\r\n'198.18.1.0/24' , \"198.18.2.0/24\"\r\n]\r\n",
      "[sets]\ns = [\"\"\"198.18.0.0/24\"\"\", '''198.18.1.0/24''', \"198.18.2.0/24\"]\n",
  };
  for (const char* text : texts) {
    Diagnostics diags;
    PolicySpec spec = loadPolicyText(
        std::string(text) + "[[rule]]\nname = \"r\"\nsrc = [\"s\"]\naction = \"drop\"\n", "l.toml",
        diags);
    ASSERT_FALSE(diags.hasErrors()) << text << "\n" << formatDiagnostics(diags);
    ASSERT_EQ(spec.sets.size(), 2u) << text;
    std::vector<std::string> got;
    for (const Prefix& p : spec.sets[1].prefixes) got.push_back(formatPrefix(p));
    EXPECT_EQ(got, (std::vector<std::string>{"198.18.0.0/24", "198.18.1.0/24", "198.18.2.0/24"}))
        << text;
  }
}

// Test that a list broken by a missing comma is still a TOML error on its line.
TEST(PolicyLoader, BrokenListIsATomlError) {
  Diagnostics diags;
  loadPolicyText("[sets]\ns = [\"198.18.0.0/24\" \"198.18.1.0/24\"]\n", "b.toml", diags);
  ASSERT_EQ(diags.errorCount(), 1u) << formatDiagnostics(diags);
  EXPECT_EQ(diags.items()[0].pos.line, 2u);
  EXPECT_EQ(diags.items()[0].message.rfind("TOML syntax error", 0), 0u);
}

// A policy blocking `n` /24 prefixes (from 10.0.0.0/24 up), on one line or one per line.
std::string prefixPolicy(size_t n, bool one_line) {
  std::string text = "[policy]\nname = \"block\"\n[sets]\nblock = [";
  text.reserve(n * 20 + 200);
  for (size_t i = 0; i < n; ++i) {
    text += one_line ? (i ? ", \"" : "\"") : "\n  \"";
    text += std::to_string(10 + (i >> 16)) + "." + std::to_string((i >> 8) & 255) + "." +
            std::to_string(i & 255) + ".0/24\"";
    if (!one_line) text += ',';
  }
  text += one_line ? "]\n" : "\n]\n";
  text += "[[rule]]\nname = \"blocked\"\nsrc = [\"block\"]\naction = \"drop\"\n";
  return text;
}

// Test that 200,000 prefixes on one line load and compile (toml11 is quadratic in the length of
// a line: this took minutes before; the test's timeout is the check).
TEST(PolicyLoaderScale, TwoHundredThousandPrefixesOnOneLine) {
  for (bool one_line : {true, false}) {
    Diagnostics diags;
    auto snap = compilePolicyText(prefixPolicy(200000, one_line), "big.toml", diags);
    ASSERT_NE(snap, nullptr) << formatDiagnostics(diags).substr(0, 2000);
    EXPECT_EQ(snap->prefixCount(), 200000u);
    // Prefix 199,999 is 13.13.63.0/24 (10 + 199999 >> 16 = 13).
    EXPECT_EQ(snap->setsOf(*parseIpAddr("13.13.63.1")), SetMask{2});
    EXPECT_EQ(snap->setsOf(*parseIpAddr("13.13.64.1")), SetMask{0});
    EXPECT_EQ(snap->setsOf(*parseIpAddr("10.0.0.1")), SetMask{2});
  }
}

// Test that a JA3 list of 100,000 hashes keeps every one (it used to be cut at 65,535).
TEST(PolicyLoaderScale, HundredThousandJa3HashesKept) {
  std::string text = "[[rule]]\nname = \"ja3-feed\"\naction = \"drop\"\nja3 = [\n";
  char hash[48];
  for (unsigned i = 0; i < 100000; ++i) {
    std::snprintf(hash, sizeof hash, "  \"%032x\",\n", i * 2654435761u);
    text += hash;
  }
  text += "]\n";
  Diagnostics diags;
  auto snap = compilePolicyText(text, "ja3.toml", diags);
  ASSERT_NE(snap, nullptr) << formatDiagnostics(diags).substr(0, 2000);
  EXPECT_EQ(snap->fingerprintCount(), 100000u);
  SessionFacts f;
  f.conn = {*parseIpAddr("198.18.0.1"), *parseIpAddr("198.18.1.1"), 587};
  std::snprintf(hash, sizeof hash, "%032x", 99999u * 2654435761u);
  f.ja3 = hash;
  EXPECT_EQ(evaluateSession(*snap, f, 0).action, Action::kDrop);
}

// Test that errors inside a long one-line list each point at their element with a short
// excerpt, and that reporting many of them stays linear.
TEST(PolicyLoaderScale, ErrorsInALongLineArePrecise) {
  std::string text = "[sets]\nbad = [";
  const size_t n = 50000;
  for (size_t i = 0; i < n; ++i) text += i ? ", \"10.0.0.1/8\"" : "\"10.0.0.1/8\"";
  text += "]\n";
  Diagnostics diags;
  loadPolicyText(text, "bad.toml", diags);
  ASSERT_EQ(diags.errorCount(), n);
  const std::vector<Diagnostic> sorted = diags.sorted();
  const Diagnostic& last = sorted.back();
  EXPECT_EQ(last.pos.line, 2u);
  EXPECT_EQ(last.pos.column, 8u + (n - 1) * 14);  // `bad = [` then 14 bytes an element
  EXPECT_EQ(last.pos.length, 12u);
  const std::string shown = formatDiagnostic(last);
  EXPECT_LT(shown.size(), 1000u) << shown;
  // A window of the line, marked where it was cut, and the element underlined in it.
  EXPECT_NE(shown.find("  2 | ..."), std::string::npos) << shown;
  EXPECT_NE(shown.find(", \"10.0.0.1/8\"]\n    |    "), std::string::npos) << shown;
  EXPECT_NE(shown.find(" ^~~~~~~~~~~~\n  expected"), std::string::npos) << shown;
}

// Test that toml11 is never handed more values than a policy needs (it keeps a few hundred
// bytes each: 16 MiB of `1,` took 28 s and 2 GB), while lists of strings of any length are fine.
TEST(PolicyLoaderScale, ValuesOutsideStringListsAreBounded) {
  std::string ints = "[policy]\nx = [";
  for (int i = 0; i < 200001; ++i) ints += "1,";
  ints += "]\n";
  Diagnostics diags;
  loadPolicyText(ints, "ints.toml", diags);
  ASSERT_EQ(diags.errorCount(), 1u) << formatDiagnostics(diags).substr(0, 2000);
  EXPECT_EQ(diags.items()[0].message,
            "too many keys and values outside lists of strings (more than 200000)");
  EXPECT_EQ(diags.items()[0].pos.line, 2u);
}

// Test that 100,000 unknown keys are each reported at their key, in linear time (each position
// used to count lines from the start of the file).
TEST(PolicyLoaderScale, HundredThousandUnknownKeys) {
  std::string text = "[policy]\n";
  for (int i = 0; i < 100000; ++i) text += "k" + std::to_string(i) + " = 1\n";
  Diagnostics diags;
  loadPolicyText(text, "keys.toml", diags);
  ASSERT_EQ(diags.errorCount(), 100000u);
  const std::vector<Diagnostic> sorted = diags.sorted();
  const Diagnostic& last = sorted.back();
  EXPECT_EQ(last.pos.line, 100001u);
  EXPECT_EQ(last.pos.column, 1u);
  EXPECT_EQ(last.message, "unknown key 'k99999' in [policy]");
}

// Test the one rule for IPv4-mapped prefixes (docs/policy.md, [sets]): a prefix inside
// ::ffff:0:0/96 is the IPv4 prefix it maps and matches IPv4 addresses, with a warning that
// names the IPv4 spelling; any other IPv6 prefix, however short, never matches IPv4.
TEST(PolicyLoader, MappedPrefixesAreTheirIPv4Prefix) {
  const char* text =
      "[sets]\n"
      "mapped = [\"::ffff:10.20.0.0/112\", \"::ffff:10.30.0.1\"]\n"  // line 2
      "v4 = [\"10.20.0.0/16\"]\n"
      "all_v6 = [\"::/0\"]\n"
      "all_mapped = [\"::ffff:0:0/96\"]\n"  // line 5
      "[[rule]]\nname = \"r\"\nsrc = [\"mapped\", \"v4\", \"all_v6\", \"all_mapped\"]\n"
      "action = \"alert\"\n";
  Diagnostics diags;
  auto snap = compilePolicyText(text, "m.toml", diags);
  ASSERT_NE(snap, nullptr) << formatDiagnostics(diags);
  std::vector<std::string> warnings;
  for (const Diagnostic& d : diags.sorted())
    warnings.push_back(std::to_string(d.pos.line) + ":" + std::to_string(d.pos.column) + " " +
                       d.message + " | " + d.hint);
  EXPECT_EQ(warnings,
            (std::vector<std::string>{
                "2:11 '::ffff:10.20.0.0/112' is an IPv4-mapped prefix: it is the IPv4 prefix "
                "10.20.0.0/16 and matches IPv4 addresses (2 such prefixes in set 'mapped') | "
                "write it as \"10.20.0.0/16\"",
                "5:15 '::ffff:0:0/96' is an IPv4-mapped prefix: it is the IPv4 prefix 0.0.0.0/0 "
                "and matches IPv4 addresses | write it as \"0.0.0.0/0\"",
            }));
  auto bit = [&](const std::string& name) {
    const auto& names = snap->setNames();
    return SetMask{1} << (std::find(names.begin(), names.end(), name) - names.begin());
  };
  const SetMask mapped = bit("mapped"), v4 = bit("v4"), all_v6 = bit("all_v6"),
                all_mapped = bit("all_mapped");
  EXPECT_EQ(snap->setsOf(*parseIpAddr("10.20.1.1")), mapped | v4 | all_mapped);
  EXPECT_EQ(snap->setsOf(*parseIpAddr("::ffff:10.20.1.1")), mapped | v4 | all_mapped);
  EXPECT_EQ(snap->setsOf(*parseIpAddr("10.30.0.1")), mapped | all_mapped);
  EXPECT_EQ(snap->setsOf(*parseIpAddr("198.18.0.1")), all_mapped);
  EXPECT_EQ(snap->setsOf(*parseIpAddr("2001:db8::1")), all_v6);
  EXPECT_EQ(snap->setsOf(*parseIpAddr("::1")), all_v6);
}

// Test that warnings (expired exception, exception without ticket, unused set) do not stop a
// policy from compiling.
TEST(PolicyLoader, WarningsDoNotFail) {
  const char* text =
      "[sets]\n"
      "old = [\"198.18.1.0/24\"]\n"
      "mta = [\"198.18.0.25\"]\n"
      "[[rule]]\n"
      "name = \"old-exception\"\n"
      "src = \"mta\"\n"
      "ports = [25]\n"
      "action = \"allow\"\n"
      "expires = 2026-01-31\n"
      "ticket = \"BIZ-7\"\n"
      "[[rule]]\n"
      "name = \"no-ticket\"\n"
      "ports = [587]\n"
      "action = \"allow\"\n"
      "expires = 2027-01-31\n";
  Diagnostics diags;
  auto snap = compilePolicyText(text, "w.toml", diags, {.now_unix_s = kNow});
  ASSERT_NE(snap, nullptr) << formatDiagnostics(diags);
  std::vector<std::string> messages;
  for (const Diagnostic& d : diags.sorted()) {
    EXPECT_EQ(d.severity, Severity::kWarning);
    messages.push_back(std::to_string(d.pos.line) + ": " + d.message);
  }
  EXPECT_EQ(messages, (std::vector<std::string>{
                          "2: set 'old' is not used by any rule",
                          "9: rule 'old-exception' expired on 2026-01-31 (ticket BIZ-7) and no "
                          "longer matches",
                          "15: rule 'no-ticket' expires but carries no ticket",
                      }));
}

// Test that an expired or shadow rule does not make the rules below it unreachable.
TEST(PolicyLoader, ExpiringAndShadowRulesHideNothing) {
  const char* text =
      "[[rule]]\nname = \"all-until\"\naction = \"allow\"\nexpires = 2027-01-01\nticket = \"t\"\n"
      "[[rule]]\nname = \"all-shadow\"\naction = \"drop\"\nmode = \"shadow\"\n"
      "[[rule]]\nname = \"relay\"\nports = [25]\naction = \"reject\"\n";
  Diagnostics diags;
  EXPECT_NE(compilePolicyText(text, "ok.toml", diags), nullptr) << formatDiagnostics(diags);
}

// Test that list keys accept a single string and integers as well as arrays.
TEST(PolicyLoader, SingleValuesForLists) {
  Diagnostics diags;
  PolicySpec spec = loadPolicyText(
      "[networks]\ninside = [\"100.64.0.0/10\"]\n"
      "[[rule]]\nname = \"r\"\nsrc = \"inside\"\nports = 25\nport_class = \"submission\"\n"
      "action = \"allow\"\n",
      "s.toml", diags);
  ASSERT_FALSE(diags.hasErrors()) << formatDiagnostics(diags);
  ASSERT_EQ(spec.rules.size(), 1u);
  EXPECT_EQ(spec.rules[0].src_sets, std::vector<unsigned>{kInsideSet});
  EXPECT_EQ(spec.rules[0].ports, std::vector<uint16_t>{25});
  EXPECT_EQ(spec.rules[0].port_classes, 1u << static_cast<unsigned>(PortClass::kSubmission));
}

// Test that every shipped example compiles without errors or warnings.
TEST(PolicyLoader, ExamplesValidate) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(SMTPGUARD_POLICY_EXAMPLES)) {
    if (e.path().extension() != ".toml") continue;
    ++n;
    Diagnostics diags;
    auto snap = compilePolicyFile(e.path().string(), diags, {.now_unix_s = kNow});
    EXPECT_NE(snap, nullptr) << e.path();
    EXPECT_EQ(diags.items().size(), 0u) << e.path() << "\n" << formatDiagnostics(diags);
    if (snap) {
      EXPECT_GT(snap->ruleCount(), 0u);
    }
  }
  EXPECT_EQ(n, 3u);
}

}  // namespace
}  // namespace smtpguard
