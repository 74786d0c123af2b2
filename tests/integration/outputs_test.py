#!/usr/bin/python3
"""Test that no output fails silently. For every output of a replay (--events, --write,
--stats, --prometheus, and standard output), a device that refuses to write (/dev/full), a
directory and a path in a missing directory each give exactly one 'smtpguard: ' line naming the
output and a non-zero exit, and the other outputs are still written. In live monitor mode an
event output that fails is counted (events.write_failed), reported once, and the fast path goes
on: every frame is counted.

usage: outputs_test.py SMTPGUARD SOURCE_ROOT
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

BINARY, ROOT = sys.argv[1], sys.argv[2]
SAMPLE = os.path.join(ROOT, "samples", "sample.pcap")
FRAMES = 276  # of the sample (samples/sample.expected.json)
EAL = ["--no-huge", "--no-pci", "--no-shconf", "--no-telemetry", "-l", "0", "-m", "256",
       "--log-level=*:error"]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def ours(stderr):
    return [l for l in stderr.splitlines() if l.startswith("smtpguard: ")]


with tempfile.TemporaryDirectory() as tmp:
    missing = os.path.join(tmp, "no-such-dir", "out")
    stats = os.path.join(tmp, "stats.json")

    # The control: every output to a real file, exit 0, nothing on stderr.
    files = {o: os.path.join(tmp, "ok" + o.replace("--", ".")) for o in
             ("--events", "--write", "--stats", "--prometheus")}
    args = [a for o, f in files.items() for a in (o, f)]
    p = subprocess.run([BINARY, "replay", SAMPLE, *args, "--no-summary"],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0 and ours(p.stderr) == [] and
          all(os.path.getsize(f) > 0 for f in files.values()),
          f"control: every output written, exit {p.returncode} {ours(p.stderr)}")

    for option, words in (("--events", "events"), ("--write", "capture"),
                          ("--stats", "stats"), ("--prometheus", "Prometheus")):
        for name, target in (("/dev/full", "/dev/full"), ("a directory", tmp),
                             ("a missing directory", missing)):
            extra = [] if option == "--stats" else ["--stats", stats]
            if os.path.exists(stats):
                os.unlink(stats)
            p = subprocess.run([BINARY, "replay", SAMPLE, option, target, *extra,
                                "--no-summary"],
                               capture_output=True, text=True, timeout=60)
            lines = ours(p.stderr)
            check(p.returncode != 0 and len(lines) == 1 and words in lines[0] and
                  target in lines[0],
                  f"{option} {name}: exit {p.returncode}, {lines}")

    # Standard output: the counters (default) and events (-), each to /dev/full.
    for name, args in (("stats to stdout", []), ("events to stdout", ["--events", "-",
                                                                      "--stats", stats])):
        with open("/dev/full", "w") as full:
            p = subprocess.run([BINARY, "replay", SAMPLE, *args, "--no-summary"],
                               stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
        lines = ours(p.stderr)
        check(p.returncode != 0 and len(lines) == 1 and "standard output" in lines[0],
              f"{name} on /dev/full: exit {p.returncode}, {lines}")

    # Live: events to /dev/full while frames flow. Counted, reported once, nothing else lost.
    p = subprocess.Popen([BINARY, *EAL, f"--vdev=net_pcap0,rx_pcap={SAMPLE}", "--",
                          "monitor", "--port", "net_pcap0", "--events", "/dev/full",
                          "--stats", stats, "--no-summary"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    lines = [l for l in ours(err) if "events" in l]
    c = json.load(open(stats)) if os.path.exists(stats) else {}
    check(p.returncode != 0, f"monitor: a failed output gives a non-zero exit ({p.returncode})")
    check(len(lines) == 1 and "/dev/full" in lines[0], f"monitor: reported once {lines}")
    check(c.get("packets.rx") == FRAMES, f"monitor: every frame counted ({c.get('packets.rx')})")
    check(c.get("events.emitted", 0) > 0 and
          c.get("events.write_failed") == c.get("events.emitted") - c.get("events.dropped", 0),
          f"monitor: every event lost is counted ({c.get('events.write_failed')} of "
          f"{c.get('events.emitted')})")

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
