"""Test hosts in network namespaces on the RFC 2544 benchmarking range (198.18.0.0/15).

Two hosts, each behind a veth pair whose outer end stays in the root namespace for smtpguard
to open with net_af_packet: client (inside) <-> smtpguard <-> server (outside). Offloads are
off so af_packet sees wire-sized frames with real checksums. Names carry the pid so tests run
in parallel; everything is removed on exit.
"""
import os
import shutil
import socket
import subprocess


def run(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def free_port():
    """A TCP port on loopback that nothing listens on now (for Redis, a metrics listener)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def have_netns():
    return os.geteuid() == 0 and shutil.which("ip") is not None


class Lab:
    CLIENT_IP = "198.18.0.1"
    SERVER_IP = "198.18.0.2"

    def __init__(self, tag):
        self.tag = f"{tag}{os.getpid() % 100000}"
        self.ns_client = f"sgc{self.tag}"
        self.ns_server = f"sgs{self.tag}"
        # Interface names are limited to 15 characters.
        self.if_client = f"vc{self.tag}"[:15]
        self.if_server = f"vs{self.tag}"[:15]
        self.outer_client = f"oc{self.tag}"[:15]
        self.outer_server = f"os{self.tag}"[:15]

    def __enter__(self):
        for ns, inner, outer, ip in (
            (self.ns_client, self.if_client, self.outer_client, self.CLIENT_IP),
            (self.ns_server, self.if_server, self.outer_server, self.SERVER_IP),
        ):
            run("ip", "netns", "add", ns)
            run("ip", "link", "add", inner, "type", "veth", "peer", "name", outer)
            run("ip", "link", "set", inner, "netns", ns)
            run("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", inner)
            run("ip", "-n", ns, "link", "set", inner, "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
            run("ip", "link", "set", outer, "up")
            if shutil.which("ethtool"):
                off = ["tx", "off", "rx", "off", "tso", "off", "gso", "off", "gro", "off"]
                run("ip", "netns", "exec", ns, "ethtool", "-K", inner, *off, check=False)
                run("ethtool", "-K", outer, *off, check=False)
        return self

    def __exit__(self, *exc):
        for ns in (self.ns_client, self.ns_server):
            run("ip", "netns", "del", ns, check=False)
        for outer in (self.outer_client, self.outer_server):
            run("ip", "link", "del", outer, check=False)
        if getattr(self, "br", None):
            run("ip", "link", "del", self.br, check=False)

    def eal_args(self, lcores="0", qpairs=1, ports=("client", "server")):
        """EAL arguments for smtpguard on the outer ends. `lcores` is an EAL --lcores map
        ("0@0,1@0,2@1": three lcores on two CPUs); `qpairs` > 1 spreads flows over that many
        queues by the kernel's symmetric fanout hash."""
        outer = {"client": self.outer_client, "server": self.outer_server}
        q = f",qpairs={qpairs}" if qpairs > 1 else ""
        return [
            "--no-huge", "--no-pci", f"--lcores={lcores}", "-m", "512", "--no-telemetry",
            f"--file-prefix=sg{self.tag}", "--log-level=*:error",
            *[f"--vdev=net_af_packet{i},iface={outer[p]}{q}" for i, p in enumerate(ports)],
        ]

    def bridge(self):
        """Joins the two outer ends with a kernel bridge, so client and server talk without
        smtpguard in the path (monitor mode watches one of the bridge's ports)."""
        self.br = f"br{self.tag}"[:15]
        run("ip", "link", "add", self.br, "type", "bridge")
        for outer in (self.outer_client, self.outer_server):
            run("ip", "link", "set", outer, "master", self.br)
        run("ip", "link", "set", self.br, "up")

    def in_client(self, *cmd, **kw):
        return subprocess.Popen(["ip", "netns", "exec", self.ns_client, *cmd], **kw)

    def in_server(self, *cmd, **kw):
        return subprocess.Popen(["ip", "netns", "exec", self.ns_server, *cmd], **kw)
