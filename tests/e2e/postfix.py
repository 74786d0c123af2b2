"""A private Debian Postfix instance for end-to-end tests, run inside a network namespace.

Everything lives under one temporary directory: configuration (`postfix -c DIR`), queue, data,
log (maillog_file), TLS certificate and key (made now with openssl), Cyrus SASL configuration
and sasldb. Nothing in /etc/postfix is read or written, no system service is involved, so
instances run in parallel and leave nothing behind.

Services (master.cf written here, no chroot):
  25   relay        smtpd, STARTTLS offered
  587  submission   smtpd, STARTTLS offered, AUTH PLAIN/LOGIN from the sasldb (offered before
                    TLS too, so that the enterprise policy has plaintext AUTH to stop)
  465  submissions  smtpd with implicit TLS (smtpd_tls_wrappermode)
Every accepted message is put on hold (check_recipient_access static:HOLD): it stays in the
queue, where the tests find and read it (postcat).
"""
import glob
import os
import shutil
import subprocess
import tempfile
import time

DOMAIN = "e2e.test"
USER = "alice@e2e.test"

MASTER_CF = """\
smtp       inet  n  -  n  -  -  smtpd
submission inet  n  -  n  -  -  smtpd
smtps      inet  n  -  n  -  -  smtpd
  -o smtpd_tls_wrappermode=yes
pickup     unix  n  -  n  60 1  pickup
cleanup    unix  n  -  n  -  0  cleanup
qmgr       unix  n  -  n  300 1 qmgr
tlsmgr     unix  -  -  n  1000? 1 tlsmgr
rewrite    unix  -  -  n  -  -  trivial-rewrite
bounce     unix  -  -  n  -  0  bounce
defer      unix  -  -  n  -  0  bounce
trace      unix  -  -  n  -  0  bounce
verify     unix  -  -  n  -  1  verify
flush      unix  n  -  n  1000? 0 flush
proxymap   unix  -  -  n  -  -  proxymap
smtp       unix  -  -  n  -  -  smtp
relay      unix  -  -  n  -  -  smtp
showq      unix  n  -  n  -  -  showq
error      unix  -  -  n  -  -  error
retry      unix  -  -  n  -  -  error
discard    unix  -  -  n  -  -  discard
local      unix  -  n  n  -  -  local
anvil      unix  -  -  n  -  1  anvil
scache     unix  -  -  n  -  1  scache
postlog    unix-dgram n - n  -  1  postlogd
"""


def available():
    """None if Postfix, Cyrus SASL and openssl are installed, else what is missing."""
    for tool in ("/usr/sbin/postfix", "/usr/sbin/postcat", "/usr/sbin/saslpasswd2",
                 "/usr/bin/openssl", "/usr/bin/swaks", "/usr/bin/tshark"):
        if not os.path.exists(tool):
            return f"{tool} missing (setup.sh installs postfix, sasl2-bin, swaks, tshark)"
    if not glob.glob("/usr/lib/*/sasl2/libsasldb.so*"):
        return "the Cyrus sasldb plugin is missing (setup.sh installs libsasl2-modules)"
    return None


class Postfix:
    def __init__(self, netns, address, password):
        self.netns = netns
        self.address = address
        self.password = password
        self.dir = tempfile.mkdtemp(prefix="smtpguard-e2e-postfix.")
        os.chmod(self.dir, 0o755)  # postfix-owned daemons walk into it
        self.etc = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "queue")
        self.started = False

    def _run(self, *cmd, check=True, input=None):
        p = subprocess.run(["ip", "netns", "exec", self.netns, *cmd], capture_output=True,
                           text=True, input=input, timeout=60)
        if check and p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()}"
                               f" {self.log()[-1500:]}")
        return p

    def __enter__(self):
        try:
            return self._start()
        except BaseException:
            self.__exit__()  # a half-started instance: stop it, remove its files
            raise

    def _start(self):
        d = self.dir
        for sub in ("etc", "etc/sasl", "data", "tls", "queue"):
            os.makedirs(os.path.join(d, sub))
            os.chmod(os.path.join(d, sub), 0o755)  # whatever the umask: postfix reads them
        # A certificate for mx.e2e.test, made now.
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                        "2", "-subj", "/CN=mx." + DOMAIN, "-addext",
                        "subjectAltName=DNS:mx." + DOMAIN,
                        "-keyout", f"{d}/tls/key.pem", "-out", f"{d}/tls/cert.pem"],
                       check=True, capture_output=True)
        os.chmod(f"{d}/tls/key.pem", 0o600)
        shutil.chown(f"{d}/data", "postfix", "postfix")
        with open(f"{d}/etc/sasl/smtpd.conf", "w") as f:
            f.write(f"pwcheck_method: auxprop\nauxprop_plugin: sasldb\n"
                    f"sasldb_path: {d}/etc/sasl/sasldb2\nmech_list: PLAIN LOGIN\n")
        os.chmod(f"{d}/etc/sasl/smtpd.conf", 0o644)
        user, realm = USER.split("@")
        subprocess.run(["saslpasswd2", "-f", f"{d}/etc/sasl/sasldb2", "-p", "-c", "-u", realm, user],
                       input=self.password, text=True, check=True, capture_output=True)
        shutil.chown(f"{d}/etc/sasl/sasldb2", "postfix", "postfix")
        os.chmod(f"{d}/etc/sasl/sasldb2", 0o600)
        main = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue,
            "data_directory": f"{d}/data",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "mx." + DOMAIN,
            "mydomain": DOMAIN,
            "myorigin": DOMAIN,
            "mydestination": f"{DOMAIN}, mx.{DOMAIN}",
            "inet_interfaces": self.address,
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtpd_peername_lookup": "no",
            "smtp_dns_support_level": "disabled",
            "biff": "no",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",  # any recipient at e2e.test is accepted (then held)
            "maillog_file": f"{d}/maillog",
            "maillog_file_prefixes": d,
            "message_size_limit": str(64 * 1024 * 1024),
            "smtpd_recipient_restrictions": "check_recipient_access static:HOLD",
            "smtpd_tls_cert_file": f"{d}/tls/cert.pem",
            "smtpd_tls_key_file": f"{d}/tls/key.pem",
            "smtpd_tls_security_level": "may",
            "smtpd_tls_auth_only": "no",
            "smtpd_sasl_auth_enable": "yes",
            "smtpd_sasl_type": "cyrus",
            "smtpd_sasl_path": "smtpd",
            # Debian's smtpd reads $config_directory/sasl/smtpd.conf whatever this says.
            "cyrus_sasl_config_path": f"{d}/etc/sasl",
            "smtpd_client_connection_count_limit": "0",
            "smtpd_client_connection_rate_limit": "0",
            "default_process_limit": "250",
        }
        with open(f"{self.etc}/main.cf", "w") as f:
            f.writelines(f"{k} = {v}\n" for k, v in main.items())
        with open(f"{self.etc}/master.cf", "w") as f:
            f.write(MASTER_CF)
        self.started = True  # from here on, __exit__ stops it (harmless if it never ran)
        self._run("postfix", "-c", self.etc, "start")
        # Listening on all three ports?
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ss = self._run("ss", "-ltn", check=False).stdout
            if all(f"{self.address}:{p} " in ss for p in (25, 465, 587)):
                return self
            time.sleep(0.1)
        raise RuntimeError("postfix does not listen on 25, 465 and 587: " + self.log()[-2000:])

    def __exit__(self, *exc):
        if self.started:
            try:
                pid = int(open(os.path.join(self.queue, "pid", "master.pid")).read())
            except (OSError, ValueError):
                pid = None
            self._run("postfix", "-c", self.etc, "stop", check=False)
            # master waits for its children; the files go once it has.
            deadline = time.monotonic() + 10
            while pid and os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
                time.sleep(0.05)
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        try:
            return open(os.path.join(self.dir, "maillog")).read()
        except OSError:
            return ""

    def queued(self):
        """Queue ids of the messages on hold."""
        hold = os.path.join(self.queue, "hold")
        ids = []
        for root, _, files in os.walk(hold):
            ids += files
        return ids

    def message(self, queue_id):
        """Header and body of a queued message, as postcat prints them (lines end with \\n)."""
        return self._run("postcat", "-c", self.etc, "-bh", "-q", queue_id).stdout

    def body(self, queue_id):
        return self._run("postcat", "-c", self.etc, "-b", "-q", queue_id).stdout
