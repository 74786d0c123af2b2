#!/usr/bin/python3
"""Test that bad input gets a one-line error naming the problem and a non-zero exit, never a
DPDK panic trace; and that a capture of random bytes and truncated frames yields counters, not
a crash.
"""
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import time

BINARY = sys.argv[1]
failures = []


def pcap(path, frames, truncate_file_by=0):
    data = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for i, f in enumerate(frames):
        data += struct.pack("<IIII", 1767225600 + i, 0, len(f), max(len(f), 60)) + f
    with open(path, "wb") as out:
        out.write(data[: len(data) - truncate_file_by] if truncate_file_by else data)


def run(args, expect_rc_nonzero, must_mention=None, name=""):
    p = subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=60)
    err_lines = [l for l in p.stderr.splitlines() if l.strip()]
    problems = []
    if expect_rc_nonzero and p.returncode == 0:
        problems.append("exit 0")
    if not expect_rc_nonzero and p.returncode != 0:
        problems.append(f"exit {p.returncode}")
    for bad in ("PANIC", "Backtrace", "Segmentation", "Aborted", "AddressSanitizer", "runtime error"):
        if bad in p.stderr:
            problems.append(f"'{bad}' on stderr")
    if expect_rc_nonzero:
        ours = [l for l in err_lines if l.startswith("smtpguard: ")]
        if len(ours) != 1:
            problems.append(f"expected one 'smtpguard: ' line, got {err_lines}")
        elif must_mention and must_mention not in ours[0]:
            problems.append(f"error does not mention '{must_mention}': {ours[0]}")
    status = "ok" if not problems else "FAIL " + "; ".join(problems)
    print(f"{name}: {status}")
    if problems:
        failures.append(name)
    return p


with tempfile.TemporaryDirectory() as tmp:
    run(["replay", os.path.join(tmp, "missing.pcap")], True, "missing.pcap", "missing capture")
    junk = os.path.join(tmp, "junk.pcap")
    with open(junk, "wb") as f:
        f.write(random.Random(1).randbytes(4096))
    run(["replay", junk], True, "junk.pcap", "random-bytes file")
    run(["replay", tmp], True, None, "directory as capture")
    run(["frobnicate"], True, "frobnicate", "unknown mode")
    run(["replay"], True, "capture", "replay without capture")
    run(["replay", junk, "--bogus"], True, "--bogus", "unknown option")
    run(["replay", junk, "--flows", "many"], True, "--flows", "bad number")
    run(["replay", junk, "--policy"], True, "--policy", "option without value")
    run(["replay", junk, "--events", "redis://127.0.0.1/"], True, "stream", "redis URL without stream")
    run(["replay", junk, "--events", "kafka://broker:9092/t"], True, "kafka", "unknown sink scheme")
    run(["replay", junk, "--events", "a.json", "--events", "b.json"], True, "one events file",
        "two events files")
    eal = ["--no-huge", "--no-pci", "--no-shconf", "--no-telemetry", "-l", "0", "-m", "128",
           "--log-level=*:error"]
    run([*eal, "--", "monitor", "--port", "0"], True, "no ports", "no ports found")
    run([*eal, "--vdev=net_null0", "--", "monitor", "--port", "net_bogus9"], True,
        "net_bogus9", "unknown port name")
    run([*eal, "--", "inline", "--inside", "0"], True, "--outside", "inline without outside")
    run(["--no-such-eal-flag", "--", "replay", junk], True, "EAL", "bad EAL argument")

    # Exactly one line and nothing else: no DPDK log, usage text or C++ abort beside it.
    def run_one_line(args, must_mention, name, timeout=60):
        p = subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=timeout)
        lines = [l for l in p.stderr.splitlines() if l.strip()]
        ok = (p.returncode != 0 and p.stdout == "" and len(lines) == 1 and
              lines[0].startswith("smtpguard: ") and all(m in lines[0] for m in must_mention))
        print(f"{name}: {'ok' if ok else 'FAIL'} (exit {p.returncode}, stdout "
              f"{len(p.stdout.splitlines())} lines, stderr {lines[:4]})")
        if not ok:
            failures.append(name)
        return p

    sample = os.path.join(os.path.dirname(__file__), "..", "..", "samples", "sample.pcap")
    quiet_eal = ["--no-huge", "--no-pci", "--no-shconf", "--no-telemetry", "-m", "128"]
    run_one_line(["--no-such-eal-flag", "--", "replay", sample], ["EAL", "--no-such-eal-flag"],
                 "bad EAL flag: one line")
    run_one_line([*quiet_eal, "-l", "99", "--", "replay", sample], ["EAL", "lcore 99"],
                 "-l 99: one line")
    p = subprocess.run([BINARY, *quiet_eal, "-l", "99", "--", "replay", sample, "--verbose"],
                       capture_output=True, text=True, timeout=60)
    ours = [l for l in p.stderr.splitlines() if l.startswith("smtpguard: ")]
    ok = p.returncode != 0 and len(ours) == 1 and "EAL: " in p.stdout + p.stderr
    print(f"-l 99 --verbose: {'ok' if ok else 'FAIL'}: DPDK's own lines shown")
    if not ok:
        failures.append("-l 99 --verbose")
    # More flows than the machine has memory for: one line, not std::bad_alloc.
    run_one_line(["replay", sample, "--flows", "67108864"], ["--flows", "memory"],
                 "--flows beyond memory: one line")
    for bad in ("nan", "inf", "-inf", "1e300", "0", "-1", "1e-9", "10s", ""):
        run_one_line([*eal, "--", "monitor", "--port", "0", "--duration", bad], ["--duration"],
                     f"--duration '{bad}': one line")
    # A good duration ends the run by itself.
    t0 = time.time()
    p = subprocess.run([BINARY, *eal, "--vdev=net_null0", "--", "monitor", "--port", "net_null0",
                        "--duration", "1.5", "--stats", os.path.join(tmp, "d.json")],
                       capture_output=True, text=True, timeout=60)
    took = time.time() - t0
    ok = p.returncode == 0 and 1.4 < took < 30
    print(f"--duration 1.5: {'ok' if ok else 'FAIL'} (exit {p.returncode}, {took:.1f} s)")
    if not ok:
        failures.append("--duration 1.5")

    # Random frames in a valid pcap: every one counted, none crashes anything.
    rng = random.Random(7)
    frames = [rng.randbytes(rng.randint(0, 200)) for _ in range(2000)]
    good = bytes.fromhex("ffffffffffff02000000000108004500002800010000400600000a0000010a000002"
                         "c350001900000001000000005002ffff00000000")
    frames += [good[:n] for n in range(len(good) + 1)]  # every truncation of a TCP/25 SYN
    rnd = os.path.join(tmp, "random_frames.pcap")
    pcap(rnd, frames)
    stats = os.path.join(tmp, "stats.json")
    run(["replay", rnd, "--stats", stats], False, None, "random and truncated frames")
    c = json.load(open(stats))
    if c["packets.rx"] != len(frames) or c["packets.tx"] != len(frames):
        failures.append("random frames counted")
        print("random frames: rx/tx", c["packets.rx"], c["packets.tx"], "expected", len(frames))
    if c["packets.malformed"] == 0:
        failures.append("random frames: nothing malformed")

    # A file cut in the middle of a record: counters for what was read, one error line.
    cut = os.path.join(tmp, "cut.pcap")
    pcap(cut, [good] * 10, truncate_file_by=7)
    p = run(["replay", cut, "--stats", stats], True, "truncated", "capture cut mid-record")
    c = json.load(open(stats))
    if c["packets.rx"] != 9:
        failures.append("cut capture counted")
        print("cut capture: rx", c["packets.rx"], "expected 9")

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
