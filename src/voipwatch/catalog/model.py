"""The shape of the service catalogue (``data/services.toml``)."""

from __future__ import annotations

import re
from functools import cached_property
from typing import Literal

import msgspec


class HistoryEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """When OONI's probe tested an endpoint (or how many), for judging old data."""

    host: str = ""
    valid_from: str = ""
    valid_until: str = ""
    test_versions: str = ""
    endpoints: int = 0
    note: str = ""


class Role(msgspec.Struct, frozen=True, forbid_unknown_fields=True, dict=True):
    """A component of an app with endpoints of its own (``whatsapp/endpoints``)."""

    id: str
    label: str
    plane: Literal["signalling", "media", "web", "circumvention"]
    combine: Literal["any_of", "all_of"]
    owner_asns: list[int] = []
    hosts: list[str] = []
    host_patterns: list[str] = []
    domains: list[str] = []
    ips: list[str] = []
    urls: list[str] = []
    ports: list[int] = []
    transport: Literal["tcp", "udp"] = "tcp"
    # Call-plane roles: the UDP and TCP ports the app's media and relays use, tested
    # against the app's own hosts where known and against the test helper otherwise.
    udp_ports: list[int] = []
    tcp_ports: list[int] = []
    source: str = ""
    dns_only: bool = False
    down_answers: list[str] = []
    ooni_keys: list[str] = []
    note: str = ""
    history: list[HistoryEntry] = []

    @cached_property
    def service(self) -> str:
        return self.id.split("/", 1)[0]

    @cached_property
    def patterns(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(p) for p in self.host_patterns)


class Service(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An app: its roles and the OONI test that measures it, if any."""

    id: str
    name: str
    roles: list[Role]
    ooni_test: str = ""
    pinned_tls: bool = False


class CatalogData(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    version: str
    date: str
    services: list[Service]
