"""The helper's UDP service: one socket per port, demultiplexed by the first byte.

RFC 7983's first-byte ranges decide what a datagram is: 0–3 STUN (a binding
request is answered with a binding success, a TURN Allocate with a 401), a SIP
request (the OPTIONS responder), anything else — DTLS (20–63), RTP/RTCP
(128–191), random bytes — is echoed back unchanged, which makes every port an RTP
reflector and a UDP echo.

Safety when exposed to the internet:

* **never amplify**: an answer longer than the datagram it answers is dropped, so
  for every datagram bytes out ≤ bytes in (the probe pads its requests);
* a token bucket per source address bounds packets per second;
* nothing answers a source port below 1024 or one of the helper's own ports;
* an echo is sent at most once per datagram: the same bytes from the same source
  address and port within ``IDLE`` seconds are not echoed again. Two helpers that a
  spoofed datagram sets bouncing at each other (each port outside the other's own
  set) exchange it once each, then stop; a probe's retransmission after a lost
  reply goes unanswered, and its repeat exchange, from a new socket, is answered;
* source addresses live only in the rate limiter's memory, for at most
  ``IDLE`` seconds after their last packet; nothing is logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import cast

from voipwatch.helper import sip, stun_answers
from voipwatch.probe import sip as sip_wire
from voipwatch.probe.udp import RETRIES

#: Seconds after its last packet that a source's bucket is forgotten.
IDLE = 10.0
MAX_SOURCES = 65536
#: How often the same datagram from the same socket is echoed: once per transmission
#: of a probe's exchange (its first and its retransmissions). A retransmission is
#: answered, since on a lossy path the echo before it may be the packet lost; two
#: helpers set bouncing by one spoofed datagram stop after this many rounds each.
ECHO_TIMES = RETRIES + 1


@dataclass(frozen=True)
class RateLimit:
    """Packets per second per source, and the burst allowed above it."""

    rate: float = 400.0
    burst: float = 800.0


class Buckets:
    """Token buckets per source address, forgotten when idle (bounded memory)."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._b: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, source: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        tokens, last = self._b.pop(source, (self.limit.burst, now))
        tokens = min(self.limit.burst, tokens + (now - last) * self.limit.rate)
        ok = tokens >= 1.0
        self._b[source] = (tokens - 1.0 if ok else tokens, now)
        # Oldest first: drop the idle ones, and the oldest when there are too many.
        while self._b:
            k, (_, seen) = next(iter(self._b.items()))
            if now - seen > IDLE or len(self._b) > MAX_SOURCES:
                del self._b[k]
            else:
                break
        return ok

    def __len__(self) -> int:
        return len(self._b)


class Echoed:
    """How often each datagram was echoed in the last ``IDLE`` seconds, by source and
    digest (bounded memory: the oldest are forgotten first)."""

    def __init__(self, times: int = ECHO_TIMES) -> None:
        self.times = times
        self._seen: OrderedDict[tuple[str, int, bytes], tuple[int, float]] = OrderedDict()

    def may_echo(self, ip: str, port: int, data: bytes, now: float) -> bool:
        """Whether ``data`` from ``ip:port`` was echoed fewer than ``times`` times
        recently (and count this echo)."""
        while self._seen:
            k, (_, seen) = next(iter(self._seen.items()))
            if now - seen > IDLE or len(self._seen) > MAX_SOURCES:
                del self._seen[k]
            else:
                break
        key = (ip, port, hashlib.blake2b(data, digest_size=16).digest())
        count, first = self._seen.get(key, (0, now))
        if count >= self.times:
            return False
        # Forgotten ``IDLE`` seconds after the first echo, not the last: a loop that
        # is refused keeps nothing alive.
        self._seen[key] = (count + 1, first)
        return True

    def __len__(self) -> int:
        return len(self._seen)


def reply_to(data: bytes, ip: str, port: int) -> bytes | None:
    """What the helper answers to ``data`` from ``ip:port`` (before the size check)."""
    if not data:
        return None
    first = data[0]
    if first < 4:
        return stun_answers.answer(data, ip, port)
    if sip_wire.is_request(data):
        return sip.answer(data)
    return data


class UDPService(asyncio.DatagramProtocol):
    def __init__(
        self, buckets: Buckets, own_ports: frozenset[int], echoed: Echoed | None = None
    ) -> None:
        self.buckets = buckets
        self.own_ports = own_ports
        self.echoed = echoed if echoed is not None else Echoed()
        self.transport: asyncio.DatagramTransport | None = None
        self.bytes_in = 0
        self.bytes_out = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        ip, port = str(addr[0]), int(addr[1])
        self.bytes_in += len(data)
        if port < 1024 or port in self.own_ports or not self.buckets.allow(ip):
            return
        reply = reply_to(data, ip, port)
        if reply is None or len(reply) > len(data) or self.transport is None:
            return  # never amplify
        if reply == data and not self.echoed.may_echo(ip, port, data, time.monotonic()):
            return  # echoed as often as a probe sends it: more would be a loop
        self.bytes_out += len(reply)
        self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # an ICMP error for an answer we sent: nothing to do


async def start_udp(
    host: str, ports: list[int], *, limit: RateLimit = RateLimit()
) -> list[tuple[asyncio.DatagramTransport, UDPService]]:
    """One socket per port on ``host``, sharing one rate limiter."""
    loop = asyncio.get_running_loop()
    buckets = Buckets(limit)
    echoed = Echoed()
    own = frozenset(ports)
    out: list[tuple[asyncio.DatagramTransport, UDPService]] = []
    try:
        for p in dict.fromkeys(ports):
            t, proto = await loop.create_datagram_endpoint(
                lambda: UDPService(buckets, own, echoed), local_addr=(host, p)
            )
            out.append((t, proto))
    except BaseException:
        for t, _ in out:
            t.close()
        raise
    return out
