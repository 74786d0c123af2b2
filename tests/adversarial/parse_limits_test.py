#!/usr/bin/python3
"""Test that frames past the parser's limits do not carry a plaintext AUTH past an enforcing
policy, and still pass (fail-open) without one. The AUTH PLAIN segment of a session on 587 is
sent as: three VLAN tags; a TCP option of length 0; nine IPv6 extension headers; a frame
larger than any mbuf (a GRO-sized capture). With the enterprise policy (inside widened) each
is dropped (packets.uninspectable_dropped) and no credential leaves; without a policy each is
forwarded as before. And an IPv6 decoy from IPv4-mapped addresses is not merged into the IPv4
connection's stream.

usage: parse_limits_test.py SMTPGUARD SOURCE_ROOT
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import fragments_test as ft  # noqa: E402
from scapy.all import TCP, Dot1Q, IPv6ExtHdrDestOpt, Raw, raw  # noqa: E402


def auth_frame(kind, pk, co, so, L3, c, s, tag):
    line = ft.auth_line(tag)
    tcp = TCP(sport=40000, dport=587, flags="PA", seq=co, ack=so)
    if kind == "vlan3":
        p = ft.E / Dot1Q(vlan=1) / Dot1Q(vlan=2) / Dot1Q(vlan=3) / L3(src=c, dst=s) / tcp / line
        return p
    if kind == "tcpopt0":
        tcp.options = [(2, b"\x05\xb4")]
        p = ft.E / L3(src=c, dst=s) / tcp / line
        b = bytearray(raw(p))
        # Make the MSS option's length byte 0 (a zero-length option): parsers that loop on it
        # must stop, ours rejects the options.
        tcp_at = 14 + (40 if L3.__name__ == "IPv6" else 20)
        b[tcp_at + 21] = 0
        return ft.Ether(bytes(b))
    if kind == "ext9":
        chain = ft.IPv6(src=c, dst=s)
        for _ in range(9):
            chain = chain / IPv6ExtHdrDestOpt()
        return ft.E / chain / tcp / line
    if kind == "oversize":
        # IP at its 65535-byte limit: a frame longer than the replay mbuf holds.
        return ft.E / L3(src=c, dst=s) / tcp / (line + b"NOOP " + b"y" * (65450 - len(line)) + b"\r\n")
    raise ValueError(kind)


def main():
    cases = [("vlan3", False), ("tcpopt0", False), ("ext9", True), ("oversize", False)]
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(ft.ROOT, "policy", "examples", "enterprise-submission.toml")) as f:
            text = f.read()
        text = text.replace('inside = ["10.20.0.0/16"',
                            'inside = ["198.18.0.0/16", "2001:db8:1::/48", "10.20.0.0/16"')
        with open(os.path.join(tmp, "policy.toml"), "w") as f:
            f.write(text)
        for kind, v6 in cases:
            pk, co, so, L3, c, s = ft.session(v6, kind)
            frame = auth_frame(kind, pk, co, so, L3, c, s, kind)
            cnt, out = ft.replay(tmp, kind, pk + [frame])
            ft.check(cnt["packets.uninspectable_dropped"] == 1,
                     f"{kind}: dropped under the policy ({cnt['packets.uninspectable_dropped']})")
            ft.check(not ft.leaked(out, kind), f"{kind}: no credential leaves")
            cnt, out = ft.replay(tmp, kind + "-open", pk + [frame], policy=False)
            ft.check(cnt["packets.uninspectable_dropped"] == 0 and cnt["packets.tx"] == cnt["packets.rx"],
                     f"{kind}: without a policy, forwarded as before")
        # An IPv6 decoy from ::ffff:<client> to ::ffff:<server> with the AUTH's sequence
        # numbers, then the real AUTH over IPv4: the decoy is not merged into the IPv4 flow.
        pk, co, so, L3, c, s = ft.session(False, "mapped")
        line = ft.auth_line("mapped")
        decoy = ft.E / ft.IPv6(src="::ffff:" + c, dst="::ffff:" + s) / TCP(
            sport=40000, dport=587, flags="PA", seq=co, ack=so) / (b"NOOP " + b"x" * (len(line) - 7) + b"\r\n")
        real = ft.E / L3(src=c, dst=s) / TCP(sport=40000, dport=587, flags="PA", seq=co, ack=so) / line
        cnt, out = ft.replay(tmp, "mapped", pk + [decoy, real])
        ft.check(cnt["packets.malformed.ipv6_mapped_address"] == 1, "mapped: the decoy is malformed")
        ft.check(cnt["smtp.auth.plaintext"] == 1 and cnt["policy.blocked"] == 1,
                 "mapped: the AUTH behind it seen and blocked")
        ft.check(not ft.leaked(out, "mapped"), "mapped: no credential leaves")
    print(f"{len(ft.failures)} failures")
    return 1 if ft.failures else 0


if __name__ == "__main__":
    sys.exit(main())
