#!/usr/bin/python3
"""Test every capture of ../shared/corpus against its expected.json (ground truth from nDPI,
suricata-verify, Zeek and Arkime), exactly: connections per SMTP port, STARTTLS attempted and
accepted, ClientHellos, SNI and JA3 (as multisets), plaintext AUTH and its mechanisms.
Also that no output of ours carries an AUTH secret found in the captures: neither the base64 on
the wire nor its decoded parts.

usage: corpus_test.py SMTPGUARD CORPUS_DIR
"""
import base64
import collections
import json
import os
import re
import subprocess
import sys
import tempfile



def secrets_in(path):
    """AUTH initial responses and SASL lines in a capture, and their decoded parts."""
    raw = open(path, "rb").read()
    found = set()
    for m in re.finditer(rb"AUTH (?:PLAIN|LOGIN|XOAUTH2|OAUTHBEARER) ([A-Za-z0-9+/=]{8,})\r\n", raw,
                         re.I):
        b64 = m.group(1).decode()
        found.add(b64)
        try:
            for part in base64.b64decode(b64).split(b"\0"):
                if len(part) >= 4:
                    found.add(part.decode("latin-1"))
        except ValueError:
            pass
    return found


def corpus_missing(corpus):
    """The exit status when the ground truth is absent, or None when it is there. Under CI (the
    CI variable set and non-empty) a missing corpus is a failure: a run without ground truth
    must not go green. On a developer's machine it is a skip, with the reason printed."""
    if os.path.isfile(os.path.join(corpus, "expected.json")):
        return None
    if os.environ.get("CI"):
        print(f"FAIL corpus not found at {corpus} (no expected.json): CI is set, so the ground "
              "truth is required")
        return 1
    print(f"corpus not found at {corpus} (no expected.json): skipped; under CI (CI set) this "
          "is a failure")
    return 77


def main():
    global binary, corpus, expected_all
    binary, corpus = sys.argv[1], sys.argv[2]
    missing = corpus_missing(corpus)
    if missing is not None:
        return missing
    expected_all = json.load(open(os.path.join(corpus, "expected.json")))
    failures = []
    if not expected_all:
        failures.append(f"{corpus}/expected.json lists no captures: nothing would be checked")
    secrets_checked = 0
    for name, exp in sorted(expected_all.items()):
        cap = os.path.join(corpus, name)
        with tempfile.TemporaryDirectory() as tmp:
            stats, events = os.path.join(tmp, "s.json"), os.path.join(tmp, "e.jsonl")
            prom = os.path.join(tmp, "m.prom")
            p = subprocess.run([binary, "replay", cap, "--stats", stats, "--events", events,
                                "--prometheus", prom, "--no-summary"],
                               capture_output=True, text=True, timeout=120)
            if p.returncode != 0:
                failures.append(f"{name}: exit {p.returncode}: {p.stderr.strip()}")
                continue
            c = json.load(open(stats))
            ev_text = open(events).read()
            outputs = {"stats": open(stats).read(), "events": ev_text, "prometheus": open(prom).read(),
                       "stdout": p.stdout, "stderr": p.stderr}
        evs = [json.loads(l) for l in ev_text.splitlines()]
        hellos = [e for e in evs if e["event_type"] == "tls_client_hello"]
        got = {
            "flows_25": c.get("flows.port.25"), "flows_465": c.get("flows.port.465"),
            "flows_587": c.get("flows.port.587"), "flows_2525": c.get("flows.port.2525"),
            "starttls_attempted": c["smtp.starttls.attempted"],
            "starttls_accepted": c["smtp.starttls.accepted"],
            "client_hello": c["smtp.tls.client_hello"],
            "plaintext_auth": c["smtp.auth.plaintext"],
            "ja3": sorted(h["tls"]["ja3"]["hash"] for h in hellos),
            "sni": sorted(h["tls"]["sni"] for h in hellos if "sni" in h["tls"]),
            "auth_mechs": sorted(m for k, v in c.items() if k.startswith("smtp.auth.plaintext.")
                                 for m in [k.rsplit(".", 1)[1]] * v),
        }
        for key, want in exp.items():
            want_cmp = sorted(want) if isinstance(want, list) else want
            if got.get(key) != want_cmp:
                failures.append(f"{name}: {key} got {got.get(key)}, expected {want_cmp}")
        # One smtp_flow event per connection seen, each with its end reason.
        flows = [e for e in evs if e["event_type"] == "smtp_flow"]
        if len(flows) != c["flows.created"]:
            failures.append(f"{name}: {len(flows)} smtp_flow events for {c['flows.created']} flows")
        for secret in secrets_in(cap):
            secrets_checked += 1
            for where, text in outputs.items():
                if secret in text:
                    failures.append(f"{name}: an AUTH secret appears in {where}")
        print(f"{name}: checked {len(exp)} expectations")

    # arkime/smtp-data-250.pcap carries AUTH PLAIN in clear: the secret check must have run.
    if "arkime/smtp-data-250.pcap" in expected_all and secrets_checked < 2:
        failures.append(f"only {secrets_checked} AUTH secrets found in the corpus: check is vacuous")
    for f in failures:
        print("FAIL", f)
    print(f"{len(expected_all)} captures, {secrets_checked} secrets checked, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
