"""Telegram, as probe-cli's ``telegram`` experiment 0.3.1 measures it.

Spec: https://github.com/ooni/spec/blob/master/nettests/ts-020-telegram.md

HTTP POST to every data-centre address (from the catalogue, through the overlay)
on ports 80 and 443 — plain HTTP on both, as OONI does — and HTTPS GET of
Telegram Web. ``telegram_tcp_blocking`` and ``telegram_http_blocking`` start true;
a POST that gets a response clears both, one that fails after connecting clears
the TCP one (probe-cli's rules).

A connect or an HTTP answer is not Telegram's own answer: a middlebox can give
both. voipwatch also sends each data centre an unauthenticated MTProto
``req_pq_multi`` on 443 (``x_mtproto``: only Telegram answers it with a ``resPQ``
carrying the request's nonce), and connects to the first one on a port nothing
serves (``x_accept_all``): a network that completes that connect accepts every
connection, and connects alone prove nothing there.
"""

from __future__ import annotations

import asyncio
import time

from voipwatch.catalog import Catalog
from voipwatch.probe import canary, mtproto
from voipwatch.probe.config import ProbeConfig
from voipwatch.probe.errors import CONNECT
from voipwatch.probe.experiments.base import Experiment, Plan
from voipwatch.probe.measurement import JsonObject
from voipwatch.probe.steps import Ctx, Fetch
from voipwatch.probe.tcp import join_hostport

#: The port the app's own answer is asked on (the app's own port; OONI POSTs there too).
MTPROTO_PORT = 443

WEB_URL = "https://web.telegram.org/"


def dc_url(ip: str, port: int) -> str:
    """``http://<dc>/`` on 80 and ``http://<dc>:443/`` on 443, as OONI writes them."""
    host = f"[{ip}]" if ":" in ip else ip
    return f"http://{host}/" if port == 80 else f"http://{join_hostport(ip, port)}/"


class Telegram(Experiment):
    test_name = "telegram"
    test_version = "0.3.1"
    service = "telegram"

    def __init__(self, catalog: Catalog, config: ProbeConfig) -> None:
        super().__init__(catalog, config)
        role = self.catalog.roles["telegram/dc"]
        self.dcs = [self.ip(ip) for ip in role.ips]
        self.ports = list(role.ports) or [80, 443]
        self.posts: list[Fetch] = []
        self.web: Fetch | None = None
        self.mtproto: list[JsonObject] = []
        self.accept_all: JsonObject | None = None

    def plan(self) -> Plan:
        return Plan(
            dns=["web.telegram.org"],
            tcp=[(ip, p) for ip in self.dcs for p in self.ports],
            tls=[("web.telegram.org", 443)],
        )

    async def measure(self, ctx: Ctx) -> None:
        async def post(ip: str, port: int) -> None:
            self.posts.append(await ctx.fetch(dc_url(ip, port), "POST"))

        async def web() -> None:
            self.web = await ctx.fetch(WEB_URL, "GET")

        source = self.config.source_address
        # The connect and the answer share the connect's bound: a DC answers at once.
        bound = self.config.timeouts.connect

        async def answer(ip: str) -> None:
            connected, failure, detail = await mtproto.exchange(
                ip, MTPROTO_PORT, bound, time.time(), source=source, route=ctx.env.route
            )
            self.mtproto.append({
                "address": join_hostport(ip, MTPROTO_PORT), "connected": connected,
                "failure": failure, "detail": detail,
            })  # fmt: skip

        async def accept_all(ip: str) -> None:
            self.accept_all = await canary.accepts_anything(
                ip, bound, source=source, route=ctx.env.route
            )

        async with asyncio.TaskGroup() as tg:
            for ip in self.dcs:
                for p in self.ports:
                    tg.create_task(post(ip, p))
            for ip in dict.fromkeys(self.dcs):
                tg.create_task(answer(ip))
            if self.dcs:
                tg.create_task(accept_all(self.dcs[0]))
            tg.create_task(web())

    def keys(self) -> JsonObject:
        tcp_blocking = http_blocking = True
        for f in self.posts:
            if f.failure is None:
                tcp_blocking = http_blocking = False
            elif f.failed_operation != CONNECT:
                tcp_blocking = False
        web_failure = "unknown_failure" if self.web is None else self.web.failure
        return {
            "telegram_http_blocking": http_blocking,
            "telegram_tcp_blocking": tcp_blocking,
            "telegram_web_failure": web_failure,
            "telegram_web_status": "ok" if web_failure is None else "blocked",
            "x_mtproto": sorted(self.mtproto, key=lambda x: str(x["address"])),
            "x_accept_all": self.accept_all,
        }
