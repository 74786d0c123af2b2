#!/usr/bin/python3
"""Test what smtpguard lets out of the appliance under policy, from the packets --write emits:

- plaintext AUTH on submission with `reject`: the segment carrying AUTH never leaves (no
  credential, neither base64 nor decoded, in the output) and both ends get a RST at exactly
  the sequence number they expect; nothing of the flow follows;
- port 25 rejected at the SYN for subscribers (the shipped ISP default): no SYN leaves, the
  client gets a RST|ACK acking its SYN; the registered MTA's sessions pass untouched;
- shadow mode: the same AUTH rule counts and reports but lets everything through;
- rate_limit: a burst of N new connections from one subscriber gets exactly `burst` through;
- reject_with = "icmp": the client gets ICMP administratively prohibited instead of a RST.

usage: enforcement_test.py SMTPGUARD SOURCE_ROOT
"""
import base64
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, "/usr/lib/python3/dist-packages")
from scapy.all import IP, TCP, Ether, ICMP, IPv6, rdpcap, wrpcap  # noqa: E402

BINARY, ROOT = sys.argv[1], sys.argv[2]
SAMPLE = os.path.join(ROOT, "samples", "sample.pcap")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def replay(tmp, capture, policy_text, name):
    pol = os.path.join(tmp, name + ".toml")
    with open(pol, "w") as f:
        f.write(policy_text)
    out = os.path.join(tmp, name + ".pcap")
    stats = os.path.join(tmp, name + ".json")
    events = os.path.join(tmp, name + ".jsonl")
    p = subprocess.run([BINARY, "replay", capture, "--policy", pol, "--write", out, "--stats",
                        stats, "--events", events, "--no-summary"],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        print(p.stderr)
        failures.append(f"{name}: exit {p.returncode}")
        return None, None, None
    evs = [json.loads(l) for l in open(events)]
    return rdpcap(out), json.load(open(stats)), evs


def key(pkt):
    ip = pkt[IP] if IP in pkt else pkt[IPv6]
    return (ip.src, pkt[TCP].sport, ip.dst, pkt[TCP].dport)


def tcp_checksum_ok(pkt):
    """Recomputes the TCP checksum with scapy (independent of ours) and compares."""
    got = pkt[TCP].chksum
    fresh = Ether(bytes(pkt))
    del fresh[TCP].chksum
    return Ether(bytes(fresh))[TCP].chksum == got


AUTH_POLICY = """
[policy]
name = "auth-test"
{mode}
[networks]
inside = ["100.64.0.0/10", "2001:db8:4000::/36"]
[[rule]]
name = "auth-before-tls"
src = ["inside"]
port_class = ["submission"]
plaintext_auth = true
action = "reject"
"""

secrets = json.load(open(os.path.join(ROOT, "samples", "sample.expected.json")))["secrets"]
sample = rdpcap(SAMPLE)
raw_in = open(SAMPLE, "rb").read()

with tempfile.TemporaryDirectory() as tmp:
    # --- plaintext AUTH rejected -----------------------------------------------------------
    out, st, evs = replay(tmp, SAMPLE, AUTH_POLICY.format(mode=""), "auth")
    if out is not None:
        auth_pkts = [p for p in sample if TCP in p and bytes(p[TCP].payload)
                     .upper().startswith(b"AUTH ") and p[TCP].dport in (587, 2525)]
        check(len(auth_pkts) >= 1, f"sample has AUTH in clear on submission ({len(auth_pkts)})")
        check(st["policy.rule.auth-before-tls"] == len(auth_pkts),
              f"rule hit once per AUTH flow ({st['policy.rule.auth-before-tls']})")
        raw_out = open(os.path.join(tmp, "auth.pcap"), "rb").read()
        present = [s for s in secrets if s.encode() in raw_in]
        check(len(present) >= 2, "the sample carries the fake credentials in clear")
        for s in present:
            check(s.encode() not in raw_out, f"credential {s[:3]}... never leaves")
        for a in auth_pkts:
            c, sp, s, dp = key(a)
            seq, ack = a[TCP].seq, a[TCP].ack
            rst_c = [p for p in out if TCP in p and key(p) == (s, dp, c, sp) and p[TCP].flags.R]
            rst_s = [p for p in out if TCP in p and key(p) == (c, sp, s, dp) and p[TCP].flags.R]
            check(len(rst_c) == 1 and rst_c[0][TCP].seq == ack,
                  f"{c}:{sp}: client reset at the seq it expects ({ack})")
            check(len(rst_s) == 1 and rst_s[0][TCP].seq == seq,
                  f"{c}:{sp}: server reset at the seq it expects ({seq})")
            check(all(tcp_checksum_ok(r) for r in rst_c + rst_s), "RST checksums valid")
            after = [p for p in out if TCP in p and {key(p), key(p)[2:] + key(p)[:2]} &
                     {(c, sp, s, dp)} and not p[TCP].flags.R and p.time >= a.time]
            check(not after, f"{c}:{sp}: nothing of the flow leaves after the AUTH")
        verdicts = [e for e in evs if e["event_type"] == "policy_verdict"]
        check(len(verdicts) == len(auth_pkts) and all(v["policy"]["enforced"] for v in verdicts),
              "one enforced policy_verdict event per blocked flow")

    # --- shadow: counted, reported, nothing enforced ------------------------------------------
    out, st, evs = replay(tmp, SAMPLE, AUTH_POLICY.format(mode='mode = "shadow"'), "shadow")
    if out is not None:
        check(st["packets.dropped"] == 0 and st["packets.rst_injected"] == 0,
              "shadow mode drops and injects nothing")
        check(st["policy.shadow.auth-before-tls"] >= 1, "shadow hits counted")
        check(len(out) == len(sample), "shadow mode forwards every packet")
        check(any(e["event_type"] == "policy_verdict" and not e["policy"]["enforced"]
                  for e in evs), "shadow verdicts reported as not enforced")

    # --- the shipped ISP default: port 25 rejected at the SYN -----------------------------------
    isp = open(os.path.join(ROOT, "policy", "examples", "isp-port25.toml")).read()
    out, st, evs = replay(tmp, SAMPLE, isp, "isp")
    if out is not None:
        syns_in = [p for p in sample if TCP in p and IP in p and p[TCP].dport == 25 and
                   p[TCP].flags == "S"]
        mta = "100.64.10.25"
        blocked = {key(p) for p in syns_in if p[IP].src != mta}
        check(len(blocked) >= 3, f"sample has port-25 attempts from subscribers ({len(blocked)})")
        leaked = [p for p in out if TCP in p and key(p) in blocked]
        check(not leaked, "no packet of a rejected port-25 connection leaves")
        for (c, sp, s, dp) in blocked:
            isn = min(p[TCP].seq for p in syns_in if key(p) == (c, sp, s, dp))
            r = [p for p in out if TCP in p and key(p) == (s, dp, c, sp)]
            check(r and all(p[TCP].flags == "RA" and p[TCP].ack == isn + 1 for p in r),
                  f"{c}:{sp} gets RST|ACK acking its SYN")
        mta_in = [bytes(p) for p in sample if IP in p and mta in (p[IP].src, p[IP].dst)]
        mta_out = {bytes(p) for p in out if IP in p and mta in (p[IP].src, p[IP].dst)}
        check(mta_in and all(b in mta_out for b in mta_in),
              f"the registered MTA's {len(mta_in)} packets pass untouched")

    # --- rate limit: a burst of 20 SYNs from one subscriber, burst 5 ----------------------------
    syns = [Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") /
            IP(src="100.64.9.9", dst="198.19.58.7") /
            TCP(sport=41000 + i, dport=587, flags="S", seq=1000 + i) for i in range(20)]
    for i, p in enumerate(syns):
        p.time = 1767225600 + i * 0.01
    burst_cap = os.path.join(tmp, "burst.pcap")
    wrpcap(burst_cap, syns)
    out, st, evs = replay(tmp, burst_cap, """
[policy]
name = "rate"
[networks]
inside = ["100.64.0.0/10"]
[[rule]]
name = "submission-flood"
src = ["inside"]
port_class = ["submission"]
action = "rate_limit"
rate = "1/minute"
burst = 5
per = "address"
""", "rate")
    if out is not None:
        check(len(out) == 5, f"exactly 5 of 20 new connections pass ({len(out)})")
        check(st["policy.rate_limited"] == 15, f"15 rate limited ({st['policy.rate_limited']})")

    # --- reject with ICMP ----------------------------------------------------------------------
    out, st, evs = replay(tmp, burst_cap, """
[policy]
name = "icmp"
[networks]
inside = ["100.64.0.0/10"]
[[rule]]
name = "no-submission"
src = ["inside"]
port_class = ["submission"]
action = "reject"
reject_with = "icmp"
""", "icmp")
    if out is not None:
        icmps = [p for p in out if ICMP in p]
        check(len(icmps) == 20 and all(p[ICMP].type == 3 and p[ICMP].code == 13 for p in icmps),
              f"20 ICMP administratively prohibited ({len(icmps)})")
        check(not [p for p in out if TCP in p and not ICMP in p], "no SYN leaves")

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
