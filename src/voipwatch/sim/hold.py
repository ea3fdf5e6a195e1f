"""Accept-and-hold TCP server (WhatsApp's chat port 5222 in the simulator).

Accepts connections on every ``ADDRESS:PORT`` given, reads and discards what the
client sends, and closes after the client does or after 60 s of silence.

    python -m voipwatch.sim.hold 198.18.16.1:5222 198.18.16.2:5222
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from voipwatch.sim.serving import serve_until_signalled

IDLE = 60.0


async def _hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, TimeoutError):
        while await asyncio.wait_for(reader.read(4096), IDLE):
            pass
    writer.close()


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m voipwatch.sim.hold ADDRESS:PORT...", file=sys.stderr)
        return 2
    asyncio.run(serve_until_signalled(_hold, argv))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
