#!/usr/bin/env python3
"""flood: holds many connections to one of nubod's listeners from one address,
for tests/api/security.sh and bench/07-flood.sh. Bounded in time (--seconds)
and in connections opened (--max-opens, and --rate a second); never more than --idle + --trickle
open at once.

  idle     connections that connect and send nothing (no TLS handshake either)
  trickle  connections that send a request's headers one byte a second and
           never finish them (over TLS on --tcp, so the bytes reach HTTP)

A connection the server closes is opened again, as an attacker would. At the
end one JSON line says what happened: opens, how many the server closed, and
how long the longest-lived trickling connection lived (it should be cut at
nubod's header deadline however it trickles)."""
import argparse
import json
import resource
import selectors
import socket
import ssl
import time

p = argparse.ArgumentParser()
g = p.add_mutually_exclusive_group(required=True)
g.add_argument("--tcp", help="HOST:PORT of nubod's HTTPS listener")
g.add_argument("--unix", help="path of nubod's unix socket")
p.add_argument("--idle", type=int, default=0)
p.add_argument("--trickle", type=int, default=0)
p.add_argument("--seconds", type=float, default=10)
p.add_argument("--max-opens", type=int, default=20000)
p.add_argument("--rate", type=int, default=1000, help="opens per second at most")
a = p.parse_args()
assert a.idle + a.trickle <= 5000 and a.seconds <= 120 and a.max_opens <= 200000

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, a.idle + a.trickle + 64)), hard))

HEADER = b"GET /v1/vms HTTP/1.1\r\nHost: nubo\r\nX-Slow: " + b"a" * 4000
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
tls.check_hostname = False
tls.verify_mode = ssl.CERT_NONE

sel = selectors.DefaultSelector()
start = time.monotonic()
end = start + a.seconds
stats = {"opens": 0, "open_failures": 0, "closed_by_server": 0, "trickle_closed_by_server": 0,
         "trickle_max_life_s": 0.0, "idle_max_life_s": 0.0, "open_at_end": 0}


class Conn:
    def __init__(self, kind):
        self.kind = kind
        self.sock = None
        self.sent = 0
        self.opened = 0.0
        self.next_byte = 0.0


def connect(c):
    now = time.monotonic()
    if stats["opens"] >= a.max_opens or now >= end or stats["opens"] >= a.rate * (now - start) + 50:
        return False
    stats["opens"] += 1
    try:
        if a.unix:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(2)
            s.connect(a.unix)
        else:
            host, port = a.tcp.rsplit(":", 1)
            s = socket.create_connection((host, int(port)), timeout=2)
            if c.kind == "trickle":
                s = tls.wrap_socket(s)   # the handshake, then headers that never end
        s.setblocking(False)
    except OSError:
        stats["open_failures"] += 1
        return False
    c.sock, c.sent, c.opened = s, 0, time.monotonic()
    c.next_byte = c.opened
    sel.register(s, selectors.EVENT_READ, c)
    return True


def lifetime(c, now):
    key = "trickle_max_life_s" if c.kind == "trickle" else "idle_max_life_s"
    stats[key] = round(max(stats[key], now - c.opened), 2)


def closed(c, now):
    lifetime(c, now)
    stats["closed_by_server"] += 1
    if c.kind == "trickle":
        stats["trickle_closed_by_server"] += 1
    sel.unregister(c.sock)
    c.sock.close()
    c.sock = None


conns = [Conn("trickle") for _ in range(a.trickle)] + [Conn("idle") for _ in range(a.idle)]
for c in conns:
    connect(c)
while time.monotonic() < end:
    now = time.monotonic()
    for c in conns:
        if c.sock is None:
            connect(c)
        elif c.kind == "trickle" and now >= c.next_byte:
            try:
                c.sock.send(HEADER[c.sent % len(HEADER):c.sent % len(HEADER) + 1])
                c.sent += 1
            except (OSError, ssl.SSLError):
                closed(c, now)
                continue
            c.next_byte = now + 1.0
    for key, _ in sel.select(timeout=0.05):
        c = key.data
        try:
            data = c.sock.recv(4096)
        except (ssl.SSLWantReadError, BlockingIOError):
            continue
        except (OSError, ssl.SSLError):
            data = b""
        if not data:
            closed(c, time.monotonic())
now = time.monotonic()
for c in conns:
    if c.sock is not None:
        lifetime(c, now)
        stats["open_at_end"] += 1
        c.sock.close()
print(json.dumps(stats))
