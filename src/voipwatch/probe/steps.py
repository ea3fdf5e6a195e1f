"""The recorded steps every test is made of: resolve, connect, handshake, fetch.

Each step writes its template entries (tagged ``target``, ``control_sni``,
``system``, ``udp`` or ``control`` so the verdict engine can tell tests from
controls), retries failed attempts up to ``retries`` times with every attempt
recorded (``attempt`` 0, 1, 2…), and runs under the concurrency slots.

Controls built in here:

* every name is asked of every configured resolver (system, UDP, DoT/DoH);
* every TLS target (IP, port) also gets a handshake with ``control_sni`` to the
  same IP and port, started a little *before* the target's own, so that a censor's
  reaction to the app's name (residual blocking) cannot spoil the control.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

from voipwatch.probe import dns, http, tcp, tls
from voipwatch.probe.config import ProbeConfig
from voipwatch.probe.errors import (
    CONNECT,
    HTTP_REQUEST,
    RESOLVE,
    TLS_HANDSHAKE,
    failure_of,
    is_retryable,
)
from voipwatch.probe.limits import Limiter
from voipwatch.probe.measurement import Entry, Recorder
from voipwatch.probe.route import DIRECT, Route

T = TypeVar("T")

#: How long the control handshake may run before the target's starts anyway.
CONTROL_HEAD_START = 0.5
#: Pause before another attempt after a fast failure.
BACKOFF = 0.1


@dataclass
class Env:
    """What every test of one run shares."""

    config: ProbeConfig
    limiter: Limiter
    executor: Executor | None
    verify_ctx: ssl.SSLContext
    noverify_ctx: ssl.SSLContext
    dns_ctx: ssl.SSLContext
    #: How sockets reach the internet: directly, or through a circumvention tool.
    route: Route = DIRECT
    #: Set when this run's generic call test (the media and throughput A/B streams)
    #: is over: the run through a tool starts after it, so no loss or rate measured
    #: directly is the tool's traffic or the machine's work for it.
    quiet: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def make(
        cls,
        config: ProbeConfig,
        executor: Executor | None,
        route: Route = DIRECT,
    ) -> Env:
        c = config.concurrency
        return cls(
            config=config,
            limiter=Limiter(c.total, c.per_destination),
            executor=executor,
            verify_ctx=tls.client_context(config.ca_file, alpn=["http/1.1"]),
            noverify_ctx=tls.client_context(verify=False, alpn=["http/1.1"]),
            dns_ctx=tls.client_context(config.ca_file),
            route=route,
        )


@dataclass(slots=True)
class Resolution:
    """What the resolvers said about one name."""

    host: str
    #: The answer an app would use (system resolver, else UDP, else a control).
    addrs: list[str] = field(default_factory=list)
    failure: str | None = None
    #: Answers of the encrypted control resolvers (None when none answered).
    control: set[str] | None = None
    #: Every address any resolver gave, injected answers included.
    seen: set[str] = field(default_factory=set)

    @property
    def ipv4(self) -> list[str]:
        return [a for a in self.addrs if ":" not in a]


@dataclass(slots=True)
class Fetch:
    """The outcome of one URL fetched by the chain resolve → connect → TLS → HTTP."""

    url: str
    failure: str | None = None
    failed_operation: str | None = None
    code: int | None = None
    address: str | None = None


class Ctx:
    """One measurement being made: its recorder, its tasks, its controls."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.rec = Recorder()
        self.tg: asyncio.TaskGroup | None = None
        self._primary: dict[str, asyncio.Task[Resolution]] = {}
        self._full: dict[str, asyncio.Task[Resolution]] = {}
        self._sni_controls: dict[tuple[str, int], asyncio.Task[str | None]] = {}

    # -- plumbing -------------------------------------------------------------------

    def spawn(self, coro: Awaitable[T]) -> asyncio.Task[T]:
        assert self.tg is not None, "spawn() outside the measurement's task group"
        return self.tg.create_task(coro)  # type: ignore[arg-type]

    def gate(self, resolver: str) -> Callable[[], AbstractAsyncContextManager[None]]:
        """Slots for a resolver: only the global bound applies (see ``Limiter.slot``)."""
        per = self.env.config.concurrency.total
        return lambda: self.env.limiter.slot(f"dns {resolver}", per=per)

    async def attempts(
        self, op: Callable[[int], Awaitable[T]], failure: Callable[[T], str | None]
    ) -> T:
        """Run ``op(attempt)`` until it succeeds, fails for good, or retries run out."""
        retries = self.env.config.retries
        attempt = 0
        while True:
            result = await op(attempt)
            f = failure(result)
            if f is None or attempt >= retries or not is_retryable(f, attempt):
                return result
            attempt += 1
            await asyncio.sleep(BACKOFF * attempt)

    # -- DNS ------------------------------------------------------------------------

    def resolve(self, host: str) -> asyncio.Task[Resolution]:
        """The app's view of ``host`` (memoised; every resolver is asked once).

        Through a tool, nothing is resolved here: the name itself is the address,
        handed to the tool, which resolves it beyond the censor's resolvers.
        """
        if self.env.route.via is not None:
            return self._remote(host)
        if host not in self._primary:
            self._start(host)
        return self._primary[host]

    def resolve_all(self, host: str) -> asyncio.Task[Resolution]:
        """Like :meth:`resolve`, once the control resolvers have answered too."""
        if self.env.route.via is not None:
            return self._remote(host)
        if host not in self._full:
            self._start(host)
        return self._full[host]

    def _remote(self, host: str) -> asyncio.Task[Resolution]:
        if host not in self._primary:

            async def named() -> Resolution:
                return Resolution(host, addrs=[host])

            self._primary[host] = self.spawn(named())
        return self._primary[host]

    def _start(self, host: str) -> None:
        cfg = self.env.config
        r = cfg.resolvers
        to = cfg.timeouts.dns
        rec = self.rec
        lookups: list[tuple[str, asyncio.Task[dns.Lookup]]] = []

        def go(kind: str, op: Callable[[int], Awaitable[dns.Lookup]]) -> None:
            lookups.append((kind, self.spawn(self.attempts(op, lambda lk: lk.failure))))

        if r.system:
            go(
                "system",
                lambda a: dns.lookup_system(
                    rec,
                    host,
                    timeout=to,
                    executor=self.env.executor,
                    attempt=a,
                    gate=self.gate("getaddrinfo"),
                ),
            )
        for server in r.udp:
            ip = tcp.split_hostport(server, 53)[0]
            go(
                "udp",
                lambda a, s=server, ip=ip: dns.lookup_udp(  # type: ignore[misc]
                    rec,
                    host,
                    s,
                    timeout=to,
                    window=r.injection_window,
                    attempt=a,
                    gate=self.gate(ip),
                ),
            )
        for spec in r.dot:
            ip = tcp.split_hostport(spec.partition("#")[0], 853)[0]
            go(
                "control",
                lambda a, s=spec, ip=ip: dns.lookup_dot(  # type: ignore[misc]
                    rec, host, s, ctx=self.env.dns_ctx, timeout=to, attempt=a, gate=self.gate(ip)
                ),
            )
        for spec in r.doh:
            go(
                "control",
                lambda a, s=spec: dns.lookup_doh(  # type: ignore[misc]
                    rec,
                    host,
                    s,
                    ctx=self.env.dns_ctx,
                    timeout=to,
                    attempt=a,
                    gate=self.gate(s.rpartition("@")[2] or s),
                ),
            )
        self._primary[host] = self.spawn(_primary(host, lookups))
        self._full[host] = self.spawn(_full(host, lookups, self._primary[host]))

    # -- TCP and TLS ----------------------------------------------------------------

    async def _connect(
        self, ip: str, port: int, tags: list[str], attempt: int, tx: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | str:
        e = self.rec.begin(
            "tcp_connect",
            {
                "ip": ip,
                "port": port,
                "status": None,
                "tags": tags,
                "attempt": attempt,
                "transaction_id": tx,
            },
        )
        try:
            async with self.env.limiter.slot(ip):
                conn = await self.env.route.open_tcp(ip, port, self.env.config.timeouts.connect)
        except Exception as exc:
            f = failure_of(exc)
            self.rec.end(e, status={"success": False, "failure": f})
            return f
        self.rec.end(e, status={"success": True, "failure": None})
        return conn

    async def _handshake(
        self,
        writer: asyncio.StreamWriter,
        ip: str,
        port: int,
        sni: str,
        *,
        verify: bool,
        tags: list[str],
        attempt: int,
        tx: int,
    ) -> str | None:
        e = self.rec.begin(
            "tls_handshakes",
            {
                "network": "tcp",
                "address": tcp.join_hostport(ip, port),
                "server_name": sni,
                "failure": None,
                "tls_version": "",
                "cipher_suite": "",
                "negotiated_protocol": "",
                "no_tls_verify": not verify,
                # Certificates are not stored: they can be large, and a verdict
                # needs only the failure string.
                "peer_certificates": [],
                "tags": tags,
                "attempt": attempt,
                "transaction_id": tx,
            },
        )
        ctx = self.env.verify_ctx if verify else self.env.noverify_ctx
        try:
            async with self.env.limiter.slot(ip):
                info = await tls.handshake(writer, ctx, sni, self.env.config.timeouts.tls)
        except Exception as exc:
            f = failure_of(exc)
            self.rec.end(e, failure=f)
            return f
        self.rec.end(
            e,
            tls_version=info.tls_version,
            cipher_suite=info.cipher_suite,
            negotiated_protocol=info.negotiated_protocol,
        )
        return None

    async def tcp_probe(self, ip: str, port: int) -> str | None:
        """TCP connect to ``ip:port`` (tag ``target``); the final failure or None."""

        async def once(attempt: int) -> str | None:
            conn = await self._connect(ip, port, ["target"], attempt, self.rec.transaction())
            if isinstance(conn, str):
                return conn
            await tcp.close(conn[1])
            return None

        return await self.attempts(once, lambda f: f)

    async def tls_probe(
        self, ip: str, port: int, sni: str, *, control: bool = False
    ) -> tuple[str | None, str | None]:
        """Connect and handshake; (failure, failed_operation) of the last attempt."""
        tags = ["control_sni"] if control else ["target"]

        async def once(attempt: int) -> tuple[str | None, str | None]:
            tx = self.rec.transaction()
            conn = await self._connect(ip, port, tags, attempt, tx)
            if isinstance(conn, str):
                return conn, CONNECT
            try:
                f = await self._handshake(
                    conn[1], ip, port, sni, verify=not control, tags=tags, attempt=attempt, tx=tx
                )
            finally:
                await tcp.close(conn[1])
            return (f, TLS_HANDSHAKE) if f else (None, None)

        return await self.attempts(once, lambda r: r[0])

    def sni_control(self, ip: str, port: int) -> asyncio.Task[str | None]:
        """The same-IP handshake with ``control_sni`` (once per IP and port)."""
        key = (ip, port)
        if key not in self._sni_controls:

            async def run() -> str | None:
                f, _ = await self.tls_probe(ip, port, self.env.config.control_sni, control=True)
                return f

            self._sni_controls[key] = self.spawn(run())
        return self._sni_controls[key]

    async def tls_target(self, host: str, port: int) -> tuple[str | None, str | None]:
        """A TLS target by name: resolve, control handshake first, then the app's name."""
        res = await self.resolve(host)
        if res.failure or not res.addrs:
            return res.failure or "dns_no_answer", RESOLVE
        ip = (res.ipv4 or res.addrs)[0]
        await asyncio.wait({self.sni_control(ip, port)}, timeout=CONTROL_HEAD_START)
        return await self.tls_probe(ip, port, host)

    # -- HTTP -----------------------------------------------------------------------

    async def fetch(self, url: str, method: str = "GET") -> Fetch:
        """Fetch ``url`` as OONI's urlgetter does: one request, redirects not followed."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        https = parts.scheme == "https"
        port = parts.port or (443 if https else 80)
        headers = [("Host", parts.netloc), *http.DEFAULT_HEADERS]
        result = Fetch(url)
        if tcp.is_ip(host):
            ip = host
        else:
            res = await self.resolve(host)
            if res.failure or not res.addrs:
                f = res.failure or "dns_no_answer"
                self.rec.add(
                    "requests",
                    self._request_entry(url, method, headers, None, f, 0, self.rec.transaction())
                    | {"t0": self.rec.now(), "t": self.rec.now()},
                )
                result.failure, result.failed_operation = f, RESOLVE
                return result
            ip = (res.ipv4 or res.addrs)[0]
        address = tcp.join_hostport(ip, port)
        result.address = address
        if https:
            await asyncio.wait({self.sni_control(ip, port)}, timeout=CONTROL_HEAD_START)

        async def once(attempt: int) -> Fetch:
            tx = self.rec.transaction()
            e = self.rec.begin(
                "requests", self._request_entry(url, method, headers, address, None, attempt, tx)
            )
            out = Fetch(url, address=address)
            conn = await self._connect(ip, port, ["target"], attempt, tx)
            if isinstance(conn, str):
                out.failure, out.failed_operation = conn, CONNECT
                self.rec.end(e, failure=conn)
                return out
            reader, writer = conn
            try:
                if https:
                    f = await self._handshake(
                        writer, ip, port, host, verify=True, tags=["target"], attempt=attempt, tx=tx
                    )
                    if f:
                        out.failure, out.failed_operation = f, TLS_HANDSHAKE
                        self.rec.end(e, failure=f)
                        return out
                try:
                    async with self.env.limiter.slot(ip):
                        resp = await http.exchange(
                            reader,
                            writer,
                            method=method,
                            target=_request_target(parts.path, parts.query),
                            headers=headers,
                            timeout=self.env.config.timeouts.http,
                        )
                except Exception as exc:
                    f = failure_of(exc)
                    out.failure, out.failed_operation = f, HTTP_REQUEST
                    self.rec.end(e, failure=f)
                    return out
            finally:
                await tcp.close(writer)
            out.code = resp.code
            self.rec.end(e, response=http.response_record(resp))
            return out

        return await self.attempts(once, lambda r: r.failure)

    @staticmethod
    def _request_entry(
        url: str,
        method: str,
        headers: list[tuple[str, str]],
        address: str | None,
        failure: str | None,
        attempt: int,
        tx: int,
    ) -> Entry:
        return {
            "network": "tcp",
            "address": address,
            "alpn": "http/1.1" if url.startswith("https") else None,
            "failure": failure,
            "request": http.request_record(url, method, headers),
            "response": None,
            "tags": ["target"],
            "attempt": attempt,
            "transaction_id": tx,
        }


def _request_target(path: str, query: str) -> str:
    return (path or "/") + (f"?{query}" if query else "")


async def _primary(host: str, lookups: list[tuple[str, asyncio.Task[dns.Lookup]]]) -> Resolution:
    """The first kind of resolver configured (system, then udp, then control) decides."""
    if not lookups:
        return Resolution(host, failure="dns_no_resolver")
    order = {"system": 0, "udp": 1, "control": 2}
    kind = min(lookups, key=lambda kl: order[kl[0]])[0]
    first = [t for k, t in lookups if k == kind]
    for task in first:
        lk = await task
        if lk.addrs:
            return Resolution(host, list(lk.addrs), None, None, set(lk.seen))
    lk = first[0].result()
    return Resolution(host, [], lk.failure, None, set(lk.seen))


async def _full(
    host: str,
    lookups: list[tuple[str, asyncio.Task[dns.Lookup]]],
    primary: asyncio.Task[Resolution],
) -> Resolution:
    p = await primary
    res = Resolution(host, list(p.addrs), p.failure, None, set(p.seen))
    for kind, task in lookups:
        lk = await task
        res.seen |= lk.seen
        if kind == "control" and lk.addrs:
            res.control = (res.control or set()) | set(lk.addrs)
    return res


def json_safe(v: object) -> object:
    """Sets become sorted lists (for x_control and keys built from them)."""
    if isinstance(v, set):
        return sorted(v)
    return v
