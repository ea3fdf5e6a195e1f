"""How a test's sockets reach the internet: directly, or through a circumvention tool.

Every TCP connect and UDP exchange of a run opens its socket through a
:class:`Route`. :data:`DIRECT` is the network as it is. :class:`ViaRoute` carries the
same tests through a tool's local proxy port (``socks5://host:port`` or an HTTP
CONNECT proxy ``http://host:port``): TCP by CONNECT, with names handed to the tool
to resolve; UDP by SOCKS5 UDP ASSOCIATE when the tool offers it. A tool that does
not (an HTTP proxy, a SOCKS server without UDP) cannot carry calls, and the run
says so instead of measuring silence.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import Final, Literal, Protocol
from urllib.parse import urlsplit

from voipwatch.errors import UsageError
from voipwatch.probe import socks, udp
from voipwatch.probe.errors import TIMEOUT, ProbeFailure, failure_of

__all__ = [
    "DIRECT",
    "NOT_CARRIED",
    "BadTool",
    "Direct",
    "Route",
    "ToolSpec",
    "ViaRoute",
    "parse_tool",
]

#: The failure of a UDP exchange a tool cannot carry (nothing was sent).
NOT_CARRIED: Final = "udp_not_carried"
Scheme = Literal["socks5", "http"]


class Route(Protocol):
    """Opens the sockets of one run."""

    @property
    def via(self) -> ToolSpec | None: ...

    @property
    def carries_udp(self) -> bool: ...

    async def open_tcp(
        self, host: str, port: int, timeout: float, source: str = ""
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]: ...

    async def open_udp(self, ip: str, port: int, source: str = "") -> udp.Endpoint: ...


class Direct:
    """The network as it is: the socket goes straight to the address."""

    via: ToolSpec | None = None
    carries_udp: bool = True

    async def open_tcp(
        self, host: str, port: int, timeout: float, source: str = ""
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        local = (source, 0) if source else None
        async with asyncio.timeout(timeout):
            return await asyncio.open_connection(host, port, limit=1 << 16, local_addr=local)

    async def open_udp(self, ip: str, port: int, source: str = "") -> udp.Endpoint:
        return await udp.open_endpoint(ip, port, source)


DIRECT: Final = Direct()


class BadTool(UsageError):
    """A tool address that is not ``socks5://host:port`` or ``http://host:port``."""

    def __init__(self, value: str, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(f"{value!r}: {reason}")


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A circumvention tool's local proxy port, and the name it is reported under.

    ``name`` comes from the address's fragment (``socks5://127.0.0.1:9050#tor``) or
    is the scheme. Measurements record the name and scheme, never the address: a
    remote proxy's address can point at the person who runs it.
    """

    scheme: Scheme
    host: str
    port: int
    name: str


def parse_tool(value: str) -> ToolSpec:
    """The tool at ``value`` (raises :class:`BadTool`)."""
    parts = urlsplit(value.strip())
    scheme = parts.scheme.lower()
    if scheme in ("socks5h", "socks"):
        scheme = "socks5"
    if scheme not in ("socks5", "http"):
        raise BadTool(value, "the scheme must be socks5:// or http://")
    try:
        port = parts.port
    except ValueError:
        raise BadTool(value, "the port is not a number from 1 to 65535") from None
    if not parts.hostname or port is None or port == 0:
        raise BadTool(value, "it needs a host and a port")
    if parts.path not in ("", "/") or parts.query or parts.username:
        raise BadTool(value, "only scheme://host:port[#name] is understood")
    name = parts.fragment.strip() or scheme
    return ToolSpec("socks5" if scheme == "socks5" else "http", parts.hostname, port, name)


class _Relayed:
    """A UDP endpoint whose datagrams go through a SOCKS5 UDP relay.

    Each endpoint has its own association: relays (dante) tie one to the first
    client port they hear from, so endpoints cannot share one.
    """

    def __init__(
        self, sock: asyncio.DatagramTransport, control: asyncio.StreamWriter, host: str, port: int
    ) -> None:
        self._transport = sock
        self._control = control
        self._host = host
        self._port = port

    def sendto(self, data: bytes) -> None:
        self._transport.sendto(socks.wrap_datagram(self._host, self._port, data))

    def close(self) -> None:
        self._transport.close()
        # The relay lives as long as this connection.
        self._control.close()


class _Unwrap(udp.Proto):
    """Strips the relay's header; what does not parse is not the answer."""

    def datagram_received(self, data: bytes, addr: object) -> None:
        got = socks.unwrap_datagram(data)
        if got is not None:
            super().datagram_received(got[2], addr)


class ViaRoute:
    """Sockets through a tool. :meth:`start` asks for a UDP relay once per run."""

    def __init__(self, tool: ToolSpec, timeout: float = 5.0) -> None:
        self.via: ToolSpec | None = tool
        self.tool = tool
        self.timeout = timeout
        #: The relay's address, when the tool granted UDP ASSOCIATE.
        self.relay: tuple[str, int] | None = None
        #: Why the tool carries no UDP (None when it does, or before :meth:`start`).
        self.udp_failure: str | None = None

    @property
    def carries_udp(self) -> bool:
        """Whether the tool granted a UDP relay (known once :meth:`start` ran)."""
        return self.relay is not None

    async def _proxy(self, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        t = self.tool
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.open_connection(t.host, t.port, limit=1 << 16)
        except Exception as exc:
            # Not the destination's failure: the tool itself could not be reached.
            raise ProbeFailure(f"tool_{failure_of(exc)}") from None

    async def open_tcp(
        self, host: str, port: int, timeout: float, source: str = ""
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await self._proxy(timeout)
        try:
            async with asyncio.timeout(timeout):
                if self.tool.scheme == "socks5":
                    await socks.socks5_request(reader, writer, socks.CONNECT, host, port)
                else:
                    await socks.http_connect(reader, writer, host, port)
        except BaseException as exc:
            writer.close()
            if isinstance(exc, asyncio.IncompleteReadError):
                raise ProbeFailure("eof_error") from None
            raise
        return reader, writer

    async def _associate(self) -> tuple[asyncio.StreamWriter, tuple[str, int]]:
        """A UDP association: its control connection and the relay's address."""
        reader, writer = await self._proxy(self.timeout)
        try:
            async with asyncio.timeout(self.timeout):
                host, port = await socks.socks5_request(
                    reader, writer, socks.ASSOCIATE, "0.0.0.0", 0
                )
        except BaseException:
            writer.close()
            raise
        if host in ("0.0.0.0", "::"):
            # RFC 1928: an unspecified relay address means the proxy's own.
            peer = writer.get_extra_info("peername")
            host = peer[0] if peer else self.tool.host
        return writer, (host, port)

    async def start(self) -> None:
        """Ask the tool for a UDP relay once (SOCKS5 only): does it carry UDP at all?
        Records why not in ``udp_failure``."""
        if self.tool.scheme != "socks5":
            self.udp_failure = "http_proxy_carries_tcp_only"
            return
        try:
            writer, relay = await self._associate()
        except Exception as exc:
            f = exc.failure if isinstance(exc, ProbeFailure) else failure_of(exc)
            self.udp_failure = f or TIMEOUT
            return
        writer.close()
        self.relay = relay

    async def open_udp(self, ip: str, port: int, source: str = "") -> udp.Endpoint:
        if self.relay is None:
            raise ProbeFailure(NOT_CARRIED)
        control, (rhost, rport) = await self._associate()
        try:
            loop = asyncio.get_running_loop()
            family = socket.AF_INET6 if ":" in rhost else socket.AF_INET
            transport, proto = await loop.create_datagram_endpoint(
                _Unwrap, remote_addr=(rhost, rport), family=family
            )
        except BaseException:
            control.close()
            raise
        return _Relayed(transport, control, ip, port), proto
