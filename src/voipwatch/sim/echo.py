"""UDP echo server: every datagram goes back to its sender, unchanged.

The simulator's own reference for UDP checks of the world (separate from the
project's test helper): it echoes STUN-framed, DTLS-framed and plain payloads alike,
so a censor recipe's effect on one kind of payload can be told from another's.

    python -m voipwatch.sim.echo 198.18.2.91:3478 198.18.2.91:42424
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import cast


class _Echo(asyncio.DatagramProtocol):
    transport: asyncio.DatagramTransport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport is not a DatagramTransport subclass.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.transport.sendto(data, addr)


async def _main(endpoints: list[str]) -> None:
    loop = asyncio.get_running_loop()
    transports = []
    for ep in endpoints:
        host, _, port = ep.rpartition(":")
        t, _ = await loop.create_datagram_endpoint(_Echo, local_addr=(host, int(port)))
        transports.append(t)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for t in transports:
        t.close()


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m voipwatch.sim.echo ADDRESS:PORT...", file=sys.stderr)
        return 2
    asyncio.run(_main(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
