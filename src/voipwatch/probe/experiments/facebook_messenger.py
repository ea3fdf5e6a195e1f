"""Facebook Messenger, as probe-cli's ``facebook_messenger`` experiment 0.2.1 measures it.

Spec: https://github.com/ooni/spec/blob/master/nettests/ts-019-facebook-messenger.md

A lookup of every endpoint (from the catalogue roles' ``ooni_keys``), then TCP 443
to every address of a consistent answer; ``stun`` is DNS only. probe-cli calls an
answer consistent when it lies in Facebook's AS32934; the probe has no IP→ASN
table (and a simulation has no real ASNs), so here an answer is consistent when
every address is among the control resolvers' answers — or, with no control
answer, when no address is a bogon. ``asn`` is left out of the answers.
"""

from __future__ import annotations

import asyncio
import ipaddress

from voipwatch.catalog import Catalog
from voipwatch.probe import canary
from voipwatch.probe.config import ProbeConfig
from voipwatch.probe.experiments.base import Experiment, Plan
from voipwatch.probe.measurement import JsonObject
from voipwatch.probe.steps import Ctx, Resolution


class FacebookMessenger(Experiment):
    test_name = "facebook_messenger"
    test_version = "0.2.1"
    service = "messenger"

    def __init__(self, catalog: Catalog, config: ProbeConfig) -> None:
        super().__init__(catalog, config)
        self.endpoints: list[tuple[str, str, bool]] = []  # host, key, dns_only
        for role in self.catalog.services["messenger"].roles:
            for host, key in zip(role.hosts, role.ooni_keys, strict=False):
                self.endpoints.append((host, key, role.dns_only))
        self.consistent: dict[str, bool | None] = {}
        self.reachable: dict[str, bool | None] = {}
        self.accept_all: JsonObject | None = None
        self._routable = self.config.routable_networks()

    def plan(self) -> Plan:
        return Plan(
            dns=[h for h, _, _ in self.endpoints],
            tcp=[(h, 443) for h, _, dns_only in self.endpoints if not dns_only],
            tls=[(h, 443) for h, _, dns_only in self.endpoints if not dns_only],
        )

    def _bogon(self, ip: str) -> bool:
        a = ipaddress.ip_address(ip)
        if any(a in n for n in self._routable):
            return False
        return bool(a.is_private or a.is_loopback or a.is_link_local or a.is_reserved)

    def _is_consistent(self, res: Resolution) -> bool:
        if res.failure or not res.addrs:
            return False  # a failed lookup counts as DNS blocking (probe-cli)
        if res.control is not None:
            return all(a in res.control for a in res.addrs)
        return not any(self._bogon(a) for a in res.addrs)

    async def measure(self, ctx: Ctx) -> None:
        async def endpoint(host: str, key: str, dns_only: bool) -> None:
            self.consistent[key] = None
            self.reachable[key] = None
            res = await ctx.resolve_all(host)
            ok = self._is_consistent(res)
            self.consistent[key] = ok
            if dns_only:
                return
            if not ok:
                self.reachable[key] = False
                return
            fails = await asyncio.gather(*(ctx.tcp_probe(ip, 443) for ip in res.ipv4))
            self.reachable[key] = bool(res.ipv4) and all(f is None for f in fails)
            if self.reachable[key]:
                # Beyond OONI's connect: the service's own answer, a handshake whose
                # chain verifies for its name (an interceptor's does not).
                await ctx.tls_probe(res.ipv4[0], 443, host)

        async def accept_all(host: str) -> None:
            self.accept_all = await canary.accepts_anything_at(ctx, host)

        async with asyncio.TaskGroup() as tg:
            for host, key, dns_only in self.endpoints:
                tg.create_task(endpoint(host, key, dns_only))
            first = next((h for h, _, dns_only in self.endpoints if not dns_only), None)
            if first is not None:
                tg.create_task(accept_all(first))

    def keys(self) -> JsonObject:
        out: JsonObject = {}
        dns_blocking = tcp_blocking = False
        for _, key, _ in self.endpoints:
            c = self.consistent.get(key)
            r = self.reachable.get(key)
            out[f"facebook_{key}_dns_consistent"] = c
            out[f"facebook_{key}_reachable"] = r
            if c is False:
                dns_blocking = True
            elif c and r is False:
                tcp_blocking = True
        out["facebook_dns_blocking"] = dns_blocking
        out["facebook_tcp_blocking"] = tcp_blocking
        # voipwatch's: does this network complete a connect where nothing listens?
        out["x_accept_all"] = self.accept_all
        return out
