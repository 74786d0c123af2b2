#!/usr/bin/python3
"""The control plane of a running instance, as an operator drives it: `smtpguard inline` on
net_af_packet between two network namespaces with real SMTP traffic, and `smtpguardctl
--instance PREFIX` (and DPDK's own dpdk-telemetry.py) talking to it over the telemetry socket.

  - flows and top show a live session (client, server, port, state);
  - load of a good policy prints the rule diff, and traffic proves the new rule enforces
    (a plaintext AUTH is reset), its hit count visible in stats and policy;
  - load of a broken policy fails with file:line:column (both smtpguardctl's local check and
    the instance's own answer when asked directly), and traffic proves the old policy still
    enforces; policy.reload_failures counts it;
  - match --instance names the deciding rule; events returns JSON lines; policy reports the
    file's SHA-256;
  - watch refreshes under tmux;
  - stock dpdk-telemetry.py reads /smtpguard/stats.

usage: control_test.py SMTPGUARD SMTPGUARDCTL
Needs root (namespaces); skipped (exit 77) otherwise.
"""
import hashlib
import json
import os
import queue
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

BINARY, CTL = sys.argv[1], sys.argv[2]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


OBSERVE_POLICY = """
[policy]
name = "observe"
default = "allow"
[ports]
relay = [25]
submission = [587]
[[rule]]
name = "note-submission"
port_class = ["submission"]
action = "alert"
"""

BLOCK_POLICY = """
[policy]
name = "block-plaintext-auth"
default = "allow"
[ports]
relay = [25]
submission = [587]
[[rule]]
name = "no-plaintext-auth"
port_class = ["submission"]
plaintext_auth = true
action = "reject"
[[rule]]
name = "note-submission"
port_class = ["submission"]
action = "alert"
"""

# The dynamic set `quarantine` (docs/subscribers.md), filled by smtpguardctl quarantine add.
QUARANTINE_POLICY = """
[policy]
name = "quarantine"
default = "allow"
[ports]
relay = [25]
submission = [587]
[[rule]]
name = "quarantined"
src = ["quarantine"]
action = "reject"
"""

# Line 7, column 10: a value of the wrong type.
BROKEN_POLICY = """
[policy]
name = "broken"
default = "allow"
[ports]
submission = [587]
relay = "twenty-five"
"""

# Connects, EHLO, then either holds the session open (hold SECONDS) or sends a plaintext
# AUTH PLAIN and reports what came back: "reply NNN", "reset" or "closed".
SMTP_PROBE = r"""
import socket, sys, time
host, port, what = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for _ in range(100):
    try:
        s = socket.create_connection((host, port), timeout=10); break
    except OSError:
        time.sleep(0.1)
f = s.makefile("rb")
def reply():
    while True:
        line = f.readline()
        if not line: return None
        if line[3:4] != b"-": return line[:3].decode()
reply()
s.sendall(b"EHLO probe.test\r\n"); reply()
if what == "hold":
    time.sleep(float(sys.argv[4])); s.sendall(b"QUIT\r\n"); print("held"); sys.exit(0)
try:
    s.sendall(b"AUTH PLAIN AHVzZXIAc2VjcmV0\r\n")
    r = reply()
    print("closed" if r is None else "reply " + r)
except ConnectionResetError:
    print("reset")
"""


class Guard:
    def __init__(self, args):
        self.proc = subprocess.Popen([BINARY, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.all = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            self.all.append(line)
            self.lines.put(line)

    def wait_line(self, needle, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                if needle in self.lines.get(timeout=end - time.monotonic()):
                    return True
            except queue.Empty:
                return False
        return False


def ctl(prefix, *args, timeout=30):
    r = subprocess.run([CTL, "--instance", prefix, *args], capture_output=True, text=True,
                       timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def telemetry(prefix, command):
    """One command on the instance's socket, as any client would send it."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(f"/var/run/dpdk/{prefix}/dpdk_telemetry.v2")
    s.settimeout(70)
    json.loads(s.recv(16384))
    s.send(command.encode())
    answer = json.loads(s.recv(16384))
    s.close()
    return answer[command.split(",")[0]]


def probe_auth(lab):
    p = lab.in_client("/usr/bin/python3", "-c", SMTP_PROBE, lab.SERVER_IP, "587", "auth",
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=60)
    return out.strip() or err.strip()[-200:]


def run(lab, tmp):
    paths = {}
    for name, text in (("observe", OBSERVE_POLICY), ("block", BLOCK_POLICY),
                       ("broken", BROKEN_POLICY), ("quarantine", QUARANTINE_POLICY)):
        paths[name] = os.path.join(tmp, name + ".toml")
        with open(paths[name], "w") as f:
            f.write(text)
    stats, ev = os.path.join(tmp, "stats.json"), os.path.join(tmp, "events.jsonl")
    eal = [a for a in lab.eal_args(lcores="0@0,1@1") if a != "--no-telemetry"]
    prefix = next(a.split("=", 1)[1] for a in eal if a.startswith("--file-prefix="))
    g = Guard([*eal, "--", "inline", "--inside", "net_af_packet0", "--outside",
               "net_af_packet1", "--policy", paths["observe"], "--stats", stats, "--events", ev,
               "--no-summary"])
    check(g.wait_line(" worker", 20), "started")
    server = lab.in_server("/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l",
                           f"{lab.SERVER_IP}:587", "-c", "aiosmtpd.handlers.Sink",
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    try:
        # Under the observe policy a plaintext AUTH reaches the server (which refuses it).
        r = probe_auth(lab)
        check(r.startswith("reply"), f"observe policy: AUTH reaches the server ({r})")

        # A live session, held open while flows and top look at it.
        hold = lab.in_client("/usr/bin/python3", "-c", SMTP_PROBE, lab.SERVER_IP, "587", "hold",
                             "6", stdout=subprocess.PIPE, text=True)
        time.sleep(1.0)
        code, out, err = ctl(prefix, "flows", "--port", "587", "--state", "established")
        check(code == 0 and f"{lab.CLIENT_IP}:" in out and f"{lab.SERVER_IP}:587" in out
              and "established" in out, f"flows shows the live session (exit {code}):\n{out}{err}")
        code, out, err = ctl(prefix, "flows", "--json", "--addr", lab.CLIENT_IP)
        flows = json.loads(out) if code == 0 else {}
        check(flows.get("matched", 0) >= 1 and flows.get("flow_1", {}).get("dest_port") == 587,
              f"flows --json --addr filters to the client ({flows})")
        code, out, err = ctl(prefix, "flows", "--port", "2525")
        check(code == 0 and "0 matched" in out, f"a filter that matches nothing ({out.strip()})")
        code, out, err = ctl(prefix, "top", "-n", "5")
        check(code == 0 and lab.CLIENT_IP in out, f"top names the client (exit {code}):\n{out}{err}")
        hold.communicate(timeout=30)

        # A good policy: the diff, then traffic proves it.
        code, out, err = ctl(prefix, "load", paths["block"])
        check(code == 0 and "added:   no-plaintext-auth" in out and "removed: none" in out,
              f"load prints the diff (exit {code}):\n{out}{err}")
        check(g.wait_line("policy reloaded", 5), "the instance says it reloaded")
        r = probe_auth(lab)
        check(r in ("reset", "closed"), f"new policy: plaintext AUTH reset ({r})")
        time.sleep(0.5)
        code, out, err = ctl(prefix, "stats", "--json")
        c = json.loads(out) if code == 0 else {}
        check(c.get("policy.rule.no-plaintext-auth") == 1,
              f"stats counts the new rule's hit ({c.get('policy.rule.no-plaintext-auth')})")
        code, out, err = ctl(prefix, "policy", "--json")
        p = json.loads(out) if code == 0 else {}
        sha = hashlib.sha256(open(paths["block"], "rb").read()).hexdigest()
        check(p.get("sha256") == sha and p.get("file") == paths["block"],
              f"policy reports file and SHA-256 ({p.get('file')}, {p.get('sha256')})")
        rules = {v["name"]: v for k, v in p.items() if k.startswith("rule_")}
        check(rules.get("no-plaintext-auth", {}).get("hits") == 1,
              f"policy shows the rule's hits ({rules.get('no-plaintext-auth')})")
        code, out, err = ctl(prefix, "match", lab.CLIENT_IP, lab.SERVER_IP, "587")
        check(code == 0 and "no-plaintext-auth" in out and "submission" in out,
              f"match --instance names the session rule (exit {code}):\n{out}{err}")

        # reload: the instance's own file again (what systemctl reload runs).
        code, out, err = ctl(prefix, "reload")
        check(code == 0 and "removed: none" in out and "changed: none" in out,
              f"reload of the running file (exit {code}):\n{out}{err}")

        # A broken policy: refused here with file:line:column ...
        code, out, err = ctl(prefix, "load", paths["broken"])
        check(code == 1 and f"{paths['broken']}:7:" in err,
              f"load of a broken file fails with file:line:column (exit {code}): {err.strip()}")
        # ... and by the instance itself when asked directly.
        a = telemetry(prefix, "/smtpguard/policy/load," + paths["broken"])
        check(a.get("ok") == 0 and any(f"{paths['broken']}:7:" in e for e in a.get("errors", [])),
              f"the instance refuses it with file:line:column ({a})")
        a = telemetry(prefix, "/smtpguard/policy/load,relative.toml")
        check("error" in a, f"a relative path is refused ({a})")
        r = probe_auth(lab)
        check(r in ("reset", "closed"), f"after the failed load the old policy enforces ({r})")
        time.sleep(0.5)
        code, out, err = ctl(prefix, "stats", "--json")
        c = json.loads(out) if code == 0 else {}
        check(c.get("policy.reload_failures") == 1,
              f"policy.reload_failures counts it ({c.get('policy.reload_failures')})")
        check(c.get("policy.rule.no-plaintext-auth") == 2,
              f"the running rule counted again ({c.get('policy.rule.no-plaintext-auth')})")
        code, out, err = ctl(prefix, "stats", "--prometheus")
        check(code == 0 and "smtpguard_packets_rx " in out, "stats --prometheus")

        # smtpguardctl quarantine: the client is refused while in the set, served once out.
        code, out, err = ctl(prefix, "load", paths["quarantine"])
        check(code == 0, f"quarantine policy loaded ({out}{err})")
        code, out, err = ctl(prefix, "quarantine", "add", lab.CLIENT_IP, "600")
        check(code == 0 and f"{lab.CLIENT_IP} quarantined until" in out,
              f"quarantine add ({out}{err})")
        code, out, err = ctl(prefix, "quarantine", "list")
        check(code == 0 and lab.CLIENT_IP in out and "(1 quarantined)" in out,
              f"quarantine list ({out}{err})")
        r = probe_auth(lab)
        check(not r.startswith("reply"), f"quarantined: the connection is refused ({r})")
        code, out, err = ctl(prefix, "quarantine", "del", lab.CLIENT_IP)
        check(code == 0 and "removed yes" in out, f"quarantine del ({out}{err})")
        r = probe_auth(lab)
        check(r.startswith("reply"), f"released: AUTH reaches the server again ({r})")
        code, out, err = ctl(prefix, "quarantine", "list")
        check(code == 0 and "(0 quarantined)" in out, f"quarantine list empty ({out}{err})")
        code, out, err = ctl(prefix, "subscribers", "connections", "-n", "5")
        check(code == 0 and lab.CLIENT_IP in out and "by connections" in out,
              f"subscribers names the client ({out}{err})")
        code, out, err = ctl(prefix, "subscribers", "--json")
        sub = json.loads(out) if code == 0 else {}
        check(sub.get("sub_1", {}).get("source") == lab.CLIENT_IP and
              sub["sub_1"].get("connections", 0) >= 3 and sub["sub_1"].get("plaintext_auth", 0) >= 2,
              f"subscribers --json: the client's statistics ({sub.get('sub_1')})")
        code, out, err = ctl(prefix, "load", paths["block"])
        check(code == 0, "block policy back")

        # Recent events: JSON lines, one of them the verdict.
        code, out, err = ctl(prefix, "events", "-n", "50")
        lines = [json.loads(l) for l in out.splitlines() if l.strip()] if code == 0 else []
        check(any(e.get("event_type") == "policy_verdict" for e in lines),
              f"events returns the recent verdicts ({len(lines)} lines)")
        check("AHVzZXIAc2VjcmV0" not in out and "secret" not in out,
              "no credential in the events answer")

        # Stock DPDK client.
        r = subprocess.run(["dpdk-telemetry.py", "-f", prefix], input="/smtpguard/stats,packets\n",
                           capture_output=True, text=True, timeout=30)
        check('"rx":' in r.stdout, f"dpdk-telemetry.py reads /smtpguard/stats ({r.stdout[-300:]})")

        # watch under tmux: a few refreshes on a terminal.
        if shutil.which("tmux") is None:
            check(False, "tmux installed")
        else:
            session = f"sgwatch{os.getpid()}"
            subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "50",
                            f"{CTL} --instance {prefix} watch --interval 0.3"], check=True)
            time.sleep(2.0)
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                    capture_output=True, text=True).stdout
            subprocess.run(["tmux", "kill-session", "-t", session], check=False)
            check("PER SECOND" in screen and "packets.rx" in screen,
                  f"watch refreshes under tmux:\n{screen}")
            check(screen.count("PER SECOND") == 1, "watch redraws in place (one screen)")
        code, out, err = ctl(prefix, "watch", "--interval", "0.2", "--count", "2")
        check(code == 0 and out.count("PER SECOND") == 2, f"watch --count 2 ({code})")
    finally:
        server.terminate()
        server.wait()
        g.proc.send_signal(signal.SIGTERM)
        try:
            g.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            g.proc.kill()
            g.proc.wait()
    check(g.proc.returncode == 0, f"clean exit ({g.proc.returncode})")
    code, out, err = ctl(prefix, "stats")
    check(code == 3 and "no running instance" in err, f"no instance: exit 3 ({code}, {err.strip()})")


def main():
    if not netns.have_netns():
        print("needs root and iproute2: skipped")
        return 77
    with netns.Lab("ct") as lab, tempfile.TemporaryDirectory() as tmp:
        try:
            run(lab, tmp)
        except Exception as e:
            check(False, f"raised {type(e).__name__}: {e}")
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
