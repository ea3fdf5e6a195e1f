"""Censor recipes → rules in the censor namespace, resolver lies, and missing servers.

What each kind becomes (``r0`` is the censor's interface toward the client):

=================  ==========================================================================
dns_nxdomain       ISP resolver: ``local-zone: "<name>." always_nxdomain``
dns_bogon          ISP resolver: ``local-zone: "<name>." redirect`` + ``A <bogon>``
dns_injection      the on-path injector forges an A answer (default: the sinkhole) for UDP
                   queries of the names, to any resolver; the genuine answer still arrives
dns_hijack_udp     nft ``iifname r0 udp dport 53 dnat to <lying resolver>``; the lying
                   resolver answers the names with the sinkhole and forwards the rest
ip_drop            nft ``ip daddr {...} [th dport {...}] drop``
ip_reject          nft ``... meta l4proto tcp reject with tcp reset`` and
                   ``... reject with icmpx type admin-prohibited``
sni_reset          iptables ``-i r0 -p tcp -m string --hex-string |00 <len> name|``
                   ``-j REJECT --reject-with tcp-reset`` (the SNI entry, length-prefixed, so
                   e1.whatsapp.net does not match e11.whatsapp.net)
sni_drop           the same match, ``-j DROP``
tls_mitm           nft ``ip daddr {...} tcp dport 443 dnat to <MITM nginx>`` in the censor,
                   whose certificate comes from a CA the probe does not trust
server_down        the hosts' servers are not started: connections are refused
tcp_accept_all     nft ``iifname r0 ip daddr {...} meta l4proto tcp dnat to <accept-all>``: the
                   censor completes every TCP handshake to the hosts, on any port, then
                   reads and drops everything (a transparent proxy or sinkhole, TSPU-like)
mtproto_dpi        iptables ``-m string --hex-string |f1 8e 7e be|`` (MTProto's
                   ``req_pq_multi``) ``-j DROP`` to the hosts: TCP and TLS pass, MTProto dies
no_path_out        nft ``iifname r0 counter drop``: nothing the client sends is forwarded (the
                   uplink is down); only the ISP's resolver, on the router, still answers
tool_drop          nft ``ip daddr TOOL counter drop``: the scenario's circumvention tool's
                   server is blocked (TCP and UDP)
helper_port_closed not a censor: the call-plane test helper does not listen on the UDP
                   ``ports`` (a broken control; its host answers port-unreachable)
loss               nft ``ip daddr {...} numgen random mod 100 < P drop`` and the same for
                   ``ip saddr`` (both directions); a call-plane ``role`` adds the same loss
                   on its UDP ports to and from any address (relays without a fixed host),
                   and so do ``ports`` when no host is matched
udp_port_drop      nft ``udp dport {P} drop`` to any address; P = ``ports``, or the UDP
                   ports of the call-plane roles of ``app`` / ``role``
udp_port_reject    nft ``udp dport {P} reject with icmpx type port-unreachable``
stun_dpi           nft ``udp length >= 28 @th,96,32 0x2112a442 drop`` (the STUN magic
                   cookie at UDP payload offset 4), any port unless ``ports``
dtls_dpi           nft ``udp length >= 33 @th,64,8 0x16 @th,72,8 0xfe @th,168,8 0x01 drop``
                   (record type handshake, DTLS version, handshake type ClientHello)
rtp_dpi            nft ``udp length >= 20 @th,64,2 2 drop``: RTP and RTCP by their header
                   (version 2 in the first two bits of the UDP payload, RFC 7983's 128–191
                   range), any port unless ``ports``; STUN, DTLS and other bytes pass
sip_port_drop      nft ``udp dport 5060 drop`` and ``tcp dport {5060, 5061} reject with tcp
                   reset`` (``ports`` replaces both lists)
sip_dpi            iptables ``-p udp|tcp -m string --string "SIP/2.0" -j DROP``, any port
sni_throttle       iptables mangle ``-i r0 -m string --hex-string <SNI entry> -j CONNMARK
                   --set-mark M`` and ``POSTROUTING -m connmark --mark M -j CLASSIFY
                   --set-class 1:C``; on r0 and r1 ``tc`` HTB root ``1:`` (default class
                   ``1:99`` at 10 gbit) with class ``1:C`` at ``rate`` and a 16-packet
                   pfifo (both directions); no GSO on the veths while throttling
residual           nft set ``residualN`` of ``saddr . daddr . proto . dport`` with a timeout of
                   ``residual_seconds``; the trigger (a STUN packet to any address, or the
                   names' SNI, marked by iptables mangle ``-j MARK``) adds its 3-tuple and is
                   dropped; every packet of a 3-tuple in the set is dropped until it expires
udp_allowlist      nft ``meta l4proto udp ct direction original ip daddr != {IPS}``
                   ``udp dport != {P} drop``: IPS = the resolvers, the matched hosts and the
                   ``ips``; P = ``ports`` (replies of allowed flows pass)
relay_block        nft ``ip daddr {...} drop`` for the call-plane hosts matched (TURN relays,
                   STUN servers, SFUs), every protocol
=================  ==========================================================================
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from voipwatch.sim.errors import ScenarioError
from voipwatch.sim.plan import (
    ACCEPT_ALL,
    ACCEPT_ALL_PORT,
    BOGON,
    HIJACK_RESOLVER,
    MITM,
    RESOLVER,
    SIM_NET,
    SINKHOLE,
    TOOL,
    AddressPlan,
    SimHost,
)
from voipwatch.sim.scenario import ANYWHERE_KINDS, CALL_KINDS, Recipe, Scenario

CLIENT_SIDE_IF = "r0"  # the censor's interface toward the client
TRANSIT_IF = "r1"  # the censor's interface toward the internet

# Kernel features per kind, probed in a scratch namespace before a world is built.
FEATURES = {
    "dns_hijack_udp": ("nft", "nat"),
    "ip_drop": ("nft",),
    "ip_reject": ("nft", "reject"),
    "sni_reset": ("string", "xt_reject"),
    "sni_drop": ("string",),
    "tls_mitm": ("nft", "nat"),
    "tcp_accept_all": ("nft", "nat"),
    "mtproto_dpi": ("string",),
    "no_path_out": ("nft",),
    "tool_drop": ("nft",),
    "loss": ("nft", "numgen"),
    "udp_port_drop": ("nft",),
    "udp_port_reject": ("nft", "icmp_reject"),
    "stun_dpi": ("nft", "payload"),
    "dtls_dpi": ("nft", "payload"),
    "rtp_dpi": ("nft", "payload"),
    "sip_port_drop": ("nft", "reject"),
    "sip_dpi": ("string",),
    "sni_throttle": ("string", "connmark", "classify", "htb"),
    "residual": ("nft", "payload", "dynset", "mark"),
    "udp_allowlist": ("nft", "ct"),
    "relay_block": ("nft",),
}

STUN_COOKIE = "@th,96,32 0x2112a442"  # bits 96..127 of the UDP header + payload
STUN_MATCH = f"udp length >= 28 {STUN_COOKIE}"
DTLS_CLIENT_HELLO = "udp length >= 33 @th,64,8 0x16 @th,72,8 0xfe @th,168,8 0x01"
RTP_HEADER = "udp length >= 20 @th,64,2 2"  # a 12-byte header whose version is 2
SIP_TEXT = "SIP/2.0"
MTPROTO_REQ_PQ = "|f1 8e 7e be|"  # req_pq_multi's constructor, little-endian
SIP_PORTS = (5060, 5061)
DEFAULT_CLASS = 99  # HTB class of every unthrottled packet
FAST_RATE = "10gbit"
MAX_THROTTLES = 8
THROTTLE_QUEUE = 16  # packets queued in a throttled class (about 1.5 s at 128 kbit/s)
THROTTLE_MARK = 0x10  # CONNMARK of the n-th throttle: THROTTLE_MARK + n
RESIDUAL_MARK = 0x100  # packet mark of the n-th residual SNI trigger: RESIDUAL_MARK + n
_RATE_RE = re.compile(r"^\d+(\.\d+)?(bit|kbit|mbit|gbit)$")


@dataclass
class CensorPlan:
    """Everything a scenario changes in the world, ready to apply."""

    nxdomain: set[str] = field(default_factory=set)
    bogon: dict[str, str] = field(default_factory=dict)  # name → address
    hijack: dict[str, str] = field(default_factory=dict)  # name → forged address
    injection: dict[str, str] = field(default_factory=dict)  # name → forged address
    down: set[str] = field(default_factory=set)  # simulated addresses with no server
    helper_closed: set[int] = field(default_factory=set)  # UDP ports the helper leaves shut
    mitm: list[SimHost] = field(default_factory=list)
    accept_all: bool = False  # the accept-and-drop server runs in the censor
    forward_rules: list[str] = field(default_factory=list)  # nft, table inet voipwatch
    nat_rules: list[str] = field(default_factory=list)  # nft, table ip voipwatch_nat
    iptables: list[list[str]] = field(default_factory=list)  # argv after "iptables"
    sets: list[str] = field(default_factory=list)  # nft set declarations, table inet voipwatch
    throttles: list[tuple[int, str]] = field(default_factory=list)  # (HTB minor, rate)
    features: set[str] = field(default_factory=set)

    def tc_commands(self) -> list[list[str]]:
        """``tc`` argv lists for the censor's two interfaces (empty without throttles)."""
        if not self.throttles:
            return []
        cmds: list[list[str]] = []
        for dev in (CLIENT_SIDE_IF, TRANSIT_IF):
            cmds.append(["qdisc", "add", "dev", dev, "root", "handle", "1:", "htb",
                         "default", str(DEFAULT_CLASS)])  # fmt: skip
            cmds.append(["class", "add", "dev", dev, "parent", "1:", "classid",
                         f"1:{DEFAULT_CLASS}", "htb", "rate", FAST_RATE])  # fmt: skip
            for minor, rate in self.throttles:
                cmds.append(["class", "add", "dev", dev, "parent", "1:", "classid",
                             f"1:{minor}", "htb", "rate", rate, "ceil", rate])  # fmt: skip
                # A short queue, as a shaper in a real network has: with the default 1000
                # packets, a closed flow's backlog would hold up the next for a minute.
                cmds.append(["qdisc", "add", "dev", dev, "parent", f"1:{minor}", "handle",
                             f"{minor}:", "pfifo", "limit", str(THROTTLE_QUEUE)])  # fmt: skip
        return cmds

    def nft_script(self) -> str:
        if not (self.forward_rules or self.nat_rules):
            return ""
        lines = [
            "table inet voipwatch {",
            *(f"  {d}" for d in self.sets),
            "  chain forward {",
            "    type filter hook forward priority filter; policy accept;",
            *(f"    {r}" for r in self.forward_rules),
            "  }",
            "}",
        ]
        if self.nat_rules:
            lines += [
                "table ip voipwatch_nat {",
                "  chain prerouting {",
                "    type nat hook prerouting priority dstnat; policy accept;",
                *(f"    {r}" for r in self.nat_rules),
                "  }",
                "}",
            ]
        return "\n".join(lines) + "\n"


def _addr_set(hosts: list[SimHost]) -> str:
    return "{ " + ", ".join(h.address for h in hosts) + " }"


def _ports(recipe: Recipe) -> str:
    ports = recipe.all_ports
    if not ports:
        return ""
    return "meta l4proto { tcp, udp } th dport { " + ", ".join(map(str, ports)) + " } "


def _set(items: list[int] | list[str]) -> str:
    return "{ " + ", ".join(map(str, items)) + " }"


def _match(r: Recipe, plan: AddressPlan) -> list[SimHost]:
    """The hosts a recipe names; an app or role without hosts (relays handed out per
    call, FaceTime) names none here, but its ports still count."""
    hostless = {i.service for i in plan.roles.values()} - {h.service for h in plan.hosts}
    app = "" if r.app in hostless else r.app
    role = r.role
    if role in plan.roles and not any(role in h.roles for h in plan.hosts):
        role = ""
    if not (app or role or r.all_hosts or r.ips):
        if r.app and r.app not in hostless:
            raise ScenarioError(f"app {r.app!r} has no simulated hosts")
        return []
    return plan.match(app=app, role=role, hosts=r.all_hosts, ips=r.ips)


def _check_names(r: Recipe, plan: AddressPlan) -> None:
    """An app or role a port recipe names must exist, even when it has no hosts."""
    if r.app and r.app not in {i.service for i in plan.roles.values()}:
        raise ScenarioError(f"app {r.app!r} has no simulated hosts")
    if r.role and r.role not in plan.roles:
        raise ScenarioError(f"role {r.role!r} has no simulated hosts")


def _udp_ports(r: Recipe, plan: AddressPlan, where: str) -> list[int]:
    ports = r.all_ports or plan.role_udp_ports(app=r.app, role=r.role)
    if not ports:
        raise ScenarioError(f"{where}: no UDP ports (give ports, or a call-plane app or role)")
    return ports


def _allowed_ips(r: Recipe, plan: AddressPlan) -> list[str]:
    """The allow-list's addresses: the resolver, the hosts matched, the ``ips`` given
    (catalogue, simulated or any address of the simulation, such as the helper)."""
    allowed = {RESOLVER}
    if r.app or r.role or r.all_hosts:
        bare = Recipe(kind=r.kind, app=r.app, role=r.role, hosts=r.all_hosts)
        allowed.update(h.address for h in _match(bare, plan))
    for ip in r.ips:
        try:
            allowed.update(h.address for h in plan.match(ips=[ip]))
        except ScenarioError:
            try:
                inside = ipaddress.ip_address(ip) in SIM_NET
            except ValueError:
                inside = False
            if not inside:
                raise
            allowed.add(ip)
    return sorted(allowed, key=ipaddress.ip_address)


def _names(recipe: Recipe, hosts: list[SimHost], where: str) -> list[str]:
    names = sorted(h.name for h in hosts if h.name)
    if not names:
        raise ScenarioError(f"{where}: matches no host names (it works on names, not addresses)")
    return names


def _sni_marking(names: list[str], ports: list[int], target: list[str]) -> list[list[str]]:
    """iptables rules sending to ``target`` the client's TCP packets (to ``ports``, or any
    port) whose ClientHello names one of ``names``."""
    return [
        ["-t", "mangle", "-A", "FORWARD", "-i", CLIENT_SIDE_IF, "-p", "tcp",
         *(["--dport", str(port)] if port else []), "-m", "string", "--algo", "bm",
         "--hex-string", sni_pattern(name), "-j", *target]
        for name in names
        for port in ports or [0]
    ]  # fmt: skip


def sni_pattern(name: str) -> str:
    """The ClientHello bytes of an SNI entry: type 0 (host_name), 2-byte length, the name."""
    raw = name.encode("ascii")
    return "|" + (b"\x00" + len(raw).to_bytes(2, "big") + raw).hex(" ") + "|"


def compile_scenario(scenario: Scenario, plan: AddressPlan) -> CensorPlan:
    out = CensorPlan()
    for i, r in enumerate(scenario.censor, start=1):
        where = f"scenario {scenario.name}: censor recipe {i} ({r.kind})"
        try:
            if r.kind in ANYWHERE_KINDS or r.kind == "loss":
                _check_names(r, plan)
                hosts = [] if r.kind == "udp_allowlist" else _match(r, plan)
            else:
                hosts = plan.match(app=r.app, role=r.role, hosts=r.all_hosts, ips=r.ips)
            if r.kind in CALL_KINDS:
                _compile_call(r, i, hosts, plan, out, where)
                out.features.update(FEATURES.get(r.kind, ()))
                continue
        except ScenarioError as exc:
            raise ScenarioError(exc.args[0] if where in str(exc) else f"{where}: {exc}") from None
        out.features.update(FEATURES.get(r.kind, ()))
        addrs = _addr_set(hosts)
        match r.kind:
            case "dns_nxdomain":
                out.nxdomain.update(_names(r, hosts, where))
            case "dns_bogon":
                out.bogon.update(dict.fromkeys(_names(r, hosts, where), r.answer or BOGON))
            case "dns_injection":
                out.injection.update(dict.fromkeys(_names(r, hosts, where), r.answer or SINKHOLE))
            case "dns_hijack_udp":
                out.hijack.update(dict.fromkeys(_names(r, hosts, where), r.answer or SINKHOLE))
                rule = f'iifname "{CLIENT_SIDE_IF}" udp dport 53 dnat to {HIJACK_RESOLVER}'
                if rule not in out.nat_rules:
                    out.nat_rules.append(rule)
            case "ip_drop":
                out.forward_rules.append(f"ip daddr {addrs} {_ports(r)}counter drop")
            case "tool_drop":
                # The circumvention tool's server: everything to it, TCP and UDP.
                out.forward_rules.append(f"ip daddr {TOOL} counter drop")
            case "ip_reject":
                ports = _ports(r)
                out.forward_rules += [
                    f"ip daddr {addrs} {ports}meta l4proto tcp counter reject with tcp reset",
                    f"ip daddr {addrs} {ports}counter reject with icmpx type admin-prohibited",
                ]
            case "sni_reset" | "sni_drop":
                target = (
                    ["REJECT", "--reject-with", "tcp-reset"] if r.kind == "sni_reset" else ["DROP"]
                )
                for name in _names(r, hosts, where):
                    for port in r.all_ports or [0]:
                        dport = ["--dport", str(port)] if port else []
                        out.iptables.append(
                            ["-A", "FORWARD", "-i", CLIENT_SIDE_IF, "-p", "tcp", *dport,
                             "-m", "string", "--algo", "bm", "--hex-string", sni_pattern(name),
                             "-j", *target]
                        )  # fmt: skip
            case "tls_mitm":
                out.mitm.extend(hosts)
                out.nat_rules.append(
                    f'iifname "{CLIENT_SIDE_IF}" ip daddr {addrs} tcp dport 443 dnat to {MITM}'
                )
            case "server_down":
                out.down.update(h.address for h in hosts)
            case "helper_port_closed":
                out.helper_closed.update(r.all_ports)
            case "no_path_out":
                out.forward_rules.append(f'iifname "{CLIENT_SIDE_IF}" counter drop')
            case "tcp_accept_all":
                out.accept_all = True
                out.nat_rules.append(
                    f'iifname "{CLIENT_SIDE_IF}" ip daddr {addrs} meta l4proto tcp '
                    f"dnat to {ACCEPT_ALL}:{ACCEPT_ALL_PORT}"
                )
            case "mtproto_dpi":
                out.iptables.append(
                    ["-A", "FORWARD", "-i", CLIENT_SIDE_IF, "-p", "tcp",
                     "-d", ",".join(h.address for h in hosts),
                     "-m", "string", "--algo", "bm", "--hex-string", MTPROTO_REQ_PQ,
                     "-j", "DROP"]
                )  # fmt: skip
            case "loss":
                p = r.percent
                ports = _ports(r)
                if hosts:
                    out.forward_rules += [
                        f"ip daddr {addrs} {ports}numgen random mod 100 < {p} counter drop",
                        f"ip saddr {addrs} numgen random mod 100 < {p} counter drop",
                    ]
                udp = plan.role_udp_ports(role=r.role) if r.role else []
                if not hosts and r.all_ports:
                    udp = sorted({*udp, *r.all_ports})
                if udp:
                    out.forward_rules += [
                        f"udp dport {_set(udp)} numgen random mod 100 < {p} counter drop",
                        f"udp sport {_set(udp)} numgen random mod 100 < {p} counter drop",
                    ]
                if not (hosts or udp):
                    raise ScenarioError(f"{where}: matches no host and no call-plane port")
            case _:  # scenario.parse refuses unknown kinds; this keeps the match exhaustive
                raise ScenarioError(f"{where}: unknown kind")
    return out


def _compile_call(
    r: Recipe, n: int, hosts: list[SimHost], plan: AddressPlan, out: CensorPlan, where: str
) -> None:
    """The call-plane recipes (``n`` numbers the recipe: sets, marks, classes)."""
    explicit = f"udp dport {_set(r.all_ports)} " if r.all_ports else ""
    match r.kind:
        case "udp_port_drop":
            out.forward_rules.append(f"udp dport {_set(_udp_ports(r, plan, where))} counter drop")
        case "udp_port_reject":
            ports = _set(_udp_ports(r, plan, where))
            out.forward_rules.append(
                f"udp dport {ports} counter reject with icmpx type port-unreachable"
            )
        case "stun_dpi":
            out.forward_rules.append(f"{explicit}{STUN_MATCH} counter drop")
        case "dtls_dpi":
            out.forward_rules.append(f"{explicit}{DTLS_CLIENT_HELLO} counter drop")
        case "rtp_dpi":
            out.forward_rules.append(f"{explicit}{RTP_HEADER} counter drop")
        case "sip_port_drop":
            udp = r.all_ports or [SIP_PORTS[0]]
            tcp = r.all_ports or list(SIP_PORTS)
            out.forward_rules += [
                f"udp dport {_set(udp)} counter drop",
                f"tcp dport {_set(tcp)} counter reject with tcp reset",
            ]
        case "sip_dpi":
            for proto in ("udp", "tcp"):
                for port in r.all_ports or [0]:
                    dport = ["--dport", str(port)] if port else []
                    out.iptables.append(
                        ["-A", "FORWARD", "-p", proto, *dport, "-m", "string", "--algo", "bm",
                         "--string", SIP_TEXT, "-j", "DROP"]
                    )  # fmt: skip
        case "sni_throttle":
            if not _RATE_RE.match(r.rate):
                raise ScenarioError(f"{where}: rate {r.rate!r} is not like 128kbit or 2mbit")
            if len(out.throttles) >= MAX_THROTTLES:
                raise ScenarioError(f"{where}: at most {MAX_THROTTLES} throttles")
            k = len(out.throttles) + 1
            minor, mark = 10 + k, hex(THROTTLE_MARK + k)
            out.throttles.append((minor, r.rate))
            out.iptables.extend(
                _sni_marking(_names(r, hosts, where), r.all_ports, ["CONNMARK", "--set-mark", mark])
            )
            out.iptables.append(
                ["-t", "mangle", "-A", "POSTROUTING", "-m", "connmark", "--mark", mark,
                 "-j", "CLASSIFY", "--set-class", f"1:{minor}"]
            )  # fmt: skip
        case "residual":
            name = f"residual{n}"
            out.sets.append(
                f"set {name} {{ type ipv4_addr . ipv4_addr . inet_proto . inet_service; "
                f"flags dynamic, timeout; timeout {r.residual_seconds}s; }}"
            )
            out.forward_rules.append(
                f"meta l4proto {{ tcp, udp }} ip saddr . ip daddr . meta l4proto . th dport "
                f"@{name} counter drop"
            )
            if r.trigger == "stun":
                out.forward_rules.append(
                    f"{explicit}{STUN_MATCH} add @{name} "
                    "{ ip saddr . ip daddr . meta l4proto . udp dport } counter drop"
                )
            else:
                mark = hex(RESIDUAL_MARK + n)
                out.iptables.extend(
                    _sni_marking(_names(r, hosts, where), r.all_ports, ["MARK", "--set-mark", mark])
                )
                out.forward_rules.append(
                    f"meta mark {mark} add @{name} "
                    "{ ip saddr . ip daddr . meta l4proto . tcp dport } counter drop"
                )
        case "udp_allowlist":
            ips = _set(_allowed_ips(r, plan))
            ports = f"udp dport != {_set(r.all_ports)} " if r.all_ports else ""
            out.forward_rules.append(
                f"meta l4proto udp ct direction original ip daddr != {ips} {ports}counter drop"
            )
        case "relay_block":
            media = [h for h in hosts if plan.is_media(h) and (not r.role or r.role in h.roles)]
            if not media:
                raise ScenarioError(
                    f"{where}: matches no call-plane host (relays handed out per call have "
                    "no address: use udp_port_drop)"
                )
            out.forward_rules.append(f"ip daddr {_addr_set(media)} counter drop")
        case _:
            raise ScenarioError(f"{where}: unknown kind")
