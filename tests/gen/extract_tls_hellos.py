#!/usr/bin/python3
"""Extract the TLS ClientHello/ServerHello records of the SMTP captures in shared/corpus into
tests/data/tls/*.bin fixtures.

Each fixture is the first TLS bytes of one direction of one connection, cut after the last TLS
record needed to complete the hello handshake message (record headers kept, as on the wire).
TLS starts right after the "STARTTLS" command (client) / the 220 reply to it (server), or at the
start of the connection on port 465 (implicit TLS).

Usage: /usr/bin/python3 tests/gen/extract_tls_hellos.py [CORPUS_DIR] [OUT_DIR]
Needs scapy (Debian: python3-scapy). Reads the captures only; never writes to the corpus.
"""

import pathlib
import re
import sys

from scapy.all import IP, IPv6, TCP, rdpcap  # noqa: E402

SMTP_PORTS = {25, 465, 587, 2525}
IMPLICIT_TLS_PORTS = {465}

# capture (relative to the corpus) -> fixture name prefix
CAPTURES = {
    "ndpi/smtp-starttls.pcap": "ndpi-smtp-starttls",
    "ndpi/smtps.pcapng": "ndpi-smtps",
    "suricata-verify/smtp-startssl.pcap": "suricata-smtp-startssl",
    "zeek/smtp-starttls.pcap": "zeek-smtp-starttls",
}


def streams(path):
    """Returns {(client, server): (client_bytes, server_bytes, server_port)} in capture order."""
    segs = {}
    order = []
    for pkt in rdpcap(str(path)):
        if TCP not in pkt:
            continue
        ip = pkt[IP] if IP in pkt else pkt[IPv6] if IPv6 in pkt else None
        if ip is None:
            continue
        tcp = pkt[TCP]
        a, b = (ip.src, tcp.sport), (ip.dst, tcp.dport)
        if tcp.dport in SMTP_PORTS:
            key, to_server = (a, b), True
        elif tcp.sport in SMTP_PORTS:
            key, to_server = (b, a), False
        else:
            continue
        if key not in segs:
            segs[key] = ({}, {})
            order.append(key)
        payload = bytes(tcp.payload)
        if payload:
            # Retransmissions carry the same seq: keep one copy.
            segs[key][0 if to_server else 1].setdefault(tcp.seq, payload)
    out = {}
    for key in order:
        parts = []
        for d in segs[key]:
            data = b""
            expect = None
            for seq in sorted(d):
                p = d[seq]
                if expect is not None and seq < expect:
                    p = p[expect - seq:]  # overlap
                data += p
                expect = seq + len(d[seq]) if expect is None else max(expect, seq + len(d[seq]))
            parts.append(data)
        out[key] = (parts[0], parts[1], key[1][1])
    return out


def tls_start_client(data, port):
    if port in IMPLICIT_TLS_PORTS:
        return 0
    m = re.search(rb"STARTTLS\r\n", data, re.IGNORECASE)
    return None if m is None else m.end()


def tls_start_server(data, port):
    if port in IMPLICIT_TLS_PORTS:
        return 0
    # The TLS bytes follow the end of a final "220 " reply line (the STARTTLS go-ahead).
    for m in re.finditer(rb"(?m)^220 [^\r\n]*\r\n", data):
        if data[m.end():m.end() + 2] == b"\x16\x03":
            return m.end()
    return None


def cut_hello(data, hs_type):
    """Returns the prefix of `data` made of the records that complete the first handshake
    message, checking it is of type `hs_type`."""
    pos = 0
    msg = b""
    while pos + 5 <= len(data):
        ctype, length = data[pos], int.from_bytes(data[pos + 3:pos + 5], "big")
        if ctype != 22:
            raise ValueError("record of type %d before the hello completed" % ctype)
        msg += data[pos + 5:pos + 5 + length]
        pos += 5 + length
        if len(msg) >= 4:
            if msg[0] != hs_type:
                raise ValueError("first handshake message has type %d" % msg[0])
            if len(msg) >= 4 + int.from_bytes(msg[1:4], "big"):
                return data[:pos]
    raise ValueError("hello incomplete in capture")


def main():
    root = pathlib.Path(__file__).resolve().parents[2]
    corpus = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else root.parent / "shared" / "corpus"
    out_dir = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else root / "tests" / "data" / "tls"
    out_dir.mkdir(parents=True, exist_ok=True)
    for rel, prefix in CAPTURES.items():
        for i, (key, (cdata, sdata, port)) in enumerate(streams(corpus / rel).items()):
            c = tls_start_client(cdata, port)
            s = tls_start_server(sdata, port)
            if c is None or c >= len(cdata):
                continue
            name = "%s-flow%d" % (prefix, i)
            hello = cut_hello(cdata[c:], 1)
            (out_dir / (name + "-client.bin")).write_bytes(hello)
            print("%s-client.bin  %5d bytes  %s:%d -> %s:%d" % (name, len(hello), *key[0], *key[1]))
            # A server may answer implicit TLS in plaintext (ndpi/smtps.pcapng: an SMTP banner).
            if s is not None and sdata[s:s + 2] == b"\x16\x03":
                shello = cut_hello(sdata[s:], 2)
                (out_dir / (name + "-server.bin")).write_bytes(shello)
                print("%s-server.bin  %5d bytes" % (name, len(shello)))


if __name__ == "__main__":
    main()
