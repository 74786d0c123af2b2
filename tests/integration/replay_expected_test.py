#!/usr/bin/python3
"""Test that `smtpguard replay` reports exactly the counters a capture's expected JSON gives.

usage: replay_expected_test.py SMTPGUARD CAPTURE EXPECTED_JSON [--policy FILE]

EXPECTED_JSON is {"counters": {name: value}, "ja3": [...], "sni": [...], "secrets": [...]}
(written by the scapy generators by construction). Every listed counter must match exactly;
ja3/sni, when listed, must equal the tls_client_hello events as multisets; no secret may
appear in any output of ours (stats, events, Prometheus text, stderr, --write capture is not
checked here: it legitimately carries what was forwarded).
"""
import collections
import json
import os
import subprocess
import sys
import tempfile


def main(argv):
    binary, capture, expected_path = argv[1:4]
    extra = argv[4:]
    expected = json.load(open(expected_path))
    with tempfile.TemporaryDirectory() as tmp:
        stats = os.path.join(tmp, "stats.json")
        events = os.path.join(tmp, "events.jsonl")
        prom = os.path.join(tmp, "metrics.prom")
        p = subprocess.run([binary, "replay", capture, "--stats", stats, "--events", events,
                            "--prometheus", prom, "--no-summary", *extra],
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            print(f"smtpguard exited {p.returncode}: {p.stderr}")
            return 1
        counters = json.load(open(stats))
        outputs = {"stats": open(stats).read(), "events": open(events).read(),
                   "prometheus": open(prom).read(), "stdout": p.stdout, "stderr": p.stderr}
    failures = []
    for name, want in expected.get("counters", {}).items():
        got = counters.get(name)
        if got != want:
            failures.append(f"{name}: got {got}, expected {want}")
    hellos = [json.loads(l) for l in outputs["events"].splitlines()
              if '"event_type":"tls_client_hello"' in l]
    if "ja3" in expected and (expected["ja3"] or hellos):
        got = collections.Counter(h["tls"]["ja3"]["hash"] for h in hellos)
        if got != collections.Counter(expected["ja3"]):
            failures.append(f"ja3: got {sorted(got.elements())}, expected {sorted(expected['ja3'])}")
    if "sni" in expected and (expected["sni"] or hellos):
        got = collections.Counter(h["tls"]["sni"] for h in hellos if h["tls"].get("sni"))
        if got != collections.Counter(expected["sni"]):
            failures.append(f"sni: got {sorted(got.elements())}, expected {sorted(expected['sni'])}")
    for secret in expected.get("secrets", []):
        for where, text in outputs.items():
            if secret in text:
                failures.append(f"secret {secret[:4]}... appears in {where}")
    for f in failures:
        print("FAIL", f)
    print(f"{os.path.basename(capture)}: {len(expected.get('counters', {}))} counters checked, "
          f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
