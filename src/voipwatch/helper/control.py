"""The control helper: measures a probe's targets from outside the censored network.

A small HTTP/1.1 JSON server (stdlib asyncio only). One endpoint: ``POST`` with

    {"tcp_connect": ["ip:port", ...],
     "tls": [{"address": "ip:port", "sni": "name"}, ...],
     "dns": ["name", ...],
     "stun": ["ip:port", ...]}

answered with

    {"tcp_connect": {"ip:port": {"success": bool, "failure": str | null}},
     "tls": {"ip:port sni": {"success": bool, "failure": str | null}},
     "dns": {"name": {"addrs": [...], "failure": str | null}},
     "stun": {"ip:port": {"success": bool, "failure": str | null}},
     "refused": {"ip:port" | "ip:port sni" | "stun ip:port": reason}}  (when any were)

``{"whoami": true}`` alone is answered ``{"client": "<the asking address>"}``: how
a probe learns its public address to look up its country and network.

``stun`` is a STUN binding request (a success needs an answer carrying the
request's transaction id): whether a call-plane server answers from outside, so a
server that is down is not called blocked.

Failures use the probe's df-007 names. Bounded: request size, targets per
request, per-operation timeouts, concurrent operations; identical targets are
measured once. It connects only where :mod:`voipwatch.helper.targets` allows (the
catalogue's endpoints; never loopback or private ranges unless the operator allows a
range) and within each source's budget. The helper keeps no log of who asked.

Run: ``python -m voipwatch.helper.control --listen 198.18.2.80:8080 [--ca-file F]
[--allow-range 198.18.0.0/15]``
or ``voipwatch helper serve --listen HOST:PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from voipwatch.helper.targets import (
    Budget,
    Network,
    Sources,
    is_catalogue_host,
    parse_ranges,
    refusal,
)
from voipwatch.probe import stun, tcp, tls, udp
from voipwatch.probe.errors import failure_of

MAX_BODY = 64 * 1024
#: The one request that measures nothing: the answer is the asking address, which the
#: probe looks up to know its country and network (and then forgets).
WHOAMI = {"whoami": True}
MAX_TARGETS = 128
_HEAD_LIMIT = 16 * 1024


@dataclass(frozen=True)
class Limits:
    connect: float = 5.0
    tls: float = 5.0
    dns: float = 5.0
    read: float = 10.0
    concurrency: int = 32


class BadRequest(Exception):
    pass


def _stun_targets(req: Any) -> list[str]:
    stun_t = req.get("stun") or [] if isinstance(req, dict) else []
    if not isinstance(stun_t, list) or len(stun_t) > MAX_TARGETS:
        raise BadRequest(f"stun must be a list of at most {MAX_TARGETS} 'ip:port' strings")
    for a in stun_t:
        if not isinstance(a, str):
            raise BadRequest("stun entries must be 'ip:port' strings")
        _check_address(a)
    return list(stun_t)


def _targets(req: Any) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    if not isinstance(req, dict):
        raise BadRequest("the body must be a JSON object")
    tcp_t = req.get("tcp_connect") or []
    tls_t = req.get("tls") or []
    dns_t = req.get("dns") or []
    if not all(isinstance(x, list) for x in (tcp_t, tls_t, dns_t)):
        raise BadRequest("tcp_connect, tls and dns must be lists")
    if len(tcp_t) + len(tls_t) + len(dns_t) > MAX_TARGETS:
        raise BadRequest(f"at most {MAX_TARGETS} targets per request")
    tcp_list: list[str] = []
    for a in tcp_t:
        if not isinstance(a, str):
            raise BadRequest("tcp_connect entries must be 'ip:port' strings")
        _check_address(a)
        tcp_list.append(a)
    tls_list: list[tuple[str, str]] = []
    for t in tls_t:
        if not (
            isinstance(t, dict)
            and isinstance(t.get("address"), str)
            and isinstance(t.get("sni"), str)
        ):
            raise BadRequest("tls entries must be {'address': 'ip:port', 'sni': 'name'}")
        _check_address(t["address"])
        tls_list.append((t["address"], t["sni"]))
    if not all(isinstance(h, str) and 0 < len(h) < 254 for h in dns_t):
        raise BadRequest("dns entries must be host names")
    # Identical targets are measured once: a request cannot multiply its connections.
    return list(dict.fromkeys(tcp_list)), list(dict.fromkeys(tls_list)), list(dict.fromkeys(dns_t))


def _check_address(a: str) -> tuple[str, int]:
    try:
        ip, port = tcp.split_hostport(a, 0)
    except ValueError:
        raise BadRequest(f"bad address {a!r}") from None
    if not tcp.is_ip(ip) or not 0 < port < 65536:
        raise BadRequest(f"bad address {a!r}: want a literal ip:port")
    return ip, port


async def measure(
    req: Any,
    *,
    ctx: ssl.SSLContext,
    limits: Limits = Limits(),
    allowed: tuple[Network, ...] = (),
    take_connection: Callable[[], bool] = lambda: True,
) -> dict[str, Any]:
    """Run the requested operations; the JSON answer.

    Names are resolved first: the addresses the helper's resolver gives for catalogue
    hosts are the public addresses it may then connect to (with the catalogue's own
    literal addresses and the ``allowed`` ranges). Every other target is listed under
    ``refused`` with the reason, and nothing is sent to it."""
    tcp_list, tls_list, dns_list = _targets(req)
    stun_list = _stun_targets(req)
    if len(tcp_list) + len(tls_list) + len(dns_list) + len(stun_list) > MAX_TARGETS:
        raise BadRequest(f"at most {MAX_TARGETS} targets per request")
    sem = asyncio.Semaphore(limits.concurrency)
    out: dict[str, dict[str, Any]] = {"tcp_connect": {}, "tls": {}, "dns": {}}
    refused: dict[str, str] = {}
    answers: dict[str, list[str]] = {}

    async def lookup(host: str, record: bool) -> None:
        loop = asyncio.get_running_loop()
        async with sem:
            try:
                async with asyncio.timeout(limits.dns):
                    infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
            except Exception as exc:
                if record:
                    out["dns"][host] = {"addrs": [], "failure": failure_of(exc)}
                return
        addrs = list(dict.fromkeys(str(i[4][0]) for i in infos))
        answers[host] = addrs
        if record:
            out["dns"][host] = {"addrs": addrs, "failure": None}

    def public(address: str) -> bool:
        addr = ipaddress.ip_address(_check_address(address)[0])
        return addr.is_global and not any(addr in net for net in allowed)

    # The SNI names of public targets are resolved too (not reported): their answers
    # say which addresses are the app's.
    extra = {
        sni for a, sni in tls_list if sni not in dns_list and is_catalogue_host(sni) and public(a)
    }
    async with asyncio.TaskGroup() as tg:
        for h in dns_list:
            tg.create_task(lookup(h, True))
        for h in sorted(extra):
            tg.create_task(lookup(h, False))
    resolved = {a for h, addrs in answers.items() if is_catalogue_host(h) for a in addrs}

    def allow(key: str, address: str) -> bool:
        ip, port = _check_address(address)
        why = refusal(ip, port, allowed, resolved)
        if why is None and not take_connection():
            why = "source_budget_exhausted"
        if why is not None:
            refused[key] = why
        return why is None

    if stun_list:
        out["stun"] = {}

    async def reach(a: str, sni: str | None) -> dict[str, bool | str | None]:
        """Connect to ``a`` and, given an ``sni``, complete a TLS handshake: the failure
        of the step that failed, or success."""
        ip, port = _check_address(a)
        async with sem:
            try:
                _, w = await tcp.open_tcp(ip, port, limits.connect)
            except Exception as exc:
                return {"success": False, "failure": failure_of(exc)}
            try:
                if sni is not None:
                    await tls.handshake(w, ctx, sni, limits.tls)
            except Exception as exc:
                return {"success": False, "failure": failure_of(exc)}
            finally:
                await tcp.close(w)
        return {"success": True, "failure": None}

    async def connect(a: str) -> None:
        out["tcp_connect"][a] = await reach(a, None)

    async def handshake(a: str, sni: str) -> None:
        out["tls"][f"{a} {sni}"] = await reach(a, sni)

    async def binding(a: str) -> None:
        ip, port = _check_address(a)
        tid = stun.new_transaction_id()
        req = stun.binding_request(tid)

        def answers(d: bytes) -> bool:
            return stun.classify_reply(stun.BINDING_REQUEST, d, tid) is not None

        async with sem:
            ans = await udp.exchange(ip.strip("[]"), port, req, answers)
        # Any answer to our transaction, an error included, shows the server is up.
        ok = ans.reply is not None
        out["stun"][a] = {"success": ok, "failure": None if ok else ans.failure}

    async with asyncio.TaskGroup() as tg:
        for a in stun_list:
            if allow(f"stun {a}", a):
                tg.create_task(binding(a))
        for a in tcp_list:
            if allow(a, a):
                tg.create_task(connect(a))
        for a, sni in tls_list:
            if allow(f"{a} {sni}", a):
                tg.create_task(handshake(a, sni))
    if refused:
        out["refused"] = refused
    return out


def _response(code: int, reason: str, body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    head = (
        f"HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + data


async def _handle(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    ctx: ssl.SSLContext,
    limits: Limits,
    allowed: tuple[Network, ...],
    sources: Sources,
) -> None:
    peer = writer.get_extra_info("peername")
    source = str(peer[0]) if peer else ""
    why = sources.begin(source, time.monotonic())
    if why is not None:
        with contextlib.suppress(OSError):
            writer.write(_response(429, "Too Many Requests", {"error": why}))
        await tcp.close(writer)
        return
    try:
        await _answer(
            reader,
            writer,
            ctx,
            limits,
            allowed,
            lambda: sources.take_connection(source, time.monotonic()),
            source,
        )
    finally:
        sources.end(source)


async def _answer(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    ctx: ssl.SSLContext,
    limits: Limits,
    allowed: tuple[Network, ...],
    take_connection: Callable[[], bool],
    source: str = "",
) -> None:
    try:
        try:
            async with asyncio.timeout(limits.read):
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method = lines[0].split(" ", 1)[0]
                length = 0
                for line in lines[1:]:
                    k, _, v = line.partition(":")
                    if k.strip().lower() == "content-length":
                        length = int(v.strip())
                if method != "POST":
                    writer.write(_response(405, "Method Not Allowed", {"error": "POST only"}))
                    return
                if length < 0 or length > MAX_BODY:
                    writer.write(_response(413, "Payload Too Large", {"error": "body too large"}))
                    return
                body = await reader.readexactly(length)
        except (asyncio.LimitOverrunError, ValueError):
            writer.write(_response(400, "Bad Request", {"error": "malformed request"}))
            return
        try:
            req = json.loads(body or b"null")
            if req == WHOAMI:
                writer.write(_response(200, "OK", {"client": source}))
                return
            answer = await measure(
                req,
                ctx=ctx,
                limits=limits,
                allowed=allowed,
                take_connection=take_connection,
            )
        except (BadRequest, ValueError) as exc:
            writer.write(_response(400, "Bad Request", {"error": str(exc)}))
            return
        writer.write(_response(200, "OK", answer))
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return  # the client went away or stalled: nothing to answer
    finally:
        await tcp.close(writer)


async def start(
    host: str,
    port: int,
    *,
    ca_file: str = "",
    limits: Limits = Limits(),
    allow_ranges: tuple[Network, ...] = (),
    budget: Budget | None = None,
) -> asyncio.Server:
    """Start the helper (for tests and embedding); ``server.sockets`` has the port.

    ``allow_ranges`` are networks it may connect to beyond the catalogue's public
    endpoints (the simulator's, loopback for tests); ``budget`` bounds each source."""
    ctx = tls.client_context(ca_file)
    sources = Sources(budget or Budget())
    return await asyncio.start_server(
        lambda r, w: _handle(r, w, ctx, limits, allow_ranges, sources),
        host,
        port,
        limit=_HEAD_LIMIT,
    )


async def _serve(listen: str, ca_file: str, allow: tuple[Network, ...]) -> None:
    host, port = tcp.split_hostport(listen, 8080)
    server = await start(host, port, ca_file=ca_file, allow_ranges=allow)
    async with server:
        await server.serve_forever()


def serve(
    listen: str = "127.0.0.1:8080", ca_file: str = "", allow: tuple[Network, ...] = ()
) -> None:
    """Serve until interrupted."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(listen, ca_file, allow))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m voipwatch.helper.control", description=__doc__)
    p.add_argument("--listen", default="127.0.0.1:8080", help="HOST:PORT to listen on")
    p.add_argument("--ca-file", default="", help="extra CA bundle to trust for TLS checks")
    p.add_argument(
        "--allow-range",
        action="append",
        default=[],
        help="a network it may test beyond the catalogue's public endpoints (repeatable)",
    )
    a = p.parse_args(argv)
    try:
        allow = parse_ranges(a.allow_range)
    except ValueError as exc:
        p.error(f"--allow-range: {exc}")
    serve(a.listen, a.ca_file, allow)


if __name__ == "__main__":
    main()
