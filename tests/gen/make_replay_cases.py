#!/usr/bin/python3
"""Captures for the packet path (L2-L4 parsing, flow creation), each with NAME.expected.json.

Usage: make_replay_cases.py OUTDIR

  parsing_mix.pcap        every encapsulation x L3/L4 combination, plus malformed variants
  parsing_valid.pcap      the same valid frames alone
  parsing_malformed.pcap  the same malformed frames alone
  smtp_basic.pcap         a few SMTP sessions (IPv6 in 802.1Q, QinQ, a SYN sent 4 times) + noise
  random_bytes.pcap       random non-IP frames, frames shorter than Ethernet, truncated frames
  random_ip.pcap          random bytes behind IPv4/IPv6 headers (no-crash only: packets.rx)

Expected counters are counted by construction (see README.md for the rules). In short: a
malformed frame counts in packets.rx, packets.malformed and exactly one
packets.malformed.<reason>, and in nothing else; packets.tcp/udp count frames whose TCP/UDP
header was parsed, so a non-first fragment counts in packets.fragments and its IP family only.
"""

import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import smtpgen as g  # noqa: E402
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_RR, IPOption_Router_Alert  # noqa: E402
from scapy.layers.inet6 import (  # noqa: E402
    ICMPv6EchoRequest,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrSegmentRouting,
    PadN,
    RouterAlert,
)
from scapy.layers.dns import DNS, DNSQR  # noqa: E402
from scapy.packet import Raw  # noqa: E402

SUB = g.MAC_SUBSCRIBER_SIDE
UP = g.MAC_UPSTREAM_SIDE

L2_VARIANTS = {
    "plain": (),
    "dot1q": ((g.TPID_8021Q, 101),),
    "qinq": ((g.TPID_8021AD, 201), (g.TPID_8021Q, 102)),
    "dot1q_dot1q": ((g.TPID_8021Q, 301), (g.TPID_8021Q, 103)),  # pre-802.1ad double tag
}
NON_SMTP_PORTS = (80, 443, 8080, 53)


def emit_l3(cap, vlans, l3, tags, *, padded=True, src_mac=SUB, dst_mac=UP):
    """Emit raw L3 bytes behind an Ethernet (+VLAN) header with the given increments."""
    raw = bytes(l3)
    ethertype = tags.pop("_ethertype", None) or (g.ETH_IPV6 if isinstance(l3, IPv6)
                                                 else g.ETH_IPV4)
    frame = g.l2_header(dst_mac, src_mac, ethertype, vlans) + raw
    cap.raw(g.pad(frame) if padded else frame, tags, ts=cap.tick(1000))


class Frames:
    """Builds the valid and malformed parsing frames into a capture."""

    def __init__(self, cap):
        self.cap = cap
        self.hosts = g.Hosts(cap.rng)
        self.rng = cap.rng

    # -- valid ------------------------------------------------------------------------------
    def valid(self, cap, vlans):
        rng, h = self.rng, self.hosts
        base = {"packets.vlan": 1} if vlans else {}

        def ok(l3, extra, smtp_dport=None):
            t = dict(base)
            t["packets.ipv6" if isinstance(l3, IPv6) else "packets.ipv4"] = 1
            t.update(extra)
            if smtp_dport is not None:
                t["packets.smtp_port"] = 1
                cap.count(f"flows.port.{smtp_dport}")
            emit_l3(cap, vlans, l3, t)

        syn_opts = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (rng.randrange(1 << 32), 0)),
                    ("NOP", None), ("WScale", 7)]

        def syn(dport):
            return TCP(sport=h.eport(), dport=dport, seq=rng.randrange(1 << 32), flags="S",
                       window=64240, options=syn_opts)

        def v4(**kw):
            return IP(src=h.subscriber(), dst=h.server(), ttl=64, id=rng.randrange(65536), **kw)

        def v6():
            return IPv6(src=h.subscriber(True), dst=h.server(True), hlim=64)

        tcp = {"packets.tcp": 1}
        udp = {"packets.udp": 1}
        frag = {"packets.fragments": 1}
        # IPv4 TCP SYN with options to 25.
        ok(v4(flags="DF") / syn(25), tcp, 25)
        # IPv4 TCP ACK with timestamps and SACK blocks, to 443.
        a = rng.randrange(1 << 32)
        ok(v4(flags="DF") / TCP(sport=h.eport(), dport=443, seq=rng.randrange(1 << 32), ack=a,
                                flags="A", window=501,
                                options=[("NOP", None), ("NOP", None), ("Timestamp", (1, 2)),
                                         ("NOP", None), ("NOP", None),
                                         ("SAck", (a + 1000, a + 2000))]), tcp)
        # IPv4 with options (Router Alert + Record Route), TCP SYN to 587.
        ok(v4(flags="DF", options=[IPOption_Router_Alert(), IPOption_RR(routers=["198.18.0.1"])])
           / syn(587), tcp, 587)
        # IPv4 UDP (DNS).
        ok(v4() / UDP(sport=h.eport(), dport=53) / DNS(id=rng.randrange(65536),
                                                        qd=DNSQR(qname="mail.example.net")), udp)
        # IPv4 ICMP echo: no TCP/UDP.
        ok(v4() / ICMP(id=rng.randrange(65536), seq=1) / Raw(b"smtpguard-ping"), {})
        # IPv4 fragments of a 1800-byte ICMP echo: first (with the ICMP header) and second.
        whole = v4() / ICMP(id=rng.randrange(65536), seq=2) / Raw(rng.randbytes(1800))
        whole = IP(bytes(whole))
        body = bytes(whole)[20:]
        for off, more, chunk in ((0, True, body[:1480]), (1480, False, body[1480:])):
            f = whole.copy()
            f.remove_payload()
            f.flags = "MF" if more else 0
            f.frag = off // 8
            f.len = None
            f.chksum = None
            ok(f / Raw(chunk), frag)
        # IPv4 non-first fragment of a TCP segment to 25: a fragment, not TCP, not smtp_port.
        seg = v4() / TCP(sport=h.eport(), dport=25, seq=rng.randrange(1 << 32),
                         ack=rng.randrange(1 << 32), flags="PA", window=502) / Raw(
            b"DATA\r\n" + b"X" * 1500)
        seg = IP(bytes(seg))
        f = seg.copy()
        f.remove_payload()
        f.flags, f.frag, f.len, f.chksum = 0, 1480 // 8, None, None
        ok(f / Raw(bytes(seg)[20 + 1480:]), frag)
        # IPv6 TCP SYN to 587.
        ok(v6() / syn(587), tcp, 587)
        # IPv6 UDP (DNS).
        ok(v6() / UDP(sport=h.eport(), dport=53) / DNS(id=rng.randrange(65536),
                                                        qd=DNSQR(qname="mail.example.net",
                                                                 qtype="AAAA")), udp)
        # IPv6 hop-by-hop (router alert) + TCP SYN to 465.
        ok(v6() / IPv6ExtHdrHopByHop(options=[RouterAlert(), PadN(optdata=b"")]) / syn(465),
           tcp, 465)
        # IPv6 routing (segment routing, segments left 0) + TCP SYN to 2525.
        p = v6()
        ok(p / IPv6ExtHdrSegmentRouting(addresses=[p.dst], segleft=0, lastentry=0) / syn(2525),
           tcp, 2525)
        # IPv6 destination options + TCP SYN to 25.
        ok(v6() / IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00" * 4)]) / syn(25), tcp, 25)
        # IPv6 HBH + dest-opts + routing + fragment chain carrying an ICMPv6 echo: both parts.
        p = v6()
        ident = rng.randrange(1 << 32)
        unfrag = (IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\x00" * 4)])
                  / IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00" * 4)])
                  / IPv6ExtHdrSegmentRouting(addresses=[p.dst], segleft=0, lastentry=0))
        echo = IPv6(src=p.src, dst=p.dst) / ICMPv6EchoRequest(id=1, seq=3, data=rng.randbytes(1600))
        echo = bytes(echo)[40:]
        for off, more, chunk in ((0, 1, echo[:1200]), (1200, 0, echo[1200:])):
            fh = IPv6ExtHdrFragment(nh=58, offset=off // 8, m=more, id=ident)
            ok(p.copy() / unfrag.copy() / fh / Raw(chunk), frag)
        # IPv6 non-first fragment of a TCP segment to 587.
        p = v6()
        tcpbytes = bytes(p / TCP(sport=h.eport(), dport=587, seq=rng.randrange(1 << 32),
                                 ack=rng.randrange(1 << 32), flags="PA")
                         / Raw(b"AUTH LOGIN\r\n" + b"Y" * 1400))[40:]
        ok(p / IPv6ExtHdrFragment(nh=6, offset=1208 // 8, m=0, id=rng.randrange(1 << 32))
           / Raw(tcpbytes[1208:]), frag)
        # ARP request and reply.
        cap.arp(1, SUB, "198.18.0.1", UP, "198.18.0.2", vlans=vlans, ts=cap.tick(1000))
        cap.arp(2, UP, "198.18.0.2", SUB, "198.18.0.1", vlans=vlans, ts=cap.tick(1000))

    # -- malformed --------------------------------------------------------------------------
    def bad(self, cap, vlans, l3, reason, ethertype=None):
        t = {"packets.malformed": 1, f"packets.malformed.{reason}": 1}
        if ethertype is not None:
            t["_ethertype"] = ethertype
        emit_l3(cap, vlans, l3, t, padded=False)

    def l2_malformed(self, cap):
        full = g.l2_header(UP, SUB, g.ETH_IPV4) + bytes(IP(src="100.64.0.9", dst="198.19.0.9")
                                                        / TCP(dport=80))
        for n in (1, 6, 13):  # shorter than an Ethernet header
            cap.raw(full[:n], {"packets.malformed": 1, "packets.malformed.ethernet": 1},
                    ts=cap.tick(1000))
        mk = g.mac_bytes
        vlan_bad = [
            mk(UP) + mk(SUB) + struct.pack("!HH", g.TPID_8021Q, 101),  # inner ethertype missing
            mk(UP) + mk(SUB) + struct.pack("!HHH", g.TPID_8021AD, 201, g.TPID_8021Q) + b"\x00",
        ]
        for i, tags in enumerate((((g.TPID_8021AD, 1), (g.TPID_8021Q, 2), (g.TPID_8021Q, 3)),
                                  ((g.TPID_8021Q, 1), (g.TPID_8021Q, 2), (g.TPID_8021Q, 3)))):
            ip = bytes(IP(src="100.64.0.9", dst="198.19.0.9", id=7 + i)
                       / TCP(sport=40001 + i, dport=80, flags="S"))
            vlan_bad.append(g.l2_header(UP, SUB, g.ETH_IPV4, tags) + ip)  # three tags
        for f in vlan_bad:
            cap.raw(f, {"packets.malformed": 1, "packets.malformed.vlan": 1}, ts=cap.tick(1000))

    def l3l4_malformed(self, cap, vlans):
        rng, h = self.rng, self.hosts

        def v4hdr(payload_len, proto=6, ihl=5, version=4, total=None):
            total = 20 + payload_len if total is None else total
            hdr = struct.pack("!BBHHHBBH4s4s", (version << 4) | ihl, 0, total,
                              rng.randrange(65536), 0x4000, 64, proto, 0,
                              g._v4(h.subscriber()), g._v4(h.server()))
            return hdr[:10] + struct.pack("!H", g.inet_checksum(hdr)) + hdr[12:]

        def v6hdr(payload_len, nh, version=6):
            return (struct.pack("!IHBB", version << 28, payload_len, nh, 64)
                    + _addr6(h.subscriber(True)) + _addr6(h.server(True)))

        def tcp_raw(doff, options=b"", flags=0x02, extra=b""):
            hdr = struct.pack("!HHIIBBHHH", h.eport(), rng.choice(NON_SMTP_PORTS[:3]),
                              rng.randrange(1 << 32), 0, doff << 4, flags, 64240, 0, 0)
            return hdr + options + extra

        def with_tcp(iphdr, tcp):
            """IP header + TCP bytes, the TCP checksum right whenever its field is present, so
            each frame carries only the defect it is about."""
            if len(tcp) >= 18:
                if len(iphdr) == 40:
                    pseudo = iphdr[8:40] + struct.pack("!IxxxB", len(tcp), 6)
                else:
                    pseudo = iphdr[12:20] + struct.pack("!xBH", 6, len(tcp))
                tcp = tcp[:16] + struct.pack("!H", g.inet_checksum(pseudo + tcp)) + tcp[18:]
            return iphdr + tcp

        # IPv4 header problems.
        good = bytes(IP(src=h.subscriber(), dst=h.server(), id=1) / TCP(dport=80, flags="S"))
        self.bad(cap, vlans, good[:12], "ipv4_header")  # short header
        self.bad(cap, vlans, bytes([0x55]) + good[1:], "ipv4_header")  # version 5
        self.bad(cap, vlans, bytes([0x44]) + good[1:], "ipv4_header")  # IHL 4
        tcp20 = tcp_raw(5)
        # total length < IHL; total length past the captured bytes
        self.bad(cap, vlans, with_tcp(v4hdr(20, total=16), tcp20), "ipv4_length")
        self.bad(cap, vlans, with_tcp(v4hdr(20, total=1500), tcp20), "ipv4_length")
        # IPv6 header and extension-chain problems.
        t6 = tcp_raw(5)
        self.bad(cap, vlans, v6hdr(20, 6)[:30], "ipv6_header", g.ETH_IPV6)  # short header
        self.bad(cap, vlans, with_tcp(v6hdr(20, 6, version=4), t6), "ipv6_header", g.ETH_IPV6)
        self.bad(cap, vlans, with_tcp(v6hdr(400, 6), t6), "ipv6_header", g.ETH_IPV6)  # plen > bytes
        hbh_long = bytes([6, 10]) + b"\x01\x04\x00\x00\x00\x00"  # claims 88 bytes, has 8
        self.bad(cap, vlans, v6hdr(8, 0) + hbh_long, "ipv6_ext_header", g.ETH_IPV6)
        hbh_to_dst = bytes([60, 0]) + b"\x01\x04\x00\x00\x00\x00"  # next: dest-opts, absent
        self.bad(cap, vlans, v6hdr(8, 0) + hbh_to_dst, "ipv6_ext_header", g.ETH_IPV6)
        frag_cut = bytes([6, 0, 0, 0])  # fragment header is 8 bytes; 4 present
        self.bad(cap, vlans, v6hdr(4, 44) + frag_cut, "ipv6_ext_header", g.ETH_IPV6)
        # TCP header problems (IPv4).
        short = tcp_raw(5)[:10]
        self.bad(cap, vlans, with_tcp(v4hdr(10), short), "tcp_header")  # 10 of 20 bytes
        self.bad(cap, vlans, with_tcp(v4hdr(20), tcp_raw(4)), "tcp_header")  # data offset 4
        self.bad(cap, vlans, with_tcp(v4hdr(24), tcp_raw(15, extra=b"\x01" * 4)),
                 "tcp_header")  # data offset 15 (60 bytes) > 24 bytes of IP payload
        # TCP option problems (IPv4): length 0, length 1, option running past the header.
        for opts in (b"\x02\x00\x01\x01", b"\x01\x03\x01\x01", b"\x01\x01\x08\x0a"):
            self.bad(cap, vlans, with_tcp(v4hdr(24), tcp_raw(6, opts)), "tcp_options")
        # TCP problems over IPv6.
        self.bad(cap, vlans, with_tcp(v6hdr(12, 6), tcp_raw(5)[:12]), "tcp_header", g.ETH_IPV6)
        self.bad(cap, vlans, with_tcp(v6hdr(24, 6), tcp_raw(6, b"\x01\x01\x02\x08")),
                 "tcp_options", g.ETH_IPV6)


def _addr6(a):
    return socket.inet_pton(socket.AF_INET6, a)


def parsing(seed, valid=True, malformed=True):
    cap = g.Capture(seed)
    fr = Frames(cap)
    if valid:
        cap.lldp(UP, ts=cap.tick(1000))
    if malformed:
        fr.l2_malformed(cap)
    for name, vlans in L2_VARIANTS.items():
        if valid:
            fr.valid(cap, vlans)
        if malformed and name != "dot1q_dot1q":
            fr.l3l4_malformed(cap, vlans)
    return cap


# -- smtp_basic -----------------------------------------------------------------------------


def smtp_basic():
    cap = g.Capture(201)
    hosts = g.Hosts(cap.rng)
    cap.arp(1, SUB, "198.18.0.1", UP, "198.18.0.2")
    cap.arp(2, UP, "198.18.0.2", SUB, "198.18.0.1")
    sub = hosts.subscriber()
    resolver = "198.19.0.53"
    q = DNS(id=0x1F2E, rd=1, qd=DNSQR(qname="example.net", qtype="MX"))
    cap.udp(sub, resolver, 53001, 53, bytes(q), src_mac=SUB, dst_mac=UP)
    r = DNS(id=0x1F2E, qr=1, rd=1, ra=1, qd=DNSQR(qname="example.net", qtype="MX"))
    cap.udp(resolver, sub, 53, 53001, bytes(r), src_mac=UP, dst_mac=SUB)
    # 1: relay in clear (server offers STARTTLS; the client does not use it).
    s = g.new_session(cap, hosts, 25, client=sub)
    s.c.handshake()
    s.banner()
    s.ehlo()
    s.mail()
    s.rcpt()
    s.data()
    s.quit()
    # 2: submission with STARTTLS.
    s = g.new_session(cap, hosts, 587)
    s.c.handshake()
    s.banner()
    s.ehlo()
    s.starttls()
    s.tls_handshake(sni="smtp.example.net")
    s.tls_close()
    # 3: the same over IPv6 in 802.1Q.
    s = g.new_session(cap, hosts, 587, v6=True, vlans=((g.TPID_8021Q, 100),))
    s.c.handshake()
    s.banner()
    s.ehlo()
    s.starttls()
    s.tls_handshake(sni="smtp6.example.net")
    s.tls_close()
    # 4: implicit TLS on 465 in QinQ.
    s = g.new_session(cap, hosts, 465, vlans=((g.TPID_8021AD, 20), (g.TPID_8021Q, 300)))
    s.c.handshake()
    s.tls_handshake(sni="smtps.example.net")
    s.tls_close()
    # 5: a SYN to 25 sent four times (three retransmissions), never answered: one flow.
    g.TcpConv(cap, hosts.subscriber(), hosts.server(), hosts.eport(), 25).handshake(
        syn_retries=3, answered=False).done()
    # 6: a SYN to 2525 refused with RST.
    g.TcpConv(cap, hosts.subscriber(), hosts.server(), hosts.eport(), 2525).handshake(
        rst=True).done()
    # 7: plain HTTP, not an SMTP port.
    c = g.TcpConv(cap, hosts.subscriber(), hosts.server(), hosts.eport(), 80)
    c.handshake()
    c.send("c", "GET / HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: curl/8.5.0\r\n"
                "Accept: */*\r\n\r\n")
    c.send("s", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n"
                "hello world\n")
    c.close(first="c")
    return cap


# -- random ---------------------------------------------------------------------------------

IP_OR_VLAN_ETHERTYPES = {g.ETH_IPV4, g.ETH_IPV6, g.TPID_8021Q, g.TPID_8021AD, 0x9100, 0x9200,
                         0x9300}


def random_bytes():
    cap = g.Capture(301)
    rng = cap.rng
    # Random frames with a non-IP, non-VLAN ethertype (or an 802.3 length): packets.non_ip.
    for _ in range(60):
        while True:
            et = rng.randrange(65536)
            if et not in IP_OR_VLAN_ETHERTYPES:
                break
        n = rng.randrange(14, 1515)
        frame = rng.randbytes(12) + struct.pack("!H", et) + rng.randbytes(n - 14)
        cap.raw(frame, {"packets.non_ip": 1}, ts=cap.tick(1000))
    # Frames shorter than an Ethernet header.
    for n in range(1, 14):
        cap.raw(rng.randbytes(n), {"packets.malformed": 1, "packets.malformed.ethernet": 1},
                ts=cap.tick(1000))
    # Valid SMTP frames cut short inside their IP packet: always malformed; the reason follows
    # from where the cut falls (Ethernet, VLAN tags, IP header, IP length).
    scratch = g.Capture(302)
    hosts = g.Hosts(scratch.rng)
    sources = []
    for v6, vlans in ((False, ()), (False, ((g.TPID_8021Q, 5),)), (True, ()),
                      (True, ((g.TPID_8021AD, 6), (g.TPID_8021Q, 7)))):
        s = g.new_session(scratch, hosts, 587, v6=v6, vlans=vlans)
        s.c.handshake()
        s.banner()
        s.ehlo()
        s.auth_plain()
        s.quit()
        for _, _, data, _ in scratch.frames[len(sources):]:
            sources.append((data, len(vlans), v6))
    for _ in range(80):
        data, ntags, v6 = sources[rng.randrange(len(sources))]
        l2 = 14 + 4 * ntags
        ip_len = 40 + struct.unpack("!H", data[l2 + 4:l2 + 6])[0] if v6 else \
            struct.unpack("!H", data[l2 + 2:l2 + 4])[0]
        cut = rng.randrange(1, l2 + ip_len)
        if cut < 14:
            reason = "ethernet"
        elif cut < l2:
            reason = "vlan"
        elif v6:
            reason = "ipv6_header"  # short header or payload length past the bytes
        elif cut < l2 + 20:
            reason = "ipv4_header"
        else:
            reason = "ipv4_length"
        cap.raw(data[:cut], {"packets.malformed": 1, f"packets.malformed.{reason}": 1},
                ts=cap.tick(1000))
    # Secrets: those whose bytes survive whole in some truncated frame.
    for secret in scratch.secrets:
        if any(secret.encode() in f[2] for f in cap.frames):
            cap.add_secret(secret)
    return cap


def random_ip():
    cap = g.Capture(401)
    rng = cap.rng
    hosts = g.Hosts(rng)
    for i in range(200):
        vlans = rng.choice(list(L2_VARIANTS.values()))
        kind = i % 4
        if kind == 0:  # random bytes behind the IPv4 ethertype
            et, l3 = g.ETH_IPV4, rng.randbytes(rng.randrange(0, 200))
        elif kind == 1:  # random bytes behind the IPv6 ethertype
            et, l3 = g.ETH_IPV6, rng.randbytes(rng.randrange(0, 200))
        elif kind == 2:  # valid IPv4 header, random TCP or UDP bytes
            body = rng.randbytes(rng.randrange(0, 80))
            et = g.ETH_IPV4
            l3 = bytes(IP(src=hosts.subscriber(), dst=hosts.server(), proto=rng.choice((6, 17)),
                          id=rng.randrange(65536)) / Raw(body))
        else:  # valid IPv6 header, random extension chain
            et = g.ETH_IPV6
            body = rng.randbytes(rng.randrange(0, 120))
            l3 = bytes(IPv6(src=hosts.subscriber(True), dst=hosts.server(True),
                            nh=rng.choice((0, 43, 44, 60, 6, 17))) / Raw(body))
        cap.raw(g.l2_header(UP, SUB, et, vlans) + l3, {}, ts=cap.tick(1000))
    return cap


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: make_replay_cases.py OUTDIR")
    out = argv[1]
    os.makedirs(out, exist_ok=True)
    parse_keys = g.PACKET_KEYS + g.FLOW_KEYS + g.MALFORMED_KEYS
    jobs = [
        ("parsing_mix", parsing(1), {"keys": parse_keys}),
        ("parsing_valid", parsing(2, malformed=False), {"keys": parse_keys}),
        ("parsing_malformed", parsing(3, valid=False), {"keys": parse_keys}),
        ("smtp_basic", smtp_basic(), {}),
        ("random_bytes", random_bytes(), {"keys": parse_keys}),
    ]
    for name, cap, opts in jobs:
        cap.write_pcap(os.path.join(out, name + ".pcap"))
        doc = cap.expected(keys=opts.get("keys"), with_tls="keys" not in opts,
                           with_secrets=True)
        g.write_expected(os.path.join(out, name + ".expected.json"), doc)
    cap = random_ip()
    cap.write_pcap(os.path.join(out, "random_ip.pcap"))
    doc = {"counters": {"packets.rx": len(cap.frames), "packets.non_ip": 0}}
    g.write_expected(os.path.join(out, "random_ip.expected.json"), doc)


if __name__ == "__main__":
    main(sys.argv)
