#!/usr/bin/python3
"""Test the operator's entry points: the configuration file (errors at file:line:column,
relative paths, the command line overriding it, --check starting nothing), --version, the help
of each mode, and the systemd readiness protocol (READY, RELOADING, STOPPING) of a live run
started from a configuration file.

usage: config_test.py SMTPGUARD SOURCE_ROOT VERSION
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

BINARY, ROOT, VERSION = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), sys.argv[3]
SAMPLE = os.path.join(ROOT, "samples", "sample.pcap")
POLICY = os.path.join(ROOT, "policy", "examples", "isp-port25.toml")
OBSERVE = os.path.join(ROOT, "policy", "examples", "lab-observe.toml")
failures = []


def check(name, ok, detail=""):
    print(f"{name}: {'ok' if ok else 'FAIL'}{'' if ok else ' ' + detail}")
    if not ok:
        failures.append(name)


def run(args, cwd=None, timeout=60):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd)


# --version: ours from meson, then the libraries'.
p = run(["--version"])
lines = p.stdout.splitlines()
check("version", p.returncode == 0 and len(lines) == 4 and lines[0] == f"smtpguard {VERSION}"
      and lines[1].startswith("DPDK ") and lines[2].startswith("Hyperscan ")
      and lines[3].startswith("OpenSSL ") and p.stderr == "", repr(p.stdout + p.stderr))

# Help: the whole, and each mode's with only that mode's options.
p = run(["--help"])
check("help", p.returncode == 0 and "--config FILE" in p.stdout and "--write" in p.stdout
      and "--inside" in p.stdout, p.stderr)
only = {"replay": ["--write", "--loop"], "inline": ["--inside", "--outside", "--duration"],
        "monitor": ["--port", "--duration"]}
for mode, own in only.items():
    p = run([mode, "--help"])
    others = {o for m, opts in only.items() if m != mode for o in opts} - set(own)
    shown = {w for line in p.stdout.splitlines() for w in line.split()[:1] if w.startswith("--")}
    check(f"help_{mode}", p.returncode == 0 and f"options of {mode}:" in p.stdout
          and all(o in shown for o in own) and not (others & shown) and "--policy" in shown,
          f"rc {p.returncode}, shown {sorted(shown)}, stderr {p.stderr!r}")
# Also after EAL arguments, and before a capture.
p = run(["--no-huge", "--", "replay", "--help"])
check("help_after_eal", p.returncode == 0 and "options of replay:" in p.stdout, p.stderr)

with tempfile.TemporaryDirectory() as tmp:
    def write(name, text):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    # Every problem at once, each at its file:line:column with the line and a caret.
    bad = write("bad.toml", "\n".join([
        'mode = "inlin"',                   # 1: a choice, with a suggestion
        '[eal]',
        'workerz = 2',                      # 3: an unknown key, at the key
        'memory_mb = "1024"',               # 4: a type
        '[ports]',
        'inside = "0000:01:00"',            # 6: not a PCI address
        '[flows]',
        'capacity = 5',                     # 8: a range
        '[timeouts]',
        'established = -1',                 # 10: a range, seconds
        '[outputs]',
        'metrics_listen = "localhost"',     # 12: ADDR:PORT
        'stats_interval = "10"',            # 13: a number, not a string
        '[polcy]',                          # 14: an unknown table
        'file = "x"',
    ]) + "\n")
    p = run(["--config", bad, "--check"])
    want = [(1, 8, "'inlin' is not a valid mode", "did you mean 'inline'?"),
            (3, 1, "unknown key 'workerz' in [eal]", "did you mean 'workers'?"),
            (4, 13, "'memory_mb' must be an integer, not a string", "remove the quotes"),
            (6, 10, "'0000:01:00' is not a port", None),
            (8, 12, "'capacity' is out of range", None),
            (10, 15, "'established' is out of range", None),
            (12, 18, "'localhost' is not an address and port", None),
            (13, 18, "'stats_interval' must be a number of seconds", None),
            (14, 2, "unknown key 'polcy' in the configuration file", "did you mean 'policy'?")]
    for line, col, msg, hint in want:
        head = f"{bad}:{line}:{col}: error: {msg}"
        check(f"config_error_line_{line}", head in p.stderr and (hint is None or hint in p.stderr),
              f"no '{head}' in:\n{p.stderr}")
    check("config_errors_exit", p.returncode == 1 and p.stdout == ""
          and f"{bad}: {len(want)} errors, nothing started" in p.stderr, f"rc {p.returncode}")
    # A caret under the value.
    check("config_error_excerpt", '  8 | capacity = 5\n    |            ^\n' in p.stderr,
          p.stderr)

    syntax = write("syntax.toml", 'mode = "replay"\n[replay\ncapture = "x"\n')
    p = run(["--config", syntax])
    check("config_syntax_error", p.returncode == 1 and f"{syntax}:2:" in p.stderr
          and "TOML syntax error" in p.stderr, p.stderr)
    dup = write("dup.toml", 'mode = "replay"\nmode = "inline"\n')
    p = run(["--config", dup])
    check("config_duplicate_key", p.returncode == 1 and f"{dup}:2:" in p.stderr, p.stderr)
    p = run(["--config", tmp, "--check"])
    check("config_directory", p.returncode == 1 and "not a regular file: a directory" in p.stderr,
          p.stderr)
    p = run(["--config", os.path.join(tmp, "missing.toml"), "--check"])
    check("config_missing", p.returncode == 1 and "cannot read configuration file" in p.stderr,
          p.stderr)
    both = write("both.toml", '[eal]\nlcores = "0-1"\nworkers = 1\n')
    p = run(["--config", both, "--check", "replay", SAMPLE])
    check("config_workers_and_lcores", p.returncode == 1
          and f"{both}:3:1: error: 'workers' and 'lcores' both set" in p.stderr, p.stderr)
    nohuge = write("nohuge.toml", '[eal]\nhugepages = false\n')
    p = run(["--config", nohuge, "--check", "replay", SAMPLE])
    check("config_nohuge_needs_memory", p.returncode == 1
          and "hugepages = false needs memory_mb" in p.stderr, p.stderr)

    # A replay entirely from the file; relative paths from the file's directory, whatever the
    # working directory.
    os.mkdir(os.path.join(tmp, "etc"))
    with open(POLICY) as src:
        write("etc/policy.toml", src.read())
    conf = write("etc/smtpguard.toml", "\n".join([
        'mode = "replay"',
        '[replay]', f'capture = "{SAMPLE}"',
        '[policy]', 'file = "policy.toml"', 'mode = "enforce"',
        '[outputs]', 'events = "eve.json"', 'stats = "stats.json"',
        '[flows]', 'capacity = 4096',
    ]) + "\n")
    p = run(["--config", conf, "--no-summary"], cwd="/")
    stats_path = os.path.join(tmp, "etc", "stats.json")
    stats = json.load(open(stats_path)) if os.path.exists(stats_path) else {}
    check("config_replay", p.returncode == 0 and stats.get("packets.rx") == 276
          and stats.get("packets.dropped", 0) > 0
          and os.path.getsize(os.path.join(tmp, "etc", "eve.json")) > 0,
          f"rc {p.returncode} {p.stderr} {stats.get('packets.dropped')}")
    enforced_drops = stats.get("packets.dropped")

    # The command line wins: --policy-mode shadow over the file's enforce, --stats - over the
    # file's stats file, a capture on the line over the file's.
    os.remove(stats_path)
    p = run(["--config", conf, "replay", SAMPLE, "--policy-mode", "shadow", "--stats", "-",
             "--no-summary"])
    out = json.loads(p.stdout) if p.returncode == 0 and p.stdout.startswith("{") else {}
    check("cli_overrides_config", p.returncode == 0 and out.get("packets.dropped") == 0
          and out.get("policy.would_block", 0) > 0 and not os.path.exists(stats_path),
          f"rc {p.returncode} {p.stderr} dropped {out.get('packets.dropped')}")
    # Options after the file without a mode word (the file's mode).
    p = run(["--config", conf, "--policy", OBSERVE, "--stats", "-", "--no-summary"])
    out = json.loads(p.stdout) if p.returncode == 0 and p.stdout.startswith("{") else {}
    check("cli_overrides_without_mode", p.returncode == 0 and out.get("packets.dropped") == 0
          and enforced_drops, f"rc {p.returncode} {p.stderr}")

    # --check: the summary, exit 0, and nothing run (no output file written).
    p = run(["--config", conf, "--check"])
    check("check_ok", p.returncode == 0 and "OK" in p.stdout and "isp-port25" in p.stdout
          and "events " + os.path.join(tmp, "etc", "eve.json") in p.stdout
          and not os.path.exists(stats_path) and p.stderr == "", p.stdout + p.stderr)
    broken = write("etc/broken-policy.toml", '[[rule]]\nname = "x"\nacton = "drop"\n')
    p = run(["--config", conf, "--check", "--policy", broken])
    check("check_bad_policy", p.returncode == 1 and f"{broken}:3:1: error" in p.stderr
          and not os.path.exists(stats_path), p.stderr)
    # Every output is listed, sinks and the IPFIX exporter included.
    p = run(["--config", conf, "--check", "--events", "redis://127.0.0.1:6379/sg",
             "--ipfix", "tcp://198.18.0.9:4739", "--prometheus", os.path.join(tmp, "sg.prom")])
    outputs = next((l for l in p.stdout.splitlines() if l.strip().startswith("outputs:")), "")
    check("check_lists_outputs", p.returncode == 0
          and "events redis://127.0.0.1:6379/sg" in outputs
          and "ipfix tcp://198.18.0.9:4739" in outputs
          and "prometheus " + os.path.join(tmp, "sg.prom") in outputs and "stats.json" in outputs,
          p.stdout + p.stderr)
    p = run(["--config", conf, "--check", "--events", "/nonexistent-dir/eve.json"])
    check("check_output_dir", p.returncode == 1 and "/nonexistent-dir" in p.stderr, p.stderr)
    inline_conf = write("inline.toml", 'mode = "inline"\n[ports]\ninside = "0000:01:00.0"\n')
    p = run(["--config", inline_conf, "--check"])
    check("check_inline_needs_outside", p.returncode == 2 and "--outside" in p.stderr, p.stderr)
    # The EAL arguments the live modes would get: allow list for PCI, vdevs with arguments.
    live = write("live.toml", "\n".join([
        'mode = "inline"', '[eal]', 'workers = 2', 'memory_mb = 512',
        '[ports]', 'inside = "0000:01:00.0"', 'outside = "net_af_packet0,iface=eth1"',
        '[outputs]', 'telemetry = false']) + "\n")
    p = run(["--config", live, "--check"])
    check("check_eal_args", p.returncode == 0 and
          "-l 0-2 -m 512 --file-prefix smtpguard --no-telemetry --vdev net_af_packet0,iface=eth1 "
          "-a 0000:01:00.0" in p.stdout, p.stdout + p.stderr)

    # Live, from a configuration file, under a fake systemd: READY=1 once running, RELOADING=1
    # then READY=1 around a SIGHUP reload, STOPPING=1 on SIGTERM.
    sock_path = os.path.join(tmp, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(30)
    monitor = write("monitor.toml", "\n".join([
        'mode = "monitor"', '[eal]', 'lcores = "0"', 'hugepages = false', 'memory_mb = 256',
        f'file_prefix = "sgcfg{os.getpid()}"', 'args = ["--no-shconf", "--log-level=*:error"]',
        '[ports]', 'port = "net_null0"',
        '[policy]', f'file = "{OBSERVE}"',
        '[outputs]', 'telemetry = false', 'events = "/dev/null"', 'stats = "/dev/null"',
        '[flows]', 'capacity = 1024']) + "\n")
    env = dict(os.environ, NOTIFY_SOCKET=sock_path)
    proc = subprocess.Popen([BINARY, "--config", monitor, "--no-summary"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    got = []

    def expect(word):
        try:
            while True:
                msg = sock.recv(4096).decode()
                got.append(msg)
                if word in msg.split("\n"):
                    return msg
        except socket.timeout:
            return None

    ready = expect("READY=1")
    check("notify_ready", ready is not None and "STATUS=monitor net_null0" in ready
          and "lab-observe" in ready, repr(got))
    proc.send_signal(signal.SIGHUP)
    reloading = expect("RELOADING=1")
    again = expect("READY=1")
    check("notify_reload", reloading is not None and "MONOTONIC_USEC=" in reloading
          and again is not None and "reloaded" in again, repr(got))
    proc.send_signal(signal.SIGTERM)
    stopping = expect("STOPPING=1")
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    check("notify_stopping", stopping is not None and proc.returncode == 0,
          f"rc {proc.returncode} {err} {got}")
    sock.close()

print(f"{len(failures)} failed: {failures}" if failures else "all ok")
sys.exit(1 if failures else 0)
