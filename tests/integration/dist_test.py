#!/usr/bin/python3
"""Test what an installation ships besides the binaries: every option of `smtpguard --help` is
in smtpguard(8) once and the man page documents no other; each man page renders without a
warning; the systemd unit passes `systemd-analyze verify`; the shipped configuration file is
valid.

usage: dist_test.py SMTPGUARD SOURCE_ROOT MAN_PAGE...
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

BINARY, ROOT, PAGES = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), sys.argv[3:]
failures = []


def check(name, ok, detail=""):
    print(f"{name}: {'ok' if ok else 'FAIL'}{'' if ok else ' ' + detail}")
    if not ok:
        failures.append(name)


# Options in --help (global and every mode's) against the OPTIONS section of smtpguard(8).
helptext = subprocess.run([BINARY, "--help"], capture_output=True, text=True).stdout
in_help = re.findall(r"^  (--[a-z-]+)", helptext, re.M)
check("help_lists_each_once", len(in_help) == len(set(in_help)), str(in_help))
scd = open(os.path.join(ROOT, "man", "smtpguard.8.scd")).read()
options = scd.split("# OPTIONS", 1)[1].split("\n# ", 1)[0]
in_man = [o for line in options.splitlines() if line.startswith("*--")
          for o in re.findall(r"\*(--[a-z-]+)\*", line)]
check("man_documents_each_once", len(in_man) == len(set(in_man)), str(in_man))
check("help_equals_man", set(in_help) == set(in_man),
      f"only in help: {sorted(set(in_help) - set(in_man))}, "
      f"only in man: {sorted(set(in_man) - set(in_help))}")

# Each page renders; groff's warnings (bad escapes, unknown macros) fail it.
for page in PAGES:
    p = subprocess.run(["man", "--warnings", "-l", page], capture_output=True, text=True,
                       env=dict(os.environ, MANWIDTH="80"))
    name = os.path.basename(page)
    check(f"man_{name}", p.returncode == 0 and p.stderr.strip() == "" and "NAME" in p.stdout,
          p.stderr[:500])

# systemd-analyze verify, with the unit's binary pointing at this build (the package test
# verifies the installed unit as it is).
with tempfile.TemporaryDirectory() as tmp:
    unit = os.path.join(tmp, "smtpguard.service")
    text = open(os.path.join(ROOT, "dist", "systemd", "smtpguard.service")).read()
    ctl = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(BINARY))), "tools",
                       "smtpguardctl")
    open(unit, "w").write(text.replace("/usr/bin/smtpguardctl", ctl)
                          .replace("/usr/bin/smtpguard ", BINARY + " "))
    p = subprocess.run(["systemd-analyze", "verify", "--man=no", unit], capture_output=True,
                       text=True)
    check("systemd_analyze_verify", p.returncode == 0 and p.stderr.strip() == "",
          f"rc {p.returncode}: {p.stderr}")
    for key in ("Type=notify", "ExecReload=/usr/bin/smtpguardctl --instance smtpguard reload", "NoNewPrivileges=yes",
                "ProtectSystem=strict", "CapabilityBoundingSet=", "RuntimeDirectory="):
        check(f"unit_has_{key.split('=')[0]}", key in text)

    # The shipped configuration is valid (its policy and outputs are the installed paths, so
    # they are given here).
    p = subprocess.run([BINARY, "--config", os.path.join(ROOT, "dist", "smtpguard.toml"),
                        "--check", "replay", os.path.join(ROOT, "samples", "sample.pcap"),
                        "--policy", os.path.join(ROOT, "policy", "examples", "isp-port25.toml"),
                        "--events", "-", "--stats", "-"], capture_output=True, text=True)
    check("shipped_config_valid", p.returncode == 0 and "OK" in p.stdout, p.stdout + p.stderr)
    # Its inline mode says what is missing: the ports are the operator's to name.
    p = subprocess.run([BINARY, "--config", os.path.join(ROOT, "dist", "smtpguard.toml"),
                        "--check", "--policy",
                        os.path.join(ROOT, "policy", "examples", "isp-port25.toml")],
                       capture_output=True, text=True)
    check("shipped_config_needs_ports", p.returncode != 0 and "[ports] inside" in p.stderr,
          p.stderr)

# One version: meson's project version is what --version prints and what debian/changelog says.
meson_version = re.search(r"version: '([^']+)'", open(os.path.join(ROOT, "meson.build")).read())
changelog = open(os.path.join(ROOT, "debian", "changelog")).readline()
check("debian_version_is_meson_version", meson_version is not None
      and f"({meson_version.group(1)})" in changelog, changelog.strip())

print(f"{len(failures)} failed: {failures}" if failures else "all ok")
sys.exit(1 if failures else 0)
