"""One UDP request/answer exchange, with bounded retransmissions.

The socket is *connected* (``remote_addr``), so an ICMP port/host unreachable
comes back as ``ConnectionRefusedError`` through ``error_received``: the only
explicit signal UDP gives (``connection_refused``); silence is
``generic_timeout_error``. Retransmissions follow STUN's: RTO 0.5 s, doubling, at
most ``retries`` resends (0.5 + 1 + 2 = 3.5 s with two).

Who sent the ICMP error is read from the socket's error queue (``IP_RECVERR``):
the destination itself (nothing listens on the port: a closed port, a server that
is down) or a router on the path (a filter's reject). Only which of the two is
kept, never the router's address.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from voipwatch.probe.errors import TIMEOUT, failure_of

RTO = 0.5
RETRIES = 2
# Linux's values (the socket module does not name them).
_IP_RECVERR = 11
_IPV6_RECVERR = 25
_MSG_ERRQUEUE = getattr(socket, "MSG_ERRQUEUE", 0x2000)
#: struct sock_extended_err: errno, origin, type, code, pad, info, data.
_EE = struct.Struct("=IBBBBII")


@dataclass(slots=True)
class Answer:
    reply: bytes | None
    failure: str | None
    rtt: float | None
    bytes_sent: int
    bytes_received: int
    #: Retransmissions sent before the answer came (0: the first packet was answered).
    attempt: int
    #: Who sent the ICMP error behind a failure: ``"target"`` (the destination
    #: itself: nothing listens there) or ``"path"`` (a router between); ``None``
    #: when there was none or the system does not say.
    rejected_by: str | None = None


def offender(ancillary: list[tuple[int, int, bytes]]) -> str | None:
    """The address that sent the ICMP error, from an error-queue message."""
    for _level, _kind, data in ancillary:
        if len(data) < _EE.size + 8:
            continue
        family = int.from_bytes(data[_EE.size : _EE.size + 2], "little")
        if family == socket.AF_INET:
            return str(ipaddress.IPv4Address(data[_EE.size + 4 : _EE.size + 8]))
        if family == socket.AF_INET6 and len(data) >= _EE.size + 24:
            return str(ipaddress.IPv6Address(data[_EE.size + 8 : _EE.size + 24]))
    return None


class Sender(Protocol):
    """The sending half of an endpoint: a connected socket, or a tool's UDP relay."""

    def sendto(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class Proto(asyncio.DatagramProtocol):
    def __init__(self, sock: socket.socket | None = None) -> None:
        self.queue: asyncio.Queue[bytes | Exception] = asyncio.Queue()
        self.sock = sock
        self.icmp_from: str | None = None

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                _, anc, _, _ = self.sock.recvmsg(256, 512, _MSG_ERRQUEUE)
                self.icmp_from = offender(anc) or self.icmp_from
        self.queue.put_nowait(exc)


#: What an exchange sends on and reads from.
Endpoint = tuple[Sender, "Proto"]
#: Opens an endpoint to (ip, port) from a source address: a route's ``open_udp``.
Opener = Callable[[str, int, str], Awaitable[Endpoint]]


async def open_endpoint(ip: str, port: int, source: str = "") -> Endpoint:
    loop = asyncio.get_running_loop()
    v6 = ":" in ip
    sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        with contextlib.suppress(OSError):
            if v6:
                sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVERR, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IP, _IP_RECVERR, 1)
        sock.setblocking(False)
        if source:
            sock.bind((source, 0))
        await loop.sock_connect(sock, (ip, port))
        transport, proto = await loop.create_datagram_endpoint(lambda: Proto(sock), sock=sock)
    except BaseException:
        sock.close()
        raise
    return transport, proto


async def exchange(
    ip: str,
    port: int,
    payload: bytes,
    match: Callable[[bytes], bool],
    *,
    rto: float = RTO,
    retries: int = RETRIES,
    source: str = "",
    opener: Opener | None = None,
) -> Answer:
    """Send ``payload`` to ``ip:port`` until a datagram ``match`` accepts comes back.

    ``opener`` opens the endpoint (a route through a tool); by default a socket
    connected straight to ``ip:port``.
    """
    sent = received = 0
    try:
        transport, proto = await (opener or open_endpoint)(ip, port, source)
    except Exception as exc:
        return Answer(None, failure_of(exc), None, 0, 0, 0)
    t_first = time.monotonic()
    try:
        for attempt in range(retries + 1):
            try:
                transport.sendto(payload)
            except OSError as exc:
                return Answer(None, failure_of(exc), None, sent, received, attempt)
            sent += len(payload)
            deadline = time.monotonic() + rto * (2**attempt)
            while (left := deadline - time.monotonic()) > 0:
                try:
                    item = await asyncio.wait_for(proto.queue.get(), left)
                except TimeoutError:
                    break
                if isinstance(item, Exception):
                    by = None
                    if proto.icmp_from is not None:
                        by = "target" if _same(proto.icmp_from, ip) else "path"
                    return Answer(None, failure_of(item), None, sent, received, attempt, by)
                received += len(item)
                if match(item):
                    rtt = round(time.monotonic() - t_first, 6)
                    return Answer(item, None, rtt, sent, received, attempt)
        return Answer(None, TIMEOUT, None, sent, received, retries)
    finally:
        transport.close()


def _same(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b.strip("[]"))
    except ValueError:
        return False
