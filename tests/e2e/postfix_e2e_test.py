#!/usr/bin/python3
"""Real mail software end to end through `smtpguard inline` (net_af_packet between two network
namespaces, veth offloads off, addresses in 198.18.0.0/15): Debian's Postfix as the server
(tests/e2e/postfix.py: 25 relay, 587 submission with STARTTLS and SASL from a sasldb, 465
implicit TLS), swaks, Python's smtplib and `openssl s_client` as clients. One scenario per run:

  isp_port25   ISP policy: a subscriber's port-25 connection is refused within a second (the
               client sees the injected RST: ECONNREFUSED, and the RST in a client-side
               capture) while a registered MTA's goes through and its message lands in the
               Postfix queue.
  submission   ISP policy: STARTTLS + AUTH on 587 by swaks, smtplib and openssl s_client, and
               implicit TLS on 465, all succeed; each ClientHello is reported with the SNI its
               client sent and the JA3 that tshark computes from a client-side capture.
  plain_auth   enterprise policy: AUTH in clear on 587 (PLAIN by swaks, LOGIN by smtplib) is
               stopped: the clients get a reset, Postfix authenticates nobody, and a
               server-side capture holds neither the password nor its base64 forms; nor does
               anything smtpguard wrote.
  large        a 10 MB message through smtpguard arrives in the Postfix queue intact.
  reload       200 SMTP sessions (20 at a time) with a policy reload (SIGHUP) in the middle:
               all 200 delivered, all 200 tracked and recorded, the reload counted.

usage: postfix_e2e_test.py SMTPGUARD SOURCE_ROOT SCENARIO
Needs root, iproute2 and Postfix (setup.sh installs it): otherwise one line and exit 77 (exit
1 with CI set: CI has them).
"""
import base64
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import netns  # noqa: E402
import postfix  # noqa: E402

BINARY, ROOT, SCENARIO = sys.argv[1], sys.argv[2], sys.argv[3]
MTA_IP = "198.18.0.10"  # a registered customer MTA inside, beside the subscriber 198.18.0.1
PASSWORD = "Tr0ub4dor-e2e-" + "%06d" % random.randrange(10 ** 6)
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def policy_text(name):
    with open(os.path.join(ROOT, "policy", "examples", name)) as f:
        text = f.read()
    if name == "isp-port25.toml":
        # The test hosts are the subscriber space; 198.18.0.10 is acme's registered MTA.
        text = text.replace('"100.64.0.0/10"', '"198.18.0.0/24"')
        text = text.replace('"100.72.14.25"', f'"{MTA_IP}"')
    else:
        text = text.replace('"10.20.0.0/16"', '"198.18.0.0/24"')
    return text


class Guard:
    running = []

    def __init__(self, lab, tmp, policy):
        self.policy = os.path.join(tmp, "policy.toml")
        with open(self.policy, "w") as f:
            f.write(policy)
        self.stats = os.path.join(tmp, "stats.json")
        self.events = os.path.join(tmp, "events.jsonl")
        self.err = open(os.path.join(tmp, "smtpguard.stderr"), "w+")
        self.proc = subprocess.Popen(
            [BINARY, *lab.eal_args(lcores="0@0,1@1"), "--", "inline", "--inside",
             "net_af_packet0", "--outside", "net_af_packet1", "--policy", self.policy,
             "--stats", self.stats, "--events", self.events, "--no-summary"],
            stdout=subprocess.DEVNULL, stderr=self.err)
        Guard.running.append(self.proc)
        deadline = time.monotonic() + 20
        while " worker" not in self.stderr():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("smtpguard did not start: " + self.stderr())
            time.sleep(0.05)

    def stderr(self):
        self.err.flush()
        with open(self.err.name) as f:
            return f.read()

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=30)
        check(self.proc.returncode == 0, f"smtpguard exits 0 ({self.proc.returncode})")
        return json.load(open(self.stats))

    def event_list(self, kind=None):
        out = []
        with open(self.events) as f:
            for line in f:
                e = json.loads(line)
                if kind is None or e["event_type"] == kind:
                    out.append(e)
        return out

    def outputs(self):
        """Every byte smtpguard wrote: events, counters, stderr."""
        data = b""
        for path in (self.events, self.stats, self.err.name):
            if os.path.exists(path):
                data += open(path, "rb").read()
        return data


class Capture:
    """tshark writing what crosses one interface of a namespace."""

    def __init__(self, ns, iface, path):
        self.path = path
        self.proc = Guard.running.append(None) or subprocess.Popen(["ip", "netns", "exec", ns, "tshark", "-q", "-i", iface,
                                      "-f", "tcp", "-w", path],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        Guard.running[-1] = self.proc
        # Capturing once dumpcap says so on stderr.
        line = ""
        deadline = time.monotonic() + 20
        while "Capturing on" not in line and time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                raise RuntimeError("tshark did not start")

    def stop(self):
        time.sleep(0.5)  # the last frames reach the ring buffer
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=30)
        return open(self.path, "rb").read()


def in_ns(ns, *cmd, timeout=60, **kw):
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True,
                          timeout=timeout, **kw)


def swaks(lab, *args, timeout=60):
    return in_ns(lab.ns_client, "swaks", "--server", lab.SERVER_IP, "--from", "alice@e2e.test",
                 "--to", "bob@e2e.test", "--timeout", "20", *args, timeout=timeout)


def in_client_python(lab, code, *args, timeout=120):
    return in_ns(lab.ns_client, "/usr/bin/python3", "-c", code, *args, timeout=timeout)


def wait_queued(pf, n, timeout=20):
    deadline = time.monotonic() + timeout
    while len(pf.queued()) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    return pf.queued()


# -- scenarios -------------------------------------------------------------------------------

def scenario_isp_port25(lab, tmp, pf):
    g = Guard(lab, tmp, policy_text("isp-port25.toml"))
    cap = Capture(lab.ns_client, lab.if_client, os.path.join(tmp, "client.pcap"))
    # The subscriber: refused at the SYN.
    start = time.monotonic()
    r = swaks(lab, "--port", "25", "--helo", "subscriber.e2e.test")
    took = time.monotonic() - start
    check(r.returncode != 0 and "Connection refused" in (r.stdout + r.stderr),
          f"subscriber's port 25 refused ({r.returncode}: {(r.stdout + r.stderr).strip()[-200:]})")
    check(took < 1.0, f"within a second ({took:.3f} s)")
    # The registered MTA: delivered to the queue.
    r = swaks(lab, "--port", "25", "--local-interface", MTA_IP, "--helo", "mta.acme.e2e.test",
              "--header", "Subject: from the registered MTA")
    check(r.returncode == 0 and "queued as" in r.stdout,
          f"registered MTA's port 25 accepted ({r.returncode}: {r.stdout.strip()[-200:]})")
    qid = r.stdout.split("queued as")[-1].split()[0] if "queued as" in r.stdout else "?"
    queued = wait_queued(pf, 1)
    check(qid in queued, f"its message {qid} is in the Postfix queue ({queued})")
    if qid in queued:
        check("Subject: from the registered MTA" in pf.message(qid), "with its header")
    cap.stop()
    rsts = in_ns(lab.ns_client, "tshark", "-r", cap.path, "-Y",
                 f"tcp.flags.reset == 1 && ip.src == {lab.SERVER_IP} && tcp.srcport == 25 "
                 f"&& ip.dst == {lab.CLIENT_IP}", "-T", "fields", "-e", "tcp.flags").stdout.split()
    check(len(rsts) >= 1, f"the client's capture holds the RST from the server's address ({rsts})")
    c = g.stop()
    check(c["policy.rule.block-relay-inside"] >= 1 and c["packets.rst_injected"] >= 1,
          f"block-relay-inside and an injected RST counted ({c['policy.rule.block-relay-inside']}, "
          f"{c['packets.rst_injected']})")
    check(c["policy.rule.acme-mta-relay"] == 1, f"the MTA's flow allowed by its rule "
          f"({c['policy.rule.acme-mta-relay']})")
    flows = [e for e in g.event_list("smtp_flow") if e["src_ip"] == MTA_IP]
    check(len(flows) == 1 and flows[0]["smtp"]["messages"] == 1
          and flows[0]["smtp"].get("helo") == "mta.acme.e2e.test",
          f"the MTA's session recorded: HELO, one message ({[f['smtp'] for f in flows]})")


SMTPLIB_TLS = r"""
import smtplib, ssl, sys
host, password = sys.argv[1], sys.argv[2]
class Sni(ssl.SSLContext):
    # smtplib names the server by the host it connected to, and sends no SNI for an address.
    def wrap_socket(self, sock, server_hostname=None, **kw):
        return super().wrap_socket(sock, server_hostname="smtplib.e2e.test", **kw)
ctx = Sni(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP(host, 587, local_hostname="smtplib.client", timeout=20)
s.starttls(context=ctx)
s.ehlo("smtplib.client")
s.login("alice@e2e.test", password)
s.sendmail("alice@e2e.test", ["bob@e2e.test"], "Subject: smtplib over TLS\r\n\r\nhello\r\n")
s.quit()
print("sent")
"""


def scenario_submission(lab, tmp, pf):
    g = Guard(lab, tmp, policy_text("isp-port25.toml"))
    cap = Capture(lab.ns_client, lab.if_client, os.path.join(tmp, "client.pcap"))
    r = swaks(lab, "--port", "587", "--tls", "--tls-sni", "swaks.e2e.test", "--auth", "PLAIN",
              "--auth-user", postfix.USER, "--auth-password", PASSWORD)
    check(r.returncode == 0 and "235 2.7.0" in r.stdout and "queued as" in r.stdout,
          f"swaks: STARTTLS, AUTH PLAIN, message ({r.returncode} {r.stdout.strip()[-300:]})")
    r = in_client_python(lab, SMTPLIB_TLS, lab.SERVER_IP, PASSWORD)
    check(r.stdout.strip() == "sent", f"smtplib: STARTTLS, login, message ({r.stderr[-300:]})")
    plain = base64.b64encode(f"\0{postfix.USER}\0{PASSWORD}".encode()).decode()
    r = in_ns(lab.ns_client, "openssl", "s_client", "-starttls", "smtp", "-connect",
              f"{lab.SERVER_IP}:587", "-servername", "openssl.e2e.test", "-ign_eof", "-crlf",
              "-quiet", input=f"EHLO openssl.client\nAUTH PLAIN {plain}\nQUIT\n", timeout=30)
    check("235 2.7.0" in r.stdout and "221" in r.stdout,
          f"openssl s_client -starttls smtp: AUTH accepted ({r.stdout.strip()[-200:]})")
    r = in_ns(lab.ns_client, "openssl", "s_client", "-connect", f"{lab.SERVER_IP}:465",
              "-servername", "implicit.e2e.test", "-ign_eof", "-crlf", "-quiet",
              input="EHLO openssl.client\nQUIT\n", timeout=30)
    check("250" in r.stdout and "221" in r.stdout, f"openssl s_client on 465 ({r.stdout[-200:]})")
    queued = wait_queued(pf, 2)
    check(len(queued) == 2, f"two messages queued ({queued})")
    cap.stop()
    c = g.stop()
    # tshark's JA3 of every ClientHello the clients sent, by SNI.
    out = in_ns(lab.ns_client, "tshark", "-r", cap.path, "-d", "tcp.port==587,smtp", "-Y",
                "tls.handshake.type == 1", "-T", "fields", "-e",
                "tls.handshake.extensions_server_name", "-e", "tls.handshake.ja3").stdout
    tshark_ja3 = dict(l.split("\t") for l in out.splitlines() if "\t" in l)
    hellos = {e["tls"].get("sni"): e["tls"] for e in g.event_list("tls_client_hello")}
    for sni, source in (("swaks.e2e.test", "starttls"), ("smtplib.e2e.test", "starttls"),
                        ("openssl.e2e.test", "starttls"), ("implicit.e2e.test", "implicit")):
        h = hellos.get(sni)
        check(h is not None, f"{sni}: ClientHello reported with the SNI the client sent")
        if h is None:
            continue
        check(h["from"] == source, f"{sni}: from {source} ({h['from']})")
        check(sni in tshark_ja3 and h["ja3"]["hash"] == tshark_ja3[sni],
              f"{sni}: JA3 {h['ja3']['hash']} is tshark's ({tshark_ja3.get(sni)})")
    check(c["smtp.starttls.accepted"] == 3 and c["smtp.tls.implicit"] == 1
          and c["smtp.tls.client_hello"] == 4,
          f"counted: 3 STARTTLS accepted, 1 implicit TLS, 4 ClientHellos "
          f"({c['smtp.starttls.accepted']}, {c['smtp.tls.implicit']}, "
          f"{c['smtp.tls.client_hello']})")
    check(c["flows.port.587"] == 3 and c["flows.port.465"] == 1,
          f"flows by port ({c['flows.port.587']}, {c['flows.port.465']})")
    check(PASSWORD.encode() not in g.outputs(), "no output of smtpguard holds the password")


SMTPLIB_LOGIN = r"""
import smtplib, sys
host, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
s = smtplib.SMTP(host, 587, local_hostname="smtplib.client", timeout=10)
s.ehlo("smtplib.client")
try:
    s.user, s.password = user, password
    s.auth("LOGIN", s.auth_login)
    print("authenticated")
except (smtplib.SMTPServerDisconnected, ConnectionError, OSError) as e:
    print("stopped:", type(e).__name__, e)
"""


def scenario_plain_auth(lab, tmp, pf):
    g = Guard(lab, tmp, policy_text("enterprise-submission.toml"))
    cap = Capture(lab.ns_server, lab.if_server, os.path.join(tmp, "server.pcap"))
    r = swaks(lab, "--port", "587", "--auth", "PLAIN", "--auth-user", postfix.USER,
              "--auth-password", PASSWORD, timeout=60)
    text = r.stdout + r.stderr
    check(r.returncode != 0 and "235" not in text and "queued as" not in text,
          f"swaks AUTH PLAIN in clear is stopped ({r.returncode}: {text.strip()[-250:]})")
    r = in_client_python(lab, SMTPLIB_LOGIN, lab.SERVER_IP, postfix.USER, PASSWORD)
    check(r.stdout.startswith("stopped:"), f"smtplib AUTH LOGIN in clear is stopped "
          f"({r.stdout.strip()} {r.stderr.strip()[-200:]})")
    server_side = cap.stop()
    c = g.stop()
    check(c.get("policy.rule.auth-before-tls") == 2 and c["packets.rst_injected"] >= 2,
          f"both stopped by auth-before-tls with RSTs ({c.get('policy.rule.auth-before-tls')}, "
          f"{c['packets.rst_injected']})")
    secrets = {
        "password": PASSWORD.encode(),
        "PLAIN response (base64)": base64.b64encode(f"\0{postfix.USER}\0{PASSWORD}".encode()),
        "password (base64)": base64.b64encode(PASSWORD.encode()),
    }
    check(len(server_side) > 1000 and b"EHLO" in server_side,
          f"the server-side capture saw the sessions ({len(server_side)} bytes)")
    for what, s in secrets.items():
        check(s not in server_side, f"the server-side capture lacks the {what}")
        check(s not in g.outputs(), f"smtpguard's outputs lack the {what}")
    check("sasl_method" not in pf.log() and "235" not in pf.log(),
          "Postfix authenticated nobody")
    check(len(pf.queued()) == 0, "nothing queued")


def scenario_large(lab, tmp, pf):
    g = Guard(lab, tmp, policy_text("isp-port25.toml"))
    # 10 MB of base64 lines (76 characters): deterministic, no dot-stuffing.
    rnd = random.Random(12)
    raw = rnd.randbytes(7_700_000)
    b64 = base64.encodebytes(raw).decode()  # 76-character lines
    body = b64.replace("\n", "\r\n")
    check(len(body) >= 10_000_000, f"message body of {len(body)} bytes")
    path = os.path.join(tmp, "body.txt")
    with open(path, "w") as f:
        f.write(body)
    code = (
        "import smtplib, sys\n"
        "body = open(sys.argv[2]).read()\n"
        "s = smtplib.SMTP(sys.argv[1], 587, local_hostname='big.client', timeout=60)\n"
        "s.sendmail('alice@e2e.test', ['bob@e2e.test'], 'Subject: ten megabytes\\r\\n\\r\\n' + body)\n"
        "s.quit(); print('sent')\n")
    start = time.monotonic()
    r = in_client_python(lab, code, lab.SERVER_IP, path, timeout=180)
    check(r.stdout.strip() == "sent", f"10 MB sent by smtplib in {time.monotonic() - start:.1f} s"
          f" ({r.stderr.strip()[-300:]})")
    queued = wait_queued(pf, 1)
    check(len(queued) == 1, f"queued ({queued})")
    if queued:
        got = pf.body(queued[0])
        want = b64
        check(hashlib.sha256(got.strip("\n").encode()).hexdigest() ==
              hashlib.sha256(want.strip("\n").encode()).hexdigest(),
              f"the body in the queue is the one sent ({len(got)} bytes, want {len(want)})")
    c = g.stop()
    flows = g.event_list("smtp_flow")
    check(len(flows) == 1 and flows[0]["smtp"]["messages"] == 1
          and flows[0]["flow"]["bytes_toserver"] > 10_000_000,
          f"one flow, one message, > 10 MB to the server "
          f"({[(f['smtp']['messages'], f['flow']['bytes_toserver']) for f in flows]})")
    why = {k: v for k, v in c.items() if v and k.split(".")[0] in ("tcp", "stream", "pool")
           or k.startswith("packets.") and ("drop" in k or "uninspect" in k or "fail" in k)}
    # On a loaded machine af_packet's ring can overflow and lose a segment; smtpguard then
    # holds back what follows the hole uninspected (enforcing policy, clear text) and TCP
    # sends it again. Allowed, as long as that is the only reason anything was dropped.
    check(c["policy.blocked"] == 0 and c["packets.dropped"] == c["stream.uninspected_dropped"],
          f"no policy drop; every drop a segment past a hole ({c['packets.dropped']}: {why})")


RELOAD_CLIENTS = r"""
import smtplib, sys, threading, time
host, n, par = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
done, errors, lock = [], [], threading.Lock()
def worker(k):
    for i in range(k, n, par):
        try:
            s = smtplib.SMTP(host, 587, local_hostname=f"c{i}.client", timeout=30)
            s.sendmail("alice@e2e.test", ["bob@e2e.test"],
                       f"Subject: session {i}\r\n\r\nbody of session {i}\r\n")
            s.quit()
            with lock:
                done.append(i)
                if len(done) == n // 3:
                    print("third", flush=True)
        except Exception as e:
            with lock:
                errors.append(f"{i}: {type(e).__name__} {e}")
ts = [threading.Thread(target=worker, args=(k,)) for k in range(par)]
for t in ts: t.start()
for t in ts: t.join()
print(f"done {len(done)} errors {len(errors)} {errors[:3]}", flush=True)
"""


def scenario_reload(lab, tmp, pf):
    text = policy_text("isp-port25.toml")
    g = Guard(lab, tmp, text)
    n = 200
    client = subprocess.Popen(["ip", "netns", "exec", lab.ns_client, "/usr/bin/python3", "-c",
                               RELOAD_CLIENTS, lab.SERVER_IP, str(n), "20"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = client.stdout.readline()
    check(line.strip() == "third", f"a third of the sessions done ({line.strip()})")
    # A changed policy (one more rule) loaded while sessions run.
    with open(g.policy, "w") as f:
        f.write(text.replace('[[rule]]\nname = "allow-submission"',
                             '[[rule]]\nname = "reloaded-marker"\nsrc = ["inside"]\n'
                             'ehlo = ["never.e2e.test"]\naction = "alert"\n\n'
                             '[[rule]]\nname = "allow-submission"', 1))
    g.proc.send_signal(signal.SIGHUP)
    out, err = client.communicate(timeout=300)
    check(out.strip().startswith(f"done {n} errors 0"), f"all {n} sessions delivered ({out.strip()}"
          f" {err.strip()[-300:]})")
    queued = wait_queued(pf, n, timeout=30)
    check(len(queued) == n, f"{n} messages in the Postfix queue ({len(queued)})")
    c = g.stop()
    check("policy reloaded: isp-port25 (9 rules)" in g.stderr(), "the changed policy was loaded: " +
          g.stderr().strip()[-200:])
    check(c["policy.reloads"] == 2 and c["policy.reload_failures"] == 0,
          f"start-up and reload counted ({c['policy.reloads']}, {c['policy.reload_failures']})")
    check(c["flows.port.587"] == n and c["flows.created"] == n,
          f"{n} flows tracked ({c['flows.port.587']}, {c['flows.created']})")
    flows = g.event_list("smtp_flow")
    check(len(flows) == n and all(f["smtp"]["messages"] == 1 for f in flows),
          f"{n} flow records, one message each ({len(flows)})")
    check(c["smtp.messages"] == n and c["packets.dropped"] == 0,
          f"{n} messages seen, nothing dropped ({c['smtp.messages']}, {c['packets.dropped']})")
    check(c.get("policy.rule.reloaded-marker") == 0, "the reloaded policy is the one in force "
          f"(its new rule is counted: {c.get('policy.rule.reloaded-marker')})")


def main():
    # One line and exit 77 on a developer's machine; a failure under CI, which has them all
    # (a skip there would hide the suite: tests/README.md).
    skip = 1 if os.environ.get("CI") else 77
    if not netns.have_netns():
        print("e2e: skipped: needs root and iproute2 (network namespaces)")
        return skip
    missing = postfix.available()
    if missing:
        print(f"e2e: skipped: {missing}")
        return skip
    scenarios = {"isp_port25": scenario_isp_port25, "submission": scenario_submission,
                 "plain_auth": scenario_plain_auth, "large": scenario_large,
                 "reload": scenario_reload}
    with netns.Lab("e" + SCENARIO[:2]) as lab, tempfile.TemporaryDirectory() as tmp:
        netns.run("ip", "-n", lab.ns_client, "addr", "add", f"{MTA_IP}/24", "dev", lab.if_client)
        try:
            with postfix.Postfix(lab.ns_server, lab.SERVER_IP, PASSWORD) as pf:
                scenarios[SCENARIO](lab, tmp, pf)
        except Exception as e:  # a client that timed out, a server that did not start
            check(False, f"scenario raised {type(e).__name__}: {e}")
        finally:
            for p in Guard.running:
                if p is not None and p.poll() is None:
                    p.kill()
                    p.wait()
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
