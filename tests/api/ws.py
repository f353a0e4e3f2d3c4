#!/usr/bin/env python3
"""A WebSocket client for tests/api/console.sh, from the standard library only.

ws.py PORT PATH [--send TEXT] [--expect REGEX] [--timeout S]
Connects to 127.0.0.1:PORT, asks for PATH with an RFC 6455 handshake and
prints the HTTP status line. On 101 it sends TEXT (a masked text frame) once
connected, reads binary and text frames until what it read matches REGEX
(or the timeout, or the server closes), prints what it read and exits 0 if
it matched, 1 if not; a refused handshake exits 2 after printing the body.
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
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("path")
    ap.add_argument("--send", default=None)
    ap.add_argument("--expect", default=None)
    ap.add_argument("--timeout", type=float, default=5)
    a = ap.parse_args()
    s = socket.create_connection(("127.0.0.1", a.port), timeout=a.timeout)
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
    if a.send is not None:
        s.sendall(frame(0x1, a.send.encode()))
    got = b""
    end = time.time() + a.timeout
    data = rest
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
