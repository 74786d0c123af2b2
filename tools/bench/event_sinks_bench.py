#!/usr/bin/python3
"""What each event sink costs per flow (docs/scale-out.md): one replay of a capture, many passes,
with events counted only, to a file, to a Redis stream, to syslog, and flow records to IPFIX (Debian's
nfcapd on loopback), each run REPEATS times in
turn (interleaved, so a busy neighbour hurts every variant alike); the median of each, and its
ratio to the run without a sink.

  tools/bench/event_sinks_bench.py SMTPGUARD CAPTURE [--loop N] [--repeats R]

Redis: Debian's redis-server started on a free loopback port in a temporary directory (no
persistence), the stream trimmed MAXLEN ~ 10,000,000 so trimming is not what is measured.
Syslog: a Unix datagram socket this script binds and reads on a thread. A Unix datagram socket
queues at most net.unix.max_dgram_qlen datagrams (10 by default), so as root the script runs in
a network namespace of its own (unshare) with that raised to 65536, as a busy syslog host would. Wall time is the replay's elapsed time; CPU is user + system
time of the smtpguard process, which includes the Redis sink's own thread.
"""
import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(binary, capture, loops, tmp, sink):
    stats = os.path.join(tmp, "stats.json")
    args = [binary, "replay", capture, "--loop", str(loops), "--no-summary", "--stats", stats]
    if sink is not None and sink.startswith("ipfix:"):
        args += ["--ipfix", sink[len("ipfix:"):]]
    elif sink is not None:
        args += ["--events", sink]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.load(open(stats))


def private_netns():
    if os.environ.get("SG_BENCH_NETNS") == "1":
        with open("/proc/sys/net/unix/max_dgram_qlen", "w") as f:
            f.write("65536")
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return None
    if os.geteuid() != 0:
        print("not root: syslog runs with the system's max_dgram_qlen (drops expected)")
        return None
    env = dict(os.environ, SG_BENCH_NETNS="1")
    return subprocess.run(["unshare", "--net", "--", sys.executable, *sys.argv],
                          env=env).returncode


def main():
    rc = private_netns()
    if rc is not None:
        return rc
    ap = argparse.ArgumentParser()
    ap.add_argument("smtpguard")
    ap.add_argument("capture")
    ap.add_argument("--loop", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sg-sink-bench-") as tmp:
        port = free_port()
        redis = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp,
             "--save", "", "--appendonly", "no", "--logfile", os.path.join(tmp, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sock_path = os.path.join(tmp, "log.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sock.bind(sock_path)
        stop = threading.Event()
        received = [0]

        def drain():
            sock.settimeout(0.2)
            while not stop.is_set():
                try:
                    sock.recv(65536)
                    received[0] += 1
                except socket.timeout:
                    pass

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        # IPFIX: Debian's nfcapd as the collector, on loopback UDP.
        ipfix_port = free_port()
        nfdir = os.path.join(tmp, "nfcapd")
        os.makedirs(nfdir)
        nfcapd = subprocess.Popen(["nfcapd", "-b", "127.0.0.1", "-p", str(ipfix_port), "-w", nfdir],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        variants = {
            "none": None,
            "file": os.path.join(tmp, "eve.json"),
            "redis": f"redis://127.0.0.1:{port}/bench?maxlen=10000000",
            "syslog": f"syslog://{sock_path}",
            "ipfix": f"ipfix:127.0.0.1:{ipfix_port}",
        }
        results = {k: [] for k in variants}
        try:
            for _ in range(a.repeats):
                for name, sink in variants.items():
                    if name == "file" and os.path.exists(sink):
                        os.remove(sink)
                    if name == "redis":
                        subprocess.run(["redis-cli", "-p", str(port), "DEL", "bench"],
                                       check=True, stdout=subprocess.DEVNULL)
                    results[name].append(run(a.smtpguard, a.capture, a.loop, tmp, sink))
        finally:
            stop.set()
            redis.kill()
            redis.wait()
            nfcapd.terminate()
            nfcapd.wait()
        c0 = results["none"][0][2]
        flows, events = c0["flows.created"], c0["events.emitted"]
        print(f"capture {a.capture} --loop {a.loop}: {flows} flows, {events} events, "
              f"{a.repeats} runs each, medians")
        base_wall = statistics.median(r[0] for r in results["none"])
        base_cpu = statistics.median(r[1] for r in results["none"])
        print(f"{'sink':8} {'wall s':>8} {'ratio':>6} {'CPU s':>7} {'ratio':>6} "
              f"{'us/flow':>8} {'sent':>9} {'dropped':>9}")
        for name, runs in results.items():
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            last = runs[-1][2]
            sent = {"redis": last.get("events.redis_sent"),
                    "syslog": last.get("events.syslog_sent"),
                    "ipfix": last.get("ipfix.exported")}.get(name, "-")
            dropped = {"redis": last.get("events.redis_dropped"),
                       "syslog": last.get("events.syslog_dropped"),
                       "ipfix": last.get("ipfix.dropped"),
                       "file": last.get("events.write_failed")}.get(name, "-")
            per_flow = (cpu - base_cpu) / flows * 1e6
            print(f"{name:8} {wall:8.2f} {wall / base_wall:6.2f} {cpu:7.2f} {cpu / base_cpu:6.2f} "
                  f"{per_flow:8.2f} {sent!s:>9} {dropped!s:>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
