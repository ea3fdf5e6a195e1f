"""The helper's TLS download server: any SNI, ``GET /download?bytes=N``.

It accepts a TLS handshake whatever name the client sends (the probe compares an
app's name with a harmless control name against the *same* server, so a rate
difference can only come from the network), with a certificate given by the
operator or a throw-away self-signed one. ``/download?bytes=N`` streams ``N`` bytes
(at most ``MAX_BYTES``, the most a probe asks) of zeros; anything else is 404.
Bounded reads, one request per connection, no logging.

It is bounded per source address too (:class:`Budget`): downloads at once, bytes per
minute; past either the answer is 429 with nothing sent, and downloads at once in all
are bounded. So a short request cannot draw more than one probe's worth of bytes,
however often it is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
import tempfile
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from voipwatch.probe.config import MAX_THROUGHPUT_BYTES

MAX_BYTES: Final = MAX_THROUGHPUT_BYTES
CHUNK = 64 * 1024
READ_TIMEOUT = 10.0
#: A download slower than this much time per request is cut (a stalled client).
SEND_TIMEOUT = 300.0
_HEAD_LIMIT = 8 * 1024
#: Sources remembered at once (the oldest is forgotten first).
MAX_SOURCES: Final = 4096


@dataclass(frozen=True)
class Budget:
    """What one source may draw, and how many downloads run at once in all.

    A probe run draws two downloads of ``throughput_bytes`` (4 MB by default)."""

    bytes_per_minute: int = 4 * MAX_BYTES
    concurrent_per_source: int = 2
    concurrent: int = 64


@dataclass
class _Drawn:
    sent: deque[tuple[float, int]] = field(default_factory=deque)
    active: int = 0


class Downloads:
    """Per-source accounting over a sliding minute; ``now`` is passed in."""

    def __init__(self, budget: Budget | None = None) -> None:
        self.budget = budget or Budget()
        self.active = 0
        self._seen: OrderedDict[str, _Drawn] = OrderedDict()

    def begin(self, source: str, n: int, now: float) -> bool:
        """Start a download of ``n`` bytes for ``source`` if its budget allows."""
        d = self._seen.pop(source, None) or _Drawn()
        self._seen[source] = d
        while len(self._seen) > MAX_SOURCES:
            self._seen.popitem(last=False)
        while d.sent and d.sent[0][0] <= now - 60:
            d.sent.popleft()
        drawn = sum(b for _, b in d.sent)
        if (
            self.active >= self.budget.concurrent
            or d.active >= self.budget.concurrent_per_source
            or drawn + n > self.budget.bytes_per_minute
        ):
            return False
        d.sent.append((now, n))
        d.active += 1
        self.active += 1
        return True

    def end(self, source: str) -> None:
        self.active = max(0, self.active - 1)
        d = self._seen.get(source)
        if d is not None and d.active > 0:
            d.active -= 1


def self_signed_context(name: str = "voipwatch-helper.invalid") -> ssl.SSLContext:
    """A server context with a fresh self-signed EC certificate (nothing kept on disk)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    with tempfile.TemporaryDirectory(prefix="voipwatch-helper-") as d:
        cert_path, key_path = Path(d) / "cert.pem", Path(d) / "key.pem"
        cert_path.write_bytes(cert.public_bytes(pem))
        key_path.write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        return server_context(str(cert_path), str(key_path))


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def _head(code: int, reason: str, length: int) -> bytes:
    return (
        f"HTTP/1.1 {code} {reason}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {length}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
    ).encode()


def requested_bytes(target: str) -> int | None:
    """N from ``/download?bytes=N`` (clamped to ``MAX_BYTES``), or None."""
    parts = urlsplit(target)
    if parts.path != "/download":
        return None
    try:
        n = int(parse_qs(parts.query).get("bytes", ["0"])[0])
    except ValueError:
        return None
    return max(0, min(n, MAX_BYTES))


async def handle(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, downloads: Downloads | None = None
) -> None:
    downloads = downloads if downloads is not None else Downloads()
    peer = writer.get_extra_info("peername")
    source = str(peer[0]) if peer else ""
    started = False
    try:
        async with asyncio.timeout(READ_TIMEOUT):
            head = await reader.readuntil(b"\r\n\r\n")
        parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        n = requested_bytes(parts[1]) if len(parts) == 3 and parts[0] == "GET" else None
        if n is None:
            writer.write(_head(404, "Not Found", 0))
            await writer.drain()
            return
        started = downloads.begin(source, n, time.monotonic())
        if not started:
            writer.write(_head(429, "Too Many Requests", 0))
            await writer.drain()
            return
        writer.write(_head(200, "OK", n))
        chunk = bytes(CHUNK)
        async with asyncio.timeout(SEND_TIMEOUT):
            left = n
            while left > 0:
                writer.write(chunk[: min(CHUNK, left)])
                left -= min(CHUNK, left)
                await writer.drain()
    except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return
    finally:
        if started:
            downloads.end(source)
        writer.close()
        with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
            async with asyncio.timeout(1.0):
                await writer.wait_closed()


async def start_download(
    host: str, port: int, ctx: ssl.SSLContext, budget: Budget | None = None
) -> asyncio.Server:
    downloads = Downloads(budget)
    return await asyncio.start_server(
        lambda r, w: handle(r, w, downloads), host, port, ssl=ctx, limit=_HEAD_LIMIT
    )
