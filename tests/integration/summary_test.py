#!/usr/bin/python3
"""Test the human summary printed on a terminal at the end of a run: it reads as a report
(blocked port-25 connections and from how many subscribers, plaintext AUTH by mechanism, the
STARTTLS funnel, top rule hits), and its numbers agree with the JSON counters and with the
policy_verdict events of the same run (the independent count of blocked connections and of
distinct clients).

usage: summary_test.py SMTPGUARD SOURCE_ROOT
"""
import json
import os
import pty
import re
import subprocess
import sys
import tempfile

BINARY, ROOT = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
SAMPLE = os.path.join(ROOT, "samples", "sample.pcap")
failures = []


def check(name, ok, detail=""):
    print(f"{name}: {'ok' if ok else 'FAIL'}{'' if ok else ' ' + detail}")
    if not ok:
        failures.append(name)


def run_on_terminal(args):
    """Runs smtpguard with stderr on a pseudo-terminal; returns (rc, stderr text)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([BINARY, *args], stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return p.wait(timeout=60), b"".join(chunks).decode().replace("\r\n", "\n")


with tempfile.TemporaryDirectory() as tmp:
    stats_path, events_path = os.path.join(tmp, "stats.json"), os.path.join(tmp, "eve.json")
    policy = os.path.join(ROOT, "policy", "examples", "isp-port25.toml")
    rc, text = run_on_terminal(["replay", SAMPLE, "--policy", policy, "--stats", stats_path,
                                "--events", events_path])
    print(text)
    stats = json.load(open(stats_path))
    events = [json.loads(l) for l in open(events_path)]
    check("exit", rc == 0, str(rc))

    blocked = [e for e in events if e["event_type"] == "policy_verdict" and e["dest_port"] == 25
               and e["policy"]["action"] in ("drop", "reject") and e["policy"]["enforced"]]
    flows, clients = {e["flow_id"] for e in blocked}, {e["src_ip"] for e in blocked}
    m = re.search(r"port 25 blocked +(\d+) connections? from (\d+) subscribers?", text)
    check("port25_line", m is not None and int(m.group(1)) == len(flows) > 0
          and int(m.group(2)) == len(clients) > 0,
          f"{m and m.groups()} vs {len(flows)} flows from {len(clients)} clients")

    plain, auth = stats["smtp.auth.plaintext"], stats["smtp.auth"]
    mechs = {k.split(".")[-1]: v for k, v in stats.items()
             if k.startswith("smtp.auth.plaintext.") and v}
    m = re.search(r"AUTH in clear +(\d+) of (\d+) AUTH commands.*?: (.*)", text)
    shown = dict((n, int(v)) for n, v in re.findall(r"([A-Z0-9-]+) (\d+)", m.group(3))) if m else {}
    check("auth_line", m is not None and int(m.group(1)) == plain and int(m.group(2)) == auth
          and shown == mechs and plain > 0, f"{m and m.group(0)} vs {mechs}")

    m = re.search(r"STARTTLS +offered (\d+) -> attempted (\d+).* -> accepted (\d+)", text)
    check("starttls_funnel", m is not None and [int(x) for x in m.groups()] == [
        stats["smtp.starttls.offered"], stats["smtp.starttls.attempted"],
        stats["smtp.starttls.accepted"]], m and m.group(0))

    rules = sorted(((k[len("policy.rule."):], v) for k, v in stats.items()
                    if k.startswith("policy.rule.") and v), key=lambda r: -r[1])
    m = re.search(r"top rules +(.*)", text)
    check("top_rules", m is not None and rules and m.group(1).startswith(
        f"{rules[0][0]} {rules[0][1]}"), f"{m and m.group(0)} vs {rules}")
    check("policy_named", "policy isp-port25 (enforced)" in text, text[:200])

    # Shadow: the same connections, counted as what would have been blocked.
    rc, text = run_on_terminal(["replay", SAMPLE, "--policy", policy, "--policy-mode", "shadow",
                                "--stats", os.devnull])
    m = re.search(r"port 25 would block +(\d+) connections? from (\d+) subscribers? "
                  r"\(not enforced\)", text)
    check("shadow_would_block", rc == 0 and m is not None and int(m.group(1)) == len(flows)
          and int(m.group(2)) == len(clients), text)

    # --no-summary, and no summary when stderr is not a terminal.
    rc, text = run_on_terminal(["replay", SAMPLE, "--stats", os.devnull, "--no-summary"])
    check("no_summary", rc == 0 and "summary" not in text, text)
    p = subprocess.run([BINARY, "replay", SAMPLE, "--stats", os.devnull], capture_output=True,
                       text=True)
    check("not_a_terminal", p.returncode == 0 and p.stderr == "", p.stderr)

print(f"{len(failures)} failed: {failures}" if failures else "all ok")
sys.exit(1 if failures else 0)
