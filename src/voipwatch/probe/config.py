"""Probe configuration: defaults for real use, a TOML file for a simulated world.

The file has a ``[probe]`` table (with ``resolvers``, ``timeouts``, ``concurrency``
and ``helper`` sub-tables) and an ``[overlay]`` table that maps the catalogue's
literal addresses onto the ones a simulation serves them from. Unknown keys are
errors: a typo must not silently fall back to a default and measure the real
internet from inside a simulation.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Final

import msgspec

from voipwatch.errors import InvalidValue, UsageError

__all__ = [
    "CONTROL_PORTS",
    "RESIDUAL_PORTS",
    "RTP_PORT",
    "Concurrency",
    "HelperConfig",
    "Overlay",
    "ProbeConfig",
    "Resolvers",
    "Timeouts",
    "load_config",
]


class Resolvers(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Which resolvers to ask for every name.

    ``system`` is what apps see; ``udp`` is plain DNS to a public resolver (A/B
    against its encrypted twin tells UDP-only tampering); ``doh`` (``URL@bootstrap``)
    and ``dot`` (``ip[:port]#tls-name``) are the controls.
    """

    system: bool = True
    udp: list[str] = msgspec.field(default_factory=lambda: ["1.1.1.1"])
    doh: list[str] = msgspec.field(
        default_factory=lambda: ["https://cloudflare-dns.com/dns-query@1.1.1.1"]
    )
    dot: list[str] = msgspec.field(default_factory=lambda: ["1.1.1.1#cloudflare-dns.com"])
    # On-path injectors answer first and the real resolver second (or the other way
    # round): keep reading this long after the first answer.
    injection_window: float = 1.0


class Timeouts(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Seconds per operation, OONI-like (netxlite: DNS 5, TLS 10), and for the run."""

    dns: float = 5.0
    connect: float = 10.0
    tls: float = 10.0
    http: float = 15.0
    run: float = 90.0


class Concurrency(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    total: int = 24
    per_destination: int = 2


#: The most one throughput download may ask of the helper's TLS download server
#: (which serves no more to one request).
MAX_THROUGHPUT_BYTES: Final = 16 * 1024 * 1024
#: The helper's "random" high UDP port (no catalogue role uses it): the port control.
CONTROL_PORTS = [42424]
#: The helper's RTP reflector (any helper UDP port reflects; this one carries the A/B).
RTP_PORT = 5004
#: The residual check's two ports: one it triggers, one it never does (nothing else
#: of a run sends there, so no other test can have triggered them first).
RESIDUAL_PORTS = [42425, 42426]
#: How long the residual check waits for a block to lift: longer than the 180 s
#: the Great Firewall keeps a 3-tuple blocked.
RESIDUAL_WAIT = 200.0


class HelperConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The test helpers outside the censored network.

    ``url`` is the control helper (``http://host:port``) that measures the same
    targets from outside; ``address`` is the call-plane helper's IP (STUN/TURN and
    UDP echo on the apps' ports, SIP, the RTP reflector, the TLS download server),
    and the ports below are where it listens. ``stun_servers`` are the public STUN
    servers (``host:port``) tested beside it (None: the catalogue's ``stun/public``
    hosts). ``sip_servers`` are SIP servers (``host``) to send OPTIONS to over UDP
    and TCP ``sip_port`` and TLS ``sips_port`` besides the helper: only your own, or
    ones you may test (never scan third parties' SIP servers); none by default.
    ``media_seconds`` is the length of each A/B media stream and
    ``throughput_bytes`` the size of each A/B download. ``residual`` turns on the
    residual-censorship check (``voipwatch probe --residual``), which waits
    ``residual_wait`` seconds for a block to lift, on the ``residual_ports``.
    """

    url: str = ""
    address: str = ""
    stun_servers: list[str] | None = None
    sip_servers: list[str] = msgspec.field(default_factory=list)
    media_seconds: float = 5.0
    throughput_bytes: int = 4_000_000
    throughput_sni: str = "web.whatsapp.com"
    control_ports: list[int] = msgspec.field(default_factory=lambda: list(CONTROL_PORTS))
    rtp_port: int = RTP_PORT
    tls_port: int = 443
    sip_port: int = 5060
    sips_port: int = 5061
    residual: bool = False
    residual_wait: float = RESIDUAL_WAIT
    residual_ports: list[int] = msgspec.field(default_factory=lambda: list(RESIDUAL_PORTS))

    def __post_init__(self) -> None:
        if not 0.2 <= self.media_seconds <= 60:
            raise ValueError(f"media_seconds must be between 0.2 and 60, not {self.media_seconds}")
        if not 0 <= self.throughput_bytes <= MAX_THROUGHPUT_BYTES:
            raise ValueError(
                f"throughput_bytes must be between 0 and {MAX_THROUGHPUT_BYTES >> 20} MiB"
            )
        if not 0 <= self.residual_wait <= 3600:
            raise ValueError(f"residual_wait must be between 0 and 3600, not {self.residual_wait}")
        if len(set(self.residual_ports)) != 2:
            raise ValueError("residual_ports must be two different ports")
        if self.address:
            ipaddress.ip_address(self.address)  # raises ValueError when malformed
        ports = [self.rtp_port, self.tls_port, self.sip_port, self.sips_port]
        for p in [*self.control_ports, *self.residual_ports, *ports]:
            if not 0 < p < 65536:
                raise ValueError(f"port {p} out of range")


class Overlay(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Catalogue overlay for a simulated world: literal address → simulated address."""

    ips: dict[str, str] = msgspec.field(default_factory=dict)


class ProbeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything a probe run needs; every field has a default for real use."""

    #: What to record when the probe cannot locate itself; anything other than
    #: ``ZZ``/``AS0`` here is taken as the user's statement and not looked up.
    probe_cc: str = "ZZ"
    probe_asn: str = "AS0"
    probe_network_name: str = ""
    #: MaxMind-format databases (country, ASN) to locate the probe with; none: the
    #: ``$VOIPWATCH_LOCATION_DB`` files, those ``voipwatch locate refresh`` keeps, and
    #: the bundled database.
    location_db: list[str] = msgspec.field(default_factory=list)
    control_sni: str = "example.org"
    ca_file: str = ""
    #: Local address for the call-plane tests' sockets (multihomed hosts); "" = any.
    source_address: str = ""
    routable: list[str] = msgspec.field(default_factory=list)
    retries: int = 2
    resolvers: Resolvers = msgspec.field(default_factory=Resolvers)
    timeouts: Timeouts = msgspec.field(default_factory=Timeouts)
    concurrency: Concurrency = msgspec.field(default_factory=Concurrency)
    helper: HelperConfig = msgspec.field(default_factory=HelperConfig)
    overlay: Overlay = msgspec.field(default_factory=Overlay)

    def __post_init__(self) -> None:
        if self.retries < 0 or self.retries > 10:
            raise ValueError(f"retries must be between 0 and 10, not {self.retries}")
        if self.concurrency.total < 1 or self.concurrency.per_destination < 1:
            raise ValueError("concurrency limits must be at least 1")
        for net in self.routable:
            ipaddress.ip_network(net, strict=False)  # raises ValueError when malformed

    def routable_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(n, strict=False) for n in self.routable)


class _File(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    probe: ProbeConfig = msgspec.field(default_factory=ProbeConfig)
    overlay: Overlay = msgspec.field(default_factory=Overlay)


def parse_config(data: bytes, *, source: str = "<config>") -> ProbeConfig:
    """Parse a TOML configuration (raises :class:`UsageError` with the reason)."""
    try:
        f = msgspec.toml.decode(data, type=_File)
    except (msgspec.DecodeError, ValueError) as exc:
        raise UsageError(f"{source}: {exc}") from None
    if f.overlay.ips:
        return msgspec.structs.replace(f.probe, overlay=f.overlay)
    return f.probe


def load_config(path: Path | None) -> ProbeConfig:
    """The configuration in ``path``, or the defaults when ``path`` is None."""
    if path is None:
        return ProbeConfig()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidValue("config", str(path), f"{path}: {exc.strerror or exc}") from None
    return parse_config(data, source=str(path))
