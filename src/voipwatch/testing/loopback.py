"""Loopback servers for probe tests: DNS (honest, injecting, silent), DoT, TLS by SNI.

Everything listens on addresses of 127.0.0.0/8 other than 127.0.0.1, so that a
measurement that mentions 127.0.0.1 anywhere but ``probe_ip`` leaks the client's
own address. Servers run in daemon threads with blocking sockets: simple, and
independent of the event loop under test.
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
import socket
import ssl
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.rcode
import dns.rrset

from voipwatch.sim.pki import issue, new_authority

_NET = random.randint(100, 250)
_next_host = iter(range(2, 250))


def loopback_ip() -> str:
    """A fresh loopback address (never 127.0.0.1) for one server."""
    return f"127.{_NET}.{random.randint(1, 250)}.{next(_next_host)}"


# -- certificates -------------------------------------------------------------------


@dataclass
class PKI:
    ca_file: Path
    server_ctx: ssl.SSLContext


def make_pki(tmp: Path, names: list[str]) -> PKI:
    """A test CA and a server certificate for ``names`` (the simulator's PKI)."""
    ca = new_authority("voipwatch test CA")
    ca_file = ca.write_cert(tmp / "ca.pem")
    cert_file, key_file = tmp / "server.pem", tmp / "server.key"
    issue(ca, names, [], cert_file, key_file)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    return PKI(ca_file, ctx)


# -- threads ------------------------------------------------------------------------


class _Server:
    sock: socket.socket

    def __init__(self) -> None:
        self.stop = threading.Event()
        self._socks: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    def _thread(self, target: Callable[..., None], *args: object) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept(self) -> None:
        """Serve each connection to ``self.sock`` in its own thread (``_one``)."""
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self._thread(self._one, c)

    def _one(self, c: socket.socket) -> None:
        c.close()

    def close(self) -> None:
        self.stop.set()
        for s in self._socks:
            s.close()
        for t in self._threads:
            t.join(timeout=2)


# -- DNS ------------------------------------------------------------------------------

#: A zone value: addresses, "nxdomain", "silent", or ("inject", forged, real).
ZoneValue = list[str] | str | tuple[str, str, str]


class DnsServer(_Server):
    """Authoritative-ish UDP DNS answering A queries from ``zone``."""

    FORGED_TTL = 201

    def __init__(self, ip: str, zone: dict[str, ZoneValue], port: int = 53) -> None:
        super().__init__()
        self.zone = zone
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, port))
        self.sock.settimeout(0.2)
        self._socks.append(self.sock)
        self.address = f"{ip}:{self.sock.getsockname()[1]}"
        self._thread(self._serve)

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            try:
                q = dns.message.from_wire(data)
            except Exception:
                continue
            name = q.question[0].name.to_text().rstrip(".").lower()
            value = self.zone.get(name, "nxdomain")
            if value == "silent":
                continue
            if isinstance(value, tuple):
                _, forged, real = value
                self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, self.FORGED_TTL)
                self.sock.sendto(answer(q, [forged]).to_wire(), peer)
                self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 64)
                self.stop.wait(0.05)
                self.sock.sendto(answer(q, [real]).to_wire(), peer)
                continue
            self.sock.sendto(answer(q, value).to_wire(), peer)


def answer(q: dns.message.Message, value: ZoneValue) -> dns.message.Message:
    r = dns.message.make_response(q)
    if value == "nxdomain":
        r.set_rcode(dns.rcode.NXDOMAIN)
    elif isinstance(value, list) and value:
        r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "A", *value))
    return r


class DotServer(_Server):
    """DNS over TLS on ``ip:port`` answering from ``zone``."""

    def __init__(self, ip: str, zone: dict[str, ZoneValue], ctx: ssl.SSLContext) -> None:
        super().__init__()
        self.zone, self.ctx = zone, ctx
        s = socket.create_server((ip, 0))
        s.settimeout(0.2)
        self._socks.append(s)
        self.sock = s
        self.address = f"{ip}:{s.getsockname()[1]}"
        self._thread(self._accept)

    def _one(self, c: socket.socket) -> None:
        try:
            c.settimeout(3)
            with self.ctx.wrap_socket(c, server_side=True) as t:
                n = struct.unpack("!H", _exact(t, 2))[0]
                q = dns.message.from_wire(_exact(t, n))
                name = q.question[0].name.to_text().rstrip(".").lower()
                wire = answer(q, self.zone.get(name, "nxdomain")).to_wire()
                t.sendall(struct.pack("!H", len(wire)) + wire)
        except (OSError, ValueError):
            pass


def _exact(s: socket.socket | ssl.SSLSocket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ValueError("eof")
        buf += chunk
    return buf


# -- TLS / HTTP by SNI ----------------------------------------------------------------


def sni_of(hello: bytes) -> str | None:
    """The server_name of a TLS ClientHello record, if complete and present."""
    try:
        if hello[0] != 0x16 or hello[5] != 0x01:
            return None
        p = 5 + 4 + 2 + 32
        p += 1 + hello[p]
        p += 2 + struct.unpack("!H", hello[p : p + 2])[0]
        p += 1 + hello[p]
        end = p + 2 + struct.unpack("!H", hello[p : p + 2])[0]
        p += 2
        while p + 4 <= end:
            etype, elen = struct.unpack("!HH", hello[p : p + 4])
            if etype == 0:
                nlen = struct.unpack("!H", hello[p + 7 : p + 9])[0]
                return hello[p + 9 : p + 9 + nlen].decode()
            p += 4 + elen
    except (IndexError, struct.error, UnicodeDecodeError):
        return None
    return None


@dataclass
class Site(_Server):
    """TLS (or plain HTTP) on ``ip:port``; what happens depends on the SNI seen.

    ``policy`` maps a server name to "ok", "reset" (RST right after the
    ClientHello) or "drop" (silence); other names get ``default``.
    """

    ip: str
    port: int
    ctx: ssl.SSLContext | None
    policy: dict[str, str] = field(default_factory=dict)
    default: str = "ok"
    body: bytes = b"hello from the app"

    def __post_init__(self) -> None:
        _Server.__init__(self)
        s = socket.create_server((self.ip, self.port), reuse_port=False)
        s.settimeout(0.2)
        self._socks.append(s)
        self.sock = s
        self.seen: list[str | None] = []
        self._thread(self._accept)

    def _one(self, c: socket.socket) -> None:
        try:
            c.settimeout(5)
            if self.ctx is not None:
                hello = b""
                for _ in range(50):
                    hello = c.recv(16384, socket.MSG_PEEK)
                    if len(hello) >= 5 and len(hello) >= 5 + struct.unpack("!H", hello[3:5])[0]:
                        break
                    self.stop.wait(0.01)
                name = sni_of(hello)
                self.seen.append(name)
                what = self.policy.get(name or "", self.default)
                if what == "reset":
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    c.close()
                    return
                if what == "drop":
                    self.stop.wait(30)
                    c.close()
                    return
                conn: socket.socket | ssl.SSLSocket = self.ctx.wrap_socket(c, server_side=True)
            else:
                conn = c
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                    + f"Content-Length: {len(self.body)}\r\nConnection: close\r\n\r\n".encode()
                    + self.body
                )
        except (OSError, ssl.SSLError):
            c.close()


class Blackhole(_Server):
    """A listener whose accept queue is full: further SYNs are dropped (connect timeout)."""

    def __init__(self, ip: str, port: int) -> None:
        super().__init__()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((ip, port))
        self.sock.listen(0)
        self._socks.append(self.sock)
        # Fill the queue (backlog 0 still admits one connection).
        for _ in range(2):
            f = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            f.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                f.connect((ip, port))
            self._socks.append(f)
        self.stop.wait(0.1)


def is_loopback(ip: str) -> bool:
    return ipaddress.ip_address(ip).is_loopback
