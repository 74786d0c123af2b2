#!/usr/bin/python3
"""One capture per evasion class of issue 9, each a whole SMTP session on 587 that hides a
plaintext `AUTH PLAIN <credential>` from an inline inspector the way an attacker would.

Usage: make_evasions.py OUTDIR

Every capture: client 198.18.0.10 (2001:db8:18::10 where the class needs IPv6) to server
198.18.1.25 (2001:db8:18:1::25) port 587; handshake, 220 banner, EHLO answered with
250-PIPELINING, 250-CHUNKING and 250 AUTH PLAIN LOGIN, then the evasion, the AUTH carrying
base64("\\0alice\\0Secr3t-EVASION-<class>"), 235, QUIT, 221 and FIN teardown. No session sends
MAIL before its AUTH, so no other rule of the enterprise policy can block it first.

OUTDIR/<class>.pcap for each class, and OUTDIR/cases.json: {class: {"secret": decoded,
"b64": base64, "what": description}}. Deterministic: the same bytes on every run.
"""

import base64
import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gen"))
import smtpgen as g  # noqa: E402

CLIENT_V4, SERVER_V4 = "198.18.0.10", "198.18.1.25"
CLIENT_V6, SERVER_V6 = "2001:db8:18::10", "2001:db8:18:1::25"
PORT = 587
EHLO_REPLY = (b"250-mx.example.net\r\n250-PIPELINING\r\n250-CHUNKING\r\n"
              b"250 AUTH PLAIN LOGIN\r\n")
M32 = 0xFFFFFFFF
SNAPLEN = 262144  # a GRO-sized frame exceeds 65535

CASES = {}


def case(what):
    def register(fn):
        CASES[fn.__name__] = (fn, what)
        return fn
    return register


class Session:
    """A TcpConv on 587 plus the raw-frame helpers the evasions need."""

    def __init__(self, name, seed, v6=False, cport=40000):
        self.name = name
        self.cap = g.Capture(seed)
        client, server = (CLIENT_V6, SERVER_V6) if v6 else (CLIENT_V4, SERVER_V4)
        self.c = g.TcpConv(self.cap, client, server, cport, PORT)
        # Far from the 2^32 wrap, so that reassembly by offset stays simple to read.
        self.c.isn = {"c": 0x10000000 + seed * 0x1000, "s": 0x50000000 + seed * 0x1000}
        self.secret = f"\0alice\0Secr3t-EVASION-{name}"
        self.b64 = base64.b64encode(self.secret.encode()).decode()
        self.auth = f"AUTH PLAIN {self.b64}\r\n".encode()

    # -- the ordinary parts ------------------------------------------------------------------
    def start(self, ehlo=True):
        self.c.handshake()
        self.c.send("s", b"220 mx.example.net ESMTP ready\r\n")
        self.c.ack("c")
        if ehlo:
            self.ehlo()

    def ehlo(self):
        self.c.send("c", b"EHLO laptop-17.corp.example\r\n")
        self.c.send("s", EHLO_REPLY)

    def send_auth(self, plan=None):
        self.c.send("c", self.auth, plan=plan)

    def finish(self, accepted=True):
        if accepted:
            self.c.send("s", b"235 2.7.0 Authentication successful\r\n")
        self.c.send("c", b"QUIT\r\n")
        self.c.send("s", b"221 2.0.0 Bye\r\n")
        self.c.close(first="s")

    # -- raw segments --------------------------------------------------------------------------
    def raw(self, d, flags, payload=b"", off=None, *, ttl=None, options=b"", seq=None,
            record=True, window=502):
        """One segment as L3 bytes (IPv4 with DF, or IPv6), like TcpConv.seg but returned
        instead of emitted. record=False leaves the receiver's state as it was: the segment never
        reaches it (a decoy)."""
        c = self.c
        o = "s" if d == "c" else "c"
        if off is None:
            off = c.off[d]
        if seq is None:
            seq = (c.isn[d] + off) & M32
        ack = (c.isn[o] + c.contig[d]) & M32 if "A" in flags else 0
        sport, dport = (c.cport, c.sport) if d == "c" else (c.sport, c.cport)
        pkt = g.tcp_ip_packet(c.addr[d], c.addr[o], sport, dport, seq, ack, flags, window,
                              options, payload, c.ttl[d] if ttl is None else ttl, c.ipid[d])
        c.ipid[d] = (c.ipid[d] + 1) & 0xFFFF
        if record and payload:
            c.rcv[o].update(range(off, off + len(payload)))
            while c.contig[o] in c.rcv[o]:
                c.contig[o] += 1
        return pkt

    def put(self, d, l3, *, v6=None, vlans=None, delay=None):
        """Emit L3 bytes in an Ethernet frame, with the session's MACs and clock."""
        ts = self.c._advance(d, delay)
        src_mac, dst_mac = self.c.mac[d]
        self.cap.ip_frame(l3, src_mac=src_mac, dst_mac=dst_mac,
                          vlans=self.c.vlans if vlans is None else vlans, ts=ts,
                          v6=self.c.v6 if v6 is None else v6)

    def write(self, path):
        out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, 1)]
        for ts, _, data, _ in self.cap.ordered():
            out.append(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(data), len(data)))
            out.append(data)
        with open(path, "wb") as f:
            f.write(b"".join(out))


def ipv4_fragments(pkt, size):
    """RFC 791 fragments of an IPv4 packet (DF cleared), `size` payload bytes each (a multiple
    of 8), in order."""
    ihl = (pkt[0] & 0x0F) * 4
    hdr, body = bytearray(pkt[:ihl]), pkt[ihl:]
    frags = []
    for at in range(0, len(body), size):
        part = body[at:at + size]
        h = bytearray(hdr)
        more = at + size < len(body)
        struct.pack_into("!H", h, 2, ihl + len(part))
        struct.pack_into("!H", h, 6, (0x2000 if more else 0) | (at // 8))
        struct.pack_into("!H", h, 10, 0)
        struct.pack_into("!H", h, 10, g.inet_checksum(bytes(h)))
        frags.append(bytes(h) + part)
    return frags


def ipv6_fragments(pkt, size, ident=0x1234abcd):
    """RFC 8200 §4.5 fragments of an IPv6 packet without extension headers."""
    hdr, body = bytearray(pkt[:40]), pkt[40:]
    next_header = hdr[6]
    frags = []
    for at in range(0, len(body), size):
        part = body[at:at + size]
        more = at + size < len(body)
        h = bytearray(hdr)
        h[6] = 44  # Fragment
        struct.pack_into("!H", h, 4, 8 + len(part))
        frag = struct.pack("!BBHI", next_header, 0, (at // 8) << 3 | (1 if more else 0), ident)
        frags.append(bytes(h) + frag + part)
    return frags


def ipv6_with_ext_headers(pkt, count):
    """The IPv6 packet with `count` empty Destination Options headers (8 bytes each: PadN)
    between the fixed header and TCP. The TCP checksum does not cover them."""
    hdr, body = bytearray(pkt[:40]), pkt[40:]
    chain = b""
    for i in range(count):
        nxt = 6 if i == count - 1 else 60
        chain += struct.pack("!BB", nxt, 0) + b"\x01\x04\x00\x00\x00\x00"
    hdr[6] = 60
    struct.pack_into("!H", hdr, 4, len(chain) + len(body))
    return bytes(hdr) + chain + body


def corrupt_tcp_checksum(pkt):
    ihl = (pkt[0] & 0x0F) * 4 if pkt[0] >> 4 == 4 else 40
    b = bytearray(pkt)
    b[ihl + 16] ^= 0x5A
    return bytes(b)


def decoy_for(s):
    """Bytes of the AUTH line's length that read as a harmless command."""
    return b"NOOP " + b"x" * (len(s.auth) - 7) + b"\r\n"


# -- the classes ----------------------------------------------------------------------------


@case("the AUTH segment in three IPv4 fragments (fragments to SMTP ports go uninspected)")
def ip_fragments_v4(s):
    s.start()
    pkt = s.raw("c", "PA", s.auth)
    for f in ipv4_fragments(pkt, 24):
        s.put("c", f)
    s.c.off["c"] += len(s.auth)
    s.finish()


@case("the AUTH segment in IPv6 fragments")
def ip_fragments_v6(s):
    s.start()
    pkt = s.raw("c", "PA", s.auth)
    for f in ipv6_fragments(pkt, 24):
        s.put("c", f)
    s.c.off["c"] += len(s.auth)
    s.finish()


@case("a NOOP decoy over the AUTH's sequence range with a bad TCP checksum, then the AUTH")
def bad_checksum_decoy(s):
    s.start()
    s.put("c", corrupt_tcp_checksum(s.raw("c", "PA", decoy_for(s), record=False)))
    s.send_auth()
    s.finish()


@case("a NOOP decoy over the AUTH's sequence range with TTL 1 (dies at the next hop)")
def ttl_decoy(s):
    s.start()
    s.put("c", s.raw("c", "PA", decoy_for(s), ttl=1, record=False))
    s.send_auth()
    s.finish()


@case("a NOOP decoy from ::ffff:198.18.0.10 (IPv6) over the AUTH's range, then the AUTH on IPv4")
def ipv4_mapped_v6(s):
    s.start()
    c = s.c
    mapped = {d: b"\x00" * 10 + b"\xff\xff" + c.addr[d] for d in ("c", "s")}
    seq = (c.isn["c"] + c.off["c"]) & M32
    ack = (c.isn["s"] + c.contig["c"]) & M32
    pkt = g.tcp_ip_packet(mapped["c"], mapped["s"], c.cport, c.sport, seq, ack, "PA", 502, b"",
                          decoy_for(s), 64, 0)
    s.put("c", pkt, v6=True)
    s.send_auth()
    s.finish()


@case("a lone 0x16 as the first client segment, then \\r\\n, EHLO and AUTH in clear")
def lone_0x16(s):
    s.start(ehlo=False)
    s.c.send("c", b"\x16")
    s.c.send("c", b"\r\n")
    s.c.send("s", b"500 5.5.2 Error: command not recognized\r\n")
    s.ehlo()
    s.send_auth()
    s.finish()


@case("STARTTLS accepted, then a lone 0x16 and \\r\\n, and AUTH in clear")
def lone_0x16_after_starttls(s):
    s.start()
    s.c.send("c", b"STARTTLS\r\n")
    s.c.send("s", b"220 2.0.0 Ready to start TLS\r\n")
    s.c.send("c", b"\x16")
    s.c.send("c", b"\r\n")
    s.send_auth()
    s.finish()


@case("junk 5000 bytes ahead (past the 4 KiB out-of-order buffer, inside the window)")
def hole_past_ooo(s):
    s.start()
    s.put("c", s.raw("c", "PA", b"J" * 200, off=s.c.off["c"] + 5000, record=False))
    s.send_auth()
    s.finish()


@case("junk 100 kB past the expected sequence number, then the AUTH in order")
def junk_100k_ahead(s):
    s.start()
    s.put("c", s.raw("c", "PA", b"J" * 200, off=s.c.off["c"] + 100_000, record=False))
    s.send_auth()
    s.finish()


@case("a second SYN with another ISN before the SYN-ACK; the server keeps the first")
def second_syn_new_isn(s):
    c = s.c
    c.seg("c", "S", off=0)
    s.put("c", s.raw("c", "S", off=0, seq=(c.isn["c"] + 0x40000000) & M32,
                     options=g.syn_options(1460), window=64240, record=False))
    c.off["c"] = 1
    c.seg("s", "SA", off=0)
    c.off["s"] = 1
    c.seg("c", "A")
    c.send("s", b"220 mx.example.net ESMTP ready\r\n")
    s.ehlo()
    s.send_auth()
    s.finish()


@case("an out-of-window RST, then a new SYN with another ISN; the server ignores both")
def rst_then_new_syn(s):
    s.start()
    c = s.c
    s.put("c", s.raw("c", "R", off=c.off["c"] + 5_000_000, record=False, window=0))
    s.put("c", s.raw("c", "S", off=0, seq=(c.isn["c"] + 0x40000000) & M32,
                     options=g.syn_options(1460), window=64240, record=False))
    c.ack("s")  # RFC 5961 §4: the challenge ACK
    s.send_auth()
    s.finish()


@case("'AUTH PLAIN ', an out-of-window RST, 11 s of silence, then the rest of the line")
def flow_end_mid_auth(s):
    s.start()
    c = s.c
    base = c.off["c"]
    c.seg("c", "A", s.auth[:11], off=base)
    s.put("c", s.raw("c", "RA", off=base + 5_000_000, record=False, window=0))
    # Other traffic through the box late in the silence: a replay reads its capture in bursts
    # of 32 frames and expires flows at each burst's first frame, so more than 32 frames between
    # 10 s and 11 s after the RST make one of them expire what the RST closed.
    for k in range(40):
        s.cap.udp("198.18.0.53", "198.18.0.54", 5353, 53, b"\x12\x34" + bytes(10),
                  src_mac=g.MAC_SUBSCRIBER_SIDE, dst_mac=g.MAC_UPSTREAM_SIDE,
                  ts=c.t + 10_100_000 + k * 20_000)
    c.seg("c", "PA", s.auth[11:], off=base + 11, delay=11_000_000)
    c.off["c"] = base + len(s.auth)
    s.finish()


@case("the credential half of the AUTH line first (out of order), then 'AUTH PLAIN '")
def ooo_credential_half(s):
    s.start()
    s.send_auth(plan=lambda b: [(11, len(b)), (0, 11)])
    s.finish()


@case("1100 blanks in one segment, then AUTH PLAIN in the next")
def blanks_1100(s):
    s.start()
    s.c.send("c", b" " * 1100)
    s.send_auth()
    s.finish()


@case("BDAT 99999999999999999999999 answered 501, then AUTH")
def bdat_huge(s):
    s.start()
    s.c.send("c", b"BDAT 99999999999999999999999\r\n")
    s.c.send("s", b"501 5.5.4 Syntax: BDAT count [LAST]\r\n")
    s.send_auth()
    s.finish()


@case("DATA with AUTH pipelined behind it; DATA refused (503), the AUTH runs")
def data_refused_pipelined_auth(s):
    s.start()
    s.c.send("c", b"DATA\r\n" + s.auth)
    s.c.send("s", b"503 5.5.1 Error: need RCPT command\r\n")
    s.finish()


@case("the AUTH frame with three 802.1Q tags")
def vlan_3_tags(s):
    s.start()
    tags = ((g.TPID_8021Q, 10), (g.TPID_8021Q, 20), (g.TPID_8021Q, 30))
    s.put("c", s.raw("c", "PA", s.auth), vlans=tags)
    s.c.off["c"] += len(s.auth)
    s.finish()


@case("the AUTH segment with a TCP option of length 0")
def tcp_option_len0(s):
    s.start()
    s.put("c", s.raw("c", "PA", s.auth, options=b"\x08\x00\x01\x01"))
    s.c.off["c"] += len(s.auth)
    s.finish()


@case("the AUTH segment behind nine IPv6 extension headers")
def ipv6_9_ext_headers(s):
    s.start()
    s.put("c", ipv6_with_ext_headers(s.raw("c", "PA", s.auth), 9))
    s.c.off["c"] += len(s.auth)
    s.finish()


@case("the AUTH in one GRO-sized frame (65549 bytes) with NOOPs pipelined behind it")
def oversized_frame(s):
    s.start()
    room = 65535 - 20 - 20 - len(s.auth)
    filler = b"NOOP\r\n" * (room // 6)
    payload = s.auth + filler
    s.put("c", s.raw("c", "PA", payload))
    s.c.off["c"] += len(payload)
    s.c.send("s", b"250 2.0.0 Ok\r\n" * 4)
    s.finish()


V6_CASES = {"ip_fragments_v6", "ipv6_9_ext_headers"}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    index = {}
    for seed, (name, (fn, what)) in enumerate(sorted(CASES.items()), start=1):
        s = Session(name, seed, v6=name in V6_CASES, cport=40000 + seed)
        fn(s)
        s.write(os.path.join(out, name + ".pcap"))
        index[name] = {"secret": s.secret, "b64": s.b64, "what": what}
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(index, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
