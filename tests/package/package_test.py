#!/usr/bin/python3
"""Test the Debian package as an operator gets it: build it with `dpkg-buildpackage -b -us -uc`
from a copy of this tree, install it with apt into a copy of a clean Debian 12 root, and there
run `smtpguard --version`, a replay of the installed sample with the installed configuration
and policy, `smtpguardctl validate` on every installed policy, and `systemd-analyze verify` on
the installed unit.

The clean root is `debootstrap --variant=minbase bookworm` plus systemd, made once per machine
by debian_root.sh (under SMTPGUARD_ROOT_CACHE, default /var/cache/smtpguard-test) and never
changed: each run installs into an overlay (or, where overlayfs is refused, a copy) of it. The
.debs apt fetches for the package's dependencies are kept in the cache too, so the mirror is
needed once.

usage: package_test.py SOURCE_ROOT
Needs root (chroot, mounts). Without root it skips, unless CI is set.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(sys.argv[1])
HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("SMTPGUARD_ROOT_CACHE", "/var/cache/smtpguard-test")
DOC = "/usr/share/doc/smtpguard"
failures = []
timings = []


def check(name, ok, detail=""):
    print(f"{name}: {'ok' if ok else 'FAIL'}{'' if ok else ' ' + detail}", flush=True)
    if not ok:
        failures.append(name)


def step(name, args, timeout, **kw):
    t = time.monotonic()
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    timings.append((name, time.monotonic() - t))
    return p


if os.geteuid() != 0:
    print("SKIP: needs root (debootstrap, chroot, mounts)")
    sys.exit(1 if os.environ.get("CI") else 77)
for tool in ("dpkg-buildpackage", "debootstrap", "chroot"):
    if shutil.which(tool) is None:
        print(f"FAIL: {tool} is not installed (./setup.sh deps installs it)")
        sys.exit(1)

mounts = []


def mount(*args):
    subprocess.run(["mount", *args], check=True)
    mounts.append(args[-1])


with tempfile.TemporaryDirectory(prefix="sg-package-") as work:
    try:
        # 1. Build from a copy of the tree (tracked and new files, not build directories), so
        #    dpkg-buildpackage's outputs land in the temporary directory, not beside the tree.
        src = os.path.join(work, "smtpguard")
        files = subprocess.run(["git", "-C", ROOT, "ls-files", "-co", "--exclude-standard", "-z"],
                               capture_output=True, check=True).stdout.split(b"\0")
        for f in filter(None, files):
            path = f.decode()
            if not os.path.exists(os.path.join(ROOT, path)):
                continue  # deleted, not yet committed
            os.makedirs(os.path.dirname(os.path.join(src, path)), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, path), os.path.join(src, path))
        env = dict(os.environ, DEB_BUILD_OPTIONS="parallel=2 nocheck")
        p = step("dpkg-buildpackage", ["dpkg-buildpackage", "-b", "-us", "-uc"], 1800, cwd=src,
                 env=env)
        debs = glob.glob(os.path.join(work, "smtpguard_*.deb"))
        check("dpkg_buildpackage", p.returncode == 0 and len(debs) == 1,
              f"rc {p.returncode}\n{(p.stdout + p.stderr)[-3000:]}")
        if failures:
            raise SystemExit
        deb = debs[0]
        listing = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True).stdout
        for path in ["./usr/bin/smtpguard", "./usr/bin/smtpguardctl",
                     "./etc/smtpguard/smtpguard.toml", "./etc/smtpguard/policy.toml",
                     "./lib/systemd/system/smtpguard.service",
                     "./usr/lib/tmpfiles.d/smtpguard.conf", "./etc/logrotate.d/smtpguard",
                     "./usr/share/man/man8/smtpguard.8.gz", "./usr/share/man/man8/smtpguardctl.8.gz",
                     "./usr/share/man/man5/smtpguard.toml.5.gz",
                     "./usr/share/man/man5/smtpguard-policy.5.gz",
                     f".{DOC}/examples/sample.pcap", f".{DOC}/examples/policies/isp-port25.toml",
                     f".{DOC}/deployment.md.gz"]:
            check(f"deb_has {path}", f" {path}\n" in listing + "\n" or f" {path} " in listing)

        # 2. A clean Debian 12 root (made once), and an overlay of it for this run.
        p = step("debian_root", [os.path.join(HERE, "debian_root.sh"), CACHE], 1800)
        base = p.stdout.strip()
        root_ok = p.returncode == 0 and os.path.isfile(os.path.join(base, ".complete"))
        check("debian_root", root_ok, p.stderr[-2000:])
        if not root_ok:
            raise SystemExit
        chroot = os.path.join(work, "root")
        upper, wdir = os.path.join(work, "upper"), os.path.join(work, "work")
        for d in (chroot, upper, wdir):
            os.mkdir(d)
        try:
            mount("-t", "overlay", "overlay", "-o",
                  f"lowerdir={base},upperdir={upper},workdir={wdir}", chroot)
        except subprocess.CalledProcessError:
            os.rmdir(chroot)
            t = time.monotonic()
            subprocess.run(["cp", "-a", base, chroot], check=True)
            timings.append(("copy root (no overlayfs)", time.monotonic() - t))
        archives = os.path.join(CACHE, "apt-archives")
        os.makedirs(os.path.join(archives, "partial"), exist_ok=True)
        mount("--bind", archives, os.path.join(chroot, "var/cache/apt/archives"))
        mount("-t", "proc", "proc", os.path.join(chroot, "proc"))
        mount("--bind", "/sys", os.path.join(chroot, "sys"))
        mount("--bind", "/dev", os.path.join(chroot, "dev"))
        shutil.copy("/etc/resolv.conf", os.path.join(chroot, "etc/resolv.conf"))
        # No service starts inside a chroot (the unit is not enabled anyway).
        rc_d = os.path.join(chroot, "usr/sbin/policy-rc.d")
        with open(rc_d, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(rc_d, 0o755)
        shutil.copy(deb, os.path.join(chroot, "tmp"))

        def inroot(name, args, timeout=120):
            return step(name, ["chroot", chroot, *args], timeout,
                        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})

        # 3. Install as an operator would: apt resolves the dependencies.
        p = inroot("apt install", ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install",
                                   "-y", "-q", "--no-install-recommends",
                                   "/tmp/" + os.path.basename(deb)], 1200)
        check("apt_install", p.returncode == 0, (p.stdout + p.stderr)[-3000:])
        if p.returncode != 0:
            raise SystemExit

        # 4. What the operator runs first.
        p = inroot("--version", ["smtpguard", "--version"])
        version = open(os.path.join(ROOT, "debian", "changelog")).readline().split("(")[1]
        version = version.split(")")[0].split("-")[0]
        check("version", p.returncode == 0 and p.stdout.startswith(f"smtpguard {version}\n")
              and "DPDK" in p.stdout and "Hyperscan" in p.stdout and "OpenSSL" in p.stdout,
              p.stdout + p.stderr)
        conffiles = inroot("conffiles", ["dpkg-query", "-W", "-f=${Conffiles}", "smtpguard"])
        check("conffiles", "/etc/smtpguard/smtpguard.toml" in conffiles.stdout
              and "/etc/smtpguard/policy.toml" in conffiles.stdout, conffiles.stdout)
        check("tmpfiles_created_log_dir", os.path.isdir(os.path.join(chroot, "var/log/smtpguard")))
        cfg = ["--config", "/etc/smtpguard/smtpguard.toml"]
        sample = f"{DOC}/examples/sample.pcap"
        p = inroot("--check", ["smtpguard", *cfg, "--check", "replay", sample])
        check("check_installed_config", p.returncode == 0 and "isp-port25" in p.stdout,
              p.stdout + p.stderr)

        # 5. The sample, with the installed configuration and its policy (isp-port25, enforced):
        #    outputs where the configuration puts them.
        p = inroot("replay", ["smtpguard", *cfg, "replay", sample, "--no-summary"])
        stats_file = os.path.join(chroot, "var/log/smtpguard/stats.json")
        events_file = os.path.join(chroot, "var/log/smtpguard/eve.json")
        stats = json.load(open(stats_file)) if os.path.exists(stats_file) else {}
        events = open(events_file).read().splitlines() if os.path.exists(events_file) else []
        expected = json.load(open(os.path.join(chroot, DOC.lstrip("/"), "examples",
                                               "sample.expected.json")))["counters"]
        l2 = [k for k in expected if k.startswith(("packets.", "flows.port."))]
        check("replay_installed_config", p.returncode == 0
              and all(stats.get(k) == expected[k] for k in l2)
              and stats.get("policy.blocked", 0) > 0
              and any('"event_type":"policy_verdict"' in e for e in events),
              f"rc {p.returncode} {p.stderr} "
              f"{[(k, stats.get(k), expected[k]) for k in l2 if stats.get(k) != expected[k]]}")
        # Without a policy, every expected counter exactly (as tests/integration does).
        p = inroot("replay (no policy)", ["smtpguard", *cfg, "replay", sample, "--policy", "",
                                          "--stats", "-", "--events", "/dev/null",
                                          "--no-summary"])
        got = json.loads(p.stdout) if p.returncode == 0 else {}
        wrong = [(k, got.get(k), v) for k, v in expected.items() if got.get(k) != v]
        check("replay_matches_expected", p.returncode == 0 and not wrong, f"{p.stderr} {wrong}")

        # 6. Every installed policy compiles.
        policies = sorted(glob.glob(os.path.join(chroot, DOC.lstrip("/"), "examples", "policies",
                                                 "*.toml")))
        policies = ["/" + os.path.relpath(x, chroot) for x in policies]
        check("examples_installed", len(policies) == 3, str(policies))
        for policy in policies + ["/etc/smtpguard/policy.toml"]:
            p = inroot("validate", ["smtpguardctl", "validate", policy])
            check(f"validate {policy}", p.returncode == 0 and ": ok: policy" in p.stdout,
                  p.stdout + p.stderr)

        # 7. The unit as installed. Documentation= is checked by file (a minbase root has no
        #    man(1) for systemd-analyze to call).
        unit = "/lib/systemd/system/smtpguard.service"
        p = inroot("systemd-analyze", ["systemd-analyze", "verify", "--man=no", unit])
        check("systemd_analyze_verify", p.returncode == 0 and p.stderr.strip() == "",
              p.stdout + p.stderr)
        for page in ("man8/smtpguard.8.gz", "man8/smtpguardctl.8.gz", "man5/smtpguard.toml.5.gz",
                     "man5/smtpguard-policy.5.gz"):
            check(f"man {page}", os.path.isfile(os.path.join(chroot, "usr/share/man", page)))
        p = inroot("is-enabled", ["systemctl", "is-enabled", "smtpguard.service"])
        check("unit_not_enabled", p.stdout.strip() == "disabled", p.stdout + p.stderr)
    except SystemExit:
        pass
    finally:
        for m in reversed(mounts):
            subprocess.run(["umount", "-l", m])

for name, seconds in timings:
    print(f"  {name}: {seconds:.1f} s")
print(f"{len(failures)} failed: {failures}" if failures else "all ok")
sys.exit(1 if failures else 0)
