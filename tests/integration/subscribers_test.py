#!/usr/bin/python3
"""Test subscriber intelligence end to end (docs/subscribers.md) on a generated capture
(tests/gen/make_subscriber_capture.py): 10,000 clean subscribers, two at the thresholds, and 3
infected ones (port-25 sprayer, credential stuffer, slow spammer).

- exactly the 3 infected sources get enforcing subscriber_alert events, one each, from the
  right detector, with the right evidence (counts, window, sample destinations);
- the shadow detector reports and never quarantines;
- the sprayer is quarantined: its next connection (587) is refused by the rule naming the set,
  and one after the 2-minute expiry (packet time) is allowed;
- the report (--subscribers JSON, --subscribers-csv) names them with their statistics; the
  statistics' memory is the configured size (the same for a one-frame capture);
- two runs give identical events and reports; no AUTH credential in any output.

usage: subscribers_test.py SMTPGUARD SOURCE_ROOT
"""
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

BINARY, ROOT = sys.argv[1], sys.argv[2]
POLICY = os.path.join(ROOT, "tests", "integration", "subscribers_policy.toml")
GEN = os.path.join(ROOT, "tests", "gen", "make_subscriber_capture.py")
SPRAYER, STUFFER, SPAMMER = "100.127.0.10", "100.127.0.20", "100.127.0.30"
T0 = 1796000400
SLOTS = 1024  # fewer than the subscribers: the table evicts, the infected stay
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def replay(tmp, capture, name):
    out = {k: os.path.join(tmp, f"{name}.{k}") for k in ("events", "stats", "json", "csv")}
    p = subprocess.run([BINARY, "replay", capture, "--policy", POLICY, "--checksums", "off",
                        "--events", out["events"], "--stats", out["stats"],
                        "--subscribers", out["json"], "--subscribers-csv", out["csv"],
                        "--subscriber-slots", str(SLOTS), "--no-summary"],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        print(p.stderr)
        failures.append(f"{name}: exit {p.returncode}")
        sys.exit(1)
    return out


with tempfile.TemporaryDirectory() as tmp:
    capture = os.path.join(tmp, "subscribers.pcap")
    started = time.monotonic()
    subprocess.run([sys.executable, GEN, capture], check=True, timeout=120)
    generated = time.monotonic()
    a = replay(tmp, capture, "a")
    print(f"generation {generated - started:.1f} s, replay {time.monotonic() - generated:.1f} s")
    b = replay(tmp, capture, "b")
    events = [json.loads(l) for l in open(a["events"])]
    stats = json.load(open(a["stats"]))
    report = json.load(open(a["json"]))

    alerts = [e for e in events if e["event_type"] == "subscriber_alert"]
    enforcing = [e for e in alerts if not e["subscriber"]["shadow"]]
    shadow = [e for e in alerts if e["subscriber"]["shadow"]]
    by_src = {e["subscriber"]["source"]: e["subscriber"] for e in enforcing}
    check(len(enforcing) == 3 and set(by_src) == {SPRAYER, STUFFER, SPAMMER},
          f"exactly the 3 infected flagged (got {sorted(by_src)} in {len(enforcing)} alerts)")
    spray = by_src.get(SPRAYER, {})
    check(spray.get("detector") == "port25-spray" and spray.get("count") == 21 and
          spray.get("threshold") == 20 and spray.get("window_s") == 300 and
          spray.get("window_start") == T0,
          "sprayer: port25-spray at the 21st distinct MX in the 5-minute window")
    check(spray.get("sample_destinations") == ["203.0.113.1", "203.0.113.2", "203.0.113.3",
                                              "203.0.113.4"], "sprayer: sample destinations")
    check(spray.get("action") == "quarantine" and spray.get("quarantined_until") == T0 + 12 + 120,
          "sprayer: quarantined for 2 minutes of packet time")
    stuffer = by_src.get(STUFFER, {})
    check(stuffer.get("detector") == "auth-stuffing" and stuffer.get("count") == 51 and
          stuffer.get("totals", {}).get("plaintext_auth") == 51 and
          stuffer.get("quarantined_until") == 0,
          "stuffer: auth-stuffing at the 51st failure, alert only")
    spammer = by_src.get(SPAMMER, {})
    check(spammer.get("detector") == "slow-spam" and spammer.get("count") == 31 and
          spammer.get("window_s") == 600, "spammer: slow-spam at the 31st message in 10 minutes")
    check(sorted(e["subscriber"]["source"] for e in shadow) == [SPRAYER, STUFFER] and
          all(e["subscriber"]["quarantined_until"] == 0 for e in shadow),
          "shadow detector: reports the sprayer and the stuffer, quarantines nobody")
    check(stats.get("subscribers.alerts") == 3 and stats.get("subscribers.shadow_alerts") == 2 and
          stats.get("subscribers.quarantined") == 1, "counters subscribers.*")

    def verdicts(sport):
        return [e["policy"]["rule"] for e in events
                if e["event_type"] == "policy_verdict" and e["src_ip"] == SPRAYER and
                e["src_port"] == sport]
    check(verdicts(33001) == ["quarantined"], "quarantined: the next connection is refused")
    check(verdicts(33002) == [], "released at expiry: the connection at +200 s is allowed")
    check(len(verdicts(32005)) == 1 and verdicts(32005) == ["block-relay-inside"] and
          verdicts(32100) == ["quarantined"], "port 25 before and after the quarantine")

    meta = report["subscribers"]
    rows = {r["source"]: r for r in report["top"]}
    check(meta["slots_per_worker"] == SLOTS and meta["tracked"] == SLOTS and
          meta["evicted"] > 0, f"table at its configured size ({meta})")
    check([r["source"] for r in report["top"][:2]] == [SPRAYER, STUFFER],
          "report: most active first")
    s = rows.get(SPRAYER, {})
    check(s.get("port25_attempts") == 300 and abs(s.get("port25_destinations", 0) - 300) <= 83,
          f"report: sprayer 300 attempts, ~300 destinations (HLL, 3 sigma: {s.get('port25_destinations')})")
    check(rows.get(STUFFER, {}).get("auth_failures") == 60, "report: stuffer 60 AUTH failures")
    check(rows.get(SPAMMER, {}).get("messages") == 31, "report: spammer 31 messages")
    with open(a["csv"]) as f:
        crow = {r["source"]: r for r in csv.DictReader(f)}
    check(crow.get(STUFFER, {}).get("auth_failures") == "60" and
          crow.get(SPAMMER, {}).get("messages") == "31", "CSV report")

    # Memory is fixed by configuration: a one-frame capture reports the same.
    with open(capture, "rb") as f:
        head = f.read(24 + 16)
        import struct
        n = struct.unpack("<I", head[24 + 8:24 + 12])[0]
        tiny = head + f.read(n)
    tiny_path = os.path.join(tmp, "tiny.pcap")
    open(tiny_path, "wb").write(tiny)
    t = replay(tmp, tiny_path, "tiny")
    check(json.load(open(t["json"]))["subscribers"]["memory_bytes"] == meta["memory_bytes"],
          f"memory_bytes {meta['memory_bytes']} whatever the traffic")

    for k in ("events", "json", "csv"):
        check(open(a[k], "rb").read() == open(b[k], "rb").read(), f"deterministic {k}")
    blob = b"".join(open(a[k], "rb").read() for k in ("events", "json", "csv", "stats"))
    check(b"hunter2" not in blob and b"AHN0dWZmZXIAaHVudGVyMg" not in blob,
          "no AUTH credential in any output")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
