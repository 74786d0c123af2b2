#!/usr/bin/python3
"""Test that only a regular file is ever a policy, wherever a policy is read:

- `smtpguardctl validate` on a directory, /dev/zero and /proc/self/mem: exit 1, one error naming
  the file (a directory used to validate as an empty allow-all policy, /dev/zero to read forever);
- `smtpguard replay --policy` on each: exit 1 before anything runs;
- a SIGHUP after the policy path was replaced by each of them, during a replay and in live
  monitor mode: the reload fails, the running policy stays (its rule keeps counting) and
  policy.reload_failures counts every one.

usage: policy_input_test.py SMTPGUARD SMTPGUARDCTL SOURCE_ROOT
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

BINARY, CTL, ROOT = sys.argv[1], sys.argv[2], sys.argv[3]
SAMPLE = os.path.join(ROOT, "samples", "sample.pcap")
EAL = ["--no-huge", "--no-pci", "--no-shconf", "--no-telemetry", "-l", "0", "-m", "256",
       "--log-level=*:error"]
# Counts every SMTP-port connection (the sample has 23), enforces nothing.
POLICY = '[policy]\nname = "counting"\n[[rule]]\nname = "every-connection"\naction = "alert"\n'
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


class StderrLines:
    """Collects a process's stderr lines on a thread, so waiting for one can time out."""

    def __init__(self, proc):
        self.lines = []
        self.thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.thread.start()

    def _read(self, proc):
        for line in proc.stderr:
            self.lines.append(line)

    def wait_for(self, words, count, timeout=20):
        """True once `count` lines contain `words`."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if sum(words in l for l in self.lines) >= count:
                return True
            time.sleep(0.05)
        return False


with tempfile.TemporaryDirectory() as tmp:
    bad = {
        "directory": tmp,
        "/dev/zero": "/dev/zero",
        "/proc/self/mem": "/proc/self/mem",
    }
    for name, path in bad.items():
        p = subprocess.run([CTL, "validate", path], capture_output=True, text=True, timeout=20)
        errors = [l for l in p.stderr.splitlines() if ": error: " in l]
        check(p.returncode == 1 and p.stdout == "" and len(errors) == 1 and
              errors[0].startswith(path + ": error: "),
              f"validate {name}: exit {p.returncode}, {errors}")

    for name, path in bad.items():
        p = subprocess.run([BINARY, "replay", SAMPLE, "--policy", path, "--no-summary"],
                           capture_output=True, text=True, timeout=20)
        check(p.returncode == 1 and "is not usable" in p.stderr and p.stdout == "",
              f"replay --policy {name}: exit {p.returncode}")

    policy = os.path.join(tmp, "policy.toml")
    stats = os.path.join(tmp, "stats.json")

    def install_policy():
        if os.path.islink(policy) or os.path.isfile(policy):
            os.unlink(policy)
        elif os.path.isdir(policy):
            os.rmdir(policy)
        with open(policy, "w") as f:
            f.write(POLICY)

    def replace_with(name):
        os.unlink(policy)
        if name == "directory":
            os.mkdir(policy)
        else:
            os.symlink(bad[name], policy)

    def reload_three_times(proc, mode, err):
        for n, name in enumerate(bad, 1):
            replace_with(name)
            proc.send_signal(signal.SIGHUP)
            check(err.wait_for("policy reload failed", n),
                  f"{mode}: SIGHUP to {name}: the reload is reported failed")
            install_policy()
        return err

    for mode, args in (
            ("replay", ["replay", SAMPLE, "--loop", "1000000"]),
            ("monitor", [*EAL, "--vdev=net_null0", "--", "monitor", "--port", "net_null0"])):
        install_policy()
        events = os.path.join(tmp, mode + ".jsonl")
        proc = subprocess.Popen([BINARY, *args, "--policy", policy, "--stats", stats,
                                 "--events", events, "--no-summary"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        err = StderrLines(proc)
        # Running with the policy: replay has written events, monitor has said so.
        deadline = time.time() + 30
        while time.time() < deadline and not (
                err.wait_for("monitor on", 1, timeout=0) if mode == "monitor"
                else os.path.exists(events) and os.path.getsize(events) > 0):
            time.sleep(0.05)
        reload_three_times(proc, mode, err)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err.thread.join(timeout=5)
        # Every diagnostic ends its line: no message starts in the middle of another.
        glued = [l for l in err.lines if "smtpguard: " in l and not l.startswith("smtpguard: ")]
        check(not glued, f"{mode}: every message on its own line {glued[:2]}")
        check(proc.returncode == 0, f"{mode}: exit {proc.returncode}")
        c = json.load(open(stats))
        check(c["policy.reloads"] == 1 and c["policy.reload_failures"] == 3,
              f"{mode}: 1 policy published, 3 reloads failed "
              f"({c['policy.reloads']}, {c['policy.reload_failures']})")
        if mode == "replay":
            # The running policy stayed: its one rule saw every connection of every pass.
            check(c["policy.rule.every-connection"] == c["flows.created"] > 0,
                  f"replay: the running policy kept deciding "
                  f"({c['policy.rule.every-connection']} of {c['flows.created']})")

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
