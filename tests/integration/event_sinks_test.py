#!/usr/bin/python3
"""Events to a Redis stream and to syslog (--events redis://, --events syslog), against the
events file written in the same run. One scenario per run:

  redis_replay   Debian's redis-server on loopback (its own port and directory, no
                 persistence); a replay of the largest corpus capture, 300 passes: every event
                 is in the stream, in order, its `json` field byte for byte the file's line and
                 its `event_type` field the line's; events.redis_sent = events.emitted.
  redis_restart  a long replay (20,000 passes) during which redis-server is killed (SIGKILL)
                 and started again on the same port. Redis runs with appendfsync always, so
                 what it answered survives the kill. The stream then holds a part of the file's lines, in order,
                 none twice; sent + dropped = emitted (nothing silently lost); the stream holds
                 at least the sent ones and at most sent + dropped (the events without a reply
                 when the connection broke; docs/events.md "Sinks"); the sink said it lost the
                 connection and connected again; events after the restart arrived; and the
                 replay took no longer than a replay without the sink plus the sink's bounded
                 final flush (it never waits for Redis).
  redis_down     no Redis at start: the replay runs, says so in one line, counts every event
                 dropped, exits 0.
  syslog         a Unix datagram socket the test binds, given as syslog:///PATH (the local
                 /dev/log belongs to the system's daemon): every event arrives as one RFC 5424
                 message, MSGID the event type, MSG the file's line, in order. A Unix datagram
                 socket queues at most net.unix.max_dgram_qlen datagrams (10 by default), so
                 the scenario runs in a network namespace of its own (unshare, root) where the
                 test raises it, as a syslog host under load would. Then a socket
                 nobody reads with a small buffer: the replay does not wait, sent + dropped =
                 emitted and the datagrams that arrived are the sent ones. Then UDP on loopback.

usage: event_sinks_test.py SMTPGUARD CORPUS_DIR SCENARIO
The corpus (../shared/corpus) must be there: without it this test fails.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import netns  # noqa: E402

BINARY, CORPUS, SCENARIO = sys.argv[1], sys.argv[2], sys.argv[3]
CAPTURE = os.path.join(CORPUS, "arkime", "smtp-decrypted.pcap")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


class Redis:
    def __init__(self, tmp, persistent=False):
        self.dir = os.path.join(tmp, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.port = netns.free_port()
        self.persistent = persistent
        self.proc = None

    def start(self):
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--save", "", "--daemonize", "no",
                "--logfile", os.path.join(self.dir, "redis.log")]
        if self.persistent:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                if self.cli("PING").strip() == "PONG":
                    return
            except subprocess.CalledProcessError:
                pass
            time.sleep(0.05)
        self.kill()  # a server left running would hold the test until its timeout
        raise RuntimeError("redis-server did not start")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def cli(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.port), "--no-raw", *args],
                              capture_output=True, text=True, check=True, timeout=30).stdout

    def entries(self, stream):
        """Every entry of the stream, oldest first, as (event_type, json), read with redis-py-free
        RESP parsing: XRANGE through a socket (redis-cli's output mangles long values)."""
        out = []
        start = "-"
        while True:
            reply = resp_command(self.port, ["XRANGE", stream, start, "+", "COUNT", "1000"])
            if start != "-":
                reply = reply[1:]
            if not reply:
                return out
            for entry_id, fields in reply:
                f = dict(zip(fields[0::2], fields[1::2]))
                out.append((f.get(b"event_type", b"").decode(), f.get(b"json", b"").decode()))
            start = reply[-1][0].decode()


def resp_command(port, args):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    payload = f"*{len(args)}\r\n".encode()
    for a in args:
        b = a.encode() if isinstance(a, str) else a
        payload += f"${len(b)}\r\n".encode() + b + b"\r\n"
    s.sendall(payload)
    f = s.makefile("rb")

    def read():
        line = f.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [read() for _ in range(n)]
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = f.read(n + 2)
            return data[:-2]
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        return rest

    value = read()
    s.close()
    return value


def replay(tmp, loops, *sinks, timeout=300):
    events = os.path.join(tmp, "eve.json")
    stats = os.path.join(tmp, "stats.json")
    for p in (events, stats):
        if os.path.exists(p):
            os.remove(p)
    args = [BINARY, "replay", CAPTURE, "--loop", str(loops), "--no-summary",
            "--stats", stats]
    for s in ("file", *sinks):
        args += ["--events", events if s == "file" else s]
    t0 = time.monotonic()
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    elapsed = time.monotonic() - t0
    lines = open(events).read().splitlines() if os.path.exists(events) else []
    counters = json.load(open(stats)) if os.path.exists(stats) else {}
    return proc, lines, counters, elapsed


def scenario_redis_replay(tmp):
    redis = Redis(tmp)
    redis.start()
    try:
        url = f"redis://127.0.0.1:{redis.port}/smtpguard:events?maxlen=1000000"
        proc, lines, c, _ = replay(tmp, 300, url)
        check(proc.returncode == 0, f"replay exits 0 (stderr: {proc.stderr.strip()[:300]})")
        got = redis.entries("smtpguard:events")
        check(len(lines) >= 3000, f"the replay wrote {len(lines)} events (>= 3000)")
        check(c.get("events.emitted") == len(lines), "events.emitted = lines in the file")
        check(c.get("events.redis_sent") == len(lines) and c.get("events.redis_dropped") == 0,
              f"events.redis_sent {c.get('events.redis_sent')} = {len(lines)}, "
              f"events.redis_dropped {c.get('events.redis_dropped')} = 0")
        check(len(got) == len(lines), f"the stream holds {len(got)} entries = {len(lines)}")
        check([j for _, j in got] == lines, "the stream's json fields are the file's lines, in order")
        check(all(t == json.loads(j)["event_type"] for t, j in got),
              "each entry's event_type field is its line's event_type")
        types = {t for t, _ in got}
        check(len(types) >= 3, f"several event types went through: {sorted(types)}")
        info = redis.cli("XINFO", "STREAM", "smtpguard:events")
        check("length" in info, "XINFO STREAM answers (the key is a stream)")
    finally:
        redis.kill()


def is_subsequence(part, whole):
    it = iter(whole)
    return all(any(x == y for y in it) for x in part)


def scenario_redis_restart(tmp):
    loops = 20000
    # A reference: the same replay with the file only.
    _, ref_lines, _, ref_elapsed = replay(tmp, loops)
    redis = Redis(tmp, persistent=True)
    redis.start()
    stream = "sg"
    url = f"redis://127.0.0.1:{redis.port}/{stream}?maxlen=10000000"
    result = {}

    def run():
        result["r"] = replay(tmp, loops, url)

    t = threading.Thread(target=run)
    t.start()
    try:
        # Killed once events flow, early in the replay, so that Redis is back while it still
        # runs (and, should a loaded machine finish it first, within the second the sink waits
        # at the end for a connection).
        end = time.monotonic() + 60
        alive_before = 0
        while time.monotonic() < end and alive_before < 2000:
            alive_before = resp_command(redis.port, ["XLEN", stream])
            time.sleep(0.05)
        running_at_kill = t.is_alive()
        redis.kill()
        time.sleep(0.7)
        redis.start()
        t.join(timeout=300)
    finally:
        if t.is_alive():
            t.join()
    proc, lines, c, elapsed = result["r"]
    print(f"     replay {elapsed:.2f} s with the sink (stream held {alive_before} at the kill), "
          f"{ref_elapsed:.2f} s without", flush=True)
    check(proc.returncode == 0, f"replay exits 0 (stderr: {proc.stderr.strip()[:300]})")
    check(alive_before > 0 and running_at_kill, "events were arriving before the kill, "
          "and the replay was still running")
    check(len(lines) == len(ref_lines) and len(lines) == c.get("events.emitted"),
          f"{len(lines)} events in the file = emitted = the reference run's")
    sent, dropped = c.get("events.redis_sent", -1), c.get("events.redis_dropped", -1)
    check(sent + dropped == len(lines),
          f"sent {sent} + dropped {dropped} = emitted {len(lines)}: nothing silently lost")
    check("connection lost" in proc.stderr or "cannot connect" in proc.stderr,
          "the sink reported the lost connection")
    check(": connected" in proc.stderr, "the sink reported connecting again")
    got = [j for _, j in redis.entries(stream)]
    check(sent <= len(got) <= sent + dropped,
          f"the stream holds {len(got)}: at least sent {sent}, at most sent + dropped")
    check(len(set(lines)) == len(lines), "every line of the file is unique (flow ids, times)")
    check(len(set(got)) == len(got), "no entry twice in the stream")
    check(is_subsequence(got, lines), "the stream is the file's lines in order, with gaps only")
    check(len(got) > alive_before, "events emitted after the restart arrived")
    # Never stalled: the run with a dead Redis takes what the reference takes, plus the sink's
    # bounded end (about a second) and noise of a shared machine.
    check(elapsed < ref_elapsed * 2 + 5, f"the replay did not wait for Redis ({elapsed:.2f} s)")
    redis.kill()


def scenario_redis_down(tmp):
    port = netns.free_port()
    proc, lines, c, elapsed = replay(tmp, 10, f"redis://127.0.0.1:{port}/sg")
    check(proc.returncode == 0, "a Redis away at start is no reason to stop")
    said = [l for l in proc.stderr.splitlines() if "cannot connect" in l]
    check(len(said) == 1, f"one line says so: {said}")
    check(c.get("events.redis_dropped") == len(lines) > 0 and c.get("events.redis_sent") == 0,
          f"every event counted dropped ({c.get('events.redis_dropped')} of {len(lines)})")
    check(elapsed < 15, f"the end did not wait long for Redis ({elapsed:.2f} s)")


SYSLOG_RE = re.compile(
    r"^<30>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (\S+) smtpguard (\d+) (\S+) - (.*)$",
    re.S)


def receive_all(sock, stop):
    got = []
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            got.append(sock.recv(65536))
        except socket.timeout:
            continue
    sock.settimeout(0)
    try:
        while True:
            got.append(sock.recv(65536))
    except BlockingIOError:
        pass
    return got


def collect(sock, loops, url, tmp):
    stop = threading.Event()
    box = {}
    t = threading.Thread(target=lambda: box.update(got=receive_all(sock, stop)))
    t.start()
    r = replay(tmp, loops, url)
    time.sleep(0.3)
    stop.set()
    t.join()
    return r, box["got"]


def check_messages(got, lines, what):
    parsed = [SYSLOG_RE.match(m.decode()) for m in got]
    check(all(parsed), f"{what}: every datagram is an RFC 5424 message")
    parsed = [p for p in parsed if p]
    check([p.group(5) for p in parsed] == lines, f"{what}: MSG is the file's line, in order")
    check(all(p.group(4) == json.loads(p.group(5))["event_type"] for p in parsed),
          f"{what}: MSGID is the event type")


def scenario_syslog(tmp):
    path = os.path.join(tmp, "log.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(path)
    (proc, lines, c, _), got = collect(sock, 50, f"syslog://{path}", tmp)
    check(proc.returncode == 0, f"replay exits 0 ({proc.stderr.strip()[:200]})")
    check(len(lines) >= 500, f"{len(lines)} events")
    check(c.get("events.syslog_sent") == len(lines) and c.get("events.syslog_dropped") == 0,
          f"events.syslog_sent {c.get('events.syslog_sent')} = {len(lines)}")
    check(len(got) == len(lines), f"{len(got)} datagrams = {len(lines)} events")
    check_messages(got, lines, "unix")
    sock.close()
    os.remove(path)

    # Nobody reads: the sender must not wait, and must count what the socket refused.
    quiet = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    quiet.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    quiet.bind(path)
    proc, lines, c, elapsed = replay(tmp, 500, f"syslog://{path}", timeout=120)
    quiet.setblocking(False)
    held = []
    try:
        while True:
            held.append(quiet.recv(65536))
    except BlockingIOError:
        pass
    sent, dropped = c.get("events.syslog_sent", -1), c.get("events.syslog_dropped", -1)
    check(proc.returncode == 0, "a full syslog socket is no reason to stop")
    check(dropped > 0 and sent + dropped == len(lines),
          f"sent {sent} + dropped {dropped} = emitted {len(lines)}")
    check(len(held) == sent, f"the socket holds the {sent} sent datagrams ({len(held)})")
    check(proc.stderr.count("events.syslog_dropped") == 1, "one line says datagrams are dropped")
    quiet.close()

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    udp.bind(("127.0.0.1", 0))
    port = udp.getsockname()[1]
    (proc, lines, c, _), got = collect(udp, 20, f"syslog://127.0.0.1:{port}", tmp)
    check(c.get("events.syslog_sent") == len(lines) == len(got),
          f"UDP: {len(got)} datagrams = {len(lines)} events = syslog_sent")
    check_messages(got, lines, "udp")


def private_netns():
    """Runs this scenario again in a network namespace of its own, with room for datagrams."""
    if os.environ.get("SG_SINKS_NETNS") == "1":
        with open("/proc/sys/net/unix/max_dgram_qlen", "w") as f:
            f.write("65536")
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return None
    if os.geteuid() != 0:
        print("SKIP the syslog scenario needs root (a network namespace)")
        return 77
    env = dict(os.environ, SG_SINKS_NETNS="1")
    return subprocess.run(["unshare", "--net", "--", sys.executable, *sys.argv],
                          env=env).returncode


def main():
    if not os.path.exists(CAPTURE):
        print(f"FAIL corpus capture {CAPTURE} is missing (../shared/corpus)")
        return 1
    if SCENARIO.startswith("redis") and shutil.which("redis-server") is None:
        print("FAIL redis-server is not installed (Debian redis-server, setup.sh)")
        return 1
    if SCENARIO == "syslog":
        rc = private_netns()
        if rc is not None:
            return rc
    with tempfile.TemporaryDirectory(prefix="sg-sinks-") as tmp:
        {"redis_replay": scenario_redis_replay, "redis_restart": scenario_redis_restart,
         "redis_down": scenario_redis_down, "syslog": scenario_syslog}[SCENARIO](tmp)
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
