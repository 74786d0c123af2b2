#!/usr/bin/python3
"""Evasions live: `smtpguard inline` on net_af_packet between two network namespaces under the
enterprise policy (inside widened to the client), the attack crafted with scapy on the client
side, a real TCP server on the other, and a capture taken on the server side. For each class the
credential must not reach the server (neither the bytes its socket received nor any packet of
the server-side capture carries it, decoded or as the base64 on the wire), and the policy must
have stopped the session.

Classes (see docs/evasion.md):
  junk_ahead        a junk segment 100 kB past the next sequence number, then the AUTH in order
  credential_first  the base64 half of the AUTH line sent before "AUTH PLAIN "
  ip_fragments      the AUTH segment in 16-byte IPv4 fragments. On net_af_packet the kernel
                    reassembles them before smtpguard sees them (DPDK's af_packet PMD joins a
                    fanout group with PACKET_FANOUT_FLAG_DEFRAG), so this checks the end result
                    only; rte_ip_frag itself is tested in fragments_test.py (replay)
  checksum_decoy    "NOOP ..." over the AUTH's sequence range with a bad TCP checksum, then the
                    AUTH as its "retransmission"

The scapy client uses an address its namespace does not own (198.18.0.9, with a static
neighbour entry on the server side), so its kernel never answers the server with a RST.

usage: live_evasion_test.py SMTPGUARD SOURCE_ROOT
Needs root (namespaces); skipped (exit 77) otherwise.
"""
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import netns  # noqa: E402

BINARY, ROOT = sys.argv[1], sys.argv[2]
failures = []
FAKE_CLIENT = "198.18.0.9"
CLASSES = os.environ.get("LIVE_EVASION_CLASSES", "junk_ahead,credential_first,ip_fragments,checksum_decoy").split(",")


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def secret(cls):
    return b"\0alice\0Secr3t-LIVE-" + cls.encode()


# The server: an SMTP-speaking recorder. Banner, EHLO offers AUTH, every other line "250 ok";
# everything received is appended to OUT (one file per connection), flushed as it comes.
SERVER = r"""
import socket, sys, threading
addr, out = sys.argv[1], sys.argv[2]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, 587)); s.listen(16)
n = 0
def serve(c, i):
    f = open(f"{out}.{i}", "wb")
    c.sendall(b"220 mx.example.net ESMTP\r\n")
    buf = b""
    try:
        while True:
            d = c.recv(65536)
            if not d: break
            f.write(d); f.flush(); buf += d
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.upper().startswith(b"EHLO"):
                    c.sendall(b"250-mx.example.net\r\n250 AUTH PLAIN LOGIN\r\n")
                else:
                    c.sendall(b"250 ok\r\n")
    except OSError:
        pass
    f.close(); c.close()
while True:
    c, _ = s.accept(); n += 1
    threading.Thread(target=serve, args=(c, n), daemon=True).start()
"""

# The attacker: one TCP connection by hand, then the evasion. Prints what happened.
CLIENT = r"""
import sys, time, base64
sys.path.insert(0, "/usr/lib/python3/dist-packages")
from scapy.all import Ether, IP, TCP, Raw, sendp, AsyncSniffer, fragment, conf
conf.verb = 0
iface, smac, dmac, src, dst, cls, sport = sys.argv[1:8]
sport = int(sport)
secret = base64.b64decode(sys.argv[8])
line = b"AUTH PLAIN " + base64.b64encode(secret) + b"\r\n"
got = []
sn = AsyncSniffer(iface=iface, store=False,
                  lfilter=lambda p: TCP in p and p[TCP].dport == sport and p[IP].dst == src,
                  prn=lambda p: got.append(p))
sn.start(); time.sleep(0.5)
E = Ether(src=smac, dst=dmac)
def send(seg):
    sendp(E / seg, iface=iface)
def wait(pred, t=5):
    end = time.time() + t
    while time.time() < end:
        for p in list(got):
            if pred(p): return p
        time.sleep(0.02)
    return None
seq = 1000
send(IP(src=src, dst=dst) / TCP(sport=sport, dport=587, flags="S", seq=seq, window=65535))
sa = wait(lambda p: p[TCP].flags & 0x12 == 0x12)
if sa is None: print("no SYN-ACK"); sys.exit(1)
seq += 1; ack = sa[TCP].seq + 1
def ackto():
    return max([ack] + [p[TCP].seq + len(p[TCP].payload) for p in got if len(p[TCP].payload)])
send(IP(src=src, dst=dst) / TCP(sport=sport, dport=587, flags="A", seq=seq, ack=ack))
if wait(lambda p: bytes(p[TCP].payload).startswith(b"220")) is None: print("no banner"); sys.exit(1)
ack = ackto()
def data(payload, s=None, **kw):
    send(IP(src=src, dst=dst) / TCP(sport=sport, dport=587, flags="PA", seq=seq if s is None else s,
                                    ack=ack, **kw) / payload)
data(b"EHLO attacker.test\r\n"); seq += 20
if wait(lambda p: b"AUTH PLAIN" in bytes(p[TCP].payload)) is None: print("no EHLO reply"); sys.exit(1)
ack = ackto()
send(IP(src=src, dst=dst) / TCP(sport=sport, dport=587, flags="A", seq=seq, ack=ack))
head, half = line[:11], line[11:]
if cls == "junk_ahead":
    data(b"NOOP " + b"x" * 200 + b"\r\n", s=seq + 100000)
    time.sleep(0.2)
    data(line)
elif cls == "credential_first":
    data(half, s=seq + len(head)); time.sleep(0.2)
    data(head); time.sleep(0.2)
    data(half, s=seq + len(head))  # the sender's retransmission of the half
elif cls == "ip_fragments":
    for f in fragment(IP(src=src, dst=dst, id=4242) / TCP(sport=sport, dport=587, flags="PA",
                                                           seq=seq, ack=ack) / line, fragsize=16):
        send(f)
elif cls == "checksum_decoy":
    data(b"NOOP " + b"x" * (len(line) - 7) + b"\r\n", chksum=0xdead); time.sleep(0.2)
    data(line)
time.sleep(0.5)
# Retransmit the whole AUTH once more, as a stack that saw no ACK would.
data(line)
time.sleep(0.5)
rst = any(p[TCP].flags & 0x04 for p in got)
print("rst" if rst else "no-rst")
sn.stop()
"""


def run():
    with open(os.path.join(ROOT, "policy", "examples", "enterprise-submission.toml")) as f:
        text = f.read().replace('inside = ["10.20.0.0/16"', 'inside = ["198.18.0.0/24", "10.20.0.0/16"')
    with netns.Lab("le") as lab, tempfile.TemporaryDirectory() as tmp:
        policy = os.path.join(tmp, "policy.toml")
        with open(policy, "w") as f:
            f.write(text)
        stats = os.path.join(tmp, "stats.json")
        eal = lab.eal_args(lcores="0@0,1@1")
        g = subprocess.Popen([BINARY, *eal, "--", "inline", "--inside", "net_af_packet0",
                              "--outside", "net_af_packet1", "--policy", policy, "--stats", stats,
                              "--no-summary"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        recv = os.path.join(tmp, "recv")
        server = lab.in_server("/usr/bin/python3", "-c", SERVER, lab.SERVER_IP, recv,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        mac = lambda ns, dev: json.loads(netns.run("ip", "-j", "-n", ns, "link", "show", dev)
                                         .stdout)[0]["address"]
        cmac, smac = mac(lab.ns_client, lab.if_client), mac(lab.ns_server, lab.if_server)
        netns.run("ip", "-n", lab.ns_server, "neigh", "replace", FAKE_CLIENT, "lladdr", cmac,
                  "dev", lab.if_server)
        cap = os.path.join(tmp, "server.pcap")
        if os.environ.get("LIVE_EVASION_DEBUG"):
            subprocess.Popen(["dumpcap", "-q", "-i", lab.outer_client, "-w", "/tmp/le_client.pcap"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        dump = lab.in_server("dumpcap", "-q", "-i", lab.if_server, "-w", cap,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2.0)
        try:
            for i, cls in enumerate(CLASSES):
                p = lab.in_client("/usr/bin/python3", "-c", CLIENT, lab.if_client, cmac, smac,
                                  FAKE_CLIENT, lab.SERVER_IP, cls, str(42000 + i),
                                  base64.b64encode(secret(cls)).decode(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                out, err = p.communicate(timeout=60)
                check(out.strip() == "rst", f"{cls}: the session is reset by the policy "
                      f"({out.strip()} {err.strip()[-200:]})")
        finally:
            time.sleep(0.5)
            dump.send_signal(signal.SIGINT)
            dump.wait(timeout=10)
            server.terminate()
            server.wait()
            g.send_signal(signal.SIGTERM)
            try:
                g.wait(timeout=15)
            except subprocess.TimeoutExpired:
                g.kill()
                g.wait()
        check(g.returncode == 0, f"smtpguard exit {g.returncode}: {g.stderr.read()[-300:]}")
        received = b"".join(open(os.path.join(tmp, f), "rb").read() for f in os.listdir(tmp)
                            if f.startswith("recv."))
        captured = open(cap, "rb").read() if os.path.exists(cap) else b""
        check(len(captured) > 24, f"server-side capture taken ({len(captured)} bytes)")
        check(received.count(b"EHLO attacker.test") == len(CLASSES),
              f"every session reached the server before its AUTH "
              f"({received.count(b'EHLO attacker.test')})")
        for cls in CLASSES:
            s = secret(cls)
            b = base64.b64encode(s)
            check(s not in received and b not in received and b[:12] not in received,
                  f"{cls}: the server's socket never received the credential")
            check(s not in captured and b not in captured and b[:12] not in captured,
                  f"{cls}: no packet of the server-side capture carries it")
        c = json.load(open(stats)) if os.path.exists(stats) else {}
        check(c.get("policy.blocked", 0) >= len(CLASSES),
              f"each session blocked ({c.get('policy.blocked')})")
        # The mechanism each class needs, seen at work (not just the end result).
        for cls, counter in (("junk_ahead", "tcp.segment_out_of_window"),
                             ("credential_first", "stream.uninspected_dropped"),
                             ("checksum_decoy", "packets.bad_checksum")):
            if cls in CLASSES:
                check(c.get(counter, 0) >= 1, f"{cls}: {counter} counts it ({c.get(counter)})")


def main():
    if not netns.have_netns():
        print("needs root and iproute2: skipped")
        return 77
    try:
        run()
    except Exception as e:
        check(False, f"raised {type(e).__name__}: {e}")
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
