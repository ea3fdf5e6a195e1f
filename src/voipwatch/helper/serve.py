"""``voipwatch helper serve``: every test helper on one host, in one asyncio loop.

* UDP (``echo``): STUN/TURN on 3478 and on every call-plane UDP port of the
  catalogue, the control high port(s), the residual check's two ports, the RTP
  reflector port and SIP 5060 — one
  socket per port, demultiplexed by the first byte, never amplifying;
* TLS download server (``download``) on 443, any SNI;
* SIP OPTIONS responder on TCP 5060 and TLS 5061 (``sip``);
* the control helper (``control``), HTTP on its own port.

Run: ``voipwatch helper serve --listen 0.0.0.0`` or
``python -m voipwatch.helper.serve --listen 198.18.2.90``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from voipwatch.catalog import load
from voipwatch.helper import control, download, echo, sip, targets
from voipwatch.probe.config import CONTROL_PORTS, RESIDUAL_PORTS, RTP_PORT


def catalogue_udp_ports() -> list[int]:
    """Every UDP port of the catalogue's call-plane roles."""
    ports: list[int] = []
    for role in load().roles.values():
        if role.plane == "media":
            ports += role.udp_ports
    return sorted(set(ports))


def default_udp_ports() -> list[int]:
    return sorted({3478, 5060, RTP_PORT, *CONTROL_PORTS, *RESIDUAL_PORTS, *catalogue_udp_ports()})


@dataclass
class Settings:
    host: str = "127.0.0.1"
    udp_ports: list[int] = field(default_factory=default_udp_ports)
    tls_port: int = 443
    sip_port: int = 5060
    sips_port: int = 5061
    #: The control helper's port (0: not started).
    control_port: int = 8080
    cert_file: str = ""
    key_file: str = ""
    ca_file: str = ""
    rate: echo.RateLimit = field(default_factory=echo.RateLimit)
    #: Networks the control helper may test beyond the catalogue's public endpoints.
    allow_ranges: tuple[targets.Network, ...] = ()


@dataclass
class Running:
    """What :func:`start` started (``close`` stops it all)."""

    udp: list[tuple[asyncio.DatagramTransport, echo.UDPService]]
    servers: list[asyncio.Server]

    def close(self) -> None:
        for t, _ in self.udp:
            t.close()
        for s in self.servers:
            s.close()

    @property
    def bytes_in(self) -> int:
        return sum(p.bytes_in for _, p in self.udp)

    @property
    def bytes_out(self) -> int:
        return sum(p.bytes_out for _, p in self.udp)


def tls_context(s: Settings) -> ssl.SSLContext:
    if s.cert_file:
        return download.server_context(s.cert_file, s.key_file or s.cert_file)
    return download.self_signed_context()


async def start(s: Settings) -> Running:
    """Start every helper on ``s.host`` (raises OSError when a port is taken)."""
    ctx = tls_context(s)
    running = Running([], [])
    try:
        udp_ports = [*s.udp_ports, *([s.sip_port] if s.sip_port else [])]
        running.udp = await echo.start_udp(s.host, udp_ports, limit=s.rate)
        running.servers.append(await download.start_download(s.host, s.tls_port, ctx))
        if s.sip_port:
            running.servers.append(
                await asyncio.start_server(sip.handle_stream, s.host, s.sip_port)
            )
        if s.sips_port:
            running.servers.append(
                await asyncio.start_server(sip.handle_stream, s.host, s.sips_port, ssl=ctx)
            )
        if s.control_port:
            running.servers.append(
                await control.start(
                    s.host, s.control_port, ca_file=s.ca_file, allow_ranges=s.allow_ranges
                )
            )
    except BaseException:
        running.close()
        raise
    return running


async def _serve(s: Settings, on_ready: Callable[[Running], None] | None) -> None:
    running = await start(s)
    if on_ready is not None:
        on_ready(running)
    try:
        await asyncio.Event().wait()
    finally:
        running.close()


def serve(s: Settings, on_ready: Callable[[Running], None] | None = None) -> None:
    """Serve until interrupted."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(s, on_ready))


def parse_ports(spec: str) -> list[int]:
    """``"3478,5004,8801-8810"`` → ports (raises ValueError)."""
    out: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        a, b = int(lo), int(hi) if sep else int(lo)
        if not (0 < a <= b < 65536) or b - a > 1024:
            raise ValueError(f"bad port range {part!r}")
        out += range(a, b + 1)
    return sorted(set(out))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m voipwatch.helper.serve", description=__doc__)
    p.add_argument("--listen", "--address", default="127.0.0.1", help="address to listen on")
    p.add_argument("--ports", "--udp-ports", default="", help="UDP ports, e.g. 3478,5004,8801-8810")
    p.add_argument("--control-port", type=int, default=8080, help="control helper (0: off)")
    p.add_argument("--tls-port", type=int, default=443)
    p.add_argument("--cert-file", "--cert", default="", help="TLS certificate (PEM)")
    p.add_argument("--key-file", "--key", default="", help="its key (default: in the cert file)")
    p.add_argument(
        "--allow-range",
        action="append",
        default=[],
        help="a network the control helper may test beyond the catalogue (repeatable)",
    )
    a = p.parse_args(argv)
    # A bad range or port is a wrong call: argparse's one line and status 2.
    try:
        allow_ranges = targets.parse_ranges(a.allow_range)
    except ValueError as exc:
        p.error(f"--allow-range: {exc}")
    s = Settings(
        host=a.listen,
        control_port=a.control_port,
        tls_port=a.tls_port,
        cert_file=a.cert_file,
        key_file=a.key_file,
        allow_ranges=allow_ranges,
    )
    if a.ports:
        try:
            s.udp_ports = parse_ports(a.ports)
        except ValueError as exc:
            p.error(f"--ports: {exc}")
    serve(s)


if __name__ == "__main__":
    main()
