#!/usr/bin/python3
"""Independent reference for JA3, JA3S and JA4, written from the specification texts alone
(not from smtpguard's C++), used to produce tests/data/tls/expected.tsv which
tests/unit/tls_fingerprint_test.cc compares against.

  JA3, JA3S: salesforce/ja3 README ("SSLVersion,Cipher,SSLExtension,EllipticCurve,
             EllipticCurvePointFormat", decimal, '-' within a field, GREASE ignored) and
             python/ja3s.py ("SSLVersion,Cipher,SSLExtension" of the ServerHello).
  JA4:       FoxIO-LLC/ja4 technical_details/JA4.md.

Usage: /usr/bin/python3 tests/gen/ja4_reference.py [--check] [DATA_DIR]
  writes DATA_DIR/expected.tsv (default tests/data/tls); --check only compares and exits 1 on a
  difference. Standard library only.
"""

import hashlib
import pathlib
import sys

GREASE = {0x0a0a + 0x1010 * i for i in range(16)}  # RFC 8701 §2: 0x0A0A, 0x1A1A, ... 0xFAFA

JA4_VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3",
                0x0002: "s2", 0xfeff: "d1", 0xfefd: "d2", 0xfefc: "d3"}


def handshake_message(data):
    """Concatenates handshake record payloads and returns (record_version, first message)."""
    payload, pos = b"", 0
    record_version = int.from_bytes(data[1:3], "big")
    while pos + 5 <= len(data):
        assert data[pos] == 22, "not a handshake record"
        n = int.from_bytes(data[pos + 3:pos + 5], "big")
        payload += data[pos + 5:pos + 5 + n]
        pos += 5 + n
    n = int.from_bytes(payload[1:4], "big")
    assert len(payload) >= 4 + n, "incomplete handshake message"
    return record_version, payload[0], payload[4:4 + n]


class Reader:
    def __init__(self, b):
        self.b, self.i = b, 0

    def take(self, n):
        assert self.i + n <= len(self.b), "truncated"
        v = self.b[self.i:self.i + n]
        self.i += n
        return v

    def num(self, n):
        return int.from_bytes(self.take(n), "big")

    def vec(self, len_bytes):
        return self.take(self.num(len_bytes))

    def left(self):
        return len(self.b) - self.i


def u16s(b):
    return [int.from_bytes(b[i:i + 2], "big") for i in range(0, len(b), 2)]


def parse_extensions(r):
    exts = []
    if r.left() == 0:
        return exts
    block = Reader(r.vec(2))
    while block.left():
        t = block.num(2)
        exts.append((t, block.vec(2)))
    return exts


def parse_client_hello(body):
    r = Reader(body)
    h = {"version": r.num(2)}
    r.take(32)
    r.vec(1)
    h["ciphers"] = u16s(r.vec(2))
    r.vec(1)
    h["extensions"] = parse_extensions(r)
    h["groups"], h["point_formats"], h["sigalgs"], h["versions"] = [], [], [], None
    h["sni"], h["alpn"] = None, None
    for t, d in h["extensions"]:
        if t == 0x000a:
            h["groups"] = u16s(Reader(d).vec(2))
        elif t == 0x000b:
            h["point_formats"] = list(Reader(d).vec(1))
        elif t == 0x000d:
            h["sigalgs"] = u16s(Reader(d).vec(2))
        elif t == 0x002b:
            h["versions"] = u16s(Reader(d).vec(1))
        elif t == 0x0000:
            names = Reader(Reader(d).vec(2))
            h["sni"] = b""
            if names.left():
                names.num(1)
                h["sni"] = names.vec(2)
        elif t == 0x0010:
            protos = Reader(Reader(d).vec(2))
            h["alpn"] = []
            while protos.left():
                h["alpn"].append(protos.vec(1))
    return h


def ja3(h):
    def field(values):
        return "-".join(str(v) for v in values if v not in GREASE)
    s = ",".join([str(h["version"]), field(h["ciphers"]), field(t for t, _ in h["extensions"]),
                  field(h["groups"]), "-".join(str(v) for v in h["point_formats"])])
    return s, hashlib.md5(s.encode()).hexdigest()


def ja4_alpn(alpn):
    # "If there is no ALPN extension, no ALPN values, or the first ALPN value is empty ... 00";
    # non-alphanumeric first or last byte: first and last characters of the hex representation.
    if not alpn or not alpn[0]:
        return "00"
    v = alpn[0]
    alnum = lambda c: 0x30 <= c <= 0x39 or 0x41 <= c <= 0x5a or 0x61 <= c <= 0x7a  # noqa: E731
    if alnum(v[0]) and alnum(v[-1]):
        return chr(v[0]) + chr(v[-1])
    x = v.hex()
    return x[0] + x[-1]


def ja4(h):
    versions = [v for v in (h["versions"] or []) if v not in GREASE]
    version = max(versions) if versions else h["version"]
    ciphers = [c for c in h["ciphers"] if c not in GREASE]
    exts = [t for t, _ in h["extensions"] if t not in GREASE]
    a = "t%s%s%02d%02d%s" % (JA4_VERSIONS.get(version, "00"), "d" if h["sni"] is not None else "i",
                             min(len(ciphers), 99), min(len(exts), 99), ja4_alpn(h["alpn"]))
    b = ",".join("%04x" % c for c in sorted(ciphers))
    c = ",".join("%04x" % e for e in sorted(e for e in exts if e not in (0x0000, 0x0010)))
    sig = ",".join("%04x" % s for s in h["sigalgs"] if s not in GREASE)
    c_raw = c + ("_" + sig if sig else "")
    trunc = lambda s: hashlib.sha256(s.encode()).hexdigest()[:12]  # noqa: E731
    fp = "%s_%s_%s" % (a, trunc(b) if b else "0" * 12, trunc(c_raw) if c else "0" * 12)
    return fp, "%s_%s_%s" % (a, b, c_raw)


def ja3s(body):
    r = Reader(body)
    version = r.num(2)
    r.take(32)
    r.vec(1)
    cipher = r.num(2)
    r.num(1)
    exts = parse_extensions(r)
    selected = version
    for t, d in exts:
        if t == 0x002b:
            selected = int.from_bytes(d, "big")
    s = "%d,%d,%s" % (version, cipher, "-".join(str(t) for t, _ in exts))
    return s, hashlib.md5(s.encode()).hexdigest(), selected, cipher


def rows_for(path):
    record_version, hs_type, body = handshake_message(path.read_bytes())
    rows = [("record_version", "0x%04x" % record_version)]
    if hs_type == 1:
        h = parse_client_hello(body)
        s, md5 = ja3(h)
        fp, raw = ja4(h)
        rows += [("handshake_version", "0x%04x" % h["version"]), ("ja3_string", s),
                 ("ja3", md5), ("ja4", fp), ("ja4_r", raw),
                 ("sni", h["sni"].decode("ascii", "replace") if h["sni"] else "-"),
                 ("alpn", ",".join(p.decode("ascii", "replace") for p in h["alpn"] or []) or "-")]
    elif hs_type == 2:
        s, md5, selected, cipher = ja3s(body)
        rows += [("ja3s_string", s), ("ja3s", md5), ("negotiated_version", "0x%04x" % selected),
                 ("cipher", "0x%04x" % cipher)]
    return rows


def main():
    args = [a for a in sys.argv[1:] if a != "--check"]
    root = pathlib.Path(__file__).resolve().parents[2]
    data_dir = pathlib.Path(args[0]) if args else root / "tests" / "data" / "tls"
    lines = ["# file\tfield\tvalue -- generated by tests/gen/ja4_reference.py; do not edit"]
    for path in sorted(data_dir.glob("*.bin")):
        for field, value in rows_for(path):
            lines.append("%s\t%s\t%s" % (path.name, field, value))
    text = "\n".join(lines) + "\n"
    out = data_dir / "expected.tsv"
    if "--check" in sys.argv:
        same = out.exists() and out.read_text() == text
        print("expected.tsv is %s" % ("up to date" if same else "STALE"))
        sys.exit(0 if same else 1)
    out.write_text(text)
    print("wrote %s (%d lines)" % (out, len(lines) - 1))


if __name__ == "__main__":
    main()
