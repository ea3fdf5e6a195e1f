"""Name resolution four ways, each recorded as df-002 ``queries`` entries.

Spec: https://github.com/ooni/spec/blob/master/data-formats/df-002-dnst.md

* ``system`` — getaddrinfo, what apps use (engine ``getaddrinfo``, one ``ANY`` query,
  as probe-cli records it).
* ``udp`` — plain DNS to a public resolver on our own socket, so that every answer
  is seen: an on-path injector answers too, and both answers are recorded with the
  same ``transaction_id`` and the IP TTL of their packet (``x_ip_ttl``, from
  ``IP_RECVTTL``); a forged packet usually comes from fewer hops away.
* ``dot`` / ``doh`` — the controls: DNS inside TLS, out of reach of a censor that
  only tampers with UDP/53.

Encrypted and UDP queries ask for A records: the probe connects over IPv4 and the
tampering signals (bogons, injection, NXDOMAIN) show on A. getaddrinfo returns both
families.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import ssl
import sys
from collections.abc import Callable
from concurrent.futures import Executor
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import dns.asyncquery
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from voipwatch.probe import tcp, tls
from voipwatch.probe.errors import RCODE, TIMEOUT, ProbeFailure, failure_of
from voipwatch.probe.measurement import Entry, Recorder

#: Entered around the network part of an operation (a concurrency slot).
Gate = Callable[[], AbstractAsyncContextManager[None]]


def no_gate() -> AbstractAsyncContextManager[None]:
    return contextlib.nullcontext()


# Linux values; Python 3.11 does not export IP_RECVTTL.
_IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
_IP_TTL = getattr(socket, "IP_TTL", 2)
_IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
_IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)
#: A lost query or answer is sent again this often while waiting for the first answer.
RESEND = 1.0


@dataclass(slots=True)
class Lookup:
    """What one resolver said: the addresses an app would use, or the failure."""

    addrs: list[str] = field(default_factory=list)
    failure: str | None = None
    #: Every address seen in any answer (injected ones included).
    seen: set[str] = field(default_factory=set)


def _answers_of(msg: dns.message.Message) -> list[Entry]:
    out: list[Entry] = []
    for rrset in msg.answer:
        for rd in rrset:
            if rd.rdtype == dns.rdatatype.A:
                out.append({"answer_type": "A", "ipv4": rd.address, "ttl": rrset.ttl})
            elif rd.rdtype == dns.rdatatype.AAAA:
                out.append({"answer_type": "AAAA", "ipv6": rd.address, "ttl": rrset.ttl})
            elif rd.rdtype == dns.rdatatype.CNAME:
                out.append(
                    {"answer_type": "CNAME", "hostname": rd.target.to_text(), "ttl": rrset.ttl}
                )
    return out


def _addrs(answers: list[Entry]) -> list[str]:
    return [
        str(a.get("ipv4") or a.get("ipv6") or "") for a in answers if a["answer_type"] != "CNAME"
    ]


def _failure_of_msg(msg: dns.message.Message, answers: list[Entry]) -> str | None:
    rcode = msg.rcode()
    if rcode != dns.rcode.NOERROR:
        return RCODE.get(rcode, "dns_server_misbehaving")
    return None if _addrs(answers) else "dns_no_answer"


def _query(host: str, qid: int | None = None) -> dns.message.Message:
    q = dns.message.make_query(host, dns.rdatatype.A)
    if qid is not None:
        q.id = qid
    return q


def _entry(engine: str, host: str, resolver: str, tags: list[str], attempt: int, tx: int) -> Entry:
    return {
        "engine": engine,
        "resolver_address": resolver,
        "hostname": host,
        "query_type": "ANY" if engine == "getaddrinfo" else "A",
        "answers": None,
        "failure": None,
        "tags": tags,
        "attempt": attempt,
        "transaction_id": tx,
    }


# -- system -------------------------------------------------------------------------


async def lookup_system(
    rec: Recorder,
    host: str,
    *,
    timeout: float,
    executor: Executor | None,
    attempt: int,
    gate: Gate = no_gate,
) -> Lookup:
    """getaddrinfo in a worker thread (its own executor: a hung lookup must not stall exit)."""
    tx = rec.transaction()
    e = rec.begin("queries", _entry("getaddrinfo", host, "", ["system"], attempt, tx))
    loop = asyncio.get_running_loop()
    try:
        async with gate(), asyncio.timeout(timeout):
            infos = await loop.run_in_executor(
                executor, socket.getaddrinfo, host, None, 0, socket.SOCK_STREAM
            )
    except Exception as exc:
        f = failure_of(exc)
        rec.end(e, failure=f, answers=None)
        return Lookup(failure=f)
    answers: list[Entry] = []
    seen: list[str] = []
    for fam, _, _, _, sa in infos:
        ip = str(sa[0])
        if ip in seen:
            continue
        seen.append(ip)
        if fam == socket.AF_INET6:
            answers.append({"answer_type": "AAAA", "ipv6": ip, "ttl": None})
        else:
            answers.append({"answer_type": "A", "ipv4": ip, "ttl": None})
    rec.end(e, answers=answers)
    ordered = [a for a in seen if ":" not in a] + [a for a in seen if ":" in a]
    return Lookup(ordered, None if ordered else "dns_no_answer", set(seen))


# -- plain UDP with the injection window --------------------------------------------


def _ttl_of(ancdata: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, data in ancdata:
        if (level, kind) in ((socket.IPPROTO_IP, _IP_TTL), (socket.IPPROTO_IPV6, _IPV6_HOPLIMIT)):
            return int.from_bytes(data[:4], sys.byteorder)
    return None


async def lookup_udp(
    rec: Recorder,
    host: str,
    server: str,
    *,
    timeout: float,
    window: float,
    attempt: int,
    gate: Gate = no_gate,
) -> Lookup:
    """One A query over UDP; every response within ``window`` of the first is recorded."""
    ip, port = tcp.split_hostport(server, 53)
    resolver = tcp.join_hostport(ip, port)
    tx = rec.transaction()
    first = rec.begin("queries", _entry("udp", host, resolver, ["udp"], attempt, tx))
    q = _query(host)
    wire = q.to_wire()
    loop = asyncio.get_running_loop()
    fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(fam, socket.SOCK_DGRAM)
    got: asyncio.Queue[tuple[float, bytes, int | None] | OSError] = asyncio.Queue()

    def readable() -> None:
        while True:
            try:
                data, anc, _, _ = sock.recvmsg(65535, socket.CMSG_SPACE(4) * 2)
            except BlockingIOError:
                return
            except OSError as exc:  # ICMP unreachable surfaces here on a connected socket
                got.put_nowait(exc)
                return
            got.put_nowait((rec.now(), data, _ttl_of(anc)))

    result = Lookup()
    try:
        async with gate():
            sock.setblocking(False)
            with contextlib.suppress(OSError):  # no TTL on this OS: x_ip_ttl stays null
                if fam == socket.AF_INET:
                    sock.setsockopt(socket.IPPROTO_IP, _IP_RECVTTL, 1)
                else:
                    sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVHOPLIMIT, 1)
            sock.connect((ip, port))
            loop.add_reader(sock.fileno(), readable)
            try:
                responses = await _collect(sock, wire, q, got, timeout=timeout, window=window)
            finally:
                loop.remove_reader(sock.fileno())
    except Exception as exc:
        f = failure_of(exc)
        rec.end(first, failure=f)
        result.failure = f
        return result
    finally:
        sock.close()
    for i, (t, msg, raw, ttl) in enumerate(responses):
        answers = _answers_of(msg)
        fail = _failure_of_msg(msg, answers)
        fields: Entry = {
            "answers": answers or None,
            "failure": fail,
            "rcode": msg.rcode(),
            "raw_response": base64.b64encode(raw).decode("ascii"),
            "x_ip_ttl": ttl,
        }
        if i == 0:
            rec.end(first, **fields)
            first["t"] = t
            result.addrs = [a for a in _addrs(answers) if a]
            result.failure = fail
        else:
            e = _entry("udp", host, resolver, ["udp"], attempt, tx)
            e.update(fields, t0=first["t0"], t=t)
            rec.add("queries", e)
        result.seen.update(a for a in _addrs(answers) if a)
    return result


async def _collect(
    sock: socket.socket,
    wire: bytes,
    q: dns.message.Message,
    got: asyncio.Queue[tuple[float, bytes, int | None] | OSError],
    *,
    timeout: float,
    window: float,
) -> list[tuple[float, dns.message.Message, bytes, int | None]]:
    loop = asyncio.get_running_loop()
    out: list[tuple[float, dns.message.Message, bytes, int | None]] = []
    deadline = loop.time() + timeout  # for the first answer
    window_end = 0.0  # for the others, once the first is in
    sock.send(wire)
    next_send = loop.time() + RESEND
    while True:
        now = loop.time()
        end = window_end if out else min(deadline, next_send)
        if now >= end:
            if out or now >= deadline:
                break
            sock.send(wire)  # no answer yet: the query or its answer may have been lost
            next_send = now + RESEND
            continue
        try:
            item = await asyncio.wait_for(got.get(), end - now)
        except TimeoutError:
            continue
        if isinstance(item, OSError):
            if out:
                continue
            raise item
        t, raw, ttl = item
        try:
            msg = dns.message.from_wire(raw)
        except Exception:
            continue  # not DNS: neither an answer nor a reason to stop listening
        if msg.id != q.id or not q.is_response(msg):
            continue
        if not out:
            window_end = loop.time() + window
        out.append((t, msg, raw, ttl))
    if not out:
        raise TimeoutError
    return out


# -- encrypted controls ---------------------------------------------------------------


async def lookup_dot(
    rec: Recorder,
    host: str,
    spec: str,
    *,
    ctx: ssl.SSLContext,
    timeout: float,
    attempt: int,
    gate: Gate = no_gate,
) -> Lookup:
    """DNS over TLS to ``ip[:port]#tls-name``."""
    addr, _, name = spec.partition("#")
    ip, port = tcp.split_hostport(addr, 853)
    resolver = tcp.join_hostport(ip, port)
    e = rec.begin("queries", _entry("dot", host, resolver, ["control"], attempt, rec.transaction()))
    q = _query(host)
    try:
        async with gate(), asyncio.timeout(timeout):
            reader, writer = await tcp.open_tcp(ip, port, timeout)
            try:
                await tls.handshake(writer, ctx, name or ip, timeout)
                wire = q.to_wire()
                writer.write(len(wire).to_bytes(2, "big") + wire)
                await writer.drain()
                n = int.from_bytes(await reader.readexactly(2), "big")
                msg = dns.message.from_wire(await reader.readexactly(n))
            finally:
                await tcp.close(writer)
    except Exception as exc:
        f = failure_of(exc)
        rec.end(e, failure=f)
        return Lookup(failure=f)
    return _finish(rec, e, msg)


async def lookup_doh(
    rec: Recorder,
    host: str,
    spec: str,
    *,
    ctx: ssl.SSLContext,
    timeout: float,
    attempt: int,
    gate: Gate = no_gate,
) -> Lookup:
    """DNS over HTTPS (RFC 8484 POST) to ``URL@bootstrap-address``.

    dnspython's client speaks HTTP/2, which DoH servers such as unbound require;
    the bootstrap address keeps the system resolver (the thing under test) out of
    reaching the trusted one.
    """
    url, _, bootstrap = spec.rpartition("@")
    if not url:
        url, bootstrap = spec, ""
    e = rec.begin("queries", _entry("doh", host, url, ["control"], attempt, rec.transaction()))
    q = _query(host, qid=0)
    try:
        async with gate(), asyncio.timeout(timeout):
            if not tcp.is_ip(bootstrap or (urlsplit(url).hostname or "")):
                raise ProbeFailure("dns_bootstrap_missing")
            msg = await dns.asyncquery.https(
                q,
                url,
                timeout=timeout,
                verify=ctx,
                bootstrap_address=bootstrap or None,
                http_version=dns.query.HTTPVersion.H2,
            )
    except Exception as exc:
        f = failure_of(exc)
        rec.end(e, failure=f)
        return Lookup(failure=f)
    return _finish(rec, e, msg)


def _finish(rec: Recorder, e: Entry, msg: dns.message.Message) -> Lookup:
    answers = _answers_of(msg)
    fail = _failure_of_msg(msg, answers)
    rec.end(e, answers=answers or None, failure=fail, rcode=msg.rcode())
    addrs = [a for a in _addrs(answers) if a]
    return Lookup(addrs, fail, set(addrs))


def is_timeout(lk: Lookup) -> bool:
    return lk.failure == TIMEOUT


__all__ = ["Lookup", "lookup_doh", "lookup_dot", "lookup_system", "lookup_udp"]
