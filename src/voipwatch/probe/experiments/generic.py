"""``voipwatch_<app>``: apps OONI has no test for, measured layer by layer.

For every role of the app (from the catalogue; UDP and DNS-only roles belong to
the call-plane tests): each URL is fetched (DNS, TCP, TLS, GET, with the
same-IP control handshake), and each host no URL covers gets DNS, TCP 443 and a
TLS handshake. The same template keys as OONI's tests; ``x_targets`` lists each
target with its role, final failure and failed operation.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from voipwatch.catalog import Catalog
from voipwatch.probe.config import ProbeConfig
from voipwatch.probe.experiments.base import Experiment, Plan
from voipwatch.probe.measurement import JsonObject
from voipwatch.probe.steps import Ctx


class Generic(Experiment):
    test_version = "0.1.0"

    def __init__(self, catalog: Catalog, config: ProbeConfig, service: str) -> None:
        super().__init__(catalog, config)
        self.service = service
        self.test_name = f"voipwatch_{service}"
        self.urls: list[tuple[str, str]] = []  # role, url
        self.hosts: list[tuple[str, str]] = []  # role, host
        for role in catalog.services[service].roles:
            if role.transport == "udp" or role.dns_only:
                continue
            covered = set()
            for u in role.urls:
                if u.startswith("https://"):
                    self.urls.append((role.id, u))
                    covered.add((urlsplit(u).hostname or "").lower())
            for h in role.hosts:
                if h.lower() not in covered:
                    self.hosts.append((role.id, h))
        self.results: list[JsonObject] = []

    def plan(self) -> Plan:
        url_hosts = [urlsplit(u).hostname or "" for _, u in self.urls]
        hosts = list(dict.fromkeys([*url_hosts, *(h for _, h in self.hosts)]))
        return Plan(dns=hosts, tcp=[(h, 443) for h in hosts], tls=[(h, 443) for h in hosts])

    async def measure(self, ctx: Ctx) -> None:
        async def url(role: str, u: str) -> None:
            f = await ctx.fetch(u)
            self.results.append(
                {
                    "role": role,
                    "target": u,
                    "failure": f.failure,
                    "failed_operation": f.failed_operation,
                }
            )

        async def host(role: str, h: str) -> None:
            failure, op = await ctx.tls_target(h, 443)
            self.results.append(
                {"role": role, "target": f"{h}:443", "failure": failure, "failed_operation": op}
            )

        async with asyncio.TaskGroup() as tg:
            for role, u in self.urls:
                tg.create_task(url(role, u))
            for role, h in self.hosts:
                tg.create_task(host(role, h))

    def keys(self) -> JsonObject:
        order = {t: i for i, t in enumerate([u for _, u in self.urls] + [h for _, h in self.hosts])}
        return {
            "x_targets": sorted(
                self.results, key=lambda r: order.get(str(r["target"]).removesuffix(":443"), 0)
            )
        }
