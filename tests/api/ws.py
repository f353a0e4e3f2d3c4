#!/usr/bin/env python3
"""A WebSocket client for tests/api/console.sh, from the standard library only.

ws.py PORT PATH [--send TEXT] [--send-bytes N [--unpaced]] [--expect REGEX] [--timeout S] [--stall S]
Connects to 127.0.0.1:PORT, asks for PATH with an RFC 6455 handshake and
prints the HTTP status line. On 101 it sends N filler bytes (in text frames of
8 KiB) and TEXT (a masked text frame) once connected, reads binary and text
frames until what it read matches REGEX (or the timeout, or the server
closes), prints what it read and exits 0 if it matched, 1 if not; a refused
handshake exits 2 after printing the body. --stall S: a viewer that stops
reading, with a small receive buffer, for S seconds before it reads. The N
bytes are sent keeping their echo at most 256 KiB behind, as a terminal
would, unless --unpaced.
"""
import argparse
import base64
import os
import re
import socket
import struct
import sys
import time


def frame(opcode, payload):
    mask = os.urandom(4)
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    key = (mask * (n // 4 + 1))[:n]
    return head + mask + (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def drain(s, timeout):
    """What the socket holds now, without waiting."""
    s.setblocking(False)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except BlockingIOError:
        pass
    s.settimeout(timeout)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("path")
    ap.add_argument("--send", default=None)
    ap.add_argument("--expect", default=None)
    ap.add_argument("--timeout", type=float, default=5)
    ap.add_argument("--send-bytes", type=int, default=0)
    ap.add_argument("--stall", type=float, default=0)
    ap.add_argument("--unpaced", action="store_true", help="send the N bytes without reading meanwhile")
    a = ap.parse_args()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if a.stall:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(a.timeout)
    s.connect(("127.0.0.1", a.port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {a.path} HTTP/1.1\r\nHost: 127.0.0.1:{a.port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    status = head.split(b"\r\n")[0].decode()
    print(status)
    if " 101 " not in status + " ":
        s.settimeout(1)
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                rest += chunk
        except socket.timeout:
            pass
        print(rest.decode(errors="replace"))
        return 2
    if a.stall:
        time.sleep(a.stall)
    data = rest
    for at in range(0, a.send_bytes, 8192):
        s.sendall(frame(0x1, b"." * min(8192, a.send_bytes - at)))
        if a.unpaced:
            continue
        data += drain(s, a.timeout)   # the echo comes back meanwhile: take it
        # A paste that keeps its own echo at most 256 KiB behind, as a
        # terminal does: nubod drops a viewer that falls 1 MiB behind.
        while len(data) < at - 256 * 1024:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    if a.send is not None:
        s.sendall(frame(0x1, a.send.encode()))
    got = b""
    end = time.time() + a.timeout
    while time.time() < end:
        while len(data) >= 2:
            n = data[1] & 0x7F
            at = 2
            if n == 126:
                if len(data) < 4:
                    break
                n = struct.unpack("!H", data[2:4])[0]
                at = 4
            elif n == 127:
                if len(data) < 10:
                    break
                n = struct.unpack("!Q", data[2:10])[0]
                at = 10
            if len(data) < at + n:
                break
            op = data[0] & 0x0F
            if op in (1, 2):
                got += data[at:at + n]
            elif op == 8:
                end = 0
            data = data[at + n:]
        if a.expect and re.search(a.expect, got.decode(errors="replace")):
            break
        if end == 0:
            break
        s.settimeout(max(0.05, end - time.time()))
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    print(got.decode(errors="replace"))
    try:
        s.sendall(frame(0x8, b"\x03\xe8"))
    except OSError:
        pass
    s.close()
    return 0 if not a.expect or re.search(a.expect, got.decode(errors="replace")) else 1


if __name__ == "__main__":
    sys.exit(main())
