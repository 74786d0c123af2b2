#!/usr/bin/python3
"""Test `smtpguard replay --golden DIR` and `--check DIR` (docs/lab.md, "Golden files"):

- the set is the --write capture, the --stats counters and the --events lines less exactly the
  documented run-dependent fields (checked against an independent strip done here in Python);
- a second run agrees (exit 0), and a golden set tampered with in any one of its three files
  (a counter, a missing event, one byte of one frame), or a run under another policy, differs:
  exit 1 and a diff that names what differs;
- --golden refuses --write/--events/--stats (it writes its own).

usage: golden_test.py SMTPGUARD SOURCE_ROOT
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

BINARY, ROOT = sys.argv[1], sys.argv[2]
SAMPLE = os.path.join(ROOT, "samples", "sample.pcap")
POLICY = os.path.join(ROOT, "policy", "examples", "isp-port25.toml")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def run(*args):
    return subprocess.run([BINARY, "replay", SAMPLE, *args, "--no-summary"],
                          capture_output=True, text=True, timeout=60)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        golden = os.path.join(tmp, "golden")
        p = run("--policy", POLICY, "--golden", golden)
        check(p.returncode == 0, f"--golden exits 0 ({p.returncode} {p.stderr.strip()})")
        check(sorted(os.listdir(golden)) == ["counters.json", "events.jsonl", "forwarded.pcap"],
              f"the set is three files ({sorted(os.listdir(golden))})")

        # The same run with the ordinary outputs, normalised here independently.
        raw_ev, raw_st, raw_w = (os.path.join(tmp, n) for n in ("ev.jsonl", "st.json", "w.pcap"))
        p = run("--policy", POLICY, "--events", raw_ev, "--stats", raw_st, "--write", raw_w)
        check(p.returncode == 0, "plain replay")
        expected = []
        for line in open(raw_ev):
            e = json.loads(line)
            del e["timestamp"], e["flow_id"]
            if "flow" in e:
                e["flow"].pop("age"), e["flow"].pop("duration_ms")
            expected.append(e)
        got = [json.loads(l) for l in open(os.path.join(golden, "events.jsonl"))]
        check(len(got) > 20 and got == expected,
              f"events less timestamp, flow_id, flow.age, flow.duration_ms ({len(got)} events)")
        counters = json.load(open(raw_st))
        del counters["events.write_failed"]
        check(json.load(open(os.path.join(golden, "counters.json"))) == counters,
              "counters less events.write_failed")
        check(open(raw_w, "rb").read() == open(os.path.join(golden, "forwarded.pcap"), "rb").read(),
              "forwarded.pcap is what --write writes")

        p = run("--policy", POLICY, "--check-golden", golden)
        check(p.returncode == 0 and "agrees" in p.stdout,
              f"--check-golden of a second run agrees ({p.returncode} {p.stdout.strip()})")

        def tampered(name, edit, needle):
            bad = os.path.join(tmp, name)
            shutil.copytree(golden, bad)
            edit(bad)
            p = run("--policy", POLICY, "--check-golden", bad)
            check(p.returncode == 1 and needle in p.stdout,
                  f"{name}: --check-golden exits 1 naming '{needle}' ({p.returncode})\n{p.stdout[:600]}")

        def edit_counter(d):
            f = os.path.join(d, "counters.json")
            c = json.load(open(f))
            c["packets.tx"] += 1
            json.dump(c, open(f, "w"), indent=2)

        def drop_event(d):
            f = os.path.join(d, "events.jsonl")
            lines = open(f).readlines()
            open(f, "w").writelines(lines[:5] + lines[6:])

        def flip_byte(d):
            f = os.path.join(d, "forwarded.pcap")
            b = bytearray(open(f, "rb").read())
            b[-1] ^= 0x01  # the last byte of the last frame
            open(f, "wb").write(bytes(b))

        def swap_events(d):
            f = os.path.join(d, "events.jsonl")
            lines = open(f).readlines()
            lines[0], lines[1] = lines[1], lines[0]
            open(f, "w").writelines(lines)

        tampered("counter", edit_counter, "packets.tx: golden")
        tampered("event", drop_event, "0 events only in golden (-), 1 only in this run (+)")
        tampered("frame", flip_byte, "1 of 196 frames differ")
        tampered("order", swap_events, "in another order, first at line 1")

        p = run("--check-golden", golden)  # no policy: nothing blocked
        check(p.returncode == 1 and "policy.blocked: golden 16, now 0" in p.stdout,
              f"a run without the policy differs ({p.returncode})")
        p = run("--golden", os.path.join(tmp, "x"), "--events", "-")
        check(p.returncode == 1 and "leave out" in p.stderr,
              f"--golden with --events refused ({p.stderr.strip()})")
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
