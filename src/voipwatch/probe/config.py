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

import msgspec

from voipwatch.errors import UsageError

__all__ = [
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


class HelperConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The control helper that measures the same targets from outside (``http://host:port``)."""

    url: str = ""


class Overlay(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Catalogue overlay for a simulated world: literal address → simulated address."""

    ips: dict[str, str] = msgspec.field(default_factory=dict)


class ProbeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything a probe run needs; every field has a default for real use."""

    probe_cc: str = "ZZ"
    probe_asn: str = "AS0"
    control_sni: str = "example.org"
    ca_file: str = ""
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
        raise UsageError(f"--config {path}: {exc.strerror or exc}") from None
    return parse_config(data, source=str(path))
