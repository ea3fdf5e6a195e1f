"""Run a simulator server's connection handler on every ``ADDRESS:PORT`` until signalled.

The simulator starts its small TCP servers as processes and stops them with SIGTERM
(SIGINT by hand); each listens on several addresses of the simulated internet.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve_until_signalled(handler: Handler, endpoints: list[str]) -> None:
    servers = []
    for ep in endpoints:
        host, _, port = ep.rpartition(":")
        servers.append(await asyncio.start_server(handler, host, int(port), reuse_address=True))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()
