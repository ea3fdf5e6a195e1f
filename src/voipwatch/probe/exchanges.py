"""Call-plane exchanges: one request, one answer, one ``x_exchanges`` entry each.

An entry names the catalogue role, whose server it went to (``app``, ``helper``
or ``public``), the transport, what was sent (``payload``) and what it controls
for (``control``), and what came back. Entries are appended when the exchange
*starts*; one the run's time bound cut short is closed as
``generic_timeout_error`` by :meth:`Exchanges.close`.

Payloads: ``stun_binding`` and ``turn_allocate`` (padded, so the helper's answer
fits), ``random`` (bytes no RFC 7983 range claims, echoed by the helper),
``dtls_client_hello`` (a DTLS-ClientHello-shaped datagram, echoed), ``sip_options``
and ``not_sip`` (random bytes on a SIP port); ``""`` on a TCP entry is a bare
connect. A UDP exchange refused by ICMP says who refused it (``rejected_by``:
``target``, the destination itself, or ``path``, a router between). A UDP
exchange that timed out is made once more, as a second entry with
the same fields: a censor's drop repeats, a lossy path's seldom does. The mapped
address in a STUN answer is checked and dropped; nothing the probe stores names the
probe's own address.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import time
from collections.abc import Callable

from voipwatch.ooni.model import Exchange, exchange_entry
from voipwatch.probe import media, sip, stun, tcp, tls, udp
from voipwatch.probe.errors import TIMEOUT, failure_of
from voipwatch.probe.measurement import Recorder
from voipwatch.probe.steps import Env

#: Seconds for a call-plane TCP connect, TLS handshake or SIP answer (STUN's
#: 0.5 + 1 + 2 s budget, so a blackholed TCP port costs no more than a UDP one).
STREAM_TIMEOUT = 3.5
_SIP_LIMIT = 8 * 1024
#: A UDP exchange that met only silence is made once more (a second entry).
UDP_REPEATS = 1


def random_payload(size: int = 64) -> bytes:
    """Random bytes whose first byte no RFC 7983 range (nor a SIP method) claims."""
    first = 0xC0 + os.urandom(1)[0] % 0x40
    return bytes([first]) + os.urandom(size - 1)


class Exchanges:
    """The ``x_exchanges`` list of one measurement, and the operations that fill it."""

    def __init__(self, rec: Recorder, env: Env) -> None:
        self.rec = rec
        self.env = env
        self.entries: list[Exchange] = []
        self.source = env.config.source_address

    def _begin(
        self,
        *,
        role: str,
        target: str,
        ip: str,
        port: int,
        transport: str,
        payload: str,
        host: str = "",
        control: str = "",
    ) -> Exchange:
        e = Exchange(
            role=role,
            target=target,
            host=host,
            address=tcp.join_hostport(ip, port),
            port=port,
            transport=transport,
            payload=payload,
            control=control,
            success=False,
            bytes_sent=0,
            bytes_received=0,
            attempt=0,
            t0=self.rec.now(),
        )
        self.entries.append(e)
        return e

    def _slot(self, target: str, ip: str) -> contextlib.AbstractAsyncContextManager[None]:
        # Our own helper takes many probes at once; others get the usual bound.
        per = self.env.config.concurrency.total if target == "helper" else None
        return self.env.limiter.slot(ip, per=per)

    def close(self) -> list[dict[str, object]]:
        """The ``x_exchanges`` entries, an exchange still open closed as timed out."""
        for e in self.entries:
            if e.t is None:
                e.failure, e.t = TIMEOUT, self.rec.now()
        return [exchange_entry(e) for e in self.entries]

    # -- UDP ------------------------------------------------------------------------

    async def udp(
        self,
        role: str,
        target: str,
        ip: str,
        port: int,
        payload: str,
        *,
        control: str = "",
        host: str = "",
        data: bytes | None = None,
    ) -> Exchange:
        """One UDP exchange (``payload`` names what ``data`` is, or builds it)."""
        e = self._begin(
            role=role,
            target=target,
            host=host,
            ip=ip,
            port=port,
            transport="udp",
            payload=payload,
            control=control,
        )
        label: Callable[[bytes], str | None]
        if payload in ("stun_binding", "turn_allocate"):
            tid = stun.new_transaction_id()
            if payload == "stun_binding":
                req, kind = stun.binding_request(tid), stun.BINDING_REQUEST
            else:
                req, kind = stun.allocate_request(tid), stun.ALLOCATE_REQUEST

            def label(d: bytes, kind: int = kind, tid: bytes = tid) -> str | None:
                return stun.classify_reply(kind, d, tid)
        elif payload == "sip_options":
            req = sip.options_request(ip, port, "UDP", size=sip.UDP_SIZE)

            def label(d: bytes) -> str | None:
                return sip.status_line(d, req)
        else:
            req = data if data is not None else random_payload()
            if payload == "dtls_client_hello" and data is None:
                req = media.dtls_client_hello()

            def label(d: bytes) -> str | None:
                return "echo" if d == req else None

        for again in range(UDP_REPEATS + 1):
            if again:
                # Silence again, with fresh retransmissions: a censor drops every time,
                # a lossy path seldom twice (the verdict tells them apart).
                e = self._begin(role=role, target=target, host=host, ip=ip, port=port,
                                transport="udp", payload=payload, control=control)  # fmt: skip
            async with self._slot(target, ip):
                ans = await udp.exchange(
                    ip,
                    port,
                    req,
                    lambda d: label(d) is not None,
                    source=self.source,
                    opener=self.env.route.open_udp,
                )
            reply = label(ans.reply) if ans.reply is not None else None
            failure = ans.failure
            if reply == "malformed":
                failure = "stun_malformed_reply"
            self.rec_end(
                e,
                success=failure is None,
                failure=failure,
                reply=None if reply == "malformed" else reply,
                rtt=ans.rtt,
                bytes_sent=ans.bytes_sent,
                bytes_received=ans.bytes_received,
                attempt=ans.attempt,
            )
            if ans.rejected_by is not None:
                e.rejected_by = ans.rejected_by
            if failure != TIMEOUT:
                break
        return e

    def rec_end(
        self,
        e: Exchange,
        *,
        success: bool = False,
        failure: str | None = None,
        reply: str | None = None,
        rtt: float | None = None,
        bytes_sent: int = 0,
        bytes_received: int = 0,
        attempt: int = 0,
        address: str | None = None,
    ) -> None:
        """Close ``e`` with what came back (each exchange is closed once)."""
        e.success, e.failure, e.reply, e.rtt = success, failure, reply, rtt
        e.bytes_sent, e.bytes_received, e.attempt = bytes_sent, bytes_received, attempt
        if address is not None:
            e.address = address
        e.t = self.rec.now()

    # -- TCP and TLS -----------------------------------------------------------------

    async def tcp_connect(
        self, role: str, target: str, ip: str, port: int, *, host: str = ""
    ) -> Exchange:
        """A bare TCP connect (an app's TCP fallback port)."""
        e = self._begin(
            role=role, target=target, host=host, ip=ip, port=port, transport="tcp", payload=""
        )
        t0 = time.monotonic()
        try:
            async with self._slot(target, ip):
                _, w = await self.env.route.open_tcp(ip, port, STREAM_TIMEOUT, self.source)
        except Exception as exc:
            self.rec_end(e, failure=failure_of(exc))
            return e
        rtt = round(time.monotonic() - t0, 6)
        await tcp.close(w)
        self.rec_end(e, success=True, rtt=rtt)
        return e

    async def stream(
        self,
        role: str,
        ip: str,
        port: int,
        payload: str,
        *,
        use_tls: bool,
        control: str = "",
        target: str = "helper",
        host: str = "",
    ) -> Exchange:
        """SIP OPTIONS (or ``not_sip`` bytes) over TCP or TLS to the helper (or a SIP
        server, ``target="app"``)."""
        transport = "tls" if use_tls else "tcp"
        e = self._begin(
            role=role,
            target=target,
            host=host,
            ip=ip,
            port=port,
            transport=transport,
            payload=payload,
            control=control,
        )
        if payload == "sip_options":
            req = sip.options_request(ip, port, transport.upper())
        else:
            req = random_payload()
        t0 = time.monotonic()
        writer: asyncio.StreamWriter | None = None
        got = b""
        try:
            async with asyncio.timeout(STREAM_TIMEOUT):
                reader, writer = await self.env.route.open_tcp(
                    ip, port, STREAM_TIMEOUT, self.source
                )
                if use_tls:
                    ctx = tls.client_context(verify=False)
                    await writer.start_tls(ctx, server_hostname=None)
                writer.write(req)
                await writer.drain()
                while len(got) < _SIP_LIMIT:
                    chunk = await reader.read(_SIP_LIMIT)
                    if not chunk:
                        break
                    got += chunk
                    if payload == "sip_options" and b"\r\n\r\n" in got:
                        break
                    if payload != "sip_options" and len(got) >= len(req):
                        break
            t_done = time.monotonic()
        except Exception as exc:
            self.rec_end(e, failure=failure_of(exc), bytes_sent=len(req), bytes_received=len(got))
            return e
        finally:
            if writer is not None:
                with contextlib.suppress(OSError, ssl.SSLError):
                    await tcp.close(writer)
        if payload == "sip_options":
            reply = sip.status_line(got, req)
        else:
            reply = "echo" if got[: len(req)] == req else None
        self.rec_end(
            e,
            success=reply is not None,
            failure=None if reply is not None else ("eof_error" if not got else "bad_reply"),
            reply=reply,
            rtt=round(t_done - t0, 6),
            bytes_sent=len(req),
            bytes_received=len(got),
        )
        return e
