"""The address plan: every simulated host in 198.18.0.0/15 (RFC 2544 benchmarking).

::

    198.18.0.0/24    client link     client .2, censor .1 (the ISP resolver)
    198.18.1.0/24    transit link    censor .1, internet .2
    198.18.2.0/24    infrastructure  .10 control.voipwatch.test, .53 public resolver
                                     (dns.voipwatch.test: UDP/TCP 53, DoT 853, DoH 443),
                                     .60 sip.voipwatch.test (kamailio: SIP UDP/TCP 5060),
                                     .80 control helper (HTTP 8080),
                                     .90 call-plane test helper (STUN, UDP echo, TLS, SIP),
                                     .91 the simulator's UDP echo (checks of the world),
                                     .70 a circumvention tool's server (dante, ...)
    198.18.3.0/24    censor's own    .53 lying resolver (dns_hijack_udp), .43 MITM nginx
    198.18.16+i.j    app hosts       service i of the catalogue, host j (one address each)
    198.18.250.0/24  sinkhole        forged DNS answers point here; the censor blackholes it

Each catalogue host (``hosts``, the hosts of ``urls``) and each literal address
(``ips``, e.g. Telegram's DCs) gets its own address, so a recipe can block one host,
one DC or a whole app. The hosts of call-plane roles with UDP ports (``udp_ports``)
run coturn on those ports (STUN/TURN).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from voipwatch.catalog import Catalog
from voipwatch.sim.errors import ScenarioError

SIM_NET = ipaddress.ip_network("198.18.0.0/15")
CLIENT = "198.18.0.2"
CENSOR_CLIENT_SIDE = "198.18.0.1"
CENSOR_INET_SIDE = "198.18.1.1"
INET = "198.18.1.2"
CONTROL = "198.18.2.10"
RESOLVER = "198.18.2.53"
HELPER = "198.18.2.80"
HELPER_PORT = 8080
SIP = "198.18.2.60"
MEDIA_HELPER = "198.18.2.90"
ECHO = "198.18.2.91"
#: A scenario's circumvention tool (SOCKS5 or HTTP CONNECT, or shadowsocks' server).
TOOL = "198.18.2.70"
TOOL_PORT = 1080
HIJACK_RESOLVER = "198.18.3.53"
MITM = "198.18.3.43"
#: tcp_accept_all: the censor's accept-and-drop server (every matched connection lands here).
ACCEPT_ALL = "198.18.3.44"
ACCEPT_ALL_PORT = 9
SINKHOLE_NET = "198.18.250.0/24"
SINKHOLE = "198.18.250.66"
BOGON = "10.10.34.35"

CONTROL_NAME = "control.voipwatch.test"
RESOLVER_NAME = "dns.voipwatch.test"
SIP_NAME = "sip.voipwatch.test"
GOOGLE_STUN = "stun.l.google.com"
# A high UDP port no catalogue role uses (the helper and the echo listen there too).
HIGH_UDP_PORT = 42424
# At most this many ports per call-plane role for the helper (FaceTime lists 34).
PORTS_PER_ROLE = 4
FIRST_SERVICE_OCTET = 16


@dataclass(frozen=True)
class SimHost:
    """One simulated server address: a catalogue host name or a literal catalogue IP."""

    address: str
    service: str
    roles: tuple[str, ...]
    name: str | None = None  # None for a literal address (a Telegram DC)
    catalog_ip: str | None = None
    plain_http: bool = False  # HTTP without TLS on 80 and 443 (Telegram DCs)
    hold_ports: tuple[int, ...] = ()  # TCP ports answered by accept-and-hold (5222)

    @property
    def label(self) -> str:
        return self.name or self.catalog_ip or self.address


@dataclass(frozen=True)
class RoleInfo:
    """What the censor needs to know of a catalogue role (hosts or not)."""

    service: str
    plane: str
    udp_ports: tuple[int, ...] = ()
    tcp_ports: tuple[int, ...] = ()


@dataclass
class AddressPlan:
    hosts: list[SimHost] = field(default_factory=list)
    roles: dict[str, RoleInfo] = field(default_factory=dict)

    @property
    def by_name(self) -> dict[str, SimHost]:
        return {h.name: h for h in self.hosts if h.name}

    @property
    def overlay(self) -> dict[str, str]:
        """Catalogue literal address → simulated address (the probe's ``[overlay] ips``)."""
        return {h.catalog_ip: h.address for h in self.hosts if h.catalog_ip}

    def dns_records(self) -> dict[str, str]:
        """Every name the public resolver answers, with its address."""
        records = {h.name: h.address for h in self.hosts if h.name}
        records[CONTROL_NAME] = CONTROL
        records[RESOLVER_NAME] = RESOLVER
        records[SIP_NAME] = SIP
        return records

    def is_media(self, host: SimHost) -> bool:
        return any(self.roles[r].plane == "media" for r in host.roles if r in self.roles)

    def udp_listens(self) -> dict[int, list[str]]:
        """UDP port → addresses of the call-plane hosts on that port (coturn serves them)."""
        out: dict[int, list[str]] = {}
        for h in self.hosts:
            for r in h.roles:
                info = self.roles.get(r)
                if info is None or info.plane != "media":
                    continue
                for port in info.udp_ports:
                    if h.address not in out.setdefault(port, []):
                        out[port].append(h.address)
        return dict(sorted(out.items()))

    def stun_servers(self) -> list[str]:
        """``host:port`` of the simulated public STUN servers: each host on the role's
        first UDP port, Google's on its own (19302) too."""
        info = self.roles.get("stun/public")
        if info is None or not info.udp_ports:
            return []
        out = []
        for h in self.hosts:
            if "stun/public" in h.roles and h.name:
                out.append(f"{h.name}:{info.udp_ports[0]}")
                if h.name == GOOGLE_STUN:
                    out += [f"{h.name}:{p}" for p in info.udp_ports[1:]]
        return out

    def media_ports(self) -> list[int]:
        """The helper's UDP ports: a few per call-plane role, and a high port."""
        ports = {HIGH_UDP_PORT}
        for info in self.roles.values():
            if info.plane == "media":
                ports.update(info.udp_ports[:PORTS_PER_ROLE])
        return sorted(ports)

    def role_udp_ports(self, *, app: str = "", role: str = "") -> list[int]:
        """The UDP ports of the call-plane roles an app or a role names."""
        ports: set[int] = set()
        for rid, info in self.roles.items():
            if info.plane == "media" and ((app and info.service == app) or rid == role):
                ports.update(info.udp_ports)
        return sorted(ports)

    def match(
        self,
        *,
        app: str = "",
        role: str = "",
        hosts: Iterable[str] = (),
        ips: Iterable[str] = (),
    ) -> list[SimHost]:
        """The hosts a recipe's matchers select (their union); unknown names are errors."""
        chosen: dict[str, SimHost] = {}
        if app:
            found = [h for h in self.hosts if h.service == app]
            if not found:
                raise ScenarioError(f"app {app!r} has no simulated hosts")
            chosen.update((h.address, h) for h in found)
        if role:
            found = [h for h in self.hosts if role in h.roles]
            if not found:
                raise ScenarioError(f"role {role!r} has no simulated hosts")
            chosen.update((h.address, h) for h in found)
        names = self.by_name
        for name in hosts:
            h = names.get(name.lower().rstrip("."))
            if h is None:
                raise ScenarioError(f"host {name!r} is not in the catalogue")
            chosen[h.address] = h
        by_any_ip = {h.address: h for h in self.hosts}
        by_any_ip.update((h.catalog_ip, h) for h in self.hosts if h.catalog_ip)
        for ip in ips:
            h = by_any_ip.get(ip)
            if h is None:
                raise ScenarioError(
                    f"address {ip!r} is neither a catalogue nor a simulated address"
                )
            chosen[h.address] = h
        return sorted(chosen.values(), key=lambda h: ipaddress.ip_address(h.address))


def build_plan(catalog: Catalog) -> AddressPlan:
    """Give every host and literal address of the catalogue its own simulated address."""
    plan = AddressPlan()
    index = 0
    for service in catalog.services.values():
        for role in service.roles:
            plan.roles[role.id] = RoleInfo(
                service.id, role.plane, tuple(role.udp_ports), tuple(role.tcp_ports)
            )
        entries: dict[str, SimHost] = {}  # name or literal ip → host
        for role in service.roles:
            names = list(role.hosts)
            for url in role.urls:
                host = urlsplit(url).hostname
                if host:
                    names.append(host)
            hold = tuple(p for p in role.ports if p not in (80, 443) and role.transport == "tcp")
            for raw in names:
                name = raw.lower()
                if _is_ip(name):
                    continue
                old = entries.get(name)
                if old is None:
                    entries[name] = SimHost("", service.id, (role.id,), name=name, hold_ports=hold)
                elif role.id not in old.roles:
                    entries[name] = _with_role(old, role.id, hold)
            for ip in role.ips:
                entries[ip] = SimHost(
                    "", service.id, (role.id,), catalog_ip=ip, plain_http=True, hold_ports=hold
                )
        if not entries:
            continue
        octet = FIRST_SERVICE_OCTET + index
        index += 1
        if len(entries) > 254 or octet > 249:
            raise ScenarioError(f"the address plan has no room for {service.id}")
        for j, h in enumerate(entries.values(), start=1):
            plan.hosts.append(
                SimHost(
                    f"198.18.{octet}.{j}",
                    h.service,
                    h.roles,
                    name=h.name,
                    catalog_ip=h.catalog_ip,
                    plain_http=h.plain_http,
                    hold_ports=h.hold_ports,
                )
            )
    return plan


def _with_role(h: SimHost, role: str, hold: tuple[int, ...]) -> SimHost:
    return SimHost(
        h.address,
        h.service,
        (*h.roles, role),
        name=h.name,
        catalog_ip=h.catalog_ip,
        plain_http=h.plain_http,
        hold_ports=tuple(sorted({*h.hold_ports, *hold})),
    )


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
