"""The client side of the two proxy protocols circumvention tools expose.

SOCKS5 (RFC 1928, no authentication): CONNECT for TCP, with the destination sent
as a *domain name* when it is one, so the tool resolves it and the censored
network's resolvers never see the name; UDP ASSOCIATE for UDP, each datagram
wrapped in the RFC's header and sent to the relay the tool names. HTTP CONNECT
(RFC 9110 §9.3.6) for proxies that carry TCP only.

python-socks speaks CONNECT but not UDP ASSOCIATE; one small module that speaks
both keeps a single handshake under test. Everything here works on open streams
and bytes; the sockets are opened by :mod:`voipwatch.probe.via`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import struct
from typing import Final

from voipwatch.probe.errors import ProbeFailure

__all__ = [
    "ASSOCIATE",
    "CONNECT",
    "http_connect",
    "socks5_request",
    "unwrap_datagram",
    "wrap_datagram",
]

VERSION: Final = 5
CONNECT: Final = 1
ASSOCIATE: Final = 3
_NO_AUTH: Final = 0
_ATYP_V4: Final = 1
_ATYP_NAME: Final = 3
_ATYP_V6: Final = 4
_HEAD_LIMIT: Final = 16 * 1024

#: RFC 1928 §6 reply codes → df-007 failure strings: what the *tool* saw when it
#: tried the destination. Codes without a df-007 twin keep their own name.
REPLY_FAILURES: Final[dict[int, str]] = {
    1: "socks_general_failure",
    2: "socks_not_allowed",
    3: "network_unreachable",
    4: "host_unreachable",
    5: "connection_refused",
    6: "generic_timeout_error",
    7: "socks_command_not_supported",
    8: "socks_address_type_not_supported",
}


def encode_address(host: str, port: int) -> bytes:
    """ATYP + address + port; a name goes as a name (the tool resolves it)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        name = host.encode("idna")
        if not 0 < len(name) < 256:
            raise ValueError(f"host name of {len(name)} bytes") from None
        return bytes([_ATYP_NAME, len(name)]) + name + struct.pack("!H", port)
    atyp = _ATYP_V4 if ip.version == 4 else _ATYP_V6
    return bytes([atyp]) + ip.packed + struct.pack("!H", port)


def decode_address(data: bytes, at: int) -> tuple[str, int, int]:
    """(host, port, offset after) of the address at ``data[at:]`` (ValueError when short)."""
    if at >= len(data):
        raise ValueError("no address")
    atyp = data[at]
    if atyp == _ATYP_V4:
        end = at + 1 + 4
        host = str(ipaddress.IPv4Address(data[at + 1 : end]))
    elif atyp == _ATYP_V6:
        end = at + 1 + 16
        host = str(ipaddress.IPv6Address(data[at + 1 : end]))
    elif atyp == _ATYP_NAME and at + 1 < len(data):
        end = at + 2 + data[at + 1]
        host = data[at + 2 : end].decode("ascii", "replace")
    else:
        raise ValueError(f"address type {atyp}")
    if end + 2 > len(data):
        raise ValueError("address cut short")
    (port,) = struct.unpack_from("!H", data, end)
    return host, port, end + 2


async def _read_address(reader: asyncio.StreamReader) -> tuple[str, int]:
    atyp = (await reader.readexactly(1))[0]
    if atyp == _ATYP_V4:
        raw = await reader.readexactly(4 + 2)
    elif atyp == _ATYP_V6:
        raw = await reader.readexactly(16 + 2)
    elif atyp == _ATYP_NAME:
        n = (await reader.readexactly(1))[0]
        raw = bytes([n]) + await reader.readexactly(n + 2)
    else:
        raise ProbeFailure("socks_bad_reply")
    host, port, _ = decode_address(bytes([atyp]) + raw, 0)
    return host, port


async def socks5_request(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    command: int,
    host: str,
    port: int,
) -> tuple[str, int]:
    """Greet, then send ``command`` for ``host:port``; the bound address the tool replies.

    Raises :class:`ProbeFailure` with the reply's failure string, or
    ``socks_bad_reply`` when the peer does not speak SOCKS5 without authentication.
    """
    writer.write(bytes([VERSION, 1, _NO_AUTH]))
    await writer.drain()
    ver, method = await reader.readexactly(2)
    if ver != VERSION or method != _NO_AUTH:
        raise ProbeFailure("socks_bad_reply")
    writer.write(bytes([VERSION, command, 0]) + encode_address(host, port))
    await writer.drain()
    ver, rep, _rsv = await reader.readexactly(3)
    if ver != VERSION:
        raise ProbeFailure("socks_bad_reply")
    if rep != 0:
        raise ProbeFailure(REPLY_FAILURES.get(rep, f"socks_reply_{rep}"))
    return await _read_address(reader)


async def http_connect(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int
) -> None:
    """Ask an HTTP proxy for a tunnel to ``host:port`` (raises :class:`ProbeFailure`)."""
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    writer.write(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
    await writer.drain()
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise ProbeFailure("http_proxy_bad_reply") from None
    except asyncio.IncompleteReadError:
        raise ProbeFailure("eof_error") from None
    if len(head) > _HEAD_LIMIT:
        raise ProbeFailure("http_proxy_bad_reply")
    parts = head.split(b"\r\n", 1)[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise ProbeFailure("http_proxy_bad_reply")
    code = int(parts[1])
    if code // 100 != 2:
        # The proxy could not (or would not) reach the destination: its status says which.
        raise ProbeFailure(f"http_proxy_status_{code}")


def wrap_datagram(host: str, port: int, payload: bytes) -> bytes:
    """A UDP datagram for the relay: RSV RSV FRAG, the destination, the payload."""
    return b"\x00\x00\x00" + encode_address(host, port) + payload


def unwrap_datagram(data: bytes) -> tuple[str, int, bytes] | None:
    """(source host, port, payload) of a datagram from the relay; None when malformed
    or fragmented (fragments are optional in the RFC and no tool we use sends them)."""
    if len(data) < 4 or data[0:2] != b"\x00\x00" or data[2] != 0:
        return None
    try:
        host, port, end = decode_address(data, 3)
    except ValueError:
        return None
    return host, port, data[end:]
