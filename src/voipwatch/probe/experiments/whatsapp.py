"""WhatsApp, as probe-cli's ``whatsapp`` experiment 0.11.0 measures it.

Spec: https://github.com/ooni/spec/blob/master/nettests/ts-018-whatsapp.md

TCP connect to every chat endpoint (e1..e16.whatsapp.net, from the catalogue) on
443 and 5222; HTTPS GET of the registration service and of WhatsApp Web (OONI
fixes both URLs). Keys as probe-cli computes them: endpoints ``ok`` when any
connect succeeds, a host ``blocked`` when both its ports fail; the registration
and web statuses ignore the HTTP status code (probe-cli#1001).
"""

from __future__ import annotations

import asyncio

from voipwatch.catalog import Catalog
from voipwatch.probe import canary
from voipwatch.probe.config import ProbeConfig
from voipwatch.probe.experiments.base import Experiment, Plan
from voipwatch.probe.measurement import JsonObject
from voipwatch.probe.steps import Ctx, Fetch

REGISTRATION_URL = "https://v.whatsapp.net/v2/register"
WEB_URL = "https://web.whatsapp.com/"


class WhatsApp(Experiment):
    test_name = "whatsapp"
    test_version = "0.11.0"
    service = "whatsapp"

    def __init__(self, catalog: Catalog, config: ProbeConfig) -> None:
        super().__init__(catalog, config)
        role = self.catalog.roles["whatsapp/endpoints"]
        self.hosts = list(role.hosts)
        self.ports = list(role.ports) or [443, 5222]
        self.endpoints: dict[tuple[str, int], str | None] = {}
        self.registration: Fetch | None = None
        self.web: Fetch | None = None
        self.accept_all: JsonObject | None = None

    def plan(self) -> Plan:
        return Plan(
            dns=[*self.hosts, "v.whatsapp.net", "web.whatsapp.com"],
            tcp=[(h, p) for h in self.hosts for p in self.ports],
            tls=[("v.whatsapp.net", 443), ("web.whatsapp.com", 443)],
        )

    async def measure(self, ctx: Ctx) -> None:
        async def endpoint(host: str, port: int) -> None:
            # Pessimistic until measured, as probe-cli's NewTestKeys.
            self.endpoints[(host, port)] = "unknown_failure"
            res = await ctx.resolve(host)
            if res.failure or not res.addrs:
                self.endpoints[(host, port)] = res.failure or "dns_no_answer"
                return
            self.endpoints[(host, port)] = await ctx.tcp_probe((res.ipv4 or res.addrs)[0], port)

        async def registration() -> None:
            self.registration = await ctx.fetch(REGISTRATION_URL)

        async def web() -> None:
            self.web = await ctx.fetch(WEB_URL)

        async def accept_all(host: str) -> None:
            self.accept_all = await canary.accepts_anything_at(ctx, host)

        async with asyncio.TaskGroup() as tg:
            for h in self.hosts:
                for p in self.ports:
                    tg.create_task(endpoint(h, p))
            if self.hosts:
                tg.create_task(accept_all(self.hosts[0]))
            tg.create_task(registration())
            tg.create_task(web())

    def keys(self) -> JsonObject:
        ok = any(f is None for f in self.endpoints.values())
        blocked = [
            h
            for h in self.hosts
            if all(self.endpoints.get((h, p), "unknown_failure") is not None for p in self.ports)
        ]
        return {
            "registration_server_failure": _failure(self.registration),
            "registration_server_status": _status(self.registration),
            "whatsapp_endpoints_blocked": blocked,
            "whatsapp_endpoints_dns_inconsistent": [],
            "whatsapp_endpoints_status": "ok" if ok else "blocked",
            "whatsapp_web_failure": _failure(self.web),
            "whatsapp_web_status": _status(self.web),
            # voipwatch's: does this network complete a connect where nothing listens?
            "x_accept_all": self.accept_all,
        }


def _failure(f: Fetch | None) -> str | None:
    # Not measured (the run was cut short): probe-cli's initial value.
    return "unknown_failure" if f is None else f.failure


def _status(f: Fetch | None) -> str:
    return "ok" if f is not None and f.failure is None else "blocked"
