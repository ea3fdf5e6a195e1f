"""The helper's TLS download server: any SNI, ``GET /download?bytes=N``.

It accepts a TLS handshake whatever name the client sends (the probe compares an
app's name with a harmless control name against the *same* server, so a rate
difference can only come from the network), with a certificate given by the
operator or a throw-away self-signed one. ``/download?bytes=N`` streams ``N`` bytes
(at most ``MAX_BYTES``) of zeros; anything else is 404. Bounded reads, one
request per connection, no logging.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

MAX_BYTES = 64 * 1024 * 1024
CHUNK = 64 * 1024
READ_TIMEOUT = 10.0
#: A download slower than this much time per request is cut (a stalled client).
SEND_TIMEOUT = 300.0
_HEAD_LIMIT = 8 * 1024


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


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        async with asyncio.timeout(READ_TIMEOUT):
            head = await reader.readuntil(b"\r\n\r\n")
        parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        n = requested_bytes(parts[1]) if len(parts) == 3 and parts[0] == "GET" else None
        if n is None:
            writer.write(_head(404, "Not Found", 0))
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
        writer.close()
        with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
            async with asyncio.timeout(1.0):
                await writer.wait_closed()


async def start_download(host: str, port: int, ctx: ssl.SSLContext) -> asyncio.Server:
    return await asyncio.start_server(handle, host, port, ssl=ctx, limit=_HEAD_LIMIT)
