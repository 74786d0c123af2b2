#!/usr/bin/python3
"""Test hot reload under load: 100 SIGHUPs during a replay at full speed, before each the policy
file replaced (atomically) by a valid policy or a broken one, alternately. Nothing may be lost:
every packet read is forwarded or dropped, every flow gets its smtp_flow event, broken files
never replace the running policy (counted as failures), and the process exits cleanly.

usage: reload_test.py SMTPGUARD SOURCE_ROOT
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
LOOPS = 8000
FRAMES, FLOWS = 276, 23  # of the sample (samples/sample.expected.json)

valid = [open(os.path.join(ROOT, "policy", "examples", n)).read()
         for n in ("isp-port25.toml", "lab-observe.toml")]
broken = '[policy]\nname = "broken"\n[[rule]]\nname = "x"\naction = "explode"\n'

with tempfile.TemporaryDirectory() as tmp:
    policy = os.path.join(tmp, "policy.toml")
    stats = os.path.join(tmp, "stats.json")
    events = os.path.join(tmp, "events.jsonl")

    def install(text):
        with open(policy + ".new", "w") as f:
            f.write(text)
        os.replace(policy + ".new", policy)

    install(valid[0])
    p = subprocess.Popen([BINARY, "replay", SAMPLE, "--loop", str(LOOPS), "--policy", policy,
                          "--stats", stats, "--events", events, "--no-summary"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Into the replay before the first SIGHUP: one that lands before main() has installed its
    # handler kills the process (a fixed 0.3 s was too short for an ASan build on a loaded
    # machine). Events are written as flows end, so a non-empty events file means the replay
    # is under way.
    def replaying():
        return os.path.exists(events) and os.path.getsize(events) > 0

    deadline = time.monotonic() + 120
    while p.poll() is None and time.monotonic() < deadline and not replaying():
        time.sleep(0.05)
    if p.poll() is not None or not replaying():
        p.kill()
        _, err = p.communicate()
        print(f"FAIL the replay never got under way (exit {p.returncode}): {err.strip()}")
        sys.exit(1)
    sent = 0
    for i in range(100):
        if p.poll() is not None:
            break
        install(valid[(i // 2) % 2] if i % 2 == 0 else broken)
        p.send_signal(signal.SIGHUP)
        sent += 1
        time.sleep(0.004)
    still_running = p.poll() is None
    _, err = p.communicate(timeout=300)
    c = json.load(open(stats))
    smtp_flows = sum(1 for l in open(events) if '"event_type":"smtp_flow"' in l)

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


check(p.returncode == 0, f"exit status {p.returncode}")
check(sent == 100 and still_running, f"100 SIGHUPs landed during the replay ({sent})")
reloads, fails = c["policy.reloads"], c["policy.reload_failures"]
# Signals that arrive between two bursts coalesce into one reload; each handled one is counted.
check(reloads >= 2 and fails >= 1, f"reloads happened: {reloads} ok, {fails} failed")
check(reloads + fails <= 101, "no reload counted twice")
check(c["packets.rx"] == FRAMES * LOOPS, f"every frame read ({c['packets.rx']})")
forwarded = c["packets.tx"] - c["packets.rst_injected"] - c["packets.icmp_injected"]
check(forwarded + c["packets.dropped"] == c["packets.rx"], "every frame forwarded or dropped")
check(c["flows.created"] == FLOWS * LOOPS, f"every flow tracked ({c['flows.created']})")
check(smtp_flows == c["flows.created"], f"every flow ended with its event ({smtp_flows})")
check(c["flows.active"] == 0, "no flow left behind")
check("running policy stays" in err, "a broken file is reported and not applied")
print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
