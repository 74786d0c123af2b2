#!/usr/bin/python3
"""Test that what leaves is what was inspected when the AUTH command travels in IP fragments or
behind a bad-checksum decoy, through `smtpguard replay --policy <enterprise, widened>
--write`:

  ipv4 / ipv6    AUTH PLAIN in 16-byte (IPv4) or 80-byte (IPv6) fragments: reassembled, seen,
                 blocked; no credential in the output, however it is reassembled.
  overlap        the AUTH fragments plus an overlapping piece carrying other bytes: the
                 datagram is discarded (ip.fragments_dropped), nothing of it leaves.
  big            a 3 KB segment in 600-byte fragments, no policy: leaves refragmented at 1500
                 bytes and reassembles to the very bytes sent.
  drop / pass    --fragments drop drops every TCP fragment; pass forwards them uninspected.
  policy         [policy] fragments = "drop" in the policy file does the same without the
                 option; the policy's "reassemble" wins over --fragments pass.
  checksum       a NOOP decoy with a bad TCP checksum, then the AUTH at the same sequence
                 numbers: with --checksums verify the decoy is dropped and the AUTH seen.
  ttl / ooo /    a TTL-limited decoy then the AUTH as a differing retransmission (dropped);
  ahead          the credential half out of order before "AUTH PLAIN " (held, not forwarded);
                 junk 100 kB ahead then the AUTH in order (out of the window; AUTH blocked).

usage: fragments_test.py SMTPGUARD SOURCE_ROOT
"""
import base64
import json
import os
import subprocess
import sys
import tempfile

from scapy.all import (IP, TCP, Ether, IPv6, IPv6ExtHdrFragment, Raw, defragment, fragment,
                       fragment6, raw, rdpcap, wrpcap)

BINARY, ROOT = sys.argv[1], sys.argv[2]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


E = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
ES = Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01")


def session(v6, tag):
    """Handshake, banner, EHLO and its reply; returns (packets, next client seq, next server
    seq, the L3 constructor, client, server)."""
    c, s = ("2001:db8:1::10", "2001:db8:2::25") if v6 else ("198.18.0.10", "198.18.1.25")
    L3 = IPv6 if v6 else IP
    ic, is_ = 1000, 5000
    pk = [E / L3(src=c, dst=s) / TCP(sport=40000, dport=587, flags="S", seq=ic),
          ES / L3(src=s, dst=c) / TCP(sport=587, dport=40000, flags="SA", seq=is_, ack=ic + 1),
          E / L3(src=c, dst=s) / TCP(sport=40000, dport=587, flags="A", seq=ic + 1, ack=is_ + 1)]
    co, so = ic + 1, is_ + 1
    for d, data in (("s", b"220 mx ESMTP\r\n"), ("c", b"EHLO x\r\n"), ("s", b"250-mx\r\n250 AUTH PLAIN\r\n")):
        if d == "c":
            pk.append(E / L3(src=c, dst=s) / TCP(sport=40000, dport=587, flags="PA", seq=co, ack=so) / data)
            co += len(data)
        else:
            pk.append(ES / L3(src=s, dst=c) / TCP(sport=587, dport=40000, flags="PA", seq=so, ack=co) / data)
            so += len(data)
    return pk, co, so, L3, c, s


def secret_of(tag):
    return b"\0alice\0Secr3t-" + tag.encode()


def auth_line(tag):
    return b"AUTH PLAIN " + base64.b64encode(secret_of(tag)) + b"\r\n"


def replay(tmp, name, pk, *args, policy=True):
    pcap = os.path.join(tmp, name + ".pcap")
    out = os.path.join(tmp, name + ".out.pcap")
    st = os.path.join(tmp, name + ".json")
    wrpcap(pcap, pk)
    cmd = [BINARY, "replay", pcap, "--write", out, "--stats", st, "--no-summary", *args]
    if policy:
        cmd += ["--policy", os.path.join(tmp, "policy.toml")]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, f"{name}: replay exit {p.returncode} {p.stderr[-200:]}")
    return json.load(open(st)), rdpcap(out) if os.path.getsize(out) > 24 else []


def leaked(out, tag):
    """The credential in the output: in any one packet, or in the bytes of the client's TCP
    payloads joined in order after IP defragmentation (first copy or last copy)."""
    s = secret_of(tag)
    b = base64.b64encode(s)
    blobs = [raw(p) for p in out]
    try:
        whole = defragment(list(out))
    except Exception:  # scapy cannot always rebuild odd fragment sets: per-packet check stays
        whole = list(out)
    payload = b"".join(bytes(p[TCP].payload) for p in whole if TCP in p and p[TCP].dport == 587)
    blobs.append(payload)
    return any(s in x or b in x for x in blobs)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(ROOT, "policy", "examples", "enterprise-submission.toml")) as f:
            text = f.read()
        text = text.replace('inside = ["10.20.0.0/16"',
                            'inside = ["198.18.0.0/16", "2001:db8:1::/48", "10.20.0.0/16"')
        with open(os.path.join(tmp, "policy.toml"), "w") as f:
            f.write(text)

        for v6 in (False, True):
            name = "ipv6" if v6 else "ipv4"
            pk, co, so, L3, c, s = session(v6, name)
            if v6:
                p = IPv6(raw(IPv6(src=c, dst=s) / IPv6ExtHdrFragment(id=99) /
                              TCP(sport=40000, dport=587, flags="PA", seq=co, ack=so) / auth_line(name)))
                frags = fragment6(p, 80)
            else:
                frags = fragment(IP(src=c, dst=s, id=77) / TCP(sport=40000, dport=587, flags="PA",
                                                               seq=co, ack=so) / auth_line(name), fragsize=16)
            cnt, out = replay(tmp, name, pk + [E / f for f in frags])
            check(cnt["ip.reassembled"] == 1, f"{name}: reassembled ({cnt['ip.reassembled']})")
            check(cnt["smtp.auth.plaintext"] == 1, f"{name}: AUTH seen ({cnt['smtp.auth.plaintext']})")
            check(cnt["policy.blocked"] == 1, f"{name}: blocked ({cnt['policy.blocked']})")
            check(not leaked(out, name), f"{name}: no credential leaves")

        # Overlap: a second piece at offset 8 with other bytes.
        pk, co, so, L3, c, s = session(False, "overlap")
        frags = fragment(IP(src=c, dst=s, id=78) / TCP(sport=40000, dport=587, flags="PA", seq=co,
                                                       ack=so) / auth_line("overlap"), fragsize=16)
        decoy = frags[1].copy()
        decoy[Raw].load = b"N" * len(decoy[Raw].load)
        decoy.frag = frags[1].frag
        del decoy.chksum
        cnt, out = replay(tmp, "overlap", pk + [E / f for f in frags[:2]] + [E / decoy] +
                          [E / f for f in frags[2:]])
        check(cnt["ip.fragments_dropped"] >= 1, f"overlap: discarded ({cnt['ip.fragments_dropped']})")
        check(not leaked(out, "overlap"), "overlap: no credential leaves")

        # A 3 KB segment in 600-byte fragments, no policy: refragmented at 1500, same bytes.
        pk, co, so, L3, c, s = session(False, "big")
        data = auth_line("big") + b"NOOP " + bytes(range(256)) * 11 + b"\r\n"
        seg = IP(src=c, dst=s, id=79) / TCP(sport=40000, dport=587, flags="PA", seq=co, ack=so) / data
        cnt, out = replay(tmp, "big", pk + [E / f for f in fragment(seg, fragsize=600)], policy=False)
        sizes = [len(p[IP]) for p in out if IP in p and p[IP].id == 79]
        check(cnt["ip.reassembled"] == 1 and max(sizes, default=0) <= 1500 and len(sizes) >= 2,
              f"big: refragmented at 1500 ({sizes})")
        rebuilt = [p for p in defragment([p for p in out if IP in p and p[IP].id == 79]) if TCP in p]
        check(len(rebuilt) == 1 and bytes(rebuilt[0][TCP].payload) == data,
              "big: the pieces reassemble to the bytes sent")

        for mode in ("drop", "pass"):
            pk, co, so, L3, c, s = session(False, mode)
            frags = fragment(IP(src=c, dst=s, id=80) / TCP(sport=40000, dport=587, flags="PA",
                                                           seq=co, ack=so) / auth_line(mode), fragsize=16)
            cnt, out = replay(tmp, mode, pk + [E / f for f in frags], "--fragments", mode)
            if mode == "drop":
                check(cnt["ip.fragments_dropped"] == len(frags) and not leaked(out, mode),
                      f"drop: every fragment dropped ({cnt['ip.fragments_dropped']})")
            else:
                check(cnt["ip.reassembled"] == 0 and cnt["packets.tx"] == cnt["packets.rx"],
                      "pass: fragments forwarded uninspected")

        # The policy's own setting: [policy] fragments = "drop" without --fragments; and the
        # policy's "reassemble" over --fragments pass.
        base = open(os.path.join(tmp, "policy.toml")).read()
        for setting, cli in (("drop", ()), ("reassemble", ("--fragments", "pass"))):
            with open(os.path.join(tmp, "policy.toml"), "w") as f:
                f.write(base.replace("[policy]\n", f'[policy]\nfragments = "{setting}"\n', 1))
            tag = "policy-" + setting
            pk, co, so, L3, c, s = session(False, tag)
            frags = fragment(IP(src=c, dst=s, id=81) / TCP(sport=40000, dport=587, flags="PA",
                                                           seq=co, ack=so) / auth_line(tag), fragsize=16)
            cnt, out = replay(tmp, tag, pk + [E / f for f in frags], *cli)
            if setting == "drop":
                check(cnt["ip.fragments_dropped"] == len(frags) and not leaked(out, tag),
                      f"[policy] fragments = drop: every fragment dropped ({cnt['ip.fragments_dropped']})")
            else:
                check(cnt["ip.reassembled"] == 1 and cnt["policy.blocked"] == 1 and
                      not leaked(out, tag),
                      f"[policy] fragments = reassemble over --fragments pass ({cnt['ip.reassembled']})")
        with open(os.path.join(tmp, "policy.toml"), "w") as f:
            f.write(base)

        # Bad-checksum decoy, then the AUTH as a "retransmission" of the same bytes.
        pk, co, so, L3, c, s = session(False, "checksum")
        line = auth_line("checksum")
        decoy = E / IP(src=c, dst=s) / TCP(sport=40000, dport=587, flags="PA", seq=co, ack=so,
                                          chksum=0xdead) / (b"NOOP " + b"x" * (len(line) - 7) + b"\r\n")
        real = E / IP(src=c, dst=s) / TCP(sport=40000, dport=587, flags="PA", seq=co, ack=so) / line
        cnt, out = replay(tmp, "checksum", pk + [decoy, real], "--checksums", "verify")
        check(cnt["packets.bad_checksum"] == 1, f"checksum: decoy counted ({cnt['packets.bad_checksum']})")
        check(cnt["smtp.auth.plaintext"] == 1 and cnt["policy.blocked"] == 1,
              "checksum: the AUTH behind the decoy seen and blocked")
        check(not leaked(out, "checksum"), "checksum: no credential leaves")
        # Stream normalisation: a decoy that dies at the next hop (TTL 1), then the AUTH at the
        # same sequence numbers; the credential half out of order before "AUTH PLAIN "; junk
        # 100 kB past the expected byte, then the AUTH in order.
        pk, co, so, L3, c, s = session(False, "ttl")
        line = auth_line("ttl")
        decoy = E / IP(src=c, dst=s, ttl=1) / TCP(sport=40000, dport=587, flags="PA", seq=co,
                                                 ack=so) / (b"NOOP " + b"x" * (len(line) - 7) + b"\r\n")
        real = E / IP(src=c, dst=s) / TCP(sport=40000, dport=587, flags="PA", seq=co, ack=so) / line
        cnt, out = replay(tmp, "ttl", pk + [decoy, real])
        check(cnt["stream.inconsistent_retransmission"] == 1 and cnt["stream.uninspected_dropped"] == 1,
              "ttl: the differing copy is dropped")
        check(not leaked(out, "ttl"), "ttl: no credential leaves")

        pk, co, so, L3, c, s = session(False, "ooo")
        line = auth_line("ooo")
        cut = len(b"AUTH PLAIN ")
        second = E / IP(src=c, dst=s) / TCP(sport=40000, dport=587, flags="PA", seq=co + cut, ack=so) / line[cut:]
        first = E / IP(src=c, dst=s) / TCP(sport=40000, dport=587, flags="PA", seq=co, ack=so) / line[:cut]
        cnt, out = replay(tmp, "ooo", pk + [second, first])
        check(cnt["smtp.auth.plaintext"] == 1 and cnt["policy.blocked"] == 1,
              "ooo: the AUTH is seen once the hole fills, and blocked")
        check(not leaked(out, "ooo"), "ooo: the early credential half did not leave")

        pk, co, so, L3, c, s = session(False, "ahead")
        junk = E / IP(src=c, dst=s) / TCP(sport=40000, dport=587, flags="PA", seq=co + 100000,
                                         ack=so) / b"JUNK\r\n"
        real = E / IP(src=c, dst=s) / TCP(sport=40000, dport=587, flags="PA", seq=co, ack=so) / auth_line("ahead")
        cnt, out = replay(tmp, "ahead", pk + [junk, real])
        check(cnt["tcp.segment_out_of_window"] == 1 and cnt["policy.blocked"] == 1,
              "ahead: the junk is out of the window, the AUTH seen and blocked")
        check(not leaked(out, "ahead"), "ahead: no credential leaves")
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
