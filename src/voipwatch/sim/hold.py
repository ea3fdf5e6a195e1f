"""Accept-and-hold TCP server (WhatsApp's chat port 5222 in the simulator).

Accepts connections on every ``ADDRESS:PORT`` given, reads and discards what the
client sends, and closes after the client does or after 60 s of silence.

    python -m voipwatch.sim.hold 198.18.16.1:5222 198.18.16.2:5222
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

IDLE = 60.0


async def _hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, TimeoutError):
        while await asyncio.wait_for(reader.read(4096), IDLE):
            pass
    writer.close()


async def _main(endpoints: list[str]) -> None:
    servers = []
    for ep in endpoints:
        host, _, port = ep.rpartition(":")
        servers.append(await asyncio.start_server(_hold, host, int(port), reuse_address=True))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m voipwatch.sim.hold ADDRESS:PORT...", file=sys.stderr)
        return 2
    asyncio.run(_main(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
