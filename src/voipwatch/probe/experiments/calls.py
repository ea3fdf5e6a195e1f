"""``voipwatch_call``: the call (media) plane, one measurement per app plus ``generic``.

Per app (``input`` = the app id), for each call-plane role of the catalogue with
ports (``plane = "media"``, ``udp_ports``/``tcp_ports``):

* the app's own servers, when the role names hosts: a STUN binding on every UDP
  port, a TCP connect to every TCP (fallback) port (``target = "app"``);
* the test helper (``[probe.helper] address``), on at most ``PORTS_PER_ROLE`` of the
  role's UDP ports: a STUN binding, and random bytes on the same port
  (``control = "same_port_other_payload"``); once per app, a STUN binding and
  random bytes on a high port no app uses (``control = "random_port"``: the
  random bytes tell a blocked port from filtered STUN, which a STUN filter kills
  on every port), and on the first port a TURN Allocate (a 401 answer proves
  TURN passes) and a DTLS-ClientHello-shaped datagram with its bit-inverted twin
  (``control = "same_port_other_payload"``).

``generic`` (``input = "generic"``): the public STUN servers (``stun/public``);
SIP OPTIONS over UDP and TCP 5060 and TLS 5061 to the helper, each with a
``not_sip`` control on the same port, and to the configured SIP servers
(``[probe.helper] sip_servers``, ``target = "app"``) (``sip/signalling``); the media A/B replay
(``x_media_ab``) and the throughput A/B (``x_throughput_ab``); with
``[probe.helper] residual`` (``--residual``), the residual-censorship check, whose
result every call-plane measurement of the run carries (``x_residual``). Everything
starts at once; the A/B streams and the residual check run alongside the exchanges.
"""

from __future__ import annotations

import asyncio
import random

from voipwatch.catalog import Catalog, Role
from voipwatch.probe import media, residual, tcp, throughput
from voipwatch.probe.config import HelperConfig, ProbeConfig
from voipwatch.probe.exchanges import Exchanges
from voipwatch.probe.experiments.base import Experiment, Plan
from voipwatch.probe.measurement import JsonObject
from voipwatch.probe.steps import Ctx

TEST_NAME = "voipwatch_call"
TEST_VERSION = "0.1.0"
#: Apps with a call-plane measurement, in report order. Telegram is not among them:
#: its call servers are handed out per call (core.telegram.org PhoneConnection), so
#: there is no fixed endpoint or port to test; the generic tests cover its media.
CALL_APPS: tuple[str, ...] = (
    "whatsapp",
    "signal",
    "messenger",
    "skype",
    "zoom",
    "facetime",
)
GENERIC = "generic"
#: Helper ports tested per role (FaceTime lists 34).
PORTS_PER_ROLE = 4
#: Google's STUN server listens on its own port; the others on STUN's default.
_STUN_PORTS = {"stun.l.google.com": 19302}


class Shared:
    """What the call-plane measurements of one run share: the residual check's result,
    and every exchange (the helper's closed ports are a fact about the run)."""

    def __init__(self) -> None:
        self.residual: JsonObject | None = None
        self.exchanges: list[Exchanges] = []

    def helper_closed(self) -> list[str]:
        """``transport/port`` of the helper that its own host refused during the run.

        A host rate-limits its ICMP errors, so of many exchanges with a closed port
        only some are refused; the others time out. Every measurement of the run
        carries the list, so none mistakes the silence of a closed port for a block.
        """
        closed = {
            (e.transport, e.port)
            for ex in self.exchanges
            for e in ex.entries
            if e.target == "helper" and e.rejected_by == "target"
        }
        return [f"{t}/{p}" for t, p in sorted(closed)]


def sample_ports(ports: list[int], n: int = PORTS_PER_ROLE) -> list[int]:
    """The first ``n`` ports of a role (the simulator's helper listens on the same)."""
    return list(dict.fromkeys(ports))[:n]


def public_stun_servers(catalog: Catalog, config: ProbeConfig) -> list[tuple[str, int]]:
    """``[probe.helper] stun_servers``, or the catalogue's ``stun/public`` hosts."""
    if config.helper.stun_servers is not None:
        out = []
        for s in config.helper.stun_servers:
            host, port = _split(s, 3478)
            out.append((host, port))
        return out
    role = catalog.roles.get("stun/public")
    if role is None:
        return []
    return [(h, _STUN_PORTS.get(h, 3478)) for h in role.hosts]


def _unresolved(
    ex: Exchanges,
    role: str,
    target: str,
    host: str,
    port: int,
    failure: str | None,
    transport: str = "udp",
    payload: str = "stun_binding",
) -> None:
    """An exchange never sent, recorded so the role is not silently untested: its host
    had no address (the DNS failure itself is in ``queries``)."""
    e = ex._begin(
        role=role,
        target=target,
        host=host,
        ip="",
        port=port,
        transport=transport,
        payload=payload,
    )
    ex.rec_end(e, failure=failure or "dns_no_answer", address="")


def _split(s: str, default: int) -> tuple[str, int]:
    return tcp.split_hostport(s, default)


class _Call(Experiment):
    test_name = TEST_NAME
    test_version = TEST_VERSION

    def __init__(
        self, catalog: Catalog, config: ProbeConfig, input_: str, shared: Shared | None = None
    ) -> None:
        super().__init__(catalog, config)
        self.input = input_
        self.service = input_
        self.ex: Exchanges | None = None
        self.shared = shared or Shared()
        #: The servers' own STUN ports, asked of the control helper (when there are
        #: some): from outside the network, a server that is down does not answer.
        self.stun_targets: list[tuple[str, int]] = []

    def plan(self) -> Plan:
        return Plan(stun=[(self._literal(h), p) for h, p in self.stun_targets])

    def _literal(self, host: str) -> str:
        return self.ip(host) if tcp.is_ip(host) else host

    def _exchanges(self, ctx: Ctx) -> Exchanges:
        if self.ex is None:
            self.ex = Exchanges(ctx.rec, ctx.env)
            self.shared.exchanges.append(self.ex)
        return self.ex

    def keys(self) -> JsonObject:
        return {
            "x_exchanges": self.ex.close() if self.ex is not None else [],
            "x_helper_closed": self.shared.helper_closed(),
            "x_media_ab": None,
            "x_throughput_ab": None,
            "x_residual": self.shared.residual,
        }


class CallApp(_Call):
    """One app's call-plane roles, against its own servers and the helper."""

    def __init__(
        self, catalog: Catalog, config: ProbeConfig, app: str, shared: Shared | None = None
    ) -> None:
        super().__init__(catalog, config, app, shared)
        svc = catalog.services.get(app)
        self.roles: list[Role] = [
            r
            for r in (svc.roles if svc else [])
            if r.plane == "media" and (r.udp_ports or r.tcp_ports)
        ]
        self.stun_targets = [(h, p) for r in self.roles for h in r.hosts for p in r.udp_ports]
        self.asks_control = bool(self.stun_targets)

    async def measure(self, ctx: Ctx) -> None:
        ex = self._exchanges(ctx)
        helper = self.config.helper.address
        async with asyncio.TaskGroup() as tg:
            for role in self.roles:
                for host in role.hosts:
                    tg.create_task(self._app_host(ctx, ex, role, host))
            if helper and any(r.udp_ports for r in self.roles):
                self._helper(tg, ex, helper)

    async def _app_host(self, ctx: Ctx, ex: Exchanges, role: Role, host: str) -> None:
        res = await ctx.resolve(host)
        addrs = res.ipv4 or res.addrs
        if not addrs:
            for port in role.udp_ports:
                _unresolved(ex, role.id, "app", host, port, res.failure)
            return
        ip = self.ip(addrs[0])
        async with asyncio.TaskGroup() as tg:
            for port in role.udp_ports:
                tg.create_task(ex.udp(role.id, "app", ip, port, "stun_binding", host=host))
            for port in role.tcp_ports:
                tg.create_task(ex.tcp_connect(role.id, "app", ip, port, host=host))

    def _helper(self, tg: asyncio.TaskGroup, ex: Exchanges, ip: str) -> None:
        h = self.config.helper
        first: tuple[str, int] | None = None
        for role in self.roles:
            ports = sample_ports(role.udp_ports)
            for port in ports:
                first = first or (role.id, port)
                tg.create_task(ex.udp(role.id, "helper", ip, port, "stun_binding"))
                tg.create_task(
                    ex.udp(role.id, "helper", ip, port, "random", control="same_port_other_payload")
                )
        if first is None:
            return
        role_id, port = first
        # The helper over TCP: when every UDP exchange fails, this tells "UDP is
        # dropped" from "the helper is down".
        tg.create_task(ex.tcp_connect(role_id, "helper", ip, h.tls_port))
        if h.control_ports:
            high = random.choice(h.control_ports)
            tg.create_task(
                ex.udp(role_id, "helper", ip, high, "stun_binding", control="random_port")
            )
            tg.create_task(ex.udp(role_id, "helper", ip, high, "random", control="random_port"))
        tg.create_task(ex.udp(role_id, "helper", ip, port, "turn_allocate"))
        hello = media.dtls_client_hello()
        tg.create_task(ex.udp(role_id, "helper", ip, port, "dtls_client_hello", data=hello))
        tg.create_task(
            ex.udp(
                role_id,
                "helper",
                ip,
                port,
                "random",
                control="same_port_other_payload",
                data=media.invert(hello),
            )
        )


class CallGeneric(_Call):
    """Public STUN, SIP, and the media and throughput A/B tests against the helper."""

    def __init__(self, catalog: Catalog, config: ProbeConfig, shared: Shared | None = None) -> None:
        super().__init__(catalog, config, GENERIC, shared)
        self.stun_servers = public_stun_servers(catalog, config)
        self.stun_targets = list(self.stun_servers)
        self.asks_control = bool(self.stun_targets)
        self.media_ab: JsonObject | None = None
        self.throughput_ab: JsonObject | None = None

    async def measure(self, ctx: Ctx) -> None:
        try:
            await self._measure(ctx)
        finally:
            # A run through a tool waits for this (see ``Env.quiet``).
            ctx.env.quiet.set()

    async def _measure(self, ctx: Ctx) -> None:
        ex = self._exchanges(ctx)
        h = self.config.helper
        src = self.config.source_address
        async with asyncio.TaskGroup() as tg:
            for host, port in self.stun_servers:
                tg.create_task(self._public(ctx, ex, host, port))
            for server in h.sip_servers:
                tg.create_task(self._sip_server(ctx, ex, server))
            if not h.address:
                return
            ip = h.address
            if h.residual:
                tg.create_task(self._residual(ctx, ip))
            # The public servers' ports against the helper: STUN, other bytes on the
            # same port, STUN on a random port — what tells a blocked port, filtered
            # STUN and a blocked server apart.
            for port in sorted({p for _, p in self.stun_servers}):
                tg.create_task(ex.udp("stun/public", "helper", ip, port, "stun_binding"))
                tg.create_task(
                    ex.udp("stun/public", "helper", ip, port, "random",
                           control="same_port_other_payload")
                )  # fmt: skip
            if h.control_ports:
                high = random.choice(h.control_ports)
                tg.create_task(
                    ex.udp("stun/public", "helper", ip, high, "stun_binding", control="random_port")
                )
                tg.create_task(
                    ex.udp("stun/public", "helper", ip, high, "random", control="random_port")
                )
            role = "sip/signalling"
            tg.create_task(ex.udp(role, "helper", ip, h.sip_port, "sip_options"))
            tg.create_task(
                ex.udp(role, "helper", ip, h.sip_port, "not_sip", control="same_port_other_payload")
            )
            for port, use_tls in ((h.sip_port, False), (h.sips_port, True)):
                tg.create_task(ex.stream(role, ip, port, "sip_options", use_tls=use_tls))
                tg.create_task(
                    ex.stream(
                        role,
                        ip,
                        port,
                        "not_sip",
                        use_tls=use_tls,
                        control="same_port_other_payload",
                    )
                )
            tg.create_task(self._media_then_throughput(ctx, ip, h, src))

    async def _media_then_throughput(self, ctx: Ctx, ip: str, h: HelperConfig, src: str) -> None:
        # One after the other: the RTP streams and the download would share the
        # path to the helper (and the helper's time), and a throttled download is
        # easily slowed further by any other traffic.
        await self._media(ctx, ip, h.rtp_port, h.media_seconds, src)
        await self._throughput(ctx, ip, h.tls_port, h.media_seconds, src)

    async def _address(self, ctx: Ctx, host: str) -> tuple[str | None, str | None]:
        """Where to test ``host`` (a literal address is its own), or None and the DNS failure."""
        if tcp.is_ip(host):
            return host, None
        res = await ctx.resolve(host)
        addrs = res.ipv4 or res.addrs
        if not addrs:
            return None, res.failure
        return self.ip(addrs[0]), None

    async def _public(self, ctx: Ctx, ex: Exchanges, host: str, port: int) -> None:
        ip, failure = await self._address(ctx, host)
        if ip is None:
            _unresolved(ex, "stun/public", "public", host, port, failure)
            return
        await ex.udp("stun/public", "public", ip, port, "stun_binding", host=host)

    async def _sip_server(self, ctx: Ctx, ex: Exchanges, host: str) -> None:
        """SIP OPTIONS to a SIP server over UDP, TCP and TLS (the helper is the control)."""
        h, role = self.config.helper, "sip/signalling"
        ip, failure = await self._address(ctx, host)
        if ip is None:
            for port, transport in ((h.sip_port, "udp"), (h.sip_port, "tcp"), (h.sips_port, "tls")):
                _unresolved(ex, role, "app", host, port, failure, transport, "sip_options")
            return
        async with asyncio.TaskGroup() as tg:
            tg.create_task(ex.udp(role, "app", ip, h.sip_port, "sip_options", host=host))
            for port, use_tls in ((h.sip_port, False), (h.sips_port, True)):
                tg.create_task(
                    ex.stream(
                        role, ip, port, "sip_options", use_tls=use_tls, target="app", host=host
                    )
                )

    async def _residual(self, ctx: Ctx, ip: str) -> None:
        h = self.config.helper
        port, other = h.residual_ports[:2]
        self.shared.residual = await residual.check(
            ctx.rec, ip, port, other, h.residual_wait, source=self.config.source_address
        )

    async def _media(self, ctx: Ctx, ip: str, port: int, seconds: float, src: str) -> None:
        if not ctx.env.route.carries_udp:
            # A tool without a UDP relay sends no stream: there is nothing to compare,
            # and no A/B is recorded (the role is not carried, not lossless).
            return
        self.media_ab = await media.ab(ip, port, seconds, src, ctx.env.route)

    async def _throughput(self, ctx: Ctx, ip: str, port: int, seconds: float, src: str) -> None:
        h = self.config.helper
        self.throughput_ab = await throughput.ab(
            ip,
            port,
            h.throughput_sni,
            self.config.control_sni,
            h.throughput_bytes,
            seconds,
            source=src,
            route=ctx.env.route,
        )

    def keys(self) -> JsonObject:
        return {
            **super().keys(),
            "x_media_ab": self.media_ab,
            "x_throughput_ab": self.throughput_ab,
        }


def make_call(
    app: str, catalog: Catalog, config: ProbeConfig, shared: Shared | None = None
) -> _Call:
    """The call-plane measurement of ``app`` (or ``generic``); ``shared`` is the run's."""
    if app == GENERIC:
        return CallGeneric(catalog, config, shared)
    return CallApp(catalog, config, app, shared)
