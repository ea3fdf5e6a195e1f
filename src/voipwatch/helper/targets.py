"""What the control helper may connect to, and how much each source may ask of it.

The helper runs on the open Internet without authentication, so its answer must be
worth nothing to anyone but a probe: it connects only to the apps' own endpoints —
an address the catalogue names (Telegram's DCs), or one the helper's own resolver
gives for a catalogue host named in the same request — on a catalogue port. Never
loopback, private, link-local, multicast or otherwise non-global addresses, unless
the operator allows a range (``--allow-range``: the simulator's own network, a test
on loopback). Identical targets are measured once, and each source has a budget of
requests, of concurrent requests and of connections per minute.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Final

from voipwatch.catalog import load

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Ports a web role is reached on when the catalogue gives a URL, not a port.
WEB_PORTS: Final = (80, 443)
#: Sources remembered at once (the oldest is forgotten first).
MAX_SOURCES: Final = 4096


def parse_ranges(specs: Iterable[str]) -> tuple[Network, ...]:
    """``["127.0.0.0/8", "198.18.0.0/15"]`` → networks (raises ValueError)."""
    return tuple(ipaddress.ip_network(s.strip(), strict=False) for s in specs if s.strip())


@dataclass(frozen=True)
class Catalogue:
    """The endpoints of the catalogue, as the helper checks them."""

    hosts: frozenset[str]
    ips: frozenset[str]
    ports: frozenset[int]


@cache
def catalogue() -> Catalogue:
    from urllib.parse import urlsplit

    hosts: set[str] = set()
    ips: set[str] = set()
    ports: set[int] = set(WEB_PORTS)
    for role in load().roles.values():
        hosts.update(h.lower() for h in role.hosts)
        hosts.update((urlsplit(u).hostname or "").lower() for u in role.urls)
        ips.update(str(ipaddress.ip_address(i)) for i in role.ips)
        ports.update(role.ports)
        ports.update(role.tcp_ports)
    hosts.discard("")
    return Catalogue(frozenset(hosts), frozenset(ips), frozenset(ports))


def is_catalogue_host(name: str) -> bool:
    """A host of the catalogue: named, or matched by a role's pattern or domain."""
    host = name.lower().rstrip(".")
    return host in catalogue().hosts or load().role_for_host(host) is not None


def refusal(ip: str, port: int, allowed: tuple[Network, ...], resolved: set[str]) -> str | None:
    """Why the helper will not connect to ``ip:port`` (None: it may).

    ``resolved`` are the addresses the helper's resolver gave for the catalogue hosts
    of this request."""
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if any(addr in net for net in allowed):
        return None
    if not addr.is_global or addr.is_multicast or addr.is_reserved or addr.is_unspecified:
        return "not_a_public_address"
    cat = catalogue()
    if port not in cat.ports:
        return "not_a_catalogue_port"
    if str(addr) not in cat.ips and str(addr) not in resolved:
        return "not_a_catalogue_endpoint"
    return None


@dataclass(frozen=True)
class Budget:
    """What one source (an IP address) may ask per minute, and at once.

    Sized to one honest probe run: ``probe --plane all`` runs its 16 tests at once,
    each asking the helper once, with some tens of targets each. Tighter, the probe's
    own controls are refused and its verdicts lose their confirmation."""

    requests_per_minute: int = 64
    connections_per_minute: int = 2048
    concurrent_requests: int = 16


@dataclass
class _Source:
    requests: deque[float] = field(default_factory=deque)
    connections: deque[float] = field(default_factory=deque)
    active: int = 0


class Sources:
    """Per-source accounting (sliding one-minute windows); ``now`` is passed in."""

    def __init__(self, budget: Budget | None = None) -> None:
        self.budget = budget or Budget()
        self._seen: OrderedDict[str, _Source] = OrderedDict()

    def _get(self, source: str) -> _Source:
        s = self._seen.pop(source, None) or _Source()
        self._seen[source] = s
        while len(self._seen) > MAX_SOURCES:
            self._seen.popitem(last=False)
        return s

    @staticmethod
    def _trim(window: deque[float], now: float) -> None:
        while window and window[0] <= now - 60:
            window.popleft()

    def begin(self, source: str, now: float) -> str | None:
        """Start a request of ``source``; why not (None: go on, then call :meth:`end`)."""
        s = self._get(source)
        self._trim(s.requests, now)
        if s.active >= self.budget.concurrent_requests:
            return "too many requests at once from this address"
        if len(s.requests) >= self.budget.requests_per_minute:
            return "too many requests from this address; try again in a minute"
        s.requests.append(now)
        s.active += 1
        return None

    def end(self, source: str) -> None:
        s = self._seen.get(source)
        if s is not None and s.active > 0:
            s.active -= 1

    def take_connection(self, source: str, now: float) -> bool:
        """One more outbound connection for ``source``, if its budget allows."""
        s = self._get(source)
        self._trim(s.connections, now)
        if len(s.connections) >= self.budget.connections_per_minute:
            return False
        s.connections.append(now)
        return True
