#!/usr/bin/python3
"""Capture files for the capture reader (drivers/capture_reader.cc): well-formed ones in every
classic pcap flavour, and broken ones, each read by our reader and by libpcap in
tests/integration/capture_reader_test.py, which compares them frame by frame.

Usage: make_capture_files.py OUTDIR [STAMP]   (STAMP: a file written last, for meson)

Frames are built with scapy; the file and record headers by hand (struct), so that they can lie.
"""

import os
import struct
import sys

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

MICRO, NANO = 0xA1B2C3D4, 0xA1B23C4D


def frames():
    """A few real frames of assorted sizes (one zero-length record among them)."""
    out = []
    for i in range(40):
        payload = bytes((i * 7 + j) & 0xFF for j in range((i * 97) % 1400))
        f = (Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") /
             IP(src="198.18.0.1", dst="198.18.1.%d" % (i + 1)) /
             TCP(sport=40000 + i, dport=25, flags="PA", seq=1000 * i) / payload)
        out.append(bytes(f))
    out.append(b"")  # a zero-length record
    out.append(bytes(Ether() / IP(src="198.18.0.2", dst="198.18.0.3") / UDP(sport=53, dport=53)))
    return out


def file_header(magic, endian, snaplen=262144, linktype=1, version=(2, 4)):
    return struct.pack(endian + "IHHiIII", magic, version[0], version[1], 0, 0, snaplen, linktype)


def record(endian, sec, frac, data, caplen=None, wire=None):
    caplen = len(data) if caplen is None else caplen
    wire = len(data) + 4 if wire is None else wire
    return struct.pack(endian + "iiII", sec, frac, caplen, wire) + data


def body(endian, magic, fs):
    scale = 1000 if magic == NANO else 1
    out = b""
    for i, f in enumerate(fs):
        out += record(endian, 1700000000 + i, (999990 - i) * scale if i % 2 else i * scale, f)
    return out


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    fs = frames()
    cases = {}
    # Every flavour our reader takes: both byte orders, micro- and nanosecond magic.
    for endian, en in (("<", "le"), (">", "be")):
        for magic, mn in ((MICRO, "micro"), (NANO, "nano")):
            cases[f"{en}_{mn}"] = file_header(magic, endian) + body(endian, magic, fs)
    # Many frames: the 1 MiB read buffer is refilled mid-record many times; a 200,000-byte
    # frame (larger than any mbuf) among them.
    many = [fs[i % len(fs)] for i in range(6000)]
    many.insert(3000, bytes(Ether() / IP(len=65535) / TCP(dport=25, chksum=0) / (b"x" * 199946)))
    cases["many"] = file_header(MICRO, "<") + body("<", MICRO, many)
    # Snapshot length 100 and frames longer than it: libpcap cuts each to 100 bytes and goes on.
    cases["caplen_over_snaplen"] = file_header(MICRO, "<", snaplen=100) + body("<", MICRO, fs)
    # Snapshot length 0: taken as the largest.
    cases["snaplen_zero"] = file_header(MICRO, ">", snaplen=0) + body(">", MICRO, fs)
    # A record claiming 300,000 bytes (beyond libpcap's 262,144) after two good ones: an error.
    cases["caplen_huge"] = (file_header(MICRO, "<") + body("<", MICRO, fs[:2]) +
                            record("<", 1, 0, b"\x00" * 64, caplen=300000))
    # A record claiming more bytes than the file has left.
    cases["caplen_past_end"] = (file_header(NANO, "<") + body("<", NANO, fs[:5]) +
                                record("<", 2, 0, fs[5][:30], caplen=len(fs[5])))
    # The file ends inside a record header, and inside a frame.
    whole = file_header(MICRO, ">") + body(">", MICRO, fs[:6])
    cases["truncated_header"] = whole + record(">", 3, 0, fs[6])[:9]
    cases["truncated_frame"] = whole[:-7]
    # Only the file header; and less than one.
    cases["header_only"] = file_header(NANO, ">")
    cases["short_file"] = file_header(MICRO, "<")[:10]
    # Link types other than Ethernet: raw IP (101) and Linux cooked (113).
    raw = [f[14:] for f in fs if len(f) > 14]
    cases["raw_ip"] = file_header(MICRO, "<", linktype=101) + body("<", MICRO, raw)
    sll = [struct.pack(">HHH8sH", 0, 1, 6, b"\x02" * 8, 0x0800) + r for r in raw]
    cases["linux_sll"] = file_header(NANO, "<", linktype=113) + body("<", NANO, sll)
    # Left to libpcap: version 2.2 (caplen and len swapped in the header) and a link type we
    # do not map ourselves (802.11, which replay then refuses).
    old = b"".join(record("<", 5, i, f, caplen=len(f) + 4, wire=len(f))[:8] +
                   struct.pack("<II", len(f) + 4, len(f)) + f for i, f in enumerate(fs))
    cases["version_2_2"] = file_header(MICRO, "<", version=(2, 2)) + old
    cases["linktype_80211"] = file_header(MICRO, "<", linktype=105) + body("<", MICRO, fs[:3])
    for name, data in cases.items():
        with open(os.path.join(outdir, name + ".pcap"), "wb") as f:
            f.write(data)
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w") as f:
            f.write("\n".join(sorted(cases)) + "\n")


if __name__ == "__main__":
    main()
