#include "app/config_file.h"

#include <gtest/gtest.h>

#include "app/ipfix_target.h"

#include <string>
#include <vector>

namespace smtpguard {
namespace {

ConfigFile load(const std::string& text, Diagnostics& diags) {
  return loadConfigText(text, "t.toml", "/etc/smtpguard", diags);
}

std::string eal(const ConfigFile& c) {
  std::string out;
  for (size_t i = 1; i < c.eal_args.size(); ++i) out += (i > 1 ? " " : "") + c.eal_args[i];
  return out;
}

// Parses argv (program name first) over the file's options, as main() does.
std::optional<Options> overlay(const ConfigFile& c, std::vector<const char*> args, CommandLine& cmd,
                               std::string& error) {
  return parseOptions(static_cast<int>(args.size()), const_cast<char**>(args.data()), c.options,
                      c.has_mode, cmd, error);
}

// Test that every key of the schema lands in the Options field the command line also sets.
TEST(ConfigFile, EveryKeyFillsItsOption) {
  Diagnostics d;
  ConfigFile c = load(R"(
mode = "inline"
[ports]
inside = "0000:01:00.0"
outside = "0000:01:00.1"
[policy]
file = "policy.toml"
mode = "shadow"
[outputs]
events = "/var/log/smtpguard/eve.json"
stats = "-"
prometheus = "m.prom"
metrics_listen = "[::1]:9464"
stats_interval = 2.5
ipfix = "tcp://[::1]:4739"
[flows]
capacity = 1024
checksums = "off"
fragments = "drop"
[timeouts]
handshake = 1
established = 0.5
half_closed = 2
closing = 3
[replay]
capture = "/tmp/x.pcap"
loop = 3
write = "out.pcap"
)",
                      d);
  ASSERT_FALSE(d.hasErrors()) << formatDiagnostics(d);
  const Options& o = c.options;
  EXPECT_TRUE(c.has_mode);
  EXPECT_EQ(o.mode, Mode::kInline);
  EXPECT_EQ(o.inside, "0000:01:00.0");
  EXPECT_EQ(o.outside, "0000:01:00.1");
  EXPECT_EQ(o.policy, "/etc/smtpguard/policy.toml");  // relative: from the file's directory
  EXPECT_FALSE(o.enforce);
  EXPECT_EQ(o.events, "/var/log/smtpguard/eve.json");
  EXPECT_EQ(o.stats, "-");
  EXPECT_EQ(o.prometheus, "/etc/smtpguard/m.prom");
  EXPECT_EQ(o.metrics_listen, "[::1]:9464");
  EXPECT_DOUBLE_EQ(o.stats_interval_s, 2.5);
  EXPECT_EQ(o.ipfix, "tcp://[::1]:4739");
  EXPECT_EQ(o.flows, 1024u);
  EXPECT_EQ(o.checksums, "off");
  EXPECT_EQ(o.fragments, "drop");
  EXPECT_EQ(o.timeout_handshake_ns, 1000000000u);
  EXPECT_EQ(o.timeout_established_ns, 500000000u);
  EXPECT_EQ(o.timeout_half_closed_ns, 2000000000u);
  EXPECT_EQ(o.timeout_closing_ns, 3000000000u);
  EXPECT_EQ(o.capture, "/tmp/x.pcap");
  EXPECT_EQ(o.loop, 3u);
  EXPECT_EQ(o.write, "/etc/smtpguard/out.pcap");
}

// Test that the EAL arguments follow the file: allow list for PCI, vdevs created once, no PCI
// scan without a PCI address, memory and prefix, extra arguments last.
TEST(ConfigFile, EalArguments) {
  struct Case {
    const char* text;
    const char* want;
  } cases[] = {
      {"", "--file-prefix smtpguard --no-pci"},
      {"[eal]\nworkers = 3\n", "-l 0-3 --file-prefix smtpguard --no-pci"},
      {"[eal]\nworkers = 0\n", "-l 0 --file-prefix smtpguard --no-pci"},
      {"[eal]\nlcores = \"0,4-7\"\nmemory_mb = 2048\n",
       "-l 0,4-7 -m 2048 --file-prefix smtpguard --no-pci"},
      {"[eal]\nhugepages = false\nmemory_mb = 256\nfile_prefix = \"lab\"\n",
       "--no-huge -m 256 --file-prefix lab --no-pci"},
      {"[ports]\ninside = \"01:00.0\"\noutside = \"0000:01:00.1\"\n",
       "--file-prefix smtpguard -a 01:00.0 -a 0000:01:00.1"},
      {"[ports]\ninside = \"net_af_packet0,iface=a\"\noutside = \"net_af_packet0\"\n",
       "--file-prefix smtpguard --vdev net_af_packet0,iface=a --no-pci"},
      {"[ports]\nport = \"net_bond0\"\nvdevs = [\"net_bond0,mode=1\"]\n",
       "--file-prefix smtpguard --vdev net_bond0,mode=1 --no-pci"},
      {"[ports]\nport = \"1\"\n[eal]\nargs = [\"-a\", \"0000:02:00.0\"]\n",
       "--file-prefix smtpguard -a 0000:02:00.0"},
      {"[outputs]\ntelemetry = false\n", "--file-prefix smtpguard --no-telemetry --no-pci"},
  };
  for (const Case& k : cases) {
    Diagnostics d;
    ConfigFile c = load(k.text, d);
    EXPECT_FALSE(d.hasErrors()) << k.text << formatDiagnostics(d);
    EXPECT_EQ(eal(c), k.want) << k.text;
  }
}

// Test that each kind of mistake is reported at its line and column, all in one pass.
TEST(ConfigFile, ErrorsPointAtTheValue) {
  Diagnostics d;
  load("mode = \"inlnie\"\n[eal]\nworkers = \"2\"\n[flows]\ncapacity = 3\nmystery = 1\n", d);
  ASSERT_EQ(d.errorCount(), 4u) << formatDiagnostics(d);
  auto items = d.sorted();
  EXPECT_EQ(items[0].pos.line, 1u);
  EXPECT_EQ(items[0].pos.column, 8u);
  EXPECT_EQ(items[0].hint, "did you mean 'inline'?");
  EXPECT_EQ(items[1].pos.line, 3u);
  EXPECT_EQ(items[1].pos.column, 11u);
  EXPECT_EQ(items[1].hint, "remove the quotes");
  EXPECT_EQ(items[2].pos.line, 5u);
  EXPECT_EQ(items[3].pos.line, 6u);
  EXPECT_EQ(items[3].pos.column, 1u);
  EXPECT_EQ(items[3].message, "unknown key 'mystery' in [flows]");
}

// Test that metrics_listen takes what --metrics-listen takes: a numeric address and any port
// including 0 (a free one), and refuses a host name or a missing port.
TEST(ConfigFile, MetricsListenAsOnTheCommandLine) {
  for (const char* good : {"127.0.0.1:0", "[::1]:9464", "0.0.0.0:65535"}) {
    Diagnostics d;
    ConfigFile c = load(std::string("[outputs]\nmetrics_listen = \"") + good + "\"\n", d);
    EXPECT_FALSE(d.hasErrors()) << good << formatDiagnostics(d);
    EXPECT_EQ(c.options.metrics_listen, good);
  }
  for (const char* bad : {"localhost:9464", "127.0.0.1", "[::1]:65536", ":9464"}) {
    Diagnostics d;
    load(std::string("[outputs]\nmetrics_listen = \"") + bad + "\"\n", d);
    EXPECT_EQ(d.errorCount(), 1u) << bad;
  }
}

// Test that an IPFIX collector that is no HOST:PORT is an error at its value, and that the
// forms docs/export.md gives parse to transport, host and port.
TEST(ConfigFile, IpfixTarget) {
  Diagnostics d;
  load("[outputs]\nipfix = \"collector\"\n", d);
  ASSERT_EQ(d.errorCount(), 1u) << formatDiagnostics(d);
  EXPECT_EQ(d.sorted()[0].pos.line, 2u);
  IpfixTarget t;
  std::string error;
  ASSERT_TRUE(parseIpfixTarget("127.0.0.1:4739", t, error)) << error;
  EXPECT_FALSE(t.tcp);
  EXPECT_EQ(t.host, "127.0.0.1");
  EXPECT_EQ(t.port, "4739");
  ASSERT_TRUE(parseIpfixTarget("tcp://[2001:db8::1]:9995", t, error)) << error;
  EXPECT_TRUE(t.tcp);
  EXPECT_EQ(t.host, "2001:db8::1");
  ASSERT_TRUE(parseIpfixTarget("udp://collector.example:4739", t, error)) << error;
  EXPECT_FALSE(t.tcp);
  for (const char* bad : {"", "4739", "host:", "host:0", "host:65536", "sctp://h:1", "tcp://:1"})
    EXPECT_FALSE(parseIpfixTarget(bad, t, error)) << bad;
}

// Test that invalid UTF-8 is refused before toml11 sees it (toml11 asserts on it).
TEST(ConfigFile, InvalidUtf8IsAnError) {
  Diagnostics d;
  load("mode = \"re\xff\"\n", d);
  EXPECT_TRUE(d.hasErrors());
}

// Test that an option on the command line wins over the file, and one not given keeps it.
TEST(ConfigFile, CommandLineOverrides) {
  Diagnostics d;
  ConfigFile c = load(
      "mode = \"replay\"\n[replay]\ncapture = \"/a.pcap\"\n[flows]\ncapacity = 1024\n"
      "[policy]\nfile = \"/p.toml\"\n",
      d);
  ASSERT_FALSE(d.hasErrors());
  CommandLine cmd;
  std::string error;
  auto o = overlay(c, {"smtpguard", "--flows", "2048"}, cmd, error);
  ASSERT_TRUE(o) << error;
  EXPECT_EQ(o->flows, 2048u);
  EXPECT_EQ(o->capture, "/a.pcap");
  EXPECT_EQ(o->policy, "/p.toml");
  EXPECT_FALSE(cmd.mode_given);

  CommandLine cmd2;
  o = overlay(c, {"smtpguard", "replay", "/b.pcap", "--policy", ""}, cmd2, error);
  ASSERT_TRUE(o) << error;
  EXPECT_EQ(o->capture, "/b.pcap");
  EXPECT_EQ(o->policy, "");
  EXPECT_EQ(o->flows, 1024u);

  // EAL arguments on the line, ended by --, are the command line's own.
  CommandLine cmd3;
  o = overlay(c, {"smtpguard", "-l", "0-1", "--", "inline", "--inside", "0", "--outside", "1"},
              cmd3, error);
  ASSERT_TRUE(o) << error;
  EXPECT_TRUE(cmd3.eal_given);
  EXPECT_EQ(o->mode, Mode::kInline);
  ASSERT_EQ(o->eal_args.size(), 3u);
  EXPECT_EQ(o->eal_args[1], "-l");
}

}  // namespace
}  // namespace smtpguard

namespace smtpguard {
namespace {

// Test that [outputs] events takes a string or an array of a file and sink URLs, relative files
// from the file's directory, and that the command line's --events replace them all.
TEST(ConfigFile, EventsFileAndSinks) {
  Diagnostics d;
  ConfigFile c = load(
      "[outputs]\nevents = [\"eve.json\", \"redis://127.0.0.1:6379/sg?maxlen=500\", "
      "\"syslog\"]\n",
      d);
  ASSERT_FALSE(d.hasErrors()) << formatDiagnostics(d);
  EXPECT_EQ(c.options.events, "/etc/smtpguard/eve.json");
  EXPECT_EQ(c.options.event_sinks,
            (std::vector<std::string>{"redis://127.0.0.1:6379/sg?maxlen=500", "syslog"}));

  Diagnostics d2;
  ConfigFile one = load("[outputs]\nevents = \"syslog://198.18.0.1:514\"\n", d2);
  ASSERT_FALSE(d2.hasErrors()) << formatDiagnostics(d2);
  EXPECT_EQ(one.options.events, "");
  EXPECT_EQ(one.options.event_sinks, (std::vector<std::string>{"syslog://198.18.0.1:514"}));

  CommandLine cmd;
  std::string error;
  auto o =
      overlay(c, {"smtpguard", "replay", "/a.pcap", "--events", "redis://h/s", "--events", "-"},
              cmd, error);
  ASSERT_TRUE(o) << error;
  EXPECT_EQ(o->events, "-");
  EXPECT_EQ(o->event_sinks, (std::vector<std::string>{"redis://h/s"}));

  CommandLine cmd2;
  o = overlay(c,
              {"smtpguard", "replay", "/a.pcap", "--events", "syslog", "--events",
               "syslog://198.18.0.1:514"},
              cmd2, error);
  EXPECT_FALSE(o);
  EXPECT_NE(error.find("one syslog at most"), std::string::npos) << error;
}

// Test that a bad sink URL or a second file in [outputs] events points at that element.
TEST(ConfigFile, EventsErrorsPointAtTheElement) {
  Diagnostics d;
  load("[outputs]\nevents = [\"a.json\", \"redis://h:99999/s\", \"b.json\", 3]\n", d);
  ASSERT_EQ(d.errorCount(), 3u) << formatDiagnostics(d);
  auto items = d.sorted();
  EXPECT_EQ(items[0].pos.column, 21u);
  EXPECT_NE(items[0].message.find("port"), std::string::npos) << items[0].message;
  EXPECT_EQ(items[1].pos.column, 42u);
  EXPECT_NE(items[1].message.find("one events file at most"), std::string::npos);
  EXPECT_EQ(items[2].pos.column, 52u);
}

}  // namespace
}  // namespace smtpguard
