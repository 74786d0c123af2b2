#!/usr/bin/python3
"""Writes subscribers.pcap: a 9-minute slice of an access network for the subscriber-intelligence
test (tests/integration/subscribers_test.py, docs/subscribers.md "Worked example").

- CLEAN (default 10,000) subscribers in 100.64.0.0/10: one webmail session on 587 that upgrades
  with STARTTLS (nothing after the upgrade is readable); every 50th also tries port 25 once;
  one sends 30 plaintext messages (the slow-spam threshold, not over it); one tries 20
  distinct MX addresses on port 25 (the spray threshold, not over it).
- 100.127.0.10, the sprayer: port 25 to 300 MX addresses in 30 s, then 587 at +60 s (while
  quarantined) and at +200 s (after the quarantine ended).
- 100.127.0.20, the credential stuffer: 60 sessions on 587, each a plaintext AUTH PLAIN that
  the server refuses with 535.
- 100.127.0.30, the slow spammer: 31 messages on 587 in plaintext, one per session, every 15 s.

Deterministic (fixed seed). Frames are built with struct rather than scapy: scapy needs about a
minute for the ~120,000 frames, struct a second. TCP checksums are left zero (replay runs with
--checksums off, its default); IPv4 header checksums are right.

usage: make_subscriber_capture.py OUT.pcap [CLEAN]
"""
import random
import struct
import sys

T0 = 1796000400  # a multiple of 600 s: every detector window of the test starts here
SPRAYER, STUFFER, SPAMMER = "100.127.0.10", "100.127.0.20", "100.127.0.30"
SUBMISSION_SERVER = "198.51.100.25"
SECRET = "AHN0dWZmZXIAaHVudGVyMg=="  # "\0stuffer\0hunter2": must never appear in any output

MAC_C, MAC_S = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")


def ip4(a):
    return bytes(int(x) for x in a.split("."))


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(src, dst, sport, dport, flags, seq, ack, payload=b""):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4,
                      flags, 65535, 0, 0)
    total = 20 + len(tcp) + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 6, 0, ip4(src), ip4(dst))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return MAC_S + MAC_C + b"\x08\x00" + ip + tcp + payload


SYN, ACK, PSH, FIN, RST = 0x02, 0x10, 0x08, 0x01, 0x04


class Conn:
    """One TCP connection; each call appends (time, frame) to `out`."""

    def __init__(self, out, t, client, server, sport, dport):
        self.out, self.t = out, t
        self.c, self.s, self.cp, self.sp = client, server, sport, dport
        self.cseq, self.sseq = 1000, 50000

    def _add(self, f):
        self.out.append((self.t, len(self.out), f))
        self.t += 0.0005

    def syn(self):
        self._add(frame(self.c, self.s, self.cp, self.sp, SYN, self.cseq, 0))
        self.cseq += 1

    def handshake(self):
        self.syn()
        self._add(frame(self.s, self.c, self.sp, self.cp, SYN | ACK, self.sseq, self.cseq))
        self.sseq += 1
        self._add(frame(self.c, self.s, self.cp, self.sp, ACK, self.cseq, self.sseq))

    def client(self, data):
        data = data.encode()
        self._add(frame(self.c, self.s, self.cp, self.sp, PSH | ACK, self.cseq, self.sseq, data))
        self.cseq += len(data)

    def server(self, data):
        data = data.encode()
        self._add(frame(self.s, self.c, self.sp, self.cp, PSH | ACK, self.sseq, self.cseq, data))
        self.sseq += len(data)

    def close(self):
        self._add(frame(self.c, self.s, self.cp, self.sp, FIN | ACK, self.cseq, self.sseq))
        self.cseq += 1
        self._add(frame(self.s, self.c, self.sp, self.cp, FIN | ACK, self.sseq, self.cseq))
        self.sseq += 1
        self._add(frame(self.c, self.s, self.cp, self.sp, ACK, self.cseq, self.sseq))


def ehlo(c, starttls=True):
    c.server("220 smtp.example.net ESMTP\r\n")
    c.client("EHLO pc\r\n")
    c.server("250-smtp.example.net\r\n" + ("250-STARTTLS\r\n" if starttls else "") +
             "250 AUTH PLAIN LOGIN\r\n")


def webmail(out, t, src, sport):
    c = Conn(out, t, src, SUBMISSION_SERVER, sport, 587)
    c.handshake()
    ehlo(c)
    c.client("STARTTLS\r\n")
    c.server("220 2.0.0 ready\r\n")
    c.client("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00")  # TLS from here on: unreadable
    c.close()


def message(out, t, src, sport, n):
    c = Conn(out, t, src, SUBMISSION_SERVER, sport, 587)
    c.handshake()
    ehlo(c, starttls=False)
    c.client("MAIL FROM:<a@example.org>\r\n")
    c.server("250 ok\r\n")
    c.client("RCPT TO:<b%d@example.com>\r\n" % n)
    c.server("250 ok\r\n")
    c.client("DATA\r\n")
    c.server("354 go\r\n")
    c.client("Subject: offer %d\r\n\r\nbuy now\r\n.\r\n" % n)
    c.server("250 queued\r\n")
    c.client("QUIT\r\n")
    c.server("221 bye\r\n")
    c.close()


def stuff(out, t, src, sport):
    c = Conn(out, t, src, SUBMISSION_SERVER, sport, 587)
    c.handshake()
    ehlo(c, starttls=False)
    c.client("AUTH PLAIN " + SECRET + "\r\n")
    c.server("535 5.7.8 authentication failed\r\n")
    c.client("QUIT\r\n")
    c.server("221 bye\r\n")
    c.close()


def port25(out, t, src, dst, sport):
    Conn(out, t, src, dst, sport, 25).syn()  # the policy answers with a RST


def clean_addr(i):
    return "100.%d.%d.%d" % (64 + (i >> 16), (i >> 8) & 0xFF, i & 0xFF)


def mx(i):
    return "203.0.%d.%d" % (113 + i // 250, 1 + i % 250)


def main():
    path = sys.argv[1]
    n_clean = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    rnd = random.Random(13)
    out = []
    for i in range(n_clean):
        src = clean_addr(i + 1)
        t = T0 + rnd.uniform(0, 500)
        webmail(out, t, src, 20000 + rnd.randrange(20000))
        if i % 50 == 7:
            port25(out, T0 + rnd.uniform(0, 500), src, mx(rnd.randrange(300)), 45000 + i % 1000)
    busy = clean_addr(n_clean + 1)  # 30 messages: at the threshold, not over
    for n in range(30):
        message(out, T0 + 5 + 16 * n, busy, 30000 + n, n)
    border = clean_addr(n_clean + 2)  # 20 MX addresses: at the threshold, not over
    for n in range(20):
        port25(out, T0 + 100 + n, border, mx(n), 31000 + n)
    for n in range(300):
        port25(out, T0 + 10 + n * 0.1, SPRAYER, mx(n), 32000 + n)
    webmail(out, T0 + 60, SPRAYER, 33001)   # quarantined: refused
    webmail(out, T0 + 200, SPRAYER, 33002)  # the 2-minute quarantine ended: allowed
    for n in range(60):
        stuff(out, T0 + 20 + 7 * n, STUFFER, 34000 + n)
    for n in range(31):
        message(out, T0 + 3 + 15 * n, SPAMMER, 35000 + n, n)
    out.sort()
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t, _, fr in out:
            us = int(round(t * 1e6))
            f.write(struct.pack("<IIII", us // 1000000, us % 1000000, len(fr), len(fr)))
            f.write(fr)
    print(f"{path}: {len(out)} frames, {n_clean} clean subscribers + 2 borderline + 3 infected")


if __name__ == "__main__":
    main()
