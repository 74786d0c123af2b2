#!/usr/bin/python3
"""Test that a flood of random ACKs and RSTs cannot push established sessions out of the flow
table: 100 SMTP sessions on 587 say EHLO, then 2 million ACK and RST segments for random
tuples to port 587 arrive (each a would-be mid-stream pick-up), then every session sends a
plaintext AUTH PLAIN. With a 1024-entry table and the enterprise policy (inside widened to the
clients), all 100 sessions keep their state (their records are not evicted, not mid-stream,
with their HELO), all 100 AUTHs are seen and blocked, no credential leaves, and the flood only
recycles its own entries (flows.midstream_recycled).

usage: flood_test.py SMTPGUARD SOURCE_ROOT [FLOOD_PACKETS]
"""
import base64
import json
import os
import random
import struct
import subprocess
import sys
import tempfile

ROOT = sys.argv[2]
sys.path.insert(0, os.path.join(ROOT, "tests", "gen"))
import smtpgen  # noqa: E402

BINARY = sys.argv[1]
FLOOD = int(sys.argv[3]) if len(sys.argv) > 3 else 2_000_000
SESSIONS = 100
SERVER = "198.18.1.25"
SECRET_FMT = "\0alice{}\0Secr3t-FLOOD-{}"


def records(frames):
    return b"".join(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(d), len(d)) + d
                    for ts, _, d, _ in frames)


def fold(s):
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return s


def flood(out, start_us, n, rng):
    """n ACK or RST segments to SERVER:587 from random sources, correct checksums, one per µs.
    The checksums are the templates' sums plus the fields that vary."""
    eth = smtpgen.mac_bytes(smtpgen.MAC_UPSTREAM_SIDE) + smtpgen.mac_bytes(
        smtpgen.MAC_SUBSCRIBER_SIDE) + b"\x08\x00"
    dst = bytes(int(x) for x in SERVER.split("."))
    frame = bytearray(eth + bytes(40))
    frame_len = len(frame)
    ip_base = 0x4500 + 40 + 0x4000 + (64 << 8 | 6) + (dst[0] << 8 | dst[1]) + (dst[2] << 8 | dst[3])
    tcp_base = 6 + 20 + (dst[0] << 8 | dst[1]) + (dst[2] << 8 | dst[3]) + 587 + (5 << 12) + 1024
    hdr = struct.Struct("<IIII")
    ip = struct.Struct("!BBHHHBBH4s4s")
    tcp = struct.Struct("!HHIIHHHH")
    buf = bytearray()
    for i in range(n):
        src = rng.getrandbits(32) & 0x00007FFF | 0xC6128000  # 198.18.128.0/17
        sport = 1024 + rng.getrandbits(15)
        seq = rng.getrandbits(32)
        ack = rng.getrandbits(32)
        flags = 0x10 if i & 1 else 0x14  # ACK, RST|ACK
        s_hi, s_lo = src >> 16, src & 0xFFFF
        ip_sum = (~fold(ip_base + s_hi + s_lo)) & 0xFFFF
        tcp_sum = (~fold(tcp_base + s_hi + s_lo + sport + (seq >> 16) + (seq & 0xFFFF) +
                         (ack >> 16) + (ack & 0xFFFF) + flags)) & 0xFFFF
        ip.pack_into(frame, 14, 0x45, 0, 40, 0, 0x4000, 64, 6, ip_sum, src.to_bytes(4, "big"), dst)
        tcp.pack_into(frame, 34, sport, 587, seq, ack, (5 << 12) | flags, 1024, tcp_sum, 0)
        ts = start_us + i
        buf += hdr.pack(ts // 1_000_000, ts % 1_000_000, frame_len, frame_len)
        buf += frame
        if len(buf) > 1 << 22:
            out.write(buf)
            buf = bytearray()
    out.write(buf)
    return start_us + n


def policy_text():
    with open(os.path.join(ROOT, "policy", "examples", "enterprise-submission.toml")) as f:
        text = f.read()
    return text.replace('inside = ["10.20.0.0/16"', 'inside = ["198.18.0.0/16", "10.20.0.0/16"')


def main():
    failures = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what, flush=True)
        if not cond:
            failures.append(what)

    rng = random.Random(587)
    cap = smtpgen.Capture(seed=25)
    convs = []
    for i in range(SESSIONS):
        c = smtpgen.TcpConv(cap, f"198.18.0.{10 + i}", SERVER, 40000 + i, 587,
                            start_us=cap.now + 100)
        c.handshake()
        s = smtpgen.SmtpSession(c)
        s.banner()
        s.ehlo(helo_name=f"host{i}.example.org", starttls=True)
        c.done()
        convs.append(c)
    with tempfile.TemporaryDirectory(dir=os.environ.get("KEEP_DIR")) as tmp:
        pcap = os.path.join(tmp, "flood.pcap")
        with open(pcap, "wb") as out:
            out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            out.write(records(cap.ordered()))
            t = flood(out, cap.now + 1000, FLOOD, rng)
            cap.frames = []
            secrets = []
            for i, c in enumerate(convs):
                c.t = t + 1000 * (i + 1)
                secret = SECRET_FMT.format(i, i)
                secrets.append(secret)
                c.send("c", f"AUTH PLAIN {base64.b64encode(secret.encode()).decode()}\r\n")
            out.write(records(cap.ordered()))
        policy = os.path.join(tmp, "policy.toml")
        with open(policy, "w") as f:
            f.write(policy_text())
        ev, st, wr = (os.path.join(tmp, n) for n in ("ev.jsonl", "st.json", "out.pcap"))
        p = subprocess.run([BINARY, "replay", pcap, "--policy", policy, "--flows", "1024",
                            "--events", ev, "--stats", st, "--write", wr, "--no-summary"],
                           capture_output=True, text=True, timeout=600)
        check(p.returncode == 0, f"replay exit status {p.returncode} {p.stderr[-300:]}")
        c = json.load(open(st))
        events = [json.loads(l) for l in open(ev)]
        with open(wr, "rb") as f:
            written = f.read()
        if os.environ.get("KEEP_DIR"):
            subprocess.run(["cp", ev, st, os.environ["KEEP_DIR"]])

    sessions = {f"198.18.0.{10 + i}" for i in range(SESSIONS)}
    flows = [e for e in events if e["event_type"] == "smtp_flow" and e["src_ip"] in sessions]
    auths = [e for e in events if e["event_type"] == "smtp_auth" and e["src_ip"] in sessions]
    blocks = [e for e in events if e["event_type"] == "policy_verdict"
              and e["src_ip"] in sessions and e["policy"]["rule"] == "auth-before-tls"
              and e["policy"]["enforced"]]
    print({k: c[k] for k in ("packets.rx", "flows.created", "flows.evicted",
                             "flows.midstream", "flows.midstream_recycled", "policy.blocked")})
    check(c["packets.rx"] >= FLOOD, f"the flood was replayed ({c['packets.rx']})")
    check(c["flows.midstream_recycled"] > 0, "the flood recycled its own mid-stream entries")
    check(len(flows) == SESSIONS, f"one record per session ({len(flows)})")
    check(all(not f["flow"]["midstream"] for f in flows), "no session was picked up again mid-stream")
    check(all(f["flow"]["reason"] != "evicted" for f in flows),
          f"no session evicted ({sum(f['flow']['reason'] == 'evicted' for f in flows)})")
    check(all(f["smtp"].get("helo", "").startswith("host") for f in flows),
          "every session kept its HELO")
    check(len(auths) == SESSIONS, f"every AUTH seen ({len(auths)})")
    check(len(blocks) == SESSIONS, f"every AUTH blocked ({len(blocks)})")
    leaked = [s for s in secrets if s.encode() in written or
              base64.b64encode(s.encode()) in written]
    check(not leaked, f"no credential in the forwarded capture ({len(leaked)} leaked)")
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
