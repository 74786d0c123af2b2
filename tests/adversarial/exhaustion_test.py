#!/usr/bin/python3
"""Test that resource exhaustion fails closed for enforcement: with `--flows 1024` a worker has
256 SMTP line states; 300 sessions on 587 open and say EHLO one after another (each keeps a
line state for its HELO name), then every session sends MAIL FROM and a message body in clear.
Under the enterprise policy (inside widened to the clients) the 44 sessions that found no line
state are refused at their SYN (flows.refused_no_state, client reset), the others are stopped
by mail-before-tls, and no MAIL FROM or body leaves. With [policy] state_exhaustion = "pass"
none is refused and the exhaustion is counted (pool.exhausted).

usage: exhaustion_test.py SMTPGUARD SOURCE_ROOT
"""
import json
import os
import subprocess
import sys
import tempfile

ROOT = sys.argv[2]
sys.path.insert(0, os.path.join(ROOT, "tests", "gen"))
import smtpgen  # noqa: E402

BINARY = sys.argv[1]
SESSIONS, LINE_STATES = 300, 256
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def main():
    cap = smtpgen.Capture(seed=300)
    convs = []
    for i in range(SESSIONS):
        c = smtpgen.TcpConv(cap, f"198.18.{i // 200}.{10 + i % 200}", "198.18.9.25", 41000 + i,
                            587, start_us=cap.now + 100)
        c.handshake()
        s = smtpgen.SmtpSession(c)
        s.banner()
        # Refused sessions get a RST: the generator still writes what the client would send.
        s.ehlo(helo_name=f"host{i}.example.org", starttls=True)
        c.done()
        convs.append(s)
    for i, s in enumerate(convs):
        s.c.t = cap.now + 100
        s.c.send("c", f"MAIL FROM:<leak{i}@example.org>\r\n")
        s.c.send("c", f"Subject: Secret-body-{i}\r\n\r\nconfidential {i}\r\n.\r\n")
        s.c.done()
    with tempfile.TemporaryDirectory() as tmp:
        pcap = os.path.join(tmp, "exhaust.pcap")
        cap.write_pcap(pcap)
        with open(os.path.join(ROOT, "policy", "examples", "enterprise-submission.toml")) as f:
            text = f.read().replace('inside = ["10.20.0.0/16"', 'inside = ["198.18.0.0/16", "10.20.0.0/16"')
        # The submission rate limit would refuse these sessions for another reason: cut it.
        start = text.index('name = "submission-flood"')
        start = text.rindex("[[rule]]", 0, start)
        end = text.find("[[rule]]", start + 8)
        text = text[:start] + (text[end:] if end >= 0 else "")
        policy = os.path.join(tmp, "policy.toml")
        with open(policy, "w") as f:
            f.write(text)
        st, wr = os.path.join(tmp, "st.json"), os.path.join(tmp, "out.pcap")
        p = subprocess.run([BINARY, "replay", pcap, "--policy", policy, "--flows", "1024",
                            "--stats", st, "--write", wr, "--no-summary"],
                           capture_output=True, text=True, timeout=300)
        check(p.returncode == 0, f"replay exit {p.returncode} {p.stderr[-300:]}")
        c = json.load(open(st))
        written = open(wr, "rb").read()
        # The operator's other choice, [policy] state_exhaustion = "pass": nobody is refused
        # (availability first), and what could not be inspected is counted.
        with open(policy, "w") as f:
            f.write(text.replace("[policy]\n", '[policy]\nstate_exhaustion = "pass"\n', 1))
        p = subprocess.run([BINARY, "replay", pcap, "--policy", policy, "--flows", "1024",
                            "--stats", st, "--no-summary"], capture_output=True, text=True,
                           timeout=300)
        check(p.returncode == 0, f"pass: replay exit {p.returncode} {p.stderr[-300:]}")
        c_pass = json.load(open(st))
        check(c_pass["flows.refused_no_state"] == 0 and c_pass["pool.exhausted"] > 0,
              f"state_exhaustion = pass: none refused, exhaustion counted "
              f"({c_pass['flows.refused_no_state']}, {c_pass['pool.exhausted']})")
    print({k: c[k] for k in ("flows.created", "flows.refused_no_state", "pool.exhausted",
                             "policy.blocked")})
    check(c["flows.refused_no_state"] == SESSIONS - LINE_STATES,
          f"{SESSIONS - LINE_STATES} new sessions refused ({c['flows.refused_no_state']})")
    leaked = [i for i in range(SESSIONS)
              if f"leak{i}@".encode() in written or f"Secret-body-{i}".encode() in written]
    check(not leaked, f"no MAIL FROM or body left in clear ({len(leaked)} leaked: {leaked[:5]})")
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
