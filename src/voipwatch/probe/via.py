"""The run through a circumvention tool, beside the direct run, and the ``x_via`` key.

The same tests run twice: directly, and beside that run through the tool's local
proxy port (:class:`~voipwatch.probe.route.ViaRoute`), which starts once the direct
run's A/B streams are over (``Env.quiet``). Each direct measurement gains
``x_via``, which holds the through-the-tool run of the same test in full, so the
verdict engine judges both paths with the same rules::

    "x_via": {
      "tool": "tor",               # the name given to the tool (never its address)
      "scheme": "socks5",          # socks5 | http (CONNECT)
      "dns": "tool",               # names were handed to the tool to resolve
      "udp": true,                 # the tool granted a UDP relay (UDP ASSOCIATE)
      "udp_failure": null,         # else why not ("http_proxy_carries_tcp_only", ...)
      "check": {                   # is the tool itself working on this network?
        "target": "helper",        # helper | control: what both paths reached for
        "direct_failure": null,    # a TLS handshake straight to it
        "via_failure": null        # the same through the tool
      },
      "test_runtime": 1.23,
      "test_keys": {...}           # the through-the-tool run's test keys
    }

A failed check where the direct handshake worked says the tool is blocked (or
broken) on this network; both failing says nothing about the tool.
"""

from __future__ import annotations

import asyncio

import msgspec.structs

from voipwatch.probe import tcp, tls
from voipwatch.probe.config import ProbeConfig
from voipwatch.probe.errors import failure_of
from voipwatch.probe.measurement import JsonObject
from voipwatch.probe.route import DIRECT, Route, ViaRoute

__all__ = ["attach", "check", "config_for"]


def config_for(config: ProbeConfig) -> ProbeConfig:
    """The configuration of the through-the-tool run.

    No control helper (it measures from outside; the tool changes nothing there)
    and no residual check (it waits minutes for a block to lift, on the direct path).
    """
    helper = config.helper
    if helper.url or helper.residual:
        helper = msgspec.structs.replace(helper, url="", residual=False)
        return msgspec.structs.replace(config, helper=helper)
    return config


async def _handshake(route: Route, host: str, port: int, sni: str, timeout: float) -> str | None:
    try:
        async with asyncio.timeout(timeout * 2):
            _, writer = await route.open_tcp(host, port, timeout)
            try:
                await tls.handshake(writer, tls.client_context(verify=False), sni, timeout)
            finally:
                await tcp.close(writer)
    except Exception as exc:
        return failure_of(exc)
    return None


async def check(route: ViaRoute, config: ProbeConfig) -> JsonObject:
    """The ``check`` of ``x_via``: the same harmless TLS handshake, direct and via.

    The target is the call-plane helper's TLS port when one is configured (ours,
    reachable by design), else the control name on 443.
    """
    h = config.helper
    if h.address:
        target, host, port = "helper", h.address, h.tls_port
    else:
        target, host, port = "control", config.control_sni, 443
    sni = config.control_sni
    to = config.timeouts.tls
    direct, via = await asyncio.gather(
        _handshake(DIRECT, host, port, sni, to), _handshake(route, host, port, sni, to)
    )
    return {"target": target, "direct_failure": direct, "via_failure": via}


def attach(direct: JsonObject, via: JsonObject, route: ViaRoute, tool_check: JsonObject) -> None:
    """Write ``x_via`` (the via measurement ``via`` of the same test) into ``direct``."""
    tool = route.tool
    keys = direct["test_keys"]
    assert isinstance(keys, dict), "a measurement's test_keys are an object"
    keys["x_via"] = {
        "tool": tool.name,
        "scheme": tool.scheme,
        "dns": "tool",
        "udp": route.relay is not None,
        "udp_failure": route.udp_failure,
        "check": tool_check,
        "test_runtime": via.get("test_runtime"),
        "test_keys": via["test_keys"],
    }
