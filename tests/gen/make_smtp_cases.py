#!/usr/bin/python3
"""Captures for the SMTP engine, one per topic, each with NAME.expected.json by construction.

Usage: make_smtp_cases.py OUTDIR

Every capture is a set of complete TCP connections (handshake, correct seq/ack, FIN teardown,
valid checksums) except where the topic is the exception (midstream.pcap drops handshakes).
Expected JSON: {"counters": {...}, "ja3": [...], "sni": [...], "secrets": [...]}; ja3/sni list
one entry per SMTP-port ClientHello in capture order (SNI omitted when absent); secrets are the
fake credential strings and base64 blobs present in the capture. See README.md for the rules.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import smtpgen as g  # noqa: E402

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def new(seed):
    cap = g.Capture(seed)
    return cap, g.Hosts(cap.rng)


def tls_submission(s, sni="smtp.example.net", **hs):
    """Banner, EHLO with STARTTLS, STARTTLS 220, TLS, close: the well-behaved client."""
    s.c.handshake()
    s.banner()
    s.ehlo()
    s.starttls()
    s.tls_handshake(sni=sni, **hs)
    s.tls_close()


# -- segmentation at every byte boundary -------------------------------------------------------


@case
def split_starttls():
    """STARTTLS\\r\\n split into two segments at each of its 9 inner boundaries (9 flows, 587)."""
    cap, hosts = new(101)
    for plan in g.every_split(len("STARTTLS\r\n")):
        s = g.new_session(cap, hosts, 587)
        s.c.handshake()
        s.banner()
        s.ehlo()
        s.starttls(plan=plan)
        s.tls_handshake(sni="smtp.example.net")
        s.tls_close()
    return cap


@case
def split_auth():
    """AUTH PLAIN <b64>\\r\\n split at each of its 36 inner boundaries (36 flows, 587; the
    server offered STARTTLS so each flow is also starttls_offered_not_used)."""
    cap, hosts = new(102)
    line = f"AUTH PLAIN {g.b64(chr(0) + g.FAKE_USER + chr(0) + g.FAKE_PASS)}\r\n"
    for plan in g.every_split(len(line)):
        s = g.new_session(cap, hosts, 587)
        s.c.handshake()
        s.banner()
        s.ehlo()
        s.auth_plain(plan=plan)
        s.quit()
    return cap


@case
def split_reply():
    """The 220 reply to STARTTLS split at each of its 29 inner boundaries (29 flows, 587)."""
    cap, hosts = new(103)
    for plan in g.every_split(len(g.REPLY_STARTTLS_OK)):
        s = g.new_session(cap, hosts, 587)
        s.c.handshake()
        s.banner()
        s.ehlo()
        s.starttls(reply_plan=plan)
        s.tls_handshake(sni="smtp.example.net")
        s.tls_close()
    return cap


@case
def split_ehlo():
    """The EHLO reply split at every boundary in and around its '250-STARTTLS\\r\\n' line
    (15 flows, 587): the offer must be seen whichever way the line is cut."""
    cap, hosts = new(104)
    probe = g.Capture(0)
    reply = g.SmtpSession(g.TcpConv(probe, "100.64.0.1", "198.19.0.1", 40000, 587)).ehlo()
    start = reply.index("250-STARTTLS\r\n")
    for k in range(0, 15):
        p = start + k
        plan = [(0, p), (p, len(reply))] if 0 < p < len(reply) else None
        s = g.new_session(cap, hosts, 587)
        s.c.handshake()
        s.banner()
        s.ehlo(reply_plan=plan)
        s.starttls()
        s.tls_handshake(sni="smtp.example.net")
        s.tls_close()
    return cap


# -- TCP irregularities --------------------------------------------------------------------


@case
def retransmit():
    """Duplicate and overlapping retransmissions of commands, replies and a ClientHello."""
    cap, hosts = new(105)
    rto = 220_000
    # 1: STARTTLS, its 220 and the ClientHello each sent twice (exact duplicates).
    s = g.new_session(cap, hosts, 587)
    s.c.handshake()
    s.banner()
    s.ehlo(reply_plan=lambda b: [(0, 80), (80, len(b)), (0, 80, rto)])  # part of it again
    s.starttls(plan=[(0, 10), (0, 10, rto)], reply_plan=[(0, 30), (0, 30, rto)])
    ch = g.client_hello(cap.rng, sni="dup.example.net")
    s.tls_handshake(hello=ch, plan=[(0, len(ch)), (0, len(ch), rto)])
    s.tls_close()
    # 2: overlapping: "STAR" then the whole line; the 220 as 12 bytes then bytes 6..30.
    s = g.new_session(cap, hosts, 587)
    s.c.handshake()
    s.banner()
    s.ehlo()
    s.starttls(plan=[(0, 4), (0, 10, rto)], reply_plan=[(0, 12), (6, 30, rto)])
    s.tls_handshake(sni="overlap.example.net")
    s.tls_close()
    # 3: AUTH PLAIN as bytes 0..20, then 10..37 (overlap), then the whole line once more.
    s = g.new_session(cap, hosts, 587)
    s.c.handshake()
    s.banner()
    s.ehlo()
    s.auth_plain(plan=[(0, 20), (10, 37, rto), (0, 37, rto)])
    s.quit()
    # 4: relay session: MAIL duplicated, DATA body's final segment retransmitted.
    s = g.new_session(cap, hosts, 25)
    s.c.handshake()
    s.banner()
    s.ehlo(starttls=False, auth=())
    s.mail(plan=lambda b: [(0, len(b)), (0, len(b), rto)])
    s.rcpt()
    body = ["line %02d of a message retransmitted at its end" % i for i in range(40)]
    s.data(body, plan=lambda b: [(0, 1000), (1000, len(b)), (1000, len(b), rto)])
    s.quit()
    # 5: AUTH LOGIN, its first line duplicated.
    s = g.new_session(cap, hosts, 587)
    s.c.handshake()
    s.banner()
    s.ehlo(starttls=False)
    s.auth_login(plan=[(0, 12), (0, 12, rto)])
    s.quit()
    return cap


@case
def reorder():
    """Segments delivered out of order (each receiver ACKs only its contiguous prefix)."""
    cap, hosts = new(106)
    # 1: STARTTLS as "STAR" / "TLS\r\n" swapped.
    s = g.new_session(cap, hosts, 587)
    s.c.handshake()
    s.banner()
    s.ehlo()
    s.starttls(plan=[(4, 10), (0, 4)])
    s.tls_handshake(sni="reorder.example.net")
    s.tls_close()
    # 2: AUTH PLAIN in three pieces, last first.
    s = g.new_session(cap, hosts, 587)
    s.c.handshake()
    s.banner()
    s.ehlo()
    s.auth_plain(plan=[(25, 37), (11, 25), (0, 11)])
    s.quit()
    # 3: EHLO reply in two pieces swapped, cut inside the STARTTLS line.
    s = g.new_session(cap, hosts, 587)
    s.c.handshake()
    s.banner()
    s.ehlo(reply_plan=lambda b: [(b.index(b"STARTTLS") + 4, len(b)),
                                 (0, b.index(b"STARTTLS") + 4)])
    s.starttls()
    s.tls_handshake(sni="reorder2.example.net")
    s.tls_close()
    # 4: a large ClientHello in three segments, delivered 3, 1, 2.
    s = g.new_session(cap, hosts, 587)
    s.c.handshake()
    s.banner()
    s.ehlo()
    s.starttls()
    ch = g.client_hello(cap.rng, sni="pq.example.net", large=True)
    n = len(ch)
    s.tls_handshake(hello=ch, plan=[(2000, n), (0, 1000), (1000, 2000)])
    s.tls_close()
    # 5: relay: DATA body whose terminating segment arrives before the one before it.
    s = g.new_session(cap, hosts, 25)
    s.c.handshake()
    s.banner()
    s.ehlo(starttls=False, auth=())
    s.mail()
    s.rcpt()
    body = ["reordered body line %02d" % i for i in range(30)]
    s.data(body, plan=lambda b: [(0, 600), (700, len(b)), (600, 700)])
    s.quit()
    return cap


@case
def midstream():
    """Connections picked up mid-stream (no SYN seen). Only packet and flow counters are
    asserted: what an engine may infer from a stream it joined late is not in the contract.
    The first packet of every flow is client->server."""
    cap, hosts = new(107)
    # 1: relay, picked up at MAIL FROM.
    c = g.TcpConv(cap, hosts.subscriber(), hosts.server(), hosts.eport(), 25).midstream()
    c.send("c", "MAIL FROM:<alice@example.org>\r\n")
    c.send("s", "250 2.1.0 Ok\r\n")
    c.send("c", "RCPT TO:<bob@example.com>\r\n")
    c.send("s", "250 2.1.5 Ok\r\n")
    c.send("c", "DATA\r\n")
    c.send("s", "354 End data with <CR><LF>.<CR><LF>\r\n")
    c.send("c", "Subject: picked up\r\n\r\nhello\r\n.\r\n")
    c.send("s", "250 2.0.0 Ok: queued as 0000C0FFEE\r\n")
    c.send("c", "QUIT\r\n")
    c.send("s", "221 2.0.0 Bye\r\n")
    c.close(first="s")
    # 2: submission, picked up inside TLS application data.
    c = g.TcpConv(cap, hosts.subscriber(), hosts.server(), hosts.eport(), 587).midstream()
    for _ in range(3):
        c.send("c", g.app_data(cap.rng, cap.rng.randrange(40, 900)))
        c.send("s", g.app_data(cap.rng, cap.rng.randrange(40, 900)))
    c.send("c", g.app_data(cap.rng, 19))
    c.close(first="c")
    # 3: submission, picked up at an AUTH PLAIN line.
    c = g.TcpConv(cap, hosts.subscriber(), hosts.server(), hosts.eport(), 587).midstream()
    blob = g.b64(f"\0{g.FAKE_USER}\0{g.FAKE_PASS}")
    cap.add_secret(g.FAKE_PASS)
    cap.add_secret(blob)
    c.send("c", f"AUTH PLAIN {blob}\r\n")
    c.send("s", "235 2.7.0 Authentication successful\r\n")
    c.send("c", "QUIT\r\n")
    c.send("s", "221 2.0.0 Bye\r\n")
    c.close(first="s")
    # 4: implicit TLS, picked up in application data, IPv6.
    c = g.TcpConv(cap, hosts.subscriber(True), hosts.server(True), hosts.eport(), 465).midstream()
    c.send("c", g.app_data(cap.rng, 600))
    c.send("s", g.app_data(cap.rng, 80))
    c.close(first="c")
    return cap, {"keys": g.PACKET_KEYS + g.FLOW_KEYS, "with_tls": False}


# -- encapsulation and spelling ------------------------------------------------------------


@case
def ipv6_vlan():
    """IPv6 (and one IPv4) SMTP inside 802.1Q and QinQ."""
    cap, hosts = new(108)
    dot1q = ((g.TPID_8021Q, 100),)
    qinq = ((g.TPID_8021AD, 10), (g.TPID_8021Q, 200))
    # 1: IPv6 in 802.1Q, 587 STARTTLS + TLS.
    tls_submission(g.new_session(cap, hosts, 587, v6=True, vlans=dot1q), sni="v6.example.net")
    # 2: IPv6 in 802.1Q, relay in clear, server without STARTTLS.
    s = g.new_session(cap, hosts, 25, v6=True, vlans=dot1q)
    s.c.handshake()
    s.banner()
    s.ehlo(starttls=False, auth=())
    s.mail()
    s.rcpt()
    s.data()
    s.quit()
    # 3: IPv6 in QinQ, 587: AUTH LOGIN in clear although STARTTLS was offered.
    s = g.new_session(cap, hosts, 587, v6=True, vlans=qinq)
    s.c.handshake()
    s.banner()
    s.ehlo()
    s.auth_login()
    s.quit()
    # 4: IPv4 in 802.1Q, implicit TLS on 465.
    s = g.new_session(cap, hosts, 465, vlans=dot1q)
    s.c.handshake()
    s.tls_handshake(sni="smtps.example.net")
    s.tls_close()
    return cap


@case
def lowercase():
    """Lower- and mixed-case verbs (RFC 5321 §2.4: verbs are case-insensitive)."""
    cap, hosts = new(109)
    s = g.new_session(cap, hosts, 587)
    s.c.handshake()
    s.banner()
    s.ehlo(verb="ehlo")
    s.starttls(verb="starttls")
    s.tls_handshake(sni="lower.example.net")
    s.tls_close()
    s = g.new_session(cap, hosts, 587)
    s.c.handshake()
    s.banner()
    s.ehlo(verb="ehlo")
    s.auth_plain(verb="auth plain")
    s.mail(verb="mail from:")
    s.rcpt(verb="rcpt to:")
    s.data(verb="data")
    s.quit(verb="quit")
    s = g.new_session(cap, hosts, 25)
    s.c.handshake()
    s.banner()
    s.ehlo(verb="Ehlo")
    s.starttls(verb="StartTLS")
    s.tls_handshake(sni="mixed.example.net")
    s.tls_close()
    s = g.new_session(cap, hosts, 2525)
    s.c.handshake()
    s.banner()
    s.ehlo(verb="eHLo", starttls=False)
    s.auth_login(verb="Auth Login")
    s.quit(verb="Quit")
    return cap


# -- message content that looks like commands -------------------------------------------------


COMMANDISH_BODY = [
    "Please ignore these lines, they are message text:",
    "STARTTLS",
    "AUTH PLAIN eA==",
    "starttls",
    "QUIT",
    ".STARTTLS",  # dot-stuffed on the wire as ..STARTTLS
    ".",  # a lone dot in the text: on the wire ".."
    ".AUTH LOGIN",
    "MAIL FROM:<evil@example.org>",
    "EHLO body.example.org",
    "BDAT 10 LAST",
    "220 2.0.0 Ready to start TLS",
    "end of text",
]


@case
def data_body():
    """DATA bodies holding command-like lines and dot-stuffed lines; none is a command."""
    cap, hosts = new(110)
    s = g.new_session(cap, hosts, 25)
    s.c.handshake()
    s.banner()
    s.ehlo(starttls=False, auth=())
    s.mail()
    s.rcpt()
    s.data(COMMANDISH_BODY)
    s.quit()
    # 2: submission that offered STARTTLS; the body is cut so "\r\nSTARTTLS\r\n" straddles a
    # segment boundary.
    s = g.new_session(cap, hosts, 587)
    s.c.handshake()
    s.banner()
    s.ehlo()
    s.auth_plain()
    s.mail()
    s.rcpt()
    s.data(COMMANDISH_BODY,
           plan=lambda b: g.split_at(len(b), b.index(b"\r\nSTARTTLS\r\n") + 5))
    s.quit()
    # 3: the same body cut at every 7 bytes.
    s = g.new_session(cap, hosts, 25)
    s.c.handshake()
    s.banner()
    s.ehlo(starttls=False, auth=())
    s.mail()
    s.rcpt()
    s.data(COMMANDISH_BODY, plan=lambda b: g.chunked(len(b), 7))
    s.quit()
    return cap


@case
def bdat():
    """RFC 3030 BDAT chunks holding command-like text, a chunk boundary inside 'STARTTLS',
    and BDAT LAST pipelined with the next MAIL FROM."""
    cap, hosts = new(111)
    ext = g.DEFAULT_EXT + ("CHUNKING",)
    s = g.new_session(cap, hosts, 25)
    s.c.handshake()
    s.banner()
    s.ehlo(starttls=False, auth=(), ext=ext)
    s.mail()
    s.rcpt()
    s.bdat_message(["Subject: chunked\r\n\r\nfirst chunk\r\nSTARTT",
                    "LS\r\nAUTH PLAIN Zm9v\r\nQUIT\r\nBDAT 5 LAST\r\nend\r\n"],
                   pipeline_next_mail="carol@example.org")
    s.rcpt()
    s.bdat_message(["STARTTLS\r\n.\r\nMAIL FROM:<x@example.org>\r\nDATA\r\n"])
    s.quit()
    s = g.new_session(cap, hosts, 587)
    s.c.handshake()
    s.banner()
    s.ehlo(ext=ext)
    s.auth_plain()
    s.mail()
    s.rcpt()
    s.bdat_message(["STARTTLS\r\nAUTH LOGIN\r\n"])
    s.quit()
    return cap


# -- AUTH mechanisms -------------------------------------------------------------------------


@case
def auth_mechs():
    """PLAIN (initial response and 334 continuation), LOGIN (334 exchange and initial
    response), CRAM-MD5, XOAUTH2, a failed PLAIN followed by LOGIN, and AUTH inside TLS."""
    cap, hosts = new(112)
    auth_ext = ("PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2")

    def flow(port, starttls, fn, message=False):
        s = g.new_session(cap, hosts, port)
        s.c.handshake()
        s.banner()
        s.ehlo(starttls=starttls, auth=auth_ext)
        fn(s)
        if message:
            s.mail()
            s.rcpt()
            s.data()
        s.quit()

    flow(587, True, lambda s: s.auth_plain(), message=True)
    flow(587, True, lambda s: s.auth_plain(initial=False))
    flow(587, True, lambda s: s.auth_login())
    flow(587, True, lambda s: s.auth_login(initial=True))
    flow(2525, False, lambda s: s.auth_cram_md5(), message=True)
    flow(587, False, lambda s: s.auth_xoauth2())

    def fail_then_login(s):
        s.auth_plain(password="fakepass-wrong", ok=False)
        s.auth_login()

    flow(25, True, fail_then_login)
    # AUTH after STARTTLS is encrypted: nothing to count.
    tls_submission(g.new_session(cap, hosts, 587), sni="auth-in-tls.example.net")
    return cap


# -- STARTTLS outcomes and anomalies ---------------------------------------------------------


@case
def starttls_refused():
    """STARTTLS answered 454 (offered), 502 (not offered, relay) and 554 (offered)."""
    cap, hosts = new(113)
    for port, offered, reply in ((587, True, g.REPLY_STARTTLS_454),
                                 (25, False, g.REPLY_STARTTLS_502),
                                 (587, True, g.REPLY_STARTTLS_554)):
        s = g.new_session(cap, hosts, port)
        s.c.handshake()
        s.banner()
        s.ehlo(starttls=offered)
        s.starttls(reply=reply)
        s.quit()
    return cap


@case
def starttls_injection():
    """Cleartext pipelined after STARTTLS before the 220 (CVE-2011-0411 shape): in the same
    segment, and in the next segment; plus a clean STARTTLS for contrast."""
    cap, hosts = new(114)
    s = g.new_session(cap, hosts, 25)
    s.c.handshake()
    s.banner()
    s.ehlo()
    s.starttls(inject="RSET\r\n")
    s.tls_handshake(sni="inject1.example.net")
    s.tls_close()
    s = g.new_session(cap, hosts, 587)
    s.c.handshake()
    s.banner()
    s.ehlo()
    s.starttls(inject="NOOP\r\n", inject_separate=True)
    s.tls_handshake(sni="inject2.example.net")
    s.tls_close()
    tls_submission(g.new_session(cap, hosts, 587), sni="clean.example.net")
    return cap


@case
def plaintext_after_starttls():
    """A 220 to STARTTLS followed by a cleartext EHLO instead of a ClientHello; plus a clean
    relay STARTTLS for contrast."""
    cap, hosts = new(115)
    s = g.new_session(cap, hosts, 25)
    s.c.handshake()
    s.banner()
    s.ehlo()
    s.starttls()
    s.plaintext_after_starttls()
    s = g.new_session(cap, hosts, 25)
    tls_submission(s, sni="relay.example.net")
    return cap


@case
def implicit_tls():
    """465 with a proper ClientHello (with SNI; without SNI; split in two segments)."""
    cap, hosts = new(116)
    s = g.new_session(cap, hosts, 465)
    s.c.handshake()
    s.tls_handshake(sni="smtps.example.net")
    s.tls_close()
    s = g.new_session(cap, hosts, 465)
    s.c.handshake()
    s.tls_handshake(sni=None, alpn=())
    s.tls_close()
    s = g.new_session(cap, hosts, 465)
    s.c.handshake()
    ch = g.client_hello(cap.rng, sni="split.example.net")
    s.tls_handshake(hello=ch, plan=[(0, 3), (3, len(ch))])  # cut inside the record header
    s.tls_close()
    return cap


@case
def smtp_clear_on_465():
    """SMTP in clear on the implicit-TLS port: banner, EHLO, AUTH PLAIN, a message."""
    cap, hosts = new(117)
    s = g.new_session(cap, hosts, 465)
    s.c.handshake()
    s.banner()
    s.ehlo(starttls=False)
    s.auth_plain()
    s.mail()
    s.rcpt()
    s.data()
    s.quit()
    return cap


@case
def large_client_hello():
    """~2.9 KiB ClientHellos (two post-quantum key shares): after STARTTLS with MSS 1000
    (3 segments), after STARTTLS cut in 5 uneven pieces (one inside the record header, one
    inside the handshake header), and on 465."""
    cap, hosts = new(118)
    s = g.new_session(cap, hosts, 587, mss=1000)
    s.c.handshake()
    s.banner()
    s.ehlo()
    s.starttls()
    s.tls_handshake(sni="pq.example.net", large=True)
    s.tls_close()
    s = g.new_session(cap, hosts, 25)
    s.c.handshake()
    s.banner()
    s.ehlo()
    s.starttls()
    ch = g.client_hello(cap.rng, sni="pq-relay.example.net", large=True)
    n = len(ch)
    s.tls_handshake(hello=ch, plan=[(0, 2), (2, 7), (7, 1000), (1000, 2000), (2000, n)])
    s.tls_close()
    s = g.new_session(cap, hosts, 465, mss=1200)
    s.c.handshake()
    s.tls_handshake(sni="pq-smtps.example.net", large=True)
    s.tls_close()
    return cap


@case
def starttls_masked():
    """An EHLO reply whose STARTTLS keyword a middlebox overwrote with XXXXXXXA (relay), and
    an unmasked relay session for contrast."""
    cap, hosts = new(119)
    s = g.new_session(cap, hosts, 25)
    s.c.handshake()
    s.banner()
    s.ehlo(starttls=False, masked=True, auth=())
    s.mail()
    s.rcpt()
    s.data()
    s.quit()
    tls_submission(g.new_session(cap, hosts, 25), sni="unmasked.example.net")
    return cap


@case
def starttls_not_offered():
    """Submission servers (587, 2525) without STARTTLS; a relay without it (not an anomaly on
    25) and a 587 server that offers it, for contrast."""
    cap, hosts = new(120)
    s = g.new_session(cap, hosts, 587)
    s.c.handshake()
    s.banner()
    s.ehlo(starttls=False)
    s.auth_login()
    s.mail()
    s.rcpt()
    s.data()
    s.quit()
    s = g.new_session(cap, hosts, 2525)
    s.c.handshake()
    s.banner()
    s.ehlo(starttls=False)
    s.mail()
    s.rcpt()
    s.data()
    s.quit()
    s = g.new_session(cap, hosts, 25)
    s.c.handshake()
    s.banner()
    s.ehlo(starttls=False, auth=())
    s.mail()
    s.rcpt()
    s.data()
    s.quit()
    tls_submission(g.new_session(cap, hosts, 587), sni="offers.example.net")
    return cap


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: make_smtp_cases.py OUTDIR")
    out = argv[1]
    os.makedirs(out, exist_ok=True)
    for fn in CASES:
        r = fn()
        cap, opts = r if isinstance(r, tuple) else (r, {})
        cap.write_pcap(os.path.join(out, fn.__name__ + ".pcap"))
        g.write_expected(os.path.join(out, fn.__name__ + ".expected.json"), cap.expected(**opts))


if __name__ == "__main__":
    main(sys.argv)
