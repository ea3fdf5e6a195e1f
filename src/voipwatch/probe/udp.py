"""One UDP request/answer exchange, with bounded retransmissions.

The socket is *connected* (``remote_addr``), so an ICMP port/host unreachable
comes back as ``ConnectionRefusedError`` through ``error_received``: the only
explicit signal UDP gives (``connection_refused``); silence is
``generic_timeout_error``. Retransmissions follow STUN's: RTO 0.5 s, doubling, at
most ``retries`` resends (0.5 + 1 + 2 = 3.5 s with two).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from voipwatch.probe.errors import TIMEOUT, failure_of

RTO = 0.5
RETRIES = 2


@dataclass(slots=True)
class Answer:
    reply: bytes | None
    failure: str | None
    rtt: float | None
    bytes_sent: int
    bytes_received: int
    #: Retransmissions sent before the answer came (0: the first packet was answered).
    attempt: int


class _Proto(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | Exception] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        self.queue.put_nowait(exc)


async def open_endpoint(
    ip: str, port: int, source: str = ""
) -> tuple[asyncio.DatagramTransport, _Proto]:
    loop = asyncio.get_running_loop()
    local = (source, 0) if source else None
    transport, proto = await loop.create_datagram_endpoint(
        _Proto, remote_addr=(ip, port), local_addr=local
    )
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
) -> Answer:
    """Send ``payload`` to ``ip:port`` until a datagram ``match`` accepts comes back."""
    sent = received = 0
    try:
        transport, proto = await open_endpoint(ip, port, source)
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
                    return Answer(None, failure_of(item), None, sent, received, attempt)
                received += len(item)
                if match(item):
                    rtt = round(time.monotonic() - t_first, 6)
                    return Answer(item, None, rtt, sent, received, attempt)
        return Answer(None, TIMEOUT, None, sent, received, retries)
    finally:
        transport.close()
