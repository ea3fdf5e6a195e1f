"""The service catalogue: apps → roles → endpoints (versioned data in ``data/``).

Lookups answer the questions the verdict rules ask: which role does this host,
address or URL belong to, and which networks may legitimately serve it.
"""

from __future__ import annotations

import importlib.resources
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from voipwatch.catalog.model import CatalogData, Role, Service
from voipwatch.errors import CatalogError

__all__ = ["Catalog", "Role", "Service", "load"]


#: How many host names a catalogue remembers the role of.
_SEEN_HOSTS = 4096


class Catalog:
    """A loaded, validated catalogue with host/IP/URL indexes."""

    def __init__(self, data: CatalogData) -> None:
        self.version = data.version
        self.date = data.date
        self.services = {s.id: s for s in data.services}
        self.roles: dict[str, Role] = {}
        self._host: dict[str, Role] = {}
        self._ip: dict[str, Role] = {}
        self._url: dict[str, Role] = {}
        self._domains: list[tuple[str, Role]] = []
        self._patterns: list[Role] = []
        # host -> role (or None): rules ask of the same few names in every measurement
        self._seen_hosts: dict[str, Role | None] = {}
        for s in data.services:
            for r in s.roles:
                if not r.id.startswith(f"{s.id}/"):
                    raise CatalogError(f"role {r.id!r} is not under its service {s.id!r}")
                if r.id in self.roles:
                    raise CatalogError(f"role {r.id!r} is defined twice")
                self.roles[r.id] = r
                for h in r.hosts:
                    self._host.setdefault(h.lower(), r)
                for ip in r.ips:
                    self._ip[ip] = r
                for u in r.urls:
                    self._url[u] = r
                self._domains.extend((d.lower(), r) for d in r.domains)
                if r.host_patterns:
                    self._patterns.append(r)
        # Longest suffix first, so web.whatsapp.com beats whatsapp.com.
        self._domains.sort(key=lambda dr: -len(dr[0]))

    def service(self, service_id: str) -> Service:
        return self.services[service_id]

    def role_for_host(self, host: str) -> Role | None:
        """The role a host name belongs to: exact host, then pattern, then domain suffix."""
        seen = self._seen_hosts
        if host in seen:
            return seen[host]
        if len(seen) >= _SEEN_HOSTS:
            seen.clear()  # a bound, for streams of ever new names
        role = seen[host] = self._find_role(host)
        return role

    def _find_role(self, host: str) -> Role | None:
        h = host.lower().rstrip(".")
        r = self._host.get(h)
        if r is not None:
            return r
        for role in self._patterns:
            if any(p.match(h) for p in role.patterns):
                return role
        for d, role in self._domains:
            if h == d or h.endswith("." + d):
                return role
        return None

    def role_for_ip(self, ip: str) -> Role | None:
        return self._ip.get(ip)

    def role_for_url(self, url: str) -> Role | None:
        r = self._url.get(url)
        if r is not None:
            return r
        try:
            host = urlsplit(url).hostname
        except ValueError:
            return None
        if not host:
            return None
        return self.role_for_ip(host) or self.role_for_host(host)


def load_file(path: Path) -> Catalog:
    """Load and validate a catalogue file (raises :class:`CatalogError`)."""
    try:
        data = msgspec.toml.decode(path.read_bytes(), type=CatalogData)
    except (OSError, msgspec.DecodeError) as exc:
        raise CatalogError(f"{path}: {exc}") from None
    return Catalog(data)


@cache
def load() -> Catalog:
    """The catalogue shipped with voipwatch."""
    ref = importlib.resources.files("voipwatch.catalog") / "data" / "services.toml"
    with importlib.resources.as_file(ref) as p:
        return load_file(p)
