"""Deterministic builders for smtpguard's own test captures.

Everything here is reproducible: no wall clock, no OS randomness, no interface look-ups. A
Capture owns a seeded RNG and a clock that starts at 2026-01-01T00:00:00Z; regenerating gives
byte-identical pcap and expected.json files.

Expected values are produced by construction: every frame is emitted together with the
counter increments it must cause (decided from what the builder put in it, never by
re-parsing), and SmtpSession counts SMTP events as the dialogue is scripted. The counting rules
are the contract in tests/gen/README.md; the session refuses dialogues whose expected count
would be ambiguous under that contract rather than guess.

Only addresses from 100.64.0.0/10 (subscribers), 198.18.0.0/15 (servers, links) and
2001:db8::/32 are used. Credentials are obviously fake ("fakeuser" / "fakepass").
"""

import base64
import hashlib
import hmac
import json
import random
import socket
import struct
from collections import Counter

from scapy.config import conf

conf.verb = 0
from scapy.layers.inet import IP, UDP  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402
from scapy.packet import Raw  # noqa: E402

EPOCH_US = 1767225600 * 1_000_000  # 2026-01-01T00:00:00Z
SMTP_PORTS = (25, 465, 587, 2525)
SUBMISSION_PORTS = (587, 2525)
IMPLICIT_TLS_PORTS = (465,)
TPID_8021Q = 0x8100
TPID_8021AD = 0x88A8
ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_ARP = 0x0806
ETH_LLDP = 0x88CC
MIN_FRAME = 60  # Ethernet minimum without FCS: short frames are zero-padded, as on a wire

# Locally administered, QEMU/KVM-style unicast MACs: the two routers either side of the box.
MAC_SUBSCRIBER_SIDE = "52:54:00:4b:1e:01"  # BNG / aggregation router
MAC_UPSTREAM_SIDE = "52:54:00:c3:7a:02"  # core / upstream router

PACKET_KEYS = (
    "packets.rx",
    "packets.non_ip",
    "packets.malformed",
    "packets.vlan",
    "packets.ipv4",
    "packets.ipv6",
    "packets.fragments",
    "packets.tcp",
    "packets.udp",
    "packets.smtp_port",
)
FLOW_KEYS = tuple(f"flows.port.{p}" for p in SMTP_PORTS)
AUTH_MECHS = ("PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2")
ANOMALIES = (
    "starttls_injection",
    "plaintext_after_starttls",
    "plaintext_on_implicit_tls_port",
    "starttls_offered_not_used",
    "starttls_not_offered",
    "starttls_masked",
    "command_line_too_long",
)
SMTP_KEYS = (
    (
        "smtp.starttls.offered",
        "smtp.starttls.attempted",
        "smtp.starttls.accepted",
        "smtp.starttls.refused",
        "smtp.tls.implicit",
        "smtp.tls.client_hello",
        "smtp.auth.plaintext",
    )
    + tuple(f"smtp.auth.plaintext.{m}" for m in AUTH_MECHS)
    + ("smtp.messages",)
    + tuple(f"smtp.anomaly.{a}" for a in ANOMALIES)
)
MALFORMED_REASONS = (
    "ethernet",
    "vlan",
    "ipv4_header",
    "ipv4_length",
    "ipv6_header",
    "ipv6_ext_header",
    "ipv6_mapped_address",
    "tcp_header",
    "tcp_options",
)
MALFORMED_KEYS = tuple(f"packets.malformed.{r}" for r in MALFORMED_REASONS)

# The fake credentials. Obviously fake on purpose; they are the "secrets" tests grep for.
FAKE_USER = "fakeuser"
FAKE_PASS = "fakepass"
FAKE_OAUTH_TOKEN = "fake-oauth-token-0123456789"

M32 = 0xFFFFFFFF


def b64(s):
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def l2_header(dst, src, ethertype, vlans=()):
    """Ethernet header; vlans is a sequence of (tpid, vid) outermost first."""
    h = mac_bytes(dst) + mac_bytes(src)
    for tpid, vid in vlans:
        h += struct.pack("!HH", tpid, vid & 0x0FFF)
    return h + struct.pack("!H", ethertype)


def pad(frame):
    return frame + b"\x00" * (MIN_FRAME - len(frame)) if len(frame) < MIN_FRAME else frame


# ---------------------------------------------------------------------------------------------
# Capture: frames, their counter increments, the flow/SMTP counts, and the writers.
# ---------------------------------------------------------------------------------------------


class Capture:
    def __init__(self, seed, start_us=EPOCH_US):
        self.rng = random.Random(seed)
        self.now = start_us
        self.frames = []  # (ts_us, insertion index, bytes, tags)
        self.counts = Counter()  # flows.port.*, smtp.* and anything else counted by construction
        self.client_hellos = []  # (ts_us, ja3 md5, sni or None) of SMTP-port ClientHellos
        self.secrets = []

    # -- frames ---------------------------------------------------------------------------
    def add(self, ts_us, data, tags):
        t = Counter(tags)
        t["packets.rx"] += 1
        self.frames.append((ts_us, len(self.frames), bytes(data), t))
        self.now = max(self.now, ts_us)

    def tick(self, us):
        self.now += us
        return self.now

    def count(self, key, n=1):
        self.counts[key] += n

    def add_secret(self, s):
        if s not in self.secrets:
            self.secrets.append(s)

    def ip_frame(self, l3, *, src_mac, dst_mac, vlans=(), tags=None, ts=None, v6=None):
        """Emit one IPv4/IPv6 frame from a scapy L3 object (checksums filled by scapy) or from
        finished L3 bytes (then v6 says which family)."""
        raw = bytes(l3)
        if v6 is None:
            v6 = isinstance(l3, IPv6)
        frame = pad(l2_header(dst_mac, src_mac, ETH_IPV6 if v6 else ETH_IPV4, vlans) + raw)
        t = Counter({"packets.ipv6" if v6 else "packets.ipv4": 1})
        if vlans:
            t["packets.vlan"] += 1
        t.update(tags or {})
        self.add(self.tick(400) if ts is None else ts, frame, t)
        return frame

    def udp(self, src, dst, sport, dport, payload, *, src_mac, dst_mac, vlans=(), ts=None):
        l3 = _ip(src, dst, 64, self.rng.randrange(1, 65535)) / UDP(sport=sport, dport=dport)
        return self.ip_frame(l3 / Raw(payload), src_mac=src_mac, dst_mac=dst_mac, vlans=vlans,
                             tags={"packets.udp": 1}, ts=ts)

    def arp(self, op, src_mac, src_ip, dst_mac, dst_ip, *, vlans=(), ts=None):
        """ARP request (op 1, broadcast) or reply (op 2)."""
        body = struct.pack("!HHBBH", 1, ETH_IPV4, 6, 4, op)
        body += mac_bytes(src_mac) + _v4(src_ip)
        body += (mac_bytes(dst_mac) if op == 2 else b"\x00" * 6) + _v4(dst_ip)
        eth_dst = dst_mac if op == 2 else "ff:ff:ff:ff:ff:ff"
        frame = pad(l2_header(eth_dst, src_mac, ETH_ARP, vlans) + body)
        tags = {"packets.non_ip": 1}
        if vlans:
            tags["packets.vlan"] = 1
        self.add(self.tick(300) if ts is None else ts, frame, tags)

    def lldp(self, src_mac, *, ts=None):
        tlvs = b""
        tlvs += _lldp_tlv(1, b"\x04" + mac_bytes(src_mac))  # chassis id: MAC
        tlvs += _lldp_tlv(2, b"\x05" + b"xe-0/0/1")  # port id: interface name
        tlvs += _lldp_tlv(3, struct.pack("!H", 120))  # TTL
        tlvs += _lldp_tlv(5, b"core-1.example.net")  # system name
        tlvs += _lldp_tlv(0, b"")
        frame = pad(l2_header("01:80:c2:00:00:0e", src_mac, ETH_LLDP) + tlvs)
        self.add(self.tick(300) if ts is None else ts, frame, {"packets.non_ip": 1})

    def raw(self, data, tags, ts=None):
        """A hand-made (usually malformed) frame with its increments given explicitly."""
        self.add(self.tick(300) if ts is None else ts, data, tags)

    # -- results --------------------------------------------------------------------------
    def ordered(self):
        return sorted(self.frames, key=lambda f: (f[0], f[1]))

    def counters(self, keys=None, extra=()):
        total = Counter()
        for _, _, _, t in self.frames:
            total.update(t)
        total.update(self.counts)
        if keys is None:
            keys = PACKET_KEYS + FLOW_KEYS + SMTP_KEYS
        keys = tuple(keys) + tuple(extra)
        declared = set(PACKET_KEYS + MALFORMED_KEYS + SMTP_KEYS)
        unknown = {k for k in total if k not in declared and not k.startswith("flows.port.")}
        assert not unknown, f"counted but not declared: {sorted(unknown)}"
        return {k: total.get(k, 0) for k in keys}

    def write_pcap(self, path):
        out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
        for ts, _, data, _ in self.ordered():
            out.append(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(data), len(data)))
            out.append(data)
        with open(path, "wb") as f:
            f.write(b"".join(out))

    def expected(self, keys=None, extra=(), with_tls=True, with_secrets=True):
        doc = {"counters": self.counters(keys, extra)}
        if with_tls:
            hellos = sorted(self.client_hellos, key=lambda h: h[0])
            doc["ja3"] = [h[1] for h in hellos]
            doc["sni"] = [h[2] for h in hellos if h[2]]
        if with_secrets:
            doc["secrets"] = list(self.secrets)
        return doc


def write_expected(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def _v4(a):
    return bytes(int(x) for x in a.split("."))


def _lldp_tlv(t, v):
    return struct.pack("!H", (t << 9) | len(v)) + v


def _ip(src, dst, ttl, ident, **kw):
    if ":" in src:
        return IPv6(src=src, dst=dst, hlim=ttl, **kw)
    return IP(src=src, dst=dst, ttl=ttl, id=ident, flags="DF", **kw)


# ---------------------------------------------------------------------------------------------
# TCP conversation with exact sequence/acknowledgement bookkeeping.
# ---------------------------------------------------------------------------------------------

_TCP_FLAG_BITS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20}


def syn_options(mss):
    """MSS, NOP, window scale 7, NOP, NOP, SACK permitted: 12 bytes, as Linux minus timestamps."""
    return struct.pack("!BBH", 2, 4, mss) + b"\x01\x03\x03\x07\x01\x01\x04\x02"


def _addr_bytes(a):
    return socket.inet_pton(socket.AF_INET6 if ":" in a else socket.AF_INET, a)


def inet_checksum(data):
    """RFC 1071 Internet checksum."""
    if len(data) & 1:
        data += b"\x00"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp_ip_packet(src, dst, sport, dport, seq, ack, flags, window, options, payload, ttl, ipid):
    """IPv4 (DF set) or IPv6 header + TCP segment, lengths and checksums filled in. src/dst are
    packed addresses (4 or 16 bytes). Hand-built rather than via scapy for speed: the session
    captures hold thousands of segments; tests/gen/README.md says how they were cross-checked."""
    assert len(options) % 4 == 0
    fl = sum(_TCP_FLAG_BITS[f] for f in flags)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (5 + len(options) // 4) << 4, fl,
                      window, 0, 0) + options + payload
    if len(src) == 16:
        pseudo = src + dst + struct.pack("!IxxxB", len(tcp), 6)
        ip = struct.pack("!IHBB", 6 << 28, len(tcp), 6, ttl) + src + dst
    else:
        pseudo = src + dst + struct.pack("!xBH", 6, len(tcp))
        ip = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(tcp), ipid, 0x4000, ttl, 6, 0) + src + dst
        ip = ip[:10] + struct.pack("!H", inet_checksum(ip)) + ip[12:]
    tcp = tcp[:16] + struct.pack("!H", inet_checksum(pseudo + tcp)) + tcp[18:]
    return ip + tcp


def _other(d):
    return "s" if d == "c" else "c"


class TcpConv:
    """One TCP connection; d is 'c' (client->server) or 's' (server->client).

    Sequence space is tracked as offsets from each side's ISN (offset 0 is the SYN), so
    retransmissions, overlaps and reordering are just byte ranges. Each side acknowledges the
    contiguous prefix of the peer's stream it has been handed so far, so reordered segments
    produce exactly the ACKs a receiver would send.
    """

    def __init__(self, cap, client, server, cport, sport, *, vlans=(), cmac=MAC_SUBSCRIBER_SIDE,
                 smac=MAC_UPSTREAM_SIDE, start_us=None, rtt_us=18_000, mss=1460, smss=1460,
                 ttl_c=64, ttl_s=54):
        self.cap = cap
        self.client, self.server = client, server
        self.cport, self.sport = cport, sport
        self.vlans = tuple(vlans)
        self.v6 = ":" in client
        self.addr = {"c": _addr_bytes(client), "s": _addr_bytes(server)}  # source per direction
        self.mac = {"c": (cmac, smac), "s": (smac, cmac)}  # (src, dst) per direction
        self.isn = {"c": cap.rng.randrange(1 << 32), "s": cap.rng.randrange(1 << 32)}
        self.ipid = {"c": cap.rng.randrange(1 << 16), "s": cap.rng.randrange(1 << 16)}
        self.ttl = {"c": ttl_c, "s": ttl_s}
        self.mss = {"c": mss, "s": smss}
        self.off = {"c": 0, "s": 0}  # next new offset each side sends
        self.rcv = {"c": set(), "s": set()}  # offsets each side has received from its peer
        self.contig = {"c": 0, "s": 0}  # contiguous prefix each side has received from its peer
        self.t = cap.now if start_us is None else start_us
        self.rtt = rtt_us
        self.last_dir = None
        self.flow_counted = False
        self.smtp_port = cport in SMTP_PORTS or sport in SMTP_PORTS
        self.established = False

    # -- segment emission -----------------------------------------------------------------
    def _advance(self, d, delay):
        if delay is not None:
            self.t += delay
        elif self.last_dir is None:
            pass
        elif d != self.last_dir:
            self.t += self.rtt // 2
        else:
            self.t += 40
        self.last_dir = d
        return self.t

    def seg(self, d, flags, payload=b"", off=None, delay=None, options=None, window=None):
        """Emit one segment. off defaults to the next new offset; it does not advance off."""
        if off is None:
            off = self.off[d]
        o = _other(d)
        seq = (self.isn[d] + off) & M32
        ack = (self.isn[o] + self.contig[d]) & M32 if "A" in flags else 0
        if window is None:
            window = 0 if "R" in flags else (64240 if d == "c" else 65160) if "S" in flags else 502
        if "S" in flags and options is None:
            options = syn_options(self.mss[d])
        sport, dport = (self.cport, self.sport) if d == "c" else (self.sport, self.cport)
        src, dst = self.addr[d], self.addr[o]
        raw = tcp_ip_packet(src, dst, sport, dport, seq, ack, flags, window, options or b"",
                            payload, self.ttl[d], self.ipid[d])
        self.ipid[d] = (self.ipid[d] + 1) & 0xFFFF
        tags = {"packets.tcp": 1}
        if self.smtp_port:
            tags["packets.smtp_port"] = 1
        if d == "c" and not self.flow_counted:
            # flows.port.N: one per connection, on its first client packet (SYN or mid-stream).
            self.flow_counted = True
            if self.sport in SMTP_PORTS:
                self.cap.count(f"flows.port.{self.sport}")
        ts = self._advance(d, delay)
        src_mac, dst_mac = self.mac[d]
        self.cap.ip_frame(raw, src_mac=src_mac, dst_mac=dst_mac, vlans=self.vlans, tags=tags,
                          ts=ts, v6=self.v6)
        length = len(payload) + (1 if "S" in flags else 0) + (1 if "F" in flags else 0)
        if length:
            self.rcv[o].update(range(off, off + length))
            while self.contig[o] in self.rcv[o]:
                self.contig[o] += 1
        return seq

    # -- connection life ------------------------------------------------------------------
    def handshake(self, syn_retries=0, answered=True, rst=False):
        """SYN (+ retransmissions at 1 s, 2 s, 4 s...), then SYN-ACK/ACK, or RST, or nothing."""
        self.seg("c", "S", off=0)
        backoff = 1_000_000
        for _ in range(syn_retries):
            self.seg("c", "S", off=0, delay=backoff)
            backoff *= 2
        self.off["c"] = 1
        if rst:
            self.seg("s", "RA", off=0)
            return self
        if not answered:
            return self
        self.seg("s", "SA", off=0)
        self.off["s"] = 1
        self.seg("c", "A")
        self.established = True
        return self

    def midstream(self, c_sent=None, s_sent=None):
        """Pick the connection up mid-stream: no handshake, some bytes already exchanged."""
        c_sent = self.cap.rng.randrange(200, 5000) if c_sent is None else c_sent
        s_sent = self.cap.rng.randrange(200, 5000) if s_sent is None else s_sent
        self.off = {"c": 1 + c_sent, "s": 1 + s_sent}
        self.contig = {"c": 1 + s_sent, "s": 1 + c_sent}
        self.rcv = {"c": set(range(1 + s_sent)), "s": set(range(1 + c_sent))}
        self.established = True
        return self

    def send(self, d, data, plan=None, delay=None):
        """Send data as segments. plan: list of (start, end[, delay_us]) byte ranges of data in
        emission order (may repeat, overlap or reorder; must cover all of data), or a function
        of the bytes returning one. Default: MSS chunks. Returns the list of pieces sent."""
        if isinstance(data, str):
            data = data.encode()
        n = len(data)
        if callable(plan):
            plan = plan(data)
        if plan is None:
            m = self.mss[d]
            plan = [(a, min(a + m, n)) for a in range(0, n, m)]
        covered = set()
        for p in plan:
            covered.update(range(p[0], p[1]))
        assert covered == set(range(n)), "plan must cover every byte"
        base = self.off[d]
        first = True
        for p in plan:
            a, b = p[0], p[1]
            assert 0 <= a < b <= n
            dl = p[2] if len(p) > 2 else (delay if first else None)
            flags = "PA" if b == n else "A"
            self.seg(d, flags, data[a:b], off=base + a, delay=dl)
            first = False
        self.off[d] = base + n
        return plan

    def ack(self, d, delay=None):
        self.seg(d, "A", delay=delay)

    def close(self, first="s"):
        """FIN from `first`, FIN-ACK from the other, final ACK."""
        a, b = first, _other(first)
        self.seg(a, "FA")
        self.off[a] += 1
        self.seg(b, "FA")
        self.off[b] += 1
        self.seg(a, "A")
        self.cap.now = max(self.cap.now, self.t)

    def reset(self, d="c"):
        self.seg(d, "RA")
        self.cap.now = max(self.cap.now, self.t)

    def done(self):
        self.cap.now = max(self.cap.now, self.t)


# ---------------------------------------------------------------------------------------------
# TLS: a syntactically valid ClientHello / ServerHello, and JA3 computed from the bytes.
# ---------------------------------------------------------------------------------------------

GREASE = tuple(0x0A0A + 0x1010 * i for i in range(16))
CIPHERS = (0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013,
           0xC014, 0x009C, 0x009D, 0x002F, 0x0035)
SIG_ALGS = (0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)
GROUP_X25519 = 0x001D
GROUP_X25519MLKEM768 = 0x11EC  # 32 + 1184 byte share
GROUP_X25519KYBER768 = 0x6399  # draft hybrid, same share size


def _u8(x):
    return struct.pack("!B", x)


def _u16(x):
    return struct.pack("!H", x)


def _u24(x):
    return struct.pack("!I", x)[1:]


def _vec8(b):
    return _u8(len(b)) + b


def _vec16(b):
    return _u16(len(b)) + b


def _ext(t, body):
    return _u16(t) + _vec16(body)


def client_hello(rng, sni=None, alpn=("smtp",), large=False, grease=True):
    """One TLS record holding a TLS 1.3 ClientHello, Chrome-shaped.

    large=True adds two post-quantum hybrid key shares (1216 bytes each), giving a ~2.9 KiB
    hello that spans several TCP segments.
    """
    g = rng.sample(GREASE, 5) if grease else None  # cipher, ext, group, version, ext
    ciphers = ((g[0],) if grease else ()) + CIPHERS
    groups = ((g[2],) if grease else ()) + (
        (GROUP_X25519MLKEM768, GROUP_X25519KYBER768) if large else ()) + (
        GROUP_X25519, 0x0017, 0x0018)
    shares = b""
    if grease:
        shares += _u16(g[2]) + _vec16(b"\x00")
    if large:
        shares += _u16(GROUP_X25519MLKEM768) + _vec16(rng.randbytes(1216))
        shares += _u16(GROUP_X25519KYBER768) + _vec16(rng.randbytes(1216))
    shares += _u16(GROUP_X25519) + _vec16(rng.randbytes(32))
    exts = []
    if grease:
        exts.append(_ext(g[1], b""))
    if sni:
        name = sni.encode()
        exts.append(_ext(0, _vec16(b"\x00" + _vec16(name))))
    exts.append(_ext(23, b""))  # extended_master_secret
    exts.append(_ext(0xFF01, b"\x00"))  # renegotiation_info
    exts.append(_ext(10, _vec16(b"".join(_u16(x) for x in groups))))
    exts.append(_ext(11, _vec8(b"\x00")))  # ec_point_formats: uncompressed
    exts.append(_ext(35, b""))  # session_ticket
    if alpn:
        exts.append(_ext(16, _vec16(b"".join(_vec8(p.encode()) for p in alpn))))
    exts.append(_ext(5, b"\x01\x00\x00\x00\x00"))  # status_request
    exts.append(_ext(13, _vec16(b"".join(_u16(x) for x in SIG_ALGS))))
    exts.append(_ext(18, b""))  # signed_certificate_timestamp
    exts.append(_ext(51, _vec16(shares)))  # key_share
    exts.append(_ext(45, _vec8(b"\x01")))  # psk_key_exchange_modes: psk_dhe_ke
    versions = ((g[3],) if grease else ()) + (0x0304, 0x0303)
    exts.append(_ext(43, _vec8(b"".join(_u16(v) for v in versions))))  # supported_versions
    exts.append(_ext(27, _vec8(_u16(2))))  # compress_certificate: brotli
    if grease:
        exts.append(_ext(g[4], b"\x00"))
    body = _u16(0x0303) + rng.randbytes(32) + _vec8(rng.randbytes(32))
    body += _vec16(b"".join(_u16(c) for c in ciphers)) + _vec8(b"\x00")
    body += _vec16(b"".join(exts))
    hs = _u8(1) + _u24(len(body)) + body
    assert len(hs) <= 16384
    return _u8(0x16) + _u16(0x0301) + _vec16(hs)


def server_hello_flight(rng, client_hello_record, encrypted_len=2400):
    """ServerHello (TLS 1.3, x25519) + ChangeCipherSpec + one 'encrypted' handshake record."""
    sid = _parse_client_hello(client_hello_record)["session_id"]
    exts = _ext(43, _u16(0x0304)) + _ext(51, _u16(GROUP_X25519) + _vec16(rng.randbytes(32)))
    body = _u16(0x0303) + rng.randbytes(32) + _vec8(sid) + _u16(0x1301) + b"\x00" + _vec16(exts)
    hs = _u8(2) + _u24(len(body)) + body
    out = _u8(0x16) + _u16(0x0303) + _vec16(hs)
    out += b"\x14\x03\x03\x00\x01\x01"
    out += app_data(rng, encrypted_len)
    return out


def app_data(rng, n):
    return _u8(0x17) + _u16(0x0303) + _vec16(rng.randbytes(n))


def client_finished(rng):
    return b"\x14\x03\x03\x00\x01\x01" + app_data(rng, 53)


def _parse_client_hello(rec):
    """Strict parse of what client_hello() built (an independent read of the bytes)."""
    assert rec[0] == 0x16 and len(rec) == 5 + struct.unpack("!H", rec[3:5])[0]
    hs = rec[5:]
    assert hs[0] == 1 and struct.unpack("!I", b"\x00" + hs[1:4])[0] == len(hs) - 4
    p = 4
    version = struct.unpack("!H", hs[p:p + 2])[0]
    p += 2 + 32
    sid_len = hs[p]
    sid = hs[p + 1:p + 1 + sid_len]
    p += 1 + sid_len
    n = struct.unpack("!H", hs[p:p + 2])[0]
    ciphers = [struct.unpack("!H", hs[p + 2 + i:p + 4 + i])[0] for i in range(0, n, 2)]
    p += 2 + n
    p += 1 + hs[p]
    end = p + 2 + struct.unpack("!H", hs[p:p + 2])[0]
    assert end == len(hs)
    p += 2
    exts, groups, pf, sni = [], [], [], None
    while p < end:
        t, ln = struct.unpack("!HH", hs[p:p + 4])
        body = hs[p + 4:p + 4 + ln]
        exts.append(t)
        if t == 10:
            groups = [struct.unpack("!H", body[2 + i:4 + i])[0] for i in range(0, len(body) - 2, 2)]
        elif t == 11:
            pf = list(body[1:1 + body[0]])
        elif t == 0:
            sni = body[5:5 + struct.unpack("!H", body[3:5])[0]].decode()
        p += 4 + ln
    assert p == end
    return {"version": version, "session_id": sid, "ciphers": ciphers, "extensions": exts,
            "groups": groups, "point_formats": pf, "sni": sni}


def ja3(rec):
    """(JA3 string, MD5) of a ClientHello record; GREASE values removed per the JA3 spec."""
    h = _parse_client_hello(rec)

    def j(xs):
        return "-".join(str(x) for x in xs if x not in GREASE)

    s = ",".join([str(h["version"]), j(h["ciphers"]), j(h["extensions"]), j(h["groups"]),
                  "-".join(str(x) for x in h["point_formats"])])
    return s, hashlib.md5(s.encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# SMTP session: scripted dialogue that counts the contract's SMTP counters as it goes.
# ---------------------------------------------------------------------------------------------

DEFAULT_EXT = ("PIPELINING", "SIZE 52428800", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8")

REPLY_STARTTLS_OK = "220 2.0.0 Ready to start TLS\r\n"
REPLY_STARTTLS_454 = "454 4.7.0 TLS not available due to temporary reason\r\n"
REPLY_STARTTLS_502 = "502 5.5.1 Unrecognized command\r\n"
REPLY_STARTTLS_554 = "554 5.7.3 Unable to initialize security subsystem\r\n"


class Ambiguous(Exception):
    """The scripted dialogue would make an expected count depend on unspecified behaviour."""


class SmtpSession:
    """A scripted SMTP dialogue over a TcpConv. Every method sends its bytes (client and/or
    server) and counts what the contract says it causes. Plans (`plan`, `reply_plan`) are
    passed to TcpConv.send to control segmentation."""

    def __init__(self, conv, server_name="mx.example.net"):
        self.c = conv
        self.cap = conv.cap
        self.port = conv.sport
        self.server_name = server_name
        self.offered = False  # STARTTLS advertised in a cleartext EHLO reply
        self.onu_counted = False  # starttls_offered_not_used counted for this flow
        self.not_offered_counted = False
        self.tls = False  # TLS under way (accepted STARTTLS + hello, or implicit)
        self.awaiting_tls = False  # 220 to STARTTLS seen, hello not yet sent
        self.refused = False
        self.plain_after = False
        self.clear_on_implicit = False

    # -- raw ------------------------------------------------------------------------------
    def client(self, data, plan=None, delay=None):
        return self.c.send("c", data, plan, delay)

    def server(self, data, plan=None, delay=None):
        return self.c.send("s", data, plan, delay)

    def _clear_mail_or_auth(self):
        if self.tls or self.awaiting_tls:
            raise Ambiguous("cleartext MAIL/AUTH after TLS started")
        if self.refused:
            raise Ambiguous("MAIL/AUTH after a refused STARTTLS")
        if self.offered and not self.onu_counted:
            self.cap.count("smtp.anomaly.starttls_offered_not_used")
            self.onu_counted = True

    # -- greeting and EHLO ------------------------------------------------------------------
    def banner(self, text=None, plan=None):
        text = text or f"220 {self.server_name} ESMTP ready\r\n"
        if self.port in IMPLICIT_TLS_PORTS and not self.clear_on_implicit:
            self.cap.count("smtp.anomaly.plaintext_on_implicit_tls_port")
            self.clear_on_implicit = True
        self.server(text, plan)

    def ehlo(self, helo_name="client.example.org", ext=DEFAULT_EXT, starttls=True, masked=False,
             auth=("PLAIN", "LOGIN"), verb="EHLO", plan=None, reply_plan=None, greeting=None):
        """EHLO and its multi-line reply. starttls: advertise STARTTLS; masked: advertise it as
        XXXXXXXA, the way some middleboxes overwrite the keyword."""
        if self.tls or self.awaiting_tls:
            raise Ambiguous("use plaintext_after_starttls() for EHLO after a 220")
        self.client(f"{verb} {helo_name}\r\n", plan)
        lines = [greeting or f"{self.server_name} Hello {helo_name}"]
        lines += list(ext)
        if auth:
            lines.append("AUTH " + " ".join(auth))
        if starttls:
            lines.insert(3, "STARTTLS")
        if masked:
            if starttls:
                raise Ambiguous("masked and offered")
            if self.port in SUBMISSION_PORTS:
                raise Ambiguous("masked STARTTLS on a submission port: is it also not_offered?")
            lines.insert(3, "XXXXXXXA")
            self.cap.count("smtp.anomaly.starttls_masked")
        reply = "".join(f"250{'-' if i < len(lines) - 1 else ' '}{ln}\r\n"
                        for i, ln in enumerate(lines))
        if starttls:
            self.cap.count("smtp.starttls.offered")
            self.offered = True
        elif self.port in SUBMISSION_PORTS and not masked and not self.not_offered_counted:
            self.cap.count("smtp.anomaly.starttls_not_offered")
            self.not_offered_counted = True
        self.server(reply, reply_plan)
        return reply

    # -- STARTTLS ---------------------------------------------------------------------------
    def starttls(self, reply=REPLY_STARTTLS_OK, verb="STARTTLS", plan=None, reply_plan=None,
                 inject=None, inject_separate=False):
        """STARTTLS and its reply. inject: cleartext bytes the client pipelines after
        STARTTLS before the reply (in the same segment, or the next one if inject_separate)."""
        if self.tls or self.awaiting_tls:
            raise Ambiguous("second STARTTLS")
        line = f"{verb}\r\n".encode()
        self.cap.count("smtp.starttls.attempted")
        if inject:
            inject = inject.encode() if isinstance(inject, str) else inject
            self.cap.count("smtp.anomaly.starttls_injection")
            if inject_separate:
                self.client(line, plan)
                self.client(inject)
            else:
                self.client(line + inject, plan)
        else:
            self.client(line, plan)
        self.server(reply, reply_plan)
        if reply.startswith("220"):
            self.cap.count("smtp.starttls.accepted")
            self.awaiting_tls = True
        else:
            self.cap.count("smtp.starttls.refused")
            self.refused = True

    def tls_handshake(self, sni=None, alpn=("smtp",), large=False, plan=None, app_rounds=2,
                      hello=None, flight_plan=None):
        """ClientHello (counted, JA3 recorded), server flight, client Finished, then a few
        application-data records each way. Valid after an accepted STARTTLS or at the start
        of an implicit-TLS connection."""
        implicit = self.port in IMPLICIT_TLS_PORTS and not self.awaiting_tls and not self.tls
        if not (self.awaiting_tls or implicit):
            raise Ambiguous("ClientHello outside STARTTLS/implicit TLS")
        if implicit:
            if self.clear_on_implicit:
                raise Ambiguous("TLS after cleartext on 465")
            self.cap.count("smtp.tls.implicit")
        rng = self.cap.rng
        ch = hello or client_hello(rng, sni=sni, alpn=alpn, large=large)
        self.cap.count("smtp.tls.client_hello")
        info = _parse_client_hello(ch)
        self.client(ch, plan)
        self.cap.client_hellos.append((self.c.t, ja3(ch)[1], info["sni"]))
        self.awaiting_tls = False
        self.tls = True
        self.server(server_hello_flight(rng, ch, rng.randrange(1800, 3200)), flight_plan)
        self.client(client_finished(rng))
        for i in range(app_rounds):
            self.client(app_data(rng, rng.randrange(30, 400)))
            self.server(app_data(rng, rng.randrange(30, 400)))
        return ch

    def tls_close(self):
        """Encrypted close_notify from the client, then TCP teardown (client first)."""
        self.client(app_data(self.cap.rng, 19))
        self.c.close(first="c")

    def plaintext_after_starttls(self, helo_name="client.example.org"):
        """The client ignores the 220 and speaks cleartext: EHLO, its reply, QUIT, 221."""
        if not self.awaiting_tls:
            raise Ambiguous("plaintext_after_starttls needs an accepted STARTTLS")
        if self.port in SUBMISSION_PORTS:
            raise Ambiguous("second EHLO reply on a submission port: would not_offered count?")
        self.cap.count("smtp.anomaly.plaintext_after_starttls")
        self.awaiting_tls = False
        self.plain_after = True
        self.client(f"EHLO {helo_name}\r\n")
        self.server(f"250-{self.server_name} Hello {helo_name}\r\n250-PIPELINING\r\n"
                    "250 8BITMIME\r\n")
        self.client("QUIT\r\n")
        self.server("221 2.0.0 Bye\r\n")
        self.c.close(first="s")

    # -- AUTH -----------------------------------------------------------------------------
    def _auth(self, mech):
        self._clear_mail_or_auth()
        self.cap.count("smtp.auth.plaintext")
        self.cap.count(f"smtp.auth.plaintext.{mech}")

    def auth_plain(self, user=FAKE_USER, password=FAKE_PASS, initial=True, verb="AUTH PLAIN",
                   plan=None, reply_plan=None, ok=True):
        blob = b64(f"\0{user}\0{password}")
        self._auth("PLAIN")
        self.cap.add_secret(password)
        self.cap.add_secret(blob)
        if initial:
            self.client(f"{verb} {blob}\r\n", plan)
        else:
            self.client(f"{verb}\r\n")
            self.server("334 \r\n")
            self.client(f"{blob}\r\n", plan)
        self.server("235 2.7.0 Authentication successful\r\n" if ok else
                    "535 5.7.8 Authentication credentials invalid\r\n", reply_plan)

    def auth_login(self, user=FAKE_USER, password=FAKE_PASS, initial=False, verb="AUTH LOGIN",
                   plan=None):
        self._auth("LOGIN")
        for s in (password, b64(user), b64(password)):
            self.cap.add_secret(s)
        if initial:
            self.client(f"{verb} {b64(user)}\r\n", plan)
        else:
            self.client(f"{verb}\r\n", plan)
            self.server(f"334 {b64('Username:')}\r\n")
            self.client(f"{b64(user)}\r\n")
        self.server(f"334 {b64('Password:')}\r\n")
        self.client(f"{b64(password)}\r\n")
        self.server("235 2.7.0 Authentication successful\r\n")

    def auth_cram_md5(self, user=FAKE_USER, password=FAKE_PASS, verb="AUTH CRAM-MD5"):
        self._auth("CRAM-MD5")
        challenge = f"<{self.cap.rng.randrange(10**9)}.{self.cap.rng.randrange(10**9)}@" \
                    f"{self.server_name}>"
        digest = hmac.new(password.encode(), challenge.encode(), hashlib.md5).hexdigest()
        response = b64(f"{user} {digest}")
        for s in (password, digest, response):
            self.cap.add_secret(s)
        self.client(f"{verb}\r\n")
        self.server(f"334 {b64(challenge)}\r\n")
        self.client(f"{response}\r\n")
        self.server("235 2.7.0 Authentication successful\r\n")

    def auth_xoauth2(self, user=f"{FAKE_USER}@example.com", token=FAKE_OAUTH_TOKEN,
                     verb="AUTH XOAUTH2"):
        self._auth("XOAUTH2")
        blob = b64(f"user={user}\x01auth=Bearer {token}\x01\x01")
        self.cap.add_secret(token)
        self.cap.add_secret(blob)
        self.client(f"{verb} {blob}\r\n")
        self.server("235 2.7.0 Accepted\r\n")

    # -- mail transaction -----------------------------------------------------------------
    def mail(self, sender="alice@example.org", verb="MAIL FROM:", reply="250 2.1.0 Ok\r\n",
             plan=None):
        self._clear_mail_or_auth()
        self.client(f"{verb}<{sender}>\r\n", plan)
        self.server(reply)

    def rcpt(self, rcpt="bob@example.com", verb="RCPT TO:", reply="250 2.1.5 Ok\r\n"):
        self.client(f"{verb}<{rcpt}>\r\n")
        self.server(reply)

    def data(self, body_lines=None, verb="DATA", plan=None, subject="test message"):
        """DATA, 354, the dot-stuffed body, '.', 250. Counts one message."""
        if body_lines is None:
            body_lines = ["Hello Bob,", "", "This is a test message.", "-- ", "Alice"]
        self.client(f"{verb}\r\n")
        self.server("354 End data with <CR><LF>.<CR><LF>\r\n")
        head = ["From: <alice@example.org>", "To: <bob@example.com>", f"Subject: {subject}",
                "Date: Thu, 01 Jan 2026 00:00:00 +0000",
                f"Message-ID: <{self.cap.rng.randrange(10**12)}@example.org>", ""]
        stuffed = ["." + ln if ln.startswith(".") else ln for ln in head + body_lines]
        body = "".join(ln + "\r\n" for ln in stuffed) + ".\r\n"
        self.client(body, plan)
        self.server(f"250 2.0.0 Ok: queued as {self.cap.rng.randrange(16**10):010X}\r\n")
        self.cap.count("smtp.messages")

    def bdat_message(self, chunks, pipeline_next_mail=None):
        """RFC 3030 BDAT: one chunk per element, the last one flagged LAST. If
        pipeline_next_mail is given, its MAIL FROM is pipelined in the same segment right after
        the LAST chunk (RFC 2920). Counts one message (and the MAIL, if any)."""
        for i, chunk in enumerate(chunks):
            chunk = chunk.encode() if isinstance(chunk, str) else chunk
            last = i == len(chunks) - 1
            cmd = f"BDAT {len(chunk)}{' LAST' if last else ''}\r\n".encode() + chunk
            replies = f"250 2.0.0 {len(chunk)} octets received\r\n"
            if last:
                replies = f"250 2.0.0 Ok: queued as {self.cap.rng.randrange(16**10):010X}\r\n"
            if last and pipeline_next_mail:
                self._clear_mail_or_auth()
                cmd += f"MAIL FROM:<{pipeline_next_mail}>\r\n".encode()
                replies += "250 2.1.0 Ok\r\n"
            self.client(cmd)
            self.server(replies)
        self.cap.count("smtp.messages")

    def cmd(self, line, reply):
        """A command without counted meaning (NOOP, RSET, HELP, VRFY...)."""
        self.client(line + "\r\n")
        self.server(reply)

    def quit(self, verb="QUIT"):
        self.client(f"{verb}\r\n")
        self.server("221 2.0.0 Bye\r\n")
        self.c.close(first="s")


def split_at(n, *points):
    """A plan cutting an n-byte send at the given offsets."""
    cuts = [0] + list(points) + [n]
    return [(a, b) for a, b in zip(cuts, cuts[1:])]


def chunked(n, k):
    """A plan sending n bytes in k-byte segments."""
    return [(a, min(a + k, n)) for a in range(0, n, k)]


def every_split(n):
    """Plans splitting an n-byte send into two segments at every inner byte boundary."""
    return [[(0, k), (k, n)] for k in range(1, n)]


# ---------------------------------------------------------------------------------------------
# Addressing and flow set-up shared by the scripts.
# ---------------------------------------------------------------------------------------------


class Hosts:
    """Hands out distinct subscriber/server addresses and client ports, deterministically.

    Subscribers: 100.64.0.0/10 and 2001:db8:100::/48. Servers: 198.19.0.0/16 and
    2001:db8:5::/48.
    """

    def __init__(self, rng):
        self.rng = rng
        self.n_sub = 0
        self.n_srv = 0
        self.used_ports = set()

    def subscriber(self, v6=False):
        self.n_sub += 1
        i = self.n_sub
        return f"2001:db8:100::{i:x}" if v6 else f"100.64.{i // 200}.{i % 200 + 10}"

    def server(self, v6=False):
        self.n_srv += 1
        i = self.n_srv
        return f"2001:db8:5::{i + 0x100:x}" if v6 else f"198.19.{i // 200 + 1}.{i % 200 + 10}"

    def eport(self):
        while True:
            p = self.rng.randrange(32768, 61000)  # Linux ip_local_port_range
            if p not in self.used_ports:
                self.used_ports.add(p)
                return p


def new_session(cap, hosts, port, *, v6=False, vlans=(), client=None, server=None, cport=None,
                server_name="mx.example.net", **conv_kw):
    """A TcpConv to `port` from a fresh subscriber, wrapped in an SmtpSession."""
    conv = TcpConv(cap, client or hosts.subscriber(v6), server or hosts.server(v6),
                   cport or hosts.eport(), port, vlans=vlans, **conv_kw)
    return SmtpSession(conv, server_name=server_name)
