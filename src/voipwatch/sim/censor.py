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
loss               nft ``ip daddr {...} numgen random mod 100 < P drop`` and the same for
                   ``ip saddr`` (both directions)
=================  ==========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voipwatch.sim.errors import ScenarioError
from voipwatch.sim.plan import (
    BOGON,
    HIJACK_RESOLVER,
    MITM,
    SINKHOLE,
    AddressPlan,
    SimHost,
)
from voipwatch.sim.scenario import Recipe, Scenario

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
    "loss": ("nft", "numgen"),
}


@dataclass
class CensorPlan:
    """Everything a scenario changes in the world, ready to apply."""

    nxdomain: set[str] = field(default_factory=set)
    bogon: dict[str, str] = field(default_factory=dict)  # name → address
    hijack: dict[str, str] = field(default_factory=dict)  # name → forged address
    injection: dict[str, str] = field(default_factory=dict)  # name → forged address
    down: set[str] = field(default_factory=set)  # simulated addresses with no server
    mitm: list[SimHost] = field(default_factory=list)
    forward_rules: list[str] = field(default_factory=list)  # nft, table inet voipwatch
    nat_rules: list[str] = field(default_factory=list)  # nft, table ip voipwatch_nat
    iptables: list[list[str]] = field(default_factory=list)  # argv after "iptables"
    features: set[str] = field(default_factory=set)

    def nft_script(self) -> str:
        if not (self.forward_rules or self.nat_rules):
            return ""
        lines = [
            "table inet voipwatch {",
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


def _names(recipe: Recipe, hosts: list[SimHost], where: str) -> list[str]:
    names = sorted(h.name for h in hosts if h.name)
    if not names:
        raise ScenarioError(f"{where}: matches no host names (it works on names, not addresses)")
    return names


def sni_pattern(name: str) -> str:
    """The ClientHello bytes of an SNI entry: type 0 (host_name), 2-byte length, the name."""
    raw = name.encode("ascii")
    return "|" + (b"\x00" + len(raw).to_bytes(2, "big") + raw).hex(" ") + "|"


def compile_scenario(scenario: Scenario, plan: AddressPlan) -> CensorPlan:
    out = CensorPlan()
    for i, r in enumerate(scenario.censor, start=1):
        where = f"scenario {scenario.name}: censor recipe {i} ({r.kind})"
        try:
            hosts = plan.match(app=r.app, role=r.role, hosts=r.all_hosts, ips=r.ips)
        except ScenarioError as exc:
            raise ScenarioError(f"{where}: {exc}") from None
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
            case "loss":
                p = r.percent
                ports = _ports(r)
                out.forward_rules += [
                    f"ip daddr {addrs} {ports}numgen random mod 100 < {p} counter drop",
                    f"ip saddr {addrs} numgen random mod 100 < {p} counter drop",
                ]
            case _:  # scenario.parse refuses unknown kinds; this keeps the match exhaustive
                raise ScenarioError(f"{where}: unknown kind")
    return out
