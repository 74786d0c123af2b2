#!/usr/bin/python3
"""Writes the benchmark's mixed capture: SMTP sessions among many other TCP flows and DNS.

    tools/bench/gen_mixed.py OUT.pcap [--smtp 4000] [--other 20000] [--seed 1]

Deterministic for a seed. The defaults make the issue-16 capture: 4,000 SMTP sessions (ports
25, 587, 2525 and 465; 600 of them with AUTH in clear, 1,600 with STARTTLS and a ClientHello)
among 20,000 other TCP flows (web and TLS on 80, 443, 8080, 993, 110; bulk transfers of 2 to 40
segments) and 2,000 DNS exchanges: about 24,000 flows and 650,000 packets,
about 350 MB. Flows start over 60 s and interleave by timestamp. IPv4 and TCP checksums are
correct (smtpguard verifies them on SMTP ports). Addresses: clients in 198.18.0.0/16, servers
in 198.19.0.0/16 (RFC 2544 benchmarking space).

Frames are written with struct, not scapy: scapy takes minutes for this many.
"""
import argparse
import heapq
import random
import struct
import sys

ETH = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
SYN, ACK, PSH_ACK, FIN_ACK = 0x02, 0x10, 0x18, 0x11


def csum(data):
    # The ones' complement sum of 16-bit big-endian words is the number modulo 0xffff.
    if len(data) & 1:
        data += b"\0"
    s = int.from_bytes(data, "big") % 0xFFFF
    if s == 0 and any(data):
        s = 0xFFFF
    return ~s & 0xFFFF


def ipv4(src, dst, proto, l4):
    hdr = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0x4000, 64, proto, 0,
                                src, dst))
    struct.pack_into("!H", hdr, 10, csum(bytes(hdr)))
    return ETH + bytes(hdr) + l4


def tcp(src, dst, sport, dport, seq, ack, flags, payload=b""):
    seg = bytearray(struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                                0x50, flags, 65535, 0, 0)) + payload
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(seg))
    struct.pack_into("!H", seg, 16, csum(pseudo + bytes(seg)))
    return ipv4(src, dst, 6, bytes(seg))


def udp(src, dst, sport, dport, payload):
    seg = bytearray(struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)) + payload
    pseudo = src + dst + struct.pack("!BBH", 0, 17, len(seg))
    struct.pack_into("!H", seg, 6, csum(pseudo + bytes(seg)) or 0xFFFF)
    return ipv4(src, dst, 17, bytes(seg))


def client_hello(sni):
    name = sni.encode()
    sni_ext = struct.pack("!HHHBH", 0, len(name) + 5, len(name) + 3, 0, len(name)) + name
    groups = struct.pack("!HHH", 10, 4, 2) + struct.pack("!H", 29)
    exts = sni_ext + groups
    suites = struct.pack("!H", 6) + struct.pack("!HHH", 0x1301, 0x1302, 0xC02F)
    body = (struct.pack("!H", 0x0303) + bytes(range(32)) + b"\0" + suites + b"\x01\x00" +
            struct.pack("!H", len(exts)) + exts)
    hs = struct.pack("!B", 1) + len(body).to_bytes(3, "big") + body
    return struct.pack("!BHH", 0x16, 0x0301, len(hs)) + hs


def session(rng, c, s, cport, sport, lines, t0, gap):
    """Yields (ts_ns, frame): handshake, lines alternating as given, FIN both ways."""
    cseq, sseq = rng.getrandbits(32), rng.getrandbits(32)
    t = t0
    yield t, tcp(c, s, cport, sport, cseq, 0, SYN)
    t += gap
    yield t, tcp(s, c, sport, cport, sseq, cseq + 1, SYN | ACK)
    cseq += 1
    sseq += 1
    t += gap
    yield t, tcp(c, s, cport, sport, cseq, sseq, ACK)
    for from_client, data in lines:
        t += gap
        if from_client:
            yield t, tcp(c, s, cport, sport, cseq, sseq, PSH_ACK, data)
            cseq += len(data)
        else:
            yield t, tcp(s, c, sport, cport, sseq, cseq, PSH_ACK, data)
            sseq += len(data)
    t += gap
    yield t, tcp(c, s, cport, sport, cseq, sseq, FIN_ACK)
    t += gap
    yield t, tcp(s, c, sport, cport, sseq, cseq + 1, FIN_ACK)
    t += gap
    yield t, tcp(c, s, cport, sport, cseq + 1, sseq + 1, ACK)


def smtp_lines(rng, i, kind):
    host = b"mx%d.example.test" % (i % 97)
    ehlo_reply = (b"250-" + host + b"\r\n250-PIPELINING\r\n250-SIZE 35882577\r\n" +
                  (b"250-STARTTLS\r\n" if kind == "starttls" else b"") +
                  b"250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n")
    lines = [(False, b"220 " + host + b" ESMTP\r\n"), (True, b"EHLO client%d.example.test\r\n" % i),
             (False, ehlo_reply)]
    if kind == "starttls":
        lines += [(True, b"STARTTLS\r\n"), (False, b"220 2.0.0 Ready to start TLS\r\n"),
                  (True, client_hello("mx%d.example.test" % (i % 97)))]
        # The rest is encrypted: application data records of random bytes.
        for _ in range(rng.randint(4, 10)):
            size = rng.randint(40, 1200)
            lines.append((rng.random() < 0.5, b"\x17\x03\x03" + struct.pack("!H", size) +
                          rng.randbytes(size)))
        return lines
    if kind == "auth":
        lines += [(True, b"AUTH PLAIN AGJlbmNoAGJlbmNoLXNlY3JldA==\r\n"),
                  (False, b"235 2.7.0 Authentication successful\r\n")]
    lines += [(True, b"MAIL FROM:<user%d@example.test>\r\n" % i), (False, b"250 2.1.0 Ok\r\n"),
              (True, b"RCPT TO:<rcpt%d@example.net>\r\n" % (i % 500)),
              (False, b"250 2.1.5 Ok\r\n"), (True, b"DATA\r\n"),
              (False, b"354 End data with <CR><LF>.<CR><LF>\r\n")]
    for _ in range(rng.randint(1, 6)):
        lines.append((True, (b"X" * rng.randint(60, 76) + b"\r\n") * rng.randint(4, 18)))
    lines += [(True, b".\r\n"), (False, b"250 2.0.0 Ok: queued\r\n"), (True, b"QUIT\r\n"),
              (False, b"221 2.0.0 Bye\r\n")]
    return lines


def implicit_tls_lines(rng, i):
    lines = [(True, client_hello("smtp%d.example.test" % (i % 97)))]
    for _ in range(rng.randint(4, 10)):
        size = rng.randint(40, 1200)
        lines.append((rng.random() < 0.4, b"\x17\x03\x03" + struct.pack("!H", size) +
                      rng.randbytes(size)))
    return lines


def bulk_lines(rng, port, blob):
    if port in (80, 8080):
        req = b"GET /file HTTP/1.1\r\nHost: www.example.test\r\n\r\n"
    elif port == 110:
        req = b"CAPA\r\n"
    else:
        req = client_hello("www.example.test")
    lines = [(True, req)]
    segments = rng.choice((2, 4, 6, 8, 12, 16, 20, 24, 40))
    for k in range(segments):
        size = 1460 if rng.random() < 0.4 else rng.randint(100, 1400)
        off = rng.randrange(0, len(blob) - size)
        lines.append((False, blob[off:off + size]))
        if k % 2 == 1:
            lines.append((True, b""))  # the client's ACK of two segments
    return lines


def flows(args):
    rng = random.Random(args.seed)
    blob = rng.randbytes(1 << 16)
    span = int(args.seconds * 1e9)
    gens = []
    addr = lambda net, i: bytes((198, net, (i >> 8) & 255, i & 255))
    smtp_ports = [25] * 50 + [587] * 35 + [2525] * 10 + [465] * 5
    n_auth, n_tls = args.smtp * 3 // 20, args.smtp * 2 // 5
    for i in range(args.smtp):
        port = smtp_ports[i % 100]
        kind = "auth" if i < n_auth else "starttls" if i < n_auth + n_tls else "plain"
        kind = "implicit" if port == 465 else kind
        args.kinds[kind] = args.kinds.get(kind, 0) + 1
        lines = implicit_tls_lines(rng, i) if port == 465 else smtp_lines(rng, i, kind)
        gens.append(session(rng, addr(18, rng.randrange(1, 65535)), addr(19, i % 4000 + 1),
                            rng.randrange(1024, 65535), port, lines,
                            rng.randrange(span), rng.randrange(200_000, 3_000_000)))
    other_ports = [443] * 60 + [80] * 25 + [8080] * 5 + [993] * 5 + [110] * 5
    for i in range(args.other):
        port = other_ports[i % 100]
        gens.append(session(rng, addr(18, rng.randrange(1, 65535)), addr(19, 4096 + i % 20000),
                            rng.randrange(1024, 65535), port, bulk_lines(rng, port, blob),
                            rng.randrange(span), rng.randrange(100_000, 1_000_000)))
    for i in range(args.dns):
        c, s, t = addr(18, rng.randrange(1, 65535)), addr(19, 53), rng.randrange(span)
        cport = rng.randrange(1024, 65535)
        q = struct.pack("!HHHHHH", i & 0xFFFF, 0x0100, 1, 0, 0, 0) + b"\x07example\x04test\0\0\1\0\1"
        gens.append(iter([(t, udp(c, s, cport, 53, q)),
                          (t + 500_000, udp(s, c, 53, cport, q[:2] + b"\x81\x80" + q[4:]))]))
    return gens


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--smtp", type=int, default=4000)
    ap.add_argument("--other", type=int, default=20000)
    ap.add_argument("--dns", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    args.kinds = {}
    base = 1_764_000_000 * 10**9
    n = size = 0
    with open(args.out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))  # nanosecond pcap
        out = []
        for ts, frame in heapq.merge(*flows(args), key=lambda p: p[0]):
            ts += base
            out.append(struct.pack("<IIII", ts // 10**9, ts % 10**9, len(frame), len(frame)))
            out.append(frame)
            n += 1
            size += 16 + len(frame)
            if len(out) >= 8192:
                f.write(b"".join(out))
                out.clear()
        f.write(b"".join(out))
    k = args.kinds
    print(f"{args.out}: {n} frames, {size / 1e6:.0f} MB, {args.smtp} SMTP sessions "
          f"({k.get('auth', 0)} AUTH in clear, {k.get('starttls', 0)} STARTTLS, "
          f"{k.get('implicit', 0)} implicit TLS on 465), {args.other} other TCP flows, "
          f"{args.dns} DNS exchanges", file=sys.stderr)


if __name__ == "__main__":
    main()
