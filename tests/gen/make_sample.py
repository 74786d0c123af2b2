#!/usr/bin/python3
"""The shipped demo capture: samples/sample.pcap (and samples/sample.expected.json).

Usage: make_sample.py OUT.pcap      (writes OUT.pcap and OUT.expected.json beside it)

One subscriber access link as smtpguard sees it: frames between the subscriber-side router
(52:54:00:4b:1e:01) and the upstream router (52:54:00:c3:7a:02); subscribers in
100.64.0.0/10 and 2001:db8:100::/48, servers in 198.19.0.0/16 and 2001:db8:5::/48. Starts
2026-01-01T00:00:00Z and lasts about 11 s; flows overlap in time. Contents:

  web and other traffic (must pass untouched)
    - ARP request/reply between the two routers (198.18.0.1 / 198.18.0.2)
    - DNS over UDP: A www.example.com, MX example.net, A mx.example.net (query + answer each)
    - HTTP: 100.64.1.10 -> 198.19.80.80:80, GET / and a 200 reply in two segments
    - HTTPS: 100.64.1.11 -> 198.19.44.3:443, ClientHello (SNI www.example.com, ALPN h2),
      server flight, application data (not SMTP: not in the ja3/sni lists)
  port 25 from ordinary subscribers (what the relay policy is about)
    - 100.64.3.7 -> 198.19.25.10: complete session; server offers STARTTLS, client sends MAIL
      in clear anyway (starttls_offered_not_used), one message
    - 100.64.5.20 -> 198.19.25.11: complete session, server without STARTTLS, one message
    - 100.64.7.3 -> 198.19.25.12 and 100.64.8.9 -> 198.19.25.13: SYN only, sent 4 times each
      (t, t+1 s, t+3 s, t+7 s), never answered
    - bot 100.64.66.6 -> 198.19.30.10 ... 198.19.30.21 (12 servers, one every 150 ms): 7 SYNs
      unanswered, 2 refused with RST, 3 short sessions (EHLO, MAIL, RCPT refused 550, QUIT;
      2 of the 3 servers offer STARTTLS)
  the registered customer MTA 100.64.10.25 on 25
    - to 198.19.25.20 and 198.19.25.21: EHLO, STARTTLS, 220, ClientHello (SNI
      mx1.example.org / mx2.example.org), TLS
  submission
    - 100.64.12.34 -> 198.19.58.7:587: EHLO, STARTTLS, 220, ClientHello (smtp.example.com)
    - 100.64.12.35 -> 198.19.58.7:587: STARTTLS offered, AUTH PLAIN in clear with fake
      credentials (\\0fakeuser\\0fakepass), one message
    - 100.64.12.36 -> 198.19.46.5:465: implicit TLS, ClientHello first (smtp.example.com)
    - 100.64.12.37 -> 198.19.25.25:2525: server offers no STARTTLS, AUTH LOGIN in clear, one
      message
    - 2001:db8:100::1:1234 -> 2001:db8:5::25 port 587 in 802.1Q VLAN 100: EHLO, STARTTLS,
      220, ClientHello (smtp.example.com)
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import smtpgen as g  # noqa: E402
from scapy.layers.dns import DNS, DNSQR, DNSRR, DNSRRMX  # noqa: E402

SUB, UP = g.MAC_SUBSCRIBER_SIDE, g.MAC_UPSTREAM_SIDE
RESOLVER = "198.19.0.53"


def at(seconds):
    return g.EPOCH_US + int(seconds * 1_000_000)


def conv(cap, client, server, sport, start, cport, **kw):
    return g.TcpConv(cap, client, server, cport, sport, start_us=at(start), **kw)


def dns(cap, start, client, cport, qid, qname, qtype, answers):
    q = DNS(id=qid, rd=1, qd=DNSQR(qname=qname, qtype=qtype))
    cap.udp(client, RESOLVER, cport, 53, bytes(q), src_mac=SUB, dst_mac=UP, ts=at(start))
    an = None
    for rr in answers:
        an = rr if an is None else an / rr
    r = DNS(id=qid, qr=1, rd=1, ra=1, qd=DNSQR(qname=qname, qtype=qtype), an=an)
    cap.udp(RESOLVER, client, 53, cport, bytes(r), src_mac=UP, dst_mac=SUB,
            ts=at(start) + 11_500)


def relay_session(cap, client, server, start, cport, starttls, helo, rcpt_reply=None,
                  message=True):
    s = g.SmtpSession(conv(cap, client, server, 25, start, cport), server_name="mx.example.net")
    s.c.handshake()
    s.banner()
    s.ehlo(helo_name=helo, starttls=starttls, auth=())
    s.mail(sender="newsletter@example.org")
    if rcpt_reply:
        s.rcpt(rcpt="someone@example.com", reply=rcpt_reply)
    else:
        s.rcpt(rcpt="someone@example.com")
    if message:
        s.data(subject="monthly news")
    s.quit()


def build():
    cap = g.Capture(2026)
    rng = cap.rng
    # Routers resolve each other.
    cap.arp(1, SUB, "198.18.0.1", UP, "198.18.0.2", ts=at(0.0))
    cap.arp(2, UP, "198.18.0.2", SUB, "198.18.0.1", ts=at(0.0004))
    # DNS and the web.
    dns(cap, 0.5, "100.64.1.10", 41873, 0x3A51, "www.example.com", "A",
        [DNSRR(rrname="www.example.com", type="A", ttl=300, rdata="198.19.80.80")])
    http = conv(cap, "100.64.1.10", "198.19.80.80", 80, 0.6, 50112)
    http.handshake()
    http.send("c", "GET / HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0 (X11; "
                   "Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\nAccept: text/html"
                   "\r\nAccept-Language: en\r\nConnection: keep-alive\r\n\r\n")
    page = ("<!doctype html>\n<html><head><title>Example Domain</title></head><body>\n"
            + "<p>This domain is for use in documentation examples.</p>\n" * 30
            + "</body></html>\n")
    http.send("s", "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=UTF-8\r\n"
                   f"Content-Length: {len(page)}\r\nCache-Control: max-age=604800\r\n\r\n" + page)
    http.ack("c")
    http.close(first="c")
    https = conv(cap, "100.64.1.11", "198.19.44.3", 443, 1.2, 50874)
    https.handshake()
    ch = g.client_hello(rng, sni="www.example.com", alpn=("h2", "http/1.1"))
    https.send("c", ch)
    https.send("s", g.server_hello_flight(rng, ch, 2900))
    https.send("c", g.client_finished(rng))
    https.send("c", g.app_data(rng, 310))
    https.send("s", g.app_data(rng, 1200))
    https.send("c", g.app_data(rng, 19))
    https.close(first="c")
    dns(cap, 1.9, "100.64.3.7", 39110, 0x77C2, "example.net", "MX",
        [DNSRRMX(rrname="example.net", type="MX", ttl=300, preference=10,
                 exchange="mx.example.net")])
    dns(cap, 1.95, "100.64.3.7", 39111, 0x77C3, "mx.example.net", "A",
        [DNSRR(rrname="mx.example.net", type="A", ttl=300, rdata="198.19.25.10")])

    # Port 25 from ordinary subscribers.
    relay_session(cap, "100.64.3.7", "198.19.25.10", 2.0, 43522, True, "laptop.home.arpa")
    relay_session(cap, "100.64.5.20", "198.19.25.11", 2.5, 38801, False, "desktop")
    conv(cap, "100.64.7.3", "198.19.25.12", 25, 3.0, 51400).handshake(
        syn_retries=3, answered=False).done()
    conv(cap, "100.64.8.9", "198.19.25.13", 25, 3.3, 60212).handshake(
        syn_retries=3, answered=False).done()
    # The bot: twelve servers, one every 150 ms.
    bot = "100.64.66.6"
    outcomes = ["syn"] * 3 + ["rst"] + ["session+tls"] + ["syn"] * 2 + ["session"] + ["rst"] \
        + ["syn"] * 2 + ["session+tls"]
    for i, what in enumerate(outcomes):
        server, start, cport = f"198.19.30.{10 + i}", 4.0 + 0.15 * i, 49200 + 7 * i
        if what == "syn":
            conv(cap, bot, server, 25, start, cport).handshake(answered=False).done()
        elif what == "rst":
            conv(cap, bot, server, 25, start, cport).handshake(rst=True).done()
        else:
            relay_session(cap, bot, server, start, cport, what.endswith("tls"), "WIN-3K7PQ2LR8AB",
                          rcpt_reply="550 5.7.1 Relaying denied\r\n", message=False)

    # The registered customer MTA, with STARTTLS.
    for j, (server, sni) in enumerate((("198.19.25.20", "mx1.example.org"),
                                       ("198.19.25.21", "mx2.example.org"))):
        s = g.SmtpSession(conv(cap, "100.64.10.25", server, 25, 5.0 + j, 33010 + j),
                          server_name=sni)
        s.c.handshake()
        s.banner()
        s.ehlo(helo_name="mta.customer.example", auth=())
        s.starttls()
        s.tls_handshake(sni=sni, alpn=())
        s.tls_close()

    # Submission.
    s = g.SmtpSession(conv(cap, "100.64.12.34", "198.19.58.7", 587, 7.0, 45001),
                      server_name="smtp.example.com")
    s.c.handshake()
    s.banner()
    s.ehlo(helo_name="[100.64.12.34]")
    s.starttls()
    s.tls_handshake(sni="smtp.example.com")
    s.tls_close()

    s = g.SmtpSession(conv(cap, "100.64.12.35", "198.19.58.7", 587, 8.0, 45002),
                      server_name="smtp.example.com")
    s.c.handshake()
    s.banner()
    s.ehlo(helo_name="[100.64.12.35]")
    s.auth_plain()
    s.mail(sender="alice@example.com")
    s.rcpt(rcpt="friend@example.net")
    s.data(subject="hello from an old mail client")
    s.quit()

    s = g.SmtpSession(conv(cap, "100.64.12.36", "198.19.46.5", 465, 9.0, 45003),
                      server_name="smtp.example.com")
    s.c.handshake()
    s.tls_handshake(sni="smtp.example.com")
    s.tls_close()

    s = g.SmtpSession(conv(cap, "100.64.12.37", "198.19.25.25", 2525, 10.0, 45004),
                      server_name="mail.example.net")
    s.c.handshake()
    s.banner()
    s.ehlo(helo_name="[100.64.12.37]", starttls=False)
    s.auth_login()
    s.mail(sender="bob@example.net")
    s.rcpt(rcpt="friend@example.com")
    s.data(subject="sent over 2525")
    s.quit()

    s = g.SmtpSession(conv(cap, "2001:db8:100::1:1234", "2001:db8:5::25", 587, 11.0, 45005,
                           vlans=((g.TPID_8021Q, 100),)), server_name="smtp.example.com")
    s.c.handshake()
    s.banner()
    s.ehlo(helo_name="[IPv6:2001:db8:100::1:1234]")
    s.starttls()
    s.tls_handshake(sni="smtp.example.com")
    s.tls_close()
    return cap


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: make_sample.py OUT.pcap")
    out = argv[1]
    cap = build()
    cap.write_pcap(out)
    stem = out[:-5] if out.endswith(".pcap") else out
    g.write_expected(stem + ".expected.json", cap.expected())


if __name__ == "__main__":
    main(sys.argv)
