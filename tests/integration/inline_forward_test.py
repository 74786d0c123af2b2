#!/usr/bin/python3
"""Test that `smtpguard inline` on net_af_packet forwards real TCP connections between two
network namespaces in both directions with every byte intact: one connection to an SMTP port
(tracked path) and one to a non-SMTP port (pass-through path), each carrying 256 KiB each way.
Needs root (namespaces); skipped (exit 77) otherwise.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import netns  # noqa: E402

SERVER = r"""
import socket, sys
port = int(sys.argv[1])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.18.0.2", port)); s.listen(1); s.settimeout(20)
c, _ = s.accept(); c.settimeout(20)
data = b""
while True:
    d = c.recv(65536)
    if not d: break
    data += d
c.sendall(data[::-1]); c.close()
print(len(data))
"""

CLIENT = r"""
import socket, sys
port = int(sys.argv[1])
payload = bytes((i * 7 + port) & 0xff for i in range(256 * 1024))
for attempt in range(50):
    try:
        s = socket.create_connection(("198.18.0.2", port), timeout=20)
        break
    except OSError:
        import time; time.sleep(0.1)
s.sendall(payload); s.shutdown(socket.SHUT_WR)
r = b""
while True:
    d = s.recv(65536)
    if not d: break
    r += d
print("intact" if r == payload[::-1] else f"corrupt {len(r)}")
"""


def main():
    if not netns.have_netns():
        print("needs root and iproute2: skipped")
        return 77
    binary = sys.argv[1]
    with netns.Lab("if") as lab, tempfile.TemporaryDirectory() as tmp:
        stats = os.path.join(tmp, "stats.json")
        guard = subprocess.Popen(
            [binary, *lab.eal_args(), "--", "inline", "--inside", "net_af_packet0",
             "--outside", "net_af_packet1", "--duration", "25", "--stats", stats,
             "--no-summary"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2)  # EAL and ports up
        results = {}
        for port in (25, 8080):
            server = lab.in_server("/usr/bin/python3", "-c", SERVER, str(port),
                                   stdout=subprocess.PIPE, text=True)
            time.sleep(0.3)
            client = lab.in_client("/usr/bin/python3", "-c", CLIENT, str(port),
                                   stdout=subprocess.PIPE, text=True)
            c_out, _ = client.communicate(timeout=60)
            s_out, _ = server.communicate(timeout=60)
            results[port] = (c_out.strip(), s_out.strip())
        guard.send_signal(2)  # SIGINT: stops cleanly and writes the final counters
        _, err = guard.communicate(timeout=30)
        ok = True
        for port, (c_out, s_out) in results.items():
            print(f"port {port}: client {c_out}, server received {s_out} bytes")
            if c_out != "intact" or s_out != str(256 * 1024):
                ok = False
        if guard.returncode != 0:
            print("smtpguard exited", guard.returncode, err)
            return 1
        counters = json.load(open(stats))
        print({k: counters[k] for k in ("packets.rx", "packets.tx", "packets.smtp_port")})
        # Every frame received was sent on; the SMTP-port connection took the tracked path.
        if counters["packets.rx"] != counters["packets.tx"] or counters["packets.rx"] == 0:
            ok = False
        if counters["packets.smtp_port"] < 20 or counters["packets.dropped"] != 0:
            ok = False
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
