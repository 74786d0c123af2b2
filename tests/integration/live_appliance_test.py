#!/usr/bin/python3
"""The live appliance as an operator runs it: `smtpguard inline` / `monitor` on net_af_packet
between two network namespaces, real TCP from the kernels' stacks, real SMTP from aiosmtpd and
Python's smtplib. One scenario per run:

  workers       two worker lcores on two queues (af_packet qpairs=2: the kernel's symmetric
                fanout hash keeps both directions of a connection on one queue); sessions in
                both directions; a reload while both queues are idle completes within a second;
                SIGTERM sent during a reload ends the process within a second, counters written.
  flow_records  smtp_flow records on an idle link: a closed session's within a second of its
                end, an idle one's within its timeout plus a second; durations first to last
                packet.
  peer_away     the link under af_packet goes down and up three times during sessions:
                smtpguard keeps running and the sessions survive the outage.
  monitor       monitor mode on a bridged link under the ISP policy: the blocked port-25
                session goes through, the verdict says enforced:false, nothing counts as
                dropped or injected, and the flow is still parsed (HELO, messages).
  shadow        the same through inline mode with --policy-mode shadow.

usage: live_appliance_test.py SMTPGUARD SOURCE_ROOT SCENARIO
Needs root (namespaces); skipped (exit 77) otherwise.
"""
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import netns  # noqa: E402

BINARY, ROOT, SCENARIO = sys.argv[1], sys.argv[2], sys.argv[3]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


class Guard:
    """smtpguard with its stderr read line by line on a thread (so waits have deadlines)."""

    running = []

    def __init__(self, args):
        self.proc = subprocess.Popen([BINARY, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        Guard.running.append(self.proc)
        self.lines = queue.Queue()
        self.all = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            self.all.append(line)
            self.lines.put(line)

    def wait_line(self, needle, timeout):
        """Seconds until a stderr line containing `needle` arrived, or None."""
        start = time.monotonic()
        while True:
            left = timeout - (time.monotonic() - start)
            if left <= 0:
                return None
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                return None
            if needle in line:
                return time.monotonic() - start

    def stop(self, sig=signal.SIGINT, timeout=30):
        """Signals and waits; seconds the process took to exit (None: it did not, and was
        killed)."""
        start = time.monotonic()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
            return time.monotonic() - start
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def stderr(self):
        return "".join(self.all)


def events(path, kind=None):
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            if not line.endswith("\n"):
                break  # a line still being written
            e = json.loads(line)
            if kind is None or e["event_type"] == kind:
                out.append(e)
    return out


def wait_for(pred, timeout, step=0.02):
    """Seconds until pred() is true, or None."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pred():
            return time.monotonic() - start
        time.sleep(step)
    return None


# A server that reverses what it receives; a client that checks it. Either side may listen.
ECHO_SERVER = r"""
import socket, sys, threading
addr, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port)); s.listen(n); s.settimeout(30)
def serve(c):
    c.settimeout(30); data = b""
    while True:
        d = c.recv(65536)
        if not d: break
        data += d
    c.sendall(data[::-1]); c.close()
ts = []
for _ in range(n):
    c, _ = s.accept(); t = threading.Thread(target=serve, args=(c,)); t.start(); ts.append(t)
for t in ts: t.join()
print("served", n)
"""
ECHO_CLIENTS = r"""
import socket, sys, time, threading
addr, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
res = []
def one(i):
    payload = bytes((j * 7 + i) & 0xff for j in range(64 * 1024))
    for _ in range(100):
        try:
            s = socket.create_connection((addr, port), timeout=20); break
        except OSError:
            time.sleep(0.1)
    s.sendall(payload); s.shutdown(socket.SHUT_WR); r = b""
    while True:
        d = s.recv(65536)
        if not d: break
        r += d
    res.append(r == payload[::-1])
ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in ts: t.start()
for t in ts: t.join()
print("intact" if len(res) == n and all(res) else f"corrupt {res}")
"""

# An SMTP conversation by smtplib: EHLO, one message, QUIT.
SMTP_CLIENT = r"""
import smtplib, sys, time
host, port = sys.argv[1], int(sys.argv[2])
for _ in range(100):
    try:
        s = smtplib.SMTP(host, port, local_hostname="client.test", timeout=20); break
    except OSError:
        time.sleep(0.1)
s.sendmail("a@client.test", ["b@server.test"], "Subject: t\r\n\r\nhello\r\n")
s.quit()
print("delivered")
"""

BLOCK_AUTH_POLICY = """
[policy]
name = "live-test"
mode = "enforce"
default = "allow"
[ports]
relay = [25]
submission = [587]
[[rule]]
name = "no-plaintext-auth"
port_class = ["submission"]
plaintext_auth = true
action = "reject"
"""


def isp_policy():
    """The shipped ISP example with the test hosts' range as subscriber space."""
    with open(os.path.join(ROOT, "policy", "examples", "isp-port25.toml")) as f:
        text = f.read()
    return text.replace('"100.64.0.0/10"', '"198.18.0.0/24"')


def aiosmtpd(lab, port):
    return lab.in_server("/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l",
                         f"{lab.SERVER_IP}:{port}", "-c", "aiosmtpd.handlers.Sink",
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def scenario_workers(lab, tmp):
    policy = os.path.join(tmp, "policy.toml")
    with open(policy, "w") as f:
        f.write(BLOCK_AUTH_POLICY)
    stats, ev = os.path.join(tmp, "stats.json"), os.path.join(tmp, "events.jsonl")
    g = Guard([*lab.eal_args(lcores="0@0,1@0,2@1", qpairs=2), "--", "inline", "--inside",
               "net_af_packet0", "--outside", "net_af_packet1", "--policy", policy,
               "--stats", stats, "--events", ev, "--no-summary"])
    check(g.wait_line(" worker", 20) is not None, "started")
    check(any("2 workers" in l for l in g.all), "two workers on two queues: " + g.stderr().strip())
    # Sessions both ways: client -> server on 25, server -> client on 587.
    n = 6
    srv = lab.in_server("/usr/bin/python3", "-c", ECHO_SERVER, lab.SERVER_IP, "25", str(n),
                        stdout=subprocess.PIPE, text=True)
    cli_srv = lab.in_client("/usr/bin/python3", "-c", ECHO_SERVER, lab.CLIENT_IP, "587", str(n),
                            stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    c1 = lab.in_client("/usr/bin/python3", "-c", ECHO_CLIENTS, lab.SERVER_IP, "25", str(n),
                       stdout=subprocess.PIPE, text=True)
    c2 = lab.in_server("/usr/bin/python3", "-c", ECHO_CLIENTS, lab.CLIENT_IP, "587", str(n),
                       stdout=subprocess.PIPE, text=True)
    out1, _ = c1.communicate(timeout=90)
    out2, _ = c2.communicate(timeout=90)
    srv.communicate(timeout=30)
    cli_srv.communicate(timeout=30)
    check(out1.strip() == "intact", f"{n} sessions client->server on 25 intact ({out1.strip()})")
    check(out2.strip() == "intact", f"{n} sessions server->client on 587 intact ({out2.strip()})")

    # Both queues idle now: a reload must not wait for traffic.
    time.sleep(1.5)
    g.proc.send_signal(signal.SIGHUP)
    took = g.wait_line("policy reloaded", 5)
    check(took is not None and took < 1.0, f"reload on an idle link completes in < 1 s ({took})")
    # SIGTERM while a reload is under way: out within a second, counters written.
    g.proc.send_signal(signal.SIGHUP)
    took = g.stop(signal.SIGTERM, timeout=10)
    check(took is not None and took < 1.0, f"SIGTERM during a reload exits in < 1 s ({took})")
    check(g.proc.returncode == 0, f"exit status {g.proc.returncode}")
    check(os.path.exists(stats), "final counters written")
    if not os.path.exists(stats):
        return
    c = json.load(open(stats))
    check(c["packets.rx"] > 0 and c["packets.rx"] == c["packets.tx"],
          f"every frame forwarded ({c['packets.rx']} rx, {c['packets.tx']} tx)")
    check(c["flows.created"] == 2 * n, f"{2 * n} flows tracked ({c['flows.created']})")
    check(c["policy.reloads"] >= 2, f"start-up and idle reload counted ({c['policy.reloads']})")
    flows = events(ev, "smtp_flow")
    check(len(flows) == 2 * n, f"every flow has its record ({len(flows)})")


def scenario_flow_records(lab, tmp):
    stats, ev = os.path.join(tmp, "stats.json"), os.path.join(tmp, "events.jsonl")
    timeout_s = 3
    g = Guard([*lab.eal_args(lcores="0@0,1@1"), "--", "inline", "--inside", "net_af_packet0",
               "--outside", "net_af_packet1", "--timeout", f"established={timeout_s}",
               "--stats", stats, "--events", ev, "--no-summary"])
    check(g.wait_line(" worker", 20) is not None, "started: " + g.stderr().strip())
    srv = aiosmtpd(lab, 25)
    time.sleep(1.0)
    # A closed session: EHLO, one message, QUIT. Its record within a second of its end.
    c = lab.in_client("/usr/bin/python3", "-c", SMTP_CLIENT, lab.SERVER_IP, "25",
                      stdout=subprocess.PIPE, text=True)
    out, _ = c.communicate(timeout=60)
    ended = time.monotonic()
    check(out.strip() == "delivered", f"closed session delivered ({out.strip()})")
    took = wait_for(lambda: len(events(ev, "smtp_flow")) >= 1, 5)
    check(took is not None and took < 1.0, f"closed flow's record within 1 s of its end ({took})")
    recs = events(ev, "smtp_flow")
    if recs:
        f = recs[0]["flow"]
        check(f["reason"] == "fin", f"closed flow ends by fin ({f['reason']})")
        check(f["duration_ms"] < 1000, f"closed flow duration is the session's ({f['duration_ms']})")
        check(recs[0]["smtp"].get("helo") == "client.test", "closed flow's HELO recorded")
    # An idle session: EHLO and then silence; its record within timeout + 1 s of its last packet.
    s = None
    code = (
        "import socket,sys,time\n"
        "s=socket.create_connection(('%s',25),timeout=20)\n"
        "s.recv(1000); s.sendall(b'EHLO idle.test\\r\\n'); time.sleep(0.3); s.recv(1000)\n"
        "print('idle', flush=True); time.sleep(%d)\n" % (lab.SERVER_IP, timeout_s + 6))
    s = lab.in_client("/usr/bin/python3", "-c", code, stdout=subprocess.PIPE, text=True)
    line = s.stdout.readline()
    last_packet = time.monotonic()
    check(line.strip() == "idle", "idle session opened")
    took = wait_for(lambda: len(events(ev, "smtp_flow")) >= 2, timeout_s + 5)
    check(took is not None and took < timeout_s + 1.0,
          f"idle flow's record within timeout + 1 s ({took})")
    recs = events(ev, "smtp_flow")
    if len(recs) >= 2:
        f = recs[1]["flow"]
        check(f["reason"] == "timeout", f"idle flow ends by timeout ({f['reason']})")
        check(f["duration_ms"] < 1000,
              f"idle flow's duration is first to last packet, not the idle time ({f['duration_ms']})")
    s.kill()
    s.wait()
    srv.terminate()
    srv.wait()
    took = g.stop(signal.SIGTERM)
    check(took is not None and g.proc.returncode == 0, f"clean exit ({g.proc.returncode})")


def policy_session(lab, tmp, guard_args, mode_name):
    """A port-25 session that the ISP policy blocks, run with enforcement off."""
    policy = os.path.join(tmp, "isp.toml")
    with open(policy, "w") as f:
        f.write(isp_policy())
    stats, ev = os.path.join(tmp, "stats.json"), os.path.join(tmp, "events.jsonl")
    g = Guard([*guard_args, "--policy", policy, "--stats", stats, "--events", ev,
               "--no-summary"])
    check(g.wait_line(" worker", 20) is not None, "started: " + g.stderr().strip())
    srv = aiosmtpd(lab, 25)
    time.sleep(1.0)
    c = lab.in_client("/usr/bin/python3", "-c", SMTP_CLIENT, lab.SERVER_IP, "25",
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = c.communicate(timeout=60)
    check(out.strip() == "delivered", f"{mode_name}: the session completes ({out.strip()} {err[-200:]})")
    wait_for(lambda: len(events(ev, "smtp_flow")) >= 1, 3)
    srv.terminate()
    srv.wait()
    took = g.stop(signal.SIGTERM)
    check(took is not None and g.proc.returncode == 0, f"clean exit ({g.proc.returncode})")
    if not os.path.exists(stats):
        check(False, "counters written")
        return
    cnt = json.load(open(stats))
    verdicts = events(ev, "policy_verdict")
    blocks = [v for v in verdicts if v["policy"]["rule"] == "block-relay-inside"]
    check(len(blocks) >= 1, f"{mode_name}: the block verdict is reported ({len(blocks)})")
    check(all(v["policy"]["enforced"] is False for v in blocks),
          f"{mode_name}: reported as not enforced ({[v['policy']['enforced'] for v in blocks]})")
    for name in ("packets.dropped", "packets.rst_injected", "packets.icmp_injected",
                 "policy.blocked"):
        check(cnt[name] == 0, f"{mode_name}: {name} is 0 ({cnt[name]})")
    check(cnt.get("policy.would_block", 0) >= 1,
          f"{mode_name}: policy.would_block counts it ({cnt.get('policy.would_block')})")
    flows = [e for e in events(ev, "smtp_flow") if e["dest_port"] == 25]
    check(len(flows) == 1, f"{mode_name}: one smtp_flow record ({len(flows)})")
    if flows:
        s = flows[0]["smtp"]
        check(s.get("helo") == "client.test", f"{mode_name}: HELO recorded ({s.get('helo')})")
        check(s["messages"] == 1, f"{mode_name}: message counted ({s['messages']})")
        pol = flows[0].get("policy", {})
        check(pol.get("rule") == "block-relay-inside" and pol.get("enforced") is False,
              f"{mode_name}: the flow record names the verdict ({pol})")


def scenario_peer_away(lab, tmp):
    """The link under af_packet goes down and comes back three times while sessions run
    (a peer that goes away and returns): smtpguard keeps forwarding, sessions after each
    return are intact, and it stops cleanly."""
    stats = os.path.join(tmp, "stats.json")
    g = Guard([*lab.eal_args(lcores="0@0,1@1"), "--", "inline", "--inside", "net_af_packet0",
               "--outside", "net_af_packet1", "--stats", stats, "--no-summary"])
    check(g.wait_line(" worker", 20) is not None, "started: " + g.stderr().strip())
    for round_ in range(3):
        # Traffic in flight, then the server-side link goes away and returns.
        srv = lab.in_server("/usr/bin/python3", "-c", ECHO_SERVER, lab.SERVER_IP, "25", "2",
                            stdout=subprocess.PIPE, text=True)
        time.sleep(0.3)
        cli = lab.in_client("/usr/bin/python3", "-c", ECHO_CLIENTS, lab.SERVER_IP, "25", "2",
                            stdout=subprocess.PIPE, text=True)
        time.sleep(0.05)
        netns.run("ip", "link", "set", lab.outer_server, "down")
        time.sleep(0.5)
        netns.run("ip", "link", "set", lab.outer_server, "up")
        out, _ = cli.communicate(timeout=90)
        srv.communicate(timeout=30)
        check(g.proc.poll() is None, f"round {round_}: smtpguard still running")
        check(out.strip() == "intact", f"round {round_}: sessions across the outage intact ({out.strip()})")
    took = g.stop(signal.SIGTERM)
    check(took is not None and g.proc.returncode == 0, f"clean exit ({g.proc.returncode})")
    c = json.load(open(stats)) if os.path.exists(stats) else {}
    check(c.get("flows.created") == 6, f"every session tracked ({c.get('flows.created')})")


def scenario_monitor(lab, tmp):
    lab.bridge()
    policy_session(lab, tmp, [*lab.eal_args(lcores="0@0,1@1", ports=("client",)), "--",
                              "monitor", "--port", "net_af_packet0"], "monitor")


def scenario_shadow(lab, tmp):
    policy_session(lab, tmp, [*lab.eal_args(lcores="0@0,1@1"), "--", "inline", "--inside",
                              "net_af_packet0", "--outside", "net_af_packet1",
                              "--policy-mode", "shadow"], "shadow")


def main():
    if not netns.have_netns():
        print("needs root and iproute2: skipped")
        return 77
    scenarios = {"workers": scenario_workers, "flow_records": scenario_flow_records,
                 "peer_away": scenario_peer_away,
                 "monitor": scenario_monitor, "shadow": scenario_shadow}
    with netns.Lab("la") as lab, tempfile.TemporaryDirectory() as tmp:
        try:
            scenarios[SCENARIO](lab, tmp)
        except Exception as e:  # a peer that timed out, a record that never came: a failure
            check(False, f"scenario raised {type(e).__name__}: {e}")
        finally:
            for p in Guard.running:
                if p.poll() is None:
                    p.kill()
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
