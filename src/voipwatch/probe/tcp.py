"""TCP connect to a literal address (no name resolution happens here)."""

from __future__ import annotations

import asyncio
import ipaddress


def split_hostport(s: str, default_port: int) -> tuple[str, int]:
    """``"1.1.1.1"``, ``"1.1.1.1:53"``, ``"[::1]:53"`` or ``"::1"`` → (host, port)."""
    s = s.strip()
    if s.startswith("["):
        host, _, rest = s[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if s.count(":") == 1:
        host, _, port = s.partition(":")
        return host, int(port)
    return s, default_port


def join_hostport(ip: str, port: int) -> str:
    """``ip:port``, with brackets for IPv6 (OONI's ``address`` fields)."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def is_ip(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return True


async def open_tcp(
    ip: str, port: int, timeout: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to ``ip:port`` within ``timeout`` seconds (raises on failure)."""
    async with asyncio.timeout(timeout):
        return await asyncio.open_connection(ip, port, limit=1 << 16)


async def close(writer: asyncio.StreamWriter) -> None:
    """Close without waiting on a peer that may never answer."""
    writer.close()
    try:
        async with asyncio.timeout(1.0):
            await writer.wait_closed()
    except (OSError, TimeoutError):
        # The result was recorded already; how the socket dies is not a measurement.
        pass
