"""Does this network accept every TCP connection? A connect that must fail.

A transparent proxy, a captive portal or a middlebox that completes every handshake
and then drops (Russia's TSPU does so to MTProto) makes a TCP connect prove nothing.
The probe connects to an address it tests, on a port no service listens on
(``CANARY_PORT``); a real host refuses or drops it, so a completed connect shows
the network answers in the host's place, and every connect-only result beside it
is unreliable.
"""

from __future__ import annotations

from voipwatch.probe import tcp
from voipwatch.probe.errors import failure_of
from voipwatch.probe.measurement import JsonObject
from voipwatch.probe.route import DIRECT, Route
from voipwatch.probe.steps import Ctx

#: tcpmux: assigned, served by nothing on the public internet.
CANARY_PORT = 1


async def accepts_anything(
    ip: str, timeout: float, *, source: str = "", route: Route = DIRECT
) -> JsonObject:
    """``{"address", "connected", "failure"}`` for a connect to ``ip:CANARY_PORT``.

    Through a tool the question is the tool's: one that reports every CONNECT as
    done before trying it (shadowsocks' local client) makes a connect prove nothing.
    """
    address = tcp.join_hostport(ip, CANARY_PORT)
    try:
        _, writer = await route.open_tcp(ip, CANARY_PORT, timeout, source)
    except Exception as exc:
        return {"address": address, "connected": False, "failure": failure_of(exc)}
    await tcp.close(writer)
    return {"address": address, "connected": True, "failure": None}


async def accepts_anything_at(ctx: Ctx, host: str) -> JsonObject | None:
    """:func:`accepts_anything` at the first address ``host`` resolves to (IPv4 first),
    within the run's connect timeout; None when it resolves to nothing."""
    res = await ctx.resolve(host)
    if not res.addrs:
        return None
    config = ctx.env.config
    ip = (res.ipv4 or res.addrs)[0]
    return await accepts_anything(
        ip, config.timeouts.connect, source=config.source_address, route=ctx.env.route
    )
