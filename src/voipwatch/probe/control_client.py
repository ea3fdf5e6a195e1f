"""Ask the control helper to measure this test's targets from outside the network.

Like OONI web_connectivity's ``control``: the helper (``voipwatch helper serve``)
sits where nothing is censored and says whether the same addresses accept a TCP
connection and a TLS handshake with the app's name, and what its resolver says.
A failure here and a success there is blocking; failures on both sides mean the
service is down. The answer is stored as ``test_keys.x_control``; when the helper
cannot be reached, ``x_control_failure`` says why. The request carries only the
targets, never anything about the user.
"""

from __future__ import annotations

import asyncio
import json
import socket
from urllib.parse import urlsplit

from voipwatch.probe import http, tcp
from voipwatch.probe.errors import ProbeFailure, failure_of
from voipwatch.probe.experiments.base import Plan
from voipwatch.probe.measurement import JsonObject
from voipwatch.probe.steps import Ctx

#: Addresses per name sent to the helper (names with many answers are CDNs).
MAX_ADDRS = 4
_RESPONSE_LIMIT = 1 << 20


async def build_request(ctx: Ctx, plan: Plan) -> JsonObject:
    """The helper's request: the addresses this probe resolved, and the names."""
    names = {h for h, _ in (*plan.tcp, *plan.tls, *plan.stun) if not tcp.is_ip(h)}
    resolved: dict[str, list[str]] = {}
    for h in sorted(names):
        res = await ctx.resolve(h)
        resolved[h] = (res.ipv4 or res.addrs)[:MAX_ADDRS]

    def addrs(h: str) -> list[str]:
        return [h] if tcp.is_ip(h) else resolved.get(h, [])

    tcp_targets = [tcp.join_hostport(ip, p) for h, p in plan.tcp for ip in addrs(h)]
    tls_targets = [
        {"address": tcp.join_hostport(ip, p), "sni": h} for h, p in plan.tls for ip in addrs(h)
    ]
    out: JsonObject = {
        "tcp_connect": list(dict.fromkeys(tcp_targets)),
        "tls": tls_targets,
        "dns": list(dict.fromkeys(plan.dns)),
    }
    if plan.stun:
        stun = [tcp.join_hostport(ip, p) for h, p in plan.stun for ip in addrs(h)[:1]]
        out["stun"] = list(dict.fromkeys(stun))
    return out


async def ask(ctx: Ctx, plan: Plan, url: str) -> tuple[JsonObject | None, str | None]:
    """(x_control, x_control_failure) for this test."""
    cfg = ctx.env.config
    try:
        body = json.dumps(await build_request(ctx, plan)).encode()
        parts = urlsplit(url)
        host = parts.hostname or ""
        https = parts.scheme == "https"
        port = parts.port or (443 if https else 80)
        t = cfg.timeouts
        # The helper runs its own operations with their own timeouts: allow for them.
        async with asyncio.timeout(t.connect + t.tls + t.http):
            ip = host
            if not tcp.is_ip(host):
                loop = asyncio.get_running_loop()
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                ip = str(infos[0][4][0])
            reader, writer = await tcp.open_tcp(ip, port, t.connect)
            try:
                if https:
                    await writer.start_tls(ctx.env.verify_ctx, server_hostname=host)
                resp = await http.exchange(
                    reader,
                    writer,
                    method="POST",
                    target=parts.path or "/",
                    headers=[
                        ("Host", parts.netloc),
                        ("Content-Type", "application/json"),
                        ("Accept", "application/json"),
                    ],
                    body=body,
                    timeout=t.connect + t.tls + t.http,
                    body_limit=_RESPONSE_LIMIT,
                )
            finally:
                await tcp.close(writer)
        if resp.code != 200:
            raise ProbeFailure(f"http_status_{resp.code}")
        answer = json.loads(resp.body)
        if not isinstance(answer, dict):
            raise ProbeFailure("control_invalid_response")
        return answer, None
    except ValueError:
        return None, "control_invalid_response"
    except Exception as exc:
        return None, failure_of(exc)
