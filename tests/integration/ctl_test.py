#!/usr/bin/python3
"""Test smtpguardctl as an operator uses it: every shipped example validates (exit 0, one
line); a broken file gets every error with file:line:column and exit 1; `show` prints the rules
in file order with their stage; a wrong command gets usage and exit 2.

usage: ctl_test.py SMTPGUARDCTL SOURCE_ROOT
"""
import os
import re
import subprocess
import sys
import tempfile

ctl, root = sys.argv[1], sys.argv[2]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run(*args):
    return subprocess.run([ctl, *args], capture_output=True, text=True, timeout=60)


examples = os.path.join(root, "policy", "examples")
for name in sorted(os.listdir(examples)):
    p = run("validate", os.path.join(examples, name))
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    check(p.returncode == 0 and len(lines) == 1 and ": ok: policy" in lines[0],
          f"{name} validates in one line")

with tempfile.TemporaryDirectory() as tmp:
    bad = os.path.join(tmp, "bad.toml")
    with open(bad, "w") as f:
        f.write('[policy]\nname = "b"\n[networks]\ninside = ["100.64.1.0/10"]\n[[rule]]\n'
                'name = "x"\nsrc = ["nope"]\naction = "explode"\nbogus_key = 1\n')
    p = run("validate", bad)
    out = p.stdout + p.stderr
    check(p.returncode == 1, f"broken file exits 1 ({p.returncode})")
    for line, col, words in ((4, 11, "host bits"), (7, 8, "unknown set 'nope'"),
                             (8, 10, "not a valid action"), (9, 1, "bogus_key")):
        check(re.search(rf"bad\.toml:{line}:{col}: error: .*{re.escape(words)}", out) is not None,
              f"error at {line}:{col} ({words})")

# --now is a real date or seconds since the epoch, nothing else.
lab = os.path.join(examples, "lab-observe.toml")
for now in ("2024-02-29", "2026-12-31", "1795000000"):
    p = run("validate", "--now=" + now, lab)
    check(p.returncode == 0, f"--now={now} accepted ({p.returncode})")
for now in ("2026-02-31", "2026-02-29", "2026-04-31", "2026-13-01", "2026-00-10", "2026-1-01",
            "1969-12-31", "12345678901234", "", "2026-02-28x", "+1795000000"):
    p = run("validate", "--now=" + now, lab)
    lines = p.stderr.splitlines()
    check(p.returncode == 2 and len(lines) == 1 and "--now" in lines[0],
          f"--now={now!r} refused in one line ({p.returncode}, {lines[:2]})")

# IPv4-mapped prefixes: validate names the IPv4 prefix they stand for; match puts an address
# in the same sets whether written as IPv4 or IPv4-mapped, and ::/0 never holds IPv4.
with tempfile.TemporaryDirectory() as tmp:
    mapped = os.path.join(tmp, "mapped.toml")
    with open(mapped, "w") as f:
        f.write('[sets]\nmapped = ["::ffff:10.20.0.0/112"]\nall_v6 = ["::/0"]\n'
                '[[rule]]\nname = "r"\nsrc = ["mapped", "all_v6"]\naction = "alert"\n')
    p = run("validate", mapped)
    check(p.returncode == 0 and re.search(r"mapped\.toml:2:11: warning: .*IPv4 prefix "
                                          r"10\.20\.0\.0/16", p.stderr) is not None,
          f"validate warns that a mapped prefix is IPv4 ({p.returncode})")
    p = run("match", mapped, "10.20.1.1", "::ffff:10.20.1.1", "10.21.0.1", "2001:db8::1")
    check(p.returncode == 0 and p.stdout.splitlines() == [
        "10.20.1.1: mapped",
        "::ffff:10.20.1.1 (IPv4 10.20.1.1): mapped",
        "10.21.0.1: no set",
        "2001:db8::1: all_v6",
    ], f"match: {p.returncode} {p.stdout.splitlines()} {p.stderr.splitlines()[:3]}")
    p = run("match", mapped, "10.20.300.1")
    check(p.returncode == 2 and "10.20.300.1" in p.stderr, "match: a bad address, exit 2")

isp = os.path.join(examples, "isp-port25.toml")
p = run("show", isp)
names_file = re.findall(r'^name = "([^"]+)"', open(isp).read(), re.M)[1:]  # [policy] name first
names_shown = re.findall(r"^\s*\d+\s+(\S+)\s+\(", p.stdout, re.M)
check(p.returncode == 0 and names_shown == names_file,
      f"show lists the {len(names_file)} rules in file order")
check("stage:   connection" in p.stdout and "stage:   session" in p.stdout, "show gives stages")
p = run("frobnicate", isp)
check(p.returncode == 2 and "usage" in (p.stdout + p.stderr), "unknown command: usage, exit 2")
print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
