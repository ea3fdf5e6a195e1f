"""Signal, as probe-cli's ``signal`` experiment 0.2.5 measures it.

Spec: https://github.com/ooni/spec/blob/master/nettests/ts-029-signal.md

HTTPS GET to the four endpoints OONI has tested since 0.2.5 and a lookup of
``uptime.signal.org`` (Signal's own outage flag; its answer does not change the
status). Any failed GET makes ``signal_backend_status`` ``blocked`` with the last
failure. probe-cli trusts Signal's pinned roots; here the system store and
``ca_file`` are trusted (in a simulation, the simulation's CA).
"""

from __future__ import annotations

import asyncio

from voipwatch.catalog import Catalog
from voipwatch.probe.config import ProbeConfig
from voipwatch.probe.experiments.base import Experiment, Plan
from voipwatch.probe.measurement import JsonObject
from voipwatch.probe.steps import Ctx, Fetch

HOSTS = ("cdsi.signal.org", "chat.signal.org", "sfu.voip.signal.org", "storage.signal.org")
UPTIME = "uptime.signal.org"


class Signal(Experiment):
    test_name = "signal"
    test_version = "0.2.5"
    service = "signal"

    def __init__(self, catalog: Catalog, config: ProbeConfig) -> None:
        super().__init__(catalog, config)
        self.results: dict[str, Fetch] = {}

    def plan(self) -> Plan:
        return Plan(dns=[*HOSTS, UPTIME], tls=[(h, 443) for h in HOSTS])

    async def measure(self, ctx: Ctx) -> None:
        async def get(host: str) -> None:
            self.results[host] = await ctx.fetch(f"https://{host}/")

        async with asyncio.TaskGroup() as tg:
            for h in HOSTS:
                tg.create_task(get(h))
            tg.create_task(self._uptime(ctx))

    async def _uptime(self, ctx: Ctx) -> None:
        await ctx.resolve_all(UPTIME)

    def keys(self) -> JsonObject:
        failure: str | None = None
        for h in HOSTS:
            f = self.results.get(h)
            if f is None:
                failure = "unknown_failure"
            elif f.failure is not None:
                failure = f.failure
        return {
            "signal_backend_failure": failure,
            "signal_backend_status": "ok" if failure is None else "blocked",
        }
