#!/usr/bin/python3
"""Replay's start-up does not wait out DPDK's 100 ms TSC calibration (src/app/runtime.cc).

usage: replay_startup_test.py SMTPGUARD SOURCE_ROOT

Replays samples/sample.pcap under strace, tracing the sleeps of every thread: none may be
100 ms or longer, and the calibration's shortened sleep (10 ms) must be there (so the test
notices when DPDK stops calibrating this way and the shortcut becomes dead code). Needs strace
(setup.sh installs it).
"""
import os
import re
import subprocess
import sys
import tempfile


def main():
    smtpguard, root = sys.argv[1:3]
    sample = os.path.join(root, "samples", "sample.pcap")
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "trace")
        # LeakSanitizer cannot run under ptrace: the sanitized build checks leaks elsewhere.
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "detect_leaks=0"]))
        r = subprocess.run(["strace", "-f", "-e", "trace=nanosleep,clock_nanosleep", "-o", trace,
                            smtpguard, "replay", sample, "--events", "/dev/null", "--stats",
                            os.path.join(tmp, "stats.json"), "--no-summary"],
                           capture_output=True, text=True, timeout=60, env=env)
        if r.returncode != 0:
            failures.append(f"replay under strace: exit {r.returncode}: {r.stderr.strip()}")
        sleeps = [int(s) * 1000000000 + int(ns) for s, ns in
                  re.findall(r"sleep\(.*?\{tv_sec=(\d+), tv_nsec=(\d+)\}", open(trace).read())]
        print(f"sleeps (ns): {sleeps}")
        if any(ns >= 100000000 for ns in sleeps):
            failures.append(f"a sleep of 100 ms or more during replay: {sleeps}")
        if 10000000 not in sleeps:
            failures.append(f"no 10 ms calibration sleep: {sleeps}")
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
