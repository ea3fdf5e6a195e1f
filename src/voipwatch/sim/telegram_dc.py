"""A Telegram data centre's port 443 in the simulator: MTProto and plain HTTP.

Telegram's data centres answer both on the same port: an MTProto client's first
bytes are the intermediate transport's tag (``0xeeeeeeee``), and an unauthenticated
``req_pq_multi`` gets a ``resPQ`` (:mod:`voipwatch.probe.mtproto`); anything else is
read as an HTTP request (OONI's POST) and answered ``200``. Nothing is logged.

    python -m voipwatch.sim.telegram_dc 198.18.17.1:443 198.18.17.2:443
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys

from voipwatch.probe import mtproto
from voipwatch.sim.serving import serve_until_signalled

IDLE = 30.0
#: The product of two primes every DC answers with (core.telegram.org's example).
PQ = 0x17ED48941A08F981
KEY_FINGERPRINTS = [-3414540481677951611]
_HTTP_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n"


async def _mtproto(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    for _ in range(8):  # a handful of packets per connection is all a probe sends
        n = int.from_bytes(await reader.readexactly(4), "little")
        if not 0 < n <= mtproto.MAX_ANSWER:
            return
        try:
            answer = mtproto.res_pq(await reader.readexactly(n), os.urandom(16), PQ,
                                    KEY_FINGERPRINTS)  # fmt: skip
        except (mtproto.BadAnswer, ValueError):
            return
        writer.write(len(answer).to_bytes(4, "little") + answer)
        await writer.drain()


async def _http(first: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = first + await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length" and v.strip().isdigit():
            length = min(int(v.strip()), 1 << 16)
    await reader.readexactly(length)
    writer.write(_HTTP_OK)
    await writer.drain()


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, TimeoutError, ValueError, asyncio.IncompleteReadError,
                             asyncio.LimitOverrunError):  # fmt: skip
        async with asyncio.timeout(IDLE):
            first = await reader.readexactly(4)
            if first == mtproto.INTERMEDIATE:
                await _mtproto(reader, writer)
            else:
                await _http(first, reader, writer)
    writer.close()


if __name__ == "__main__":
    asyncio.run(serve_until_signalled(_serve, sys.argv[1:]))
