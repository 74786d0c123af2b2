#include "pipeline/policy_handle.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "policy/policy_compiler.h"
#include "stats/counter_block.h"

namespace smtpguard {
namespace {

// Writes policies to one temporary file, as an operator edits the policy before a SIGHUP.
class PolicyFile {
 public:
  PolicyFile() {
    char tmpl[] = "/tmp/policy_handle_test.XXXXXX";
    int fd = mkstemp(tmpl);
    close(fd);
    path_ = tmpl;
  }
  ~PolicyFile() { std::filesystem::remove(path_); }
  void write(const std::string& text) {
    FILE* f = std::fopen(path_.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(text.c_str(), f);
    std::fclose(f);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A policy of two rules: "stable", and one named `renamed`.
std::string twoRules(const std::string& renamed) {
  return "[[rule]]\nname = \"stable\"\nports = [25]\naction = \"alert\"\n"
         "[[rule]]\nname = \"" +
         renamed + "\"\nports = [587]\naction = \"alert\"\n";
}

// Test that 300 renames across reloads all apply: rule counters used to be capped at 256
// names for the life of the process, and every reload after that failed.
TEST(PolicyHandle, ThreeHundredRenamesAllApply) {
  PolicyHandle handle(1);
  PolicyFile file;
  for (int i = 0; i < 300; ++i) {
    file.write(twoRules("rule-" + std::to_string(i)));
    std::string error;
    ASSERT_TRUE(applyPolicy(handle, compilePolicyFileNow(file.path(), error), error))
        << "reload " << i << ": " << error;
    ASSERT_NE(handle.current()->snapshot, nullptr);
    EXPECT_EQ(handle.current()->snapshot->ruleNames()[1], "rule-" + std::to_string(i));
  }
}

// The exported policy.rule.<name> counters.
std::map<std::string, uint64_t> ruleCounts(const PolicyHandle& handle, const CounterBlock& block) {
  const CounterBlock* blocks[] = {&block};
  std::map<std::string, uint64_t> out;
  for (const auto& [name, value] : sumCounters(blocks, handle.naming({})))
    if (name.rfind("policy.rule.", 0) == 0) out[name.substr(12)] = value;
  return out;
}

// Test that every name keeps its own count through 1,200 renames, more than there are counter
// slots: whether its slot was given to another name or not, and a name coming back (before and
// after its slot went) goes on from its old count.
TEST(PolicyHandle, CountsFollowNamesThroughRenames) {
  PolicyHandle handle(1);
  CounterBlock block;
  handle.online(0, block);
  PolicyFile file;
  std::map<std::string, uint64_t> expected;
  for (int i = 0; i < 1200; ++i) {
    // rule-7 comes back every 50 reloads.
    const std::string name = i % 50 == 49 ? "rule-7" : "rule-" + std::to_string(i);
    file.write(twoRules(name));
    std::string error;
    ASSERT_TRUE(applyPolicy(handle, compilePolicyFileNow(file.path(), error), error, 0))
        << "reload " << i << ": " << error;
    // The worker counts hits through the running bundle's slots: i + 1 for the renamed rule,
    // one for "stable".
    const PolicyBundle& b = *handle.current();
    block.rule_hits[b.rule_slot[0]] += 1;
    block.rule_hits[b.rule_slot[1]] += static_cast<uint64_t>(i) + 1;
    expected["stable"] += 1;
    expected[name] += static_cast<uint64_t>(i) + 1;
  }
  EXPECT_EQ(ruleCounts(handle, block), expected);
  EXPECT_GT(handle.naming({}).retired_rules.size(), 600u) << "slots were reused";
  handle.offline(0);
}

// Test that a rule removed by a reload keeps its last count while its slot is not needed.
TEST(PolicyHandle, RemovedRuleKeepsItsCount) {
  PolicyHandle handle(1);
  CounterBlock block;
  handle.online(0, block);
  PolicyFile file;
  std::string error;
  file.write(twoRules("going"));
  ASSERT_TRUE(applyPolicy(handle, compilePolicyFileNow(file.path(), error), error, 0)) << error;
  block.rule_hits[handle.current()->rule_slot[1]] += 5;
  file.write("[[rule]]\nname = \"stable\"\nports = [25]\naction = \"alert\"\n");
  ASSERT_TRUE(applyPolicy(handle, compilePolicyFileNow(file.path(), error), error, 0)) << error;
  EXPECT_EQ(ruleCounts(handle, block)["going"], 5u);
  handle.offline(0);
}

}  // namespace
}  // namespace smtpguard
