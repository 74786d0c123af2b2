#!/usr/bin/python3
"""Test that --ipfix exports every SMTP flow of a replay as IPFIX (RFC 7011), over UDP and TCP.

UDP: the datagrams pass through a relay in this script on their way to Debian's nfcapd
(nfdump 1.7); `nfdump -r FILE -o csv` must show one flow per smtp_flow event with the same
addresses and ports, and packets and octets per direction equal to those counted here from the
capture itself with scapy (IP total lengths). The relay keeps the datagrams, and a decoder
written here from RFC 7011 (sections 3.1, 3.3, 3.4, 7) and RFC 5103 reads them again: templates,
the enterprise elements under PEN 32473 (docs/export.md) checked against our events (STARTTLS
result, TLS kind, AUTH mechanism, JA3, JA4, SNI, policy rule and action).
TCP: a listener here takes the stream, splits it by message length and checks the same.
A collector that is not there: the replay still ends at once, exit 0, every record counted in
ipfix.dropped. A collector that drops our SYNs (a private network namespace whose neighbour
never answers): the exporter gives up connecting after 3 s instead of the kernel's minutes,
so the replay ends within seconds. A collector that accepts and then stops reading: a write
that cannot go out within 5 s fails, shutdown waits at most 10 s, and exported + dropped still
equals the flow records.

usage: ipfix_test.py SMTPGUARD CORPUS_DIR SOURCE_ROOT
"""
import csv
import io
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

from scapy.all import IP, IPv6, TCP, PcapReader  # noqa: E402

binary, corpus, root = sys.argv[1:4]
PEN = 32473
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


for tool in ("nfcapd", "nfdump"):
    if shutil.which(tool) is None:
        print(f"{tool} is missing (Debian package nfdump): this test needs it")
        sys.exit(1)

CASES = [  # (capture, policy or None)
    (os.path.join(corpus, "arkime", "smtp-decrypted.pcap"), None),
    (os.path.join(corpus, "ndpi", "smtp-starttls.pcap"), None),
    (os.path.join(root, "samples", "sample.pcap"),
     os.path.join(root, "policy", "examples", "isp-port25.toml")),
]
for cap, _ in CASES:
    if not os.path.exists(cap):
        print(f"missing capture {cap} (../shared/corpus must be beside the source tree)")
        sys.exit(1)

STARTTLS = {"none": 0, "accepted": 1, "refused": 2, "other": 3}
TLS_KIND = {"none": 0, "starttls": 1, "implicit": 2}
END_REASON = {"timeout": 1, "fin": 3, "rst": 3, "policy": 3, "shutdown": 4, "evicted": 5}


def free_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# --- an IPFIX decoder from RFC 7011, independent of libfixbuf and of our code ---------------

def ip_text(b):
    return socket.inet_ntop(socket.AF_INET if len(b) == 4 else socket.AF_INET6, b)


def decode_messages(msgs):
    """Returns (templates {tid: [(pen, id, len)]}, records [{(pen, id): bytes}])."""
    templates, records = {}, []
    for m in msgs:
        version, length, _export_time, _seq, _domain = struct.unpack("!HHIII", m[:16])
        check(version == 10, f"IPFIX version {version}, not 10")
        check(length == len(m), "message length field differs from the message")
        off = 16
        while off + 4 <= length:
            set_id, set_len = struct.unpack("!HH", m[off:off + 4])
            body, end = off + 4, off + set_len
            if set_id == 2:  # template set (RFC 7011 §3.4.1)
                p = body
                while p + 4 <= end:
                    tid, count = struct.unpack("!HH", m[p:p + 4])
                    p += 4
                    fields = []
                    for _ in range(count):
                        fid, flen = struct.unpack("!HH", m[p:p + 4])
                        p += 4
                        pen = 0
                        if fid & 0x8000:  # enterprise bit: a PEN follows (§3.2)
                            pen = struct.unpack("!I", m[p:p + 4])[0]
                            p += 4
                            fid &= 0x7fff
                        fields.append((pen, fid, flen))
                    templates[tid] = fields
            elif set_id >= 256:
                fields = templates.get(set_id)
                if check(fields is not None, f"data set {set_id} before its template"):
                    p = body
                    while p < end:
                        rec = {}
                        for pen, fid, flen in fields:
                            if flen == 0xffff:  # variable length (§7)
                                flen = m[p]
                                p += 1
                                if flen == 255:
                                    flen = struct.unpack("!H", m[p:p + 2])[0]
                                    p += 2
                            rec[(pen, fid)] = m[p:p + flen]
                            p += flen
                        records.append(rec)
                        # What remains may be padding shorter than a record (§3.3.1).
                        if end - p < 4:
                            break
            off = end
    return templates, records


def num(b):
    return int.from_bytes(b, "big")


# IANA element ids (RFC 7012 registry) and RFC 5103's reverse PEN.
IE = {"octets": 1, "packets": 2, "proto": 4, "flags": 6, "sport": 7, "src4": 8, "dport": 11,
      "dst4": 12, "src6": 27, "dst6": 28, "end_reason": 136, "start_ms": 152, "end_ms": 153}
REV = 29305


def field(rec, name, pen=0):
    return rec.get((pen, IE[name]) if isinstance(name, str) else (pen, name))


def endpoints(rec):
    if (0, IE["src4"]) in rec:
        return (ip_text(field(rec, "src4")), num(field(rec, "sport")),
                ip_text(field(rec, "dst4")), num(field(rec, "dport")))
    return (ip_text(field(rec, "src6")), num(field(rec, "sport")),
            ip_text(field(rec, "dst6")), num(field(rec, "dport")))


# --- ground truth from the capture -----------------------------------------------------------

def capture_packets(path):
    """[(time in microseconds, (src, sport, dst, dport), IP octets)] of the capture's TCP packets
    (IP total length as the octets)."""
    out = []
    for pkt in PcapReader(path):
        if IP in pkt:
            ip, octets = pkt[IP], pkt[IP].len
        elif IPv6 in pkt:
            ip, octets = pkt[IPv6], 40 + pkt[IPv6].plen
        else:
            continue
        if TCP not in pkt:
            continue
        us = int(pkt.time * 1000000 + 0.5) if not isinstance(pkt.time, int) else pkt.time * 10**6
        out.append((us, (norm(ip.src), pkt[TCP].sport, norm(ip.dst), pkt[TCP].dport), octets))
    return out


def event_us(ts):
    """Microseconds since the epoch of an EVE timestamp (2026-01-01T00:00:05.063000+0000)."""
    from datetime import datetime
    return int(round(datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 10**6))


def counts_until(packets, ends, until_us):
    """Packets and octets each way of a flow up to its record: the record goes out at the packet
    that ends the flow (docs/events.md), so later ones (the last ACK, a blocked client's
    retries) are not in it."""
    rev = (ends[2], ends[3], ends[0], ends[1])
    c = [0, 0, 0, 0]
    for us, key, octets in packets:
        if us > until_us:
            continue
        if key == ends:
            c[0] += 1
            c[1] += octets
        elif key == rev:
            c[2] += 1
            c[3] += octets
    return c


def norm(a):
    return socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, a)) if ":" in a \
        else a


def replay(tmp, cap, policy, target, tag):
    ev, st = os.path.join(tmp, f"{tag}.jsonl"), os.path.join(tmp, f"{tag}.json")
    cmd = [binary, "replay", cap, "--ipfix", target, "--events", ev, "--stats", st,
           "--no-summary"]
    if policy:
        cmd += ["--policy", policy]
    started = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    took = time.monotonic() - started
    check(p.returncode == 0, f"{tag}: exit {p.returncode}: {p.stderr.strip()}")
    events = [json.loads(l) for l in open(ev)] if os.path.exists(ev) else []
    stats = json.load(open(st)) if os.path.exists(st) else {}
    return events, stats, took, p.stderr


def expected_enterprise(events):
    """{flow_id: {element: value}} from our own events."""
    sni = {e["flow_id"]: e["tls"]["sni"] for e in events
           if e["event_type"] == "tls_client_hello" and "sni" in e["tls"]}
    ja = {e["flow_id"]: (e["tls"]["ja3"]["hash"], e["tls"]["ja4"]) for e in events
          if e["event_type"] == "tls_client_hello"}
    out = {}
    for e in events:
        if e["event_type"] != "smtp_flow":
            continue
        s, pol = e["smtp"], e.get("policy")
        ends = (e["src_ip"], e["src_port"], e["dest_ip"], e["dest_port"])
        out[ends] = {
            1: STARTTLS[s["starttls"]["result"]], 2: TLS_KIND[s["tls"]],
            3: ",".join(s["auth_mechanisms"]), 4: ja.get(e["flow_id"], ("", ""))[0],
            5: ja.get(e["flow_id"], ("", ""))[1], 6: sni.get(e["flow_id"], ""),
            7: pol["rule"] if pol else "", 8: pol["action"] if pol else "",
            "reason": END_REASON[e["flow"]["reason"]],
            "duration_ms": e["flow"]["duration_ms"],
        }
    return out


def check_decoded(tag, msgs, events):
    templates, records = decode_messages(msgs)
    want = expected_enterprise(events)
    v4 = [t for t in templates.values() if (0, IE["src4"], 4) in t]
    v6 = [t for t in templates.values() if (0, IE["src6"], 16) in t]
    check(v4 and v6, f"{tag}: an IPv4 and an IPv6 template ({len(templates)} templates)")
    for t in templates.values():
        for fid in range(1, 9):
            check(any(f[0] == PEN and f[1] == fid for f in t),
                  f"{tag}: template without element {PEN}/{fid}")
        check(any(f[0] == REV and f[1] == IE["packets"] for f in t),
              f"{tag}: template without reversePacketDeltaCount (RFC 5103)")
    got = {}
    for r in records:
        got.setdefault(tuple(map(lambda x: norm(x) if isinstance(x, str) else x, endpoints(r))),
                       []).append(r)
    check(len(records) == len(want),
          f"{tag}: decoder read {len(records)} records, events have {len(want)} flows")
    for ends, exp in want.items():
        recs = got.get((norm(ends[0]), ends[1], norm(ends[2]), ends[3]), [])
        if not check(len(recs) == 1, f"{tag}: {ends}: {len(recs)} IPFIX records"):
            continue
        r = recs[0]
        check(num(field(r, "proto")) == 6, f"{tag}: {ends}: protocolIdentifier")
        check(num(field(r, "end_reason")) == exp["reason"], f"{tag}: {ends}: flowEndReason")
        span = num(field(r, "end_ms")) - num(field(r, "start_ms"))
        check(abs(span - exp["duration_ms"]) <= 1,
              f"{tag}: {ends}: flowEnd - flowStart {span} ms, the event says "
              f"{exp['duration_ms']}")
        check(num(field(r, "flags")) & 0x02, f"{tag}: {ends}: tcpControlBits without SYN")
        for fid in (1, 2):
            check(num(r[(PEN, fid)]) == exp[fid],
                  f"{tag}: {ends}: element {fid} is {num(r[(PEN, fid)])}, want {exp[fid]}")
        for fid in range(3, 9):
            v = r[(PEN, fid)].decode()
            check(v == exp[fid], f"{tag}: {ends}: element {fid} is {v!r}, want {exp[fid]!r}")
    return records


def udp_case(tmp, cap, policy, tag):
    nf_port, relay_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    nfdir = os.path.join(tmp, f"nf-{tag}")
    os.mkdir(nfdir)
    nfcapd = subprocess.Popen(["nfcapd", "-b", "127.0.0.1", "-p", str(nf_port), "-w", nfdir,
                               "-t", "3600"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    relay = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    relay.bind(("127.0.0.1", relay_port))
    relay.settimeout(0.2)
    datagrams, stop = [], threading.Event()

    def run_relay():
        out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        while not stop.is_set():
            try:
                d = relay.recv(65535)
            except socket.timeout:
                continue
            datagrams.append(d)
            out.sendto(d, ("127.0.0.1", nf_port))

    th = threading.Thread(target=run_relay)
    th.start()
    time.sleep(0.5)  # nfcapd binds
    events, stats, _, _ = replay(tmp, cap, policy, f"127.0.0.1:{relay_port}", tag)
    time.sleep(0.5)
    stop.set()
    th.join()
    time.sleep(0.3)
    nfcapd.send_signal(signal.SIGINT)
    nfcapd.wait(timeout=10)
    files = [f for f in os.listdir(nfdir) if f.startswith("nfcapd.")]
    flows = [e for e in events if e["event_type"] == "smtp_flow"]
    check(stats.get("ipfix.exported") == len(flows) and stats.get("ipfix.dropped") == 0,
          f"{tag}: ipfix.exported {stats.get('ipfix.exported')} dropped "
          f"{stats.get('ipfix.dropped')}, {len(flows)} flows")
    if not check(len(files) == 1, f"{tag}: nfcapd wrote {files}"):
        return
    out = subprocess.run(["nfdump", "-r", os.path.join(nfdir, files[0]), "-q", "-o", "csv"],
                         capture_output=True, text=True, check=True).stdout
    rows = [r for r in csv.DictReader(io.StringIO(out)) if r.get("sa")]
    if not rows:  # nfdump 1.7 -q leaves out the header line: read it without -q
        out = subprocess.run(["nfdump", "-r", os.path.join(nfdir, files[0]), "-o", "csv"],
                             capture_output=True, text=True, check=True).stdout
        lines = out.split("\nSummary")[0]
        rows = [r for r in csv.DictReader(io.StringIO(lines)) if r.get("sa")]
    check(len(rows) == len(flows), f"{tag}: nfdump shows {len(rows)} flows, events {len(flows)}")
    packets = capture_packets(cap)
    by_ends = {(norm(r["sa"]), int(r["sp"]), norm(r["da"]), int(r["dp"])): r for r in rows}
    for e in flows:
        ends = (norm(e["src_ip"]), e["src_port"], norm(e["dest_ip"]), e["dest_port"])
        r = by_ends.get(ends)
        if not check(r is not None, f"{tag}: no nfdump flow for {ends}"):
            continue
        want = counts_until(packets, ends, event_us(e["timestamp"]))
        got = [int(r["ipkt"]), int(r["ibyt"]), int(r["opkt"]), int(r["obyt"])]
        check(got == want, f"{tag}: {ends}: nfdump packets/octets {got}, capture {want}")
        check(want[0] > 0, f"{tag}: {ends}: no packet of the flow found in the capture")
        check(r["pr"] == "TCP", f"{tag}: {ends}: protocol {r['pr']}")
    check_decoded(f"{tag} udp", datagrams, events)
    print(f"{tag}: udp: {len(flows)} flows, nfdump {len(rows)}, {len(datagrams)} datagrams")


def tcp_case(tmp, cap, policy, tag):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    data = bytearray()

    def run_listener():
        conn, _ = srv.accept()
        while True:
            d = conn.recv(65536)
            if not d:
                break
            data.extend(d)
        conn.close()

    th = threading.Thread(target=run_listener, daemon=True)
    th.start()
    events, stats, _, _ = replay(tmp, cap, policy, f"tcp://127.0.0.1:{port}", f"{tag}-tcp")
    th.join(timeout=10)
    msgs, off = [], 0
    while off + 16 <= len(data):
        length = struct.unpack("!H", data[off + 2:off + 4])[0]
        msgs.append(bytes(data[off:off + length]))
        off += length
    check(off == len(data), f"{tag} tcp: the stream does not end on a message boundary")
    flows = [e for e in events if e["event_type"] == "smtp_flow"]
    check(stats.get("ipfix.exported") == len(flows), f"{tag} tcp: ipfix.exported")
    check_decoded(f"{tag} tcp", msgs, events)
    print(f"{tag}: tcp: {len(flows)} flows, {len(msgs)} messages")


with tempfile.TemporaryDirectory() as tmp:
    for i, (cap, policy) in enumerate(CASES):
        tag = f"{os.path.basename(cap)}{'+' + os.path.basename(policy) if policy else ''}"
        udp_case(tmp, cap, policy, tag)
        tcp_case(tmp, cap, policy, tag)
    # No collector: a closed TCP port. The replay is not held up; every record is counted.
    events, stats, took, err = replay(tmp, CASES[2][0], CASES[2][1],
                                      f"tcp://127.0.0.1:{free_port(socket.SOCK_STREAM)}", "down")
    flows = sum(1 for e in events if e["event_type"] == "smtp_flow")
    check(stats.get("ipfix.dropped") == flows and stats.get("ipfix.exported") == 0,
          f"down: ipfix.dropped {stats.get('ipfix.dropped')}, {flows} flows")
    check("ipfix.dropped" in err, f"down: stderr does not say where records go: {err!r}")
    print(f"down: {flows} flows dropped and counted, replay {took:.2f} s")

    # A collector that drops SYNs: the replay runs in a network namespace of its own where
    # 198.18.200.2 is a neighbour that never answers. Without a connect timeout of our own the
    # kernel's (about 130 s) held the exporter, and the exit waited for it twice.
    st = os.path.join(tmp, "blackhole.json")
    setup = ("ip link set lo up && ip link add v0 type veth peer name v1 && "
             "ip addr add 198.18.200.1/24 dev v0 && ip link set v0 up && ip link set v1 up && "
             "ip neigh add 198.18.200.2 lladdr 02:00:00:00:00:02 dev v0 && exec \"$@\"")
    started = time.monotonic()
    try:
        p = subprocess.run(["unshare", "-n", "sh", "-c", setup, "sh", binary, "replay",
                            CASES[2][0], "--ipfix", "tcp://198.18.200.2:4739", "--stats", st,
                            "--no-summary"], capture_output=True, text=True, timeout=60)
        took = time.monotonic() - started
        stats = json.load(open(st)) if os.path.exists(st) else {}
        check(p.returncode == 0 and took < 15 and stats.get("ipfix.exported") == 0
              and stats.get("ipfix.dropped", 0) > 0 and "no answer within" in p.stderr,
              f"blackhole: exit {p.returncode} after {took:.1f} s, {stats.get('ipfix.dropped')} "
              f"dropped: {p.stderr.strip()}")
        print(f"blackhole: replay ended in {took:.1f} s")
    except subprocess.TimeoutExpired:
        check(False, "blackhole: the replay did not end within 60 s (a collector that drops "
              "SYNs holds the exit)")

    # A collector that accepts and never reads: once the socket buffers are full the exporter's
    # write times out (kIpfixSendTimeoutS) and the exit waits at most kIpfixStopWaitS; nothing
    # goes uncounted.
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    held = []
    threading.Thread(target=lambda: held.append(srv.accept()), daemon=True).start()
    st = os.path.join(tmp, "stalled.json")
    started = time.monotonic()
    try:
        p = subprocess.run([binary, "replay", CASES[0][0], "--loop", "15000", "--ipfix",
                            f"tcp://127.0.0.1:{srv.getsockname()[1]}", "--stats", st,
                            "--no-summary"], capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired as e:
        p = subprocess.CompletedProcess(e.cmd, -1, "", "did not end within 90 s")
    took = time.monotonic() - started
    stats = json.load(open(st)) if os.path.exists(st) else {}
    flows = stats.get("flows.created", 0)
    check(p.returncode == 0 and took < 30 and flows > 0 and stats.get("ipfix.dropped", 0) > 0
          and stats.get("ipfix.exported", 0) + stats.get("ipfix.dropped", 0) == flows,
          f"stalled: exit {p.returncode} after {took:.1f} s, exported "
          f"{stats.get('ipfix.exported')} + dropped {stats.get('ipfix.dropped')} vs {flows} "
          f"flows: {p.stderr.strip()}")
    print(f"stalled: replay ended in {took:.1f} s, {stats.get('ipfix.exported')} exported, "
          f"{stats.get('ipfix.dropped')} dropped")
    srv.close()

for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
