#!/usr/bin/python3
"""Capture ClientHellos of real TLS clients on this machine (and ServerHellos of `openssl
s_server`) into tests/data/tls/local-*.bin fixtures.

A listener on 127.0.0.1 accepts each client's connection and records the raw bytes it sends up
to the end of its ClientHello (record headers kept), then hangs up. ServerHellos are recorded by
replaying captured ClientHellos to a local `openssl s_server`. Run it, then
tests/gen/ja4_reference.py to recompute tests/data/tls/expected.tsv.

Usage: /usr/bin/python3 tests/gen/capture_local_hellos.py [OUT_DIR]
Needs: openssl, curl, node, java on PATH (a missing client is skipped with a note).
"""

import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time

SNI = "mx.example.test"

JAVA_CLIENT = r"""
import javax.net.ssl.*;
import java.util.List;
public class Hello {
  public static void main(String[] a) throws Exception {
    SSLSocket s = (SSLSocket) SSLSocketFactory.getDefault().createSocket("127.0.0.1",
        Integer.parseInt(a[0]));
    SSLParameters p = s.getSSLParameters();
    p.setServerNames(List.of(new SNIHostName("%s")));
    s.setSSLParameters(p);
    try { s.startHandshake(); } catch (Exception e) { }
  }
}
""" % SNI

PY_CLIENT = """
import socket, ssl, sys
ctx = ssl.create_default_context()
try:
    ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))),
                    server_hostname="%s")
except Exception:
    pass
""" % SNI


def hello_end(data, hs_type):
    """Length of the prefix of `data` holding the complete first handshake message, or None."""
    pos, msg = 0, b""
    while pos + 5 <= len(data):
        if data[pos] != 22:
            raise ValueError("not a handshake record")
        length = int.from_bytes(data[pos + 3:pos + 5], "big")
        if pos + 5 + length > len(data):
            return None
        msg += data[pos + 5:pos + 5 + length]
        pos += 5 + length
        if len(msg) >= 4:
            if msg[0] != hs_type:
                raise ValueError("first handshake message has type %d" % msg[0])
            if len(msg) >= 4 + int.from_bytes(msg[1:4], "big"):
                return pos
    return None


def read_hello(sock, hs_type):
    data = b""
    sock.settimeout(15)
    while True:
        end = hello_end(data, hs_type)
        if end is not None:
            return data[:end]
        chunk = sock.recv(65536)
        if not chunk:
            raise ValueError("connection closed before the hello completed")
        data += chunk


def capture_client(name, argv, out_dir, listener):
    if shutil.which(argv[0]) is None:
        print("skip %s: %s not installed" % (name, argv[0]))
        return None
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        conn, _ = listener.accept()
        with conn:
            hello = read_hello(conn, 1)
    finally:
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    path = out_dir / ("local-%s-client.bin" % name)
    path.write_bytes(hello)
    print("%s  %d bytes" % (path.name, len(hello)))
    return hello


def capture_server(name, hello, port, out_dir):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(hello)
        shello = read_hello(s, 2)
    path = out_dir / ("local-%s-server.bin" % name)
    path.write_bytes(shello)
    print("%s  %d bytes" % (path.name, len(shello)))


def main():
    root = pathlib.Path(__file__).resolve().parents[2]
    out_dir = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else root / "tests" / "data" / "tls"
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp())
    (tmp / "Hello.java").write_text(JAVA_CLIENT)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(30)
    port = str(listener.getsockname()[1])
    target = "127.0.0.1:" + port
    clients = [
        ("openssl-tls13-sni-alpn",
         ["openssl", "s_client", "-connect", target, "-servername", SNI, "-alpn", "h2,http/1.1"]),
        ("openssl-tls12-nosni",
         ["openssl", "s_client", "-connect", target, "-noservername", "-tls1_2"]),
        ("openssl-tls12-allciphers",
         ["openssl", "s_client", "-connect", target, "-servername", SNI, "-tls1_2", "-cipher",
          "ALL:COMPLEMENTOFALL:@SECLEVEL=0"]),
        ("python-ssl", ["/usr/bin/python3", "-c", PY_CLIENT, port]),
        ("curl", ["curl", "-sk", "--max-time", "5", "--resolve", "%s:%s:127.0.0.1" % (SNI, port),
                  "https://%s:%s/" % (SNI, port)]),
        ("node", ["node", "-e",
                  "require('tls').connect({host:'127.0.0.1',port:%s,servername:'%s',"
                  "ALPNProtocols:['smtp'],rejectUnauthorized:false}).on('error',()=>{})"
                  % (port, SNI)]),
        ("java", ["java", str(tmp / "Hello.java"), port]),
    ]
    hellos = {}
    for name, argv in clients:
        hellos[name] = capture_client(name, argv, out_dir, listener)
    listener.close()

    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=" + SNI, "-days", "1",
                    "-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem")],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        sport = probe.getsockname()[1]
    server = subprocess.Popen(["openssl", "s_server", "-accept", "127.0.0.1:%d" % sport,
                               "-cert", str(tmp / "cert.pem"), "-key", str(tmp / "key.pem"),
                               "-alpn", "h2", "-quiet"],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)
        for name in ("openssl-tls13-sni-alpn", "openssl-tls12-nosni"):
            if hellos.get(name):
                capture_server(name, hellos[name], sport, out_dir)
    finally:
        server.kill()
        server.wait()
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
