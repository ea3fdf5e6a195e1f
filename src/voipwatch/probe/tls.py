"""TLS handshakes over an open TCP stream, with a chosen SNI.

The handshake is separate from the connect so each is recorded on its own
(df-005 and df-006): a reset after the ClientHello is a TLS failure, not a TCP one.
Certificates are checked against the system's trust store plus the configured
``ca_file`` (a simulation's CA); the control handshake does not check them
(``no_tls_verify``), since the server has no certificate for the control name.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass


def client_context(
    ca_file: str = "", *, verify: bool = True, alpn: list[str] | None = None
) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if ca_file:
        ctx.load_verify_locations(cafile=ca_file)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


@dataclass(slots=True)
class TLSInfo:
    tls_version: str
    cipher_suite: str
    negotiated_protocol: str


# probe-cli's names for TLS versions.
_VERSIONS = {"TLSv1.3": "TLSv1.3", "TLSv1.2": "TLSv1.2", "TLSv1.1": "TLSv1.1", "TLSv1": "TLSv1"}


async def handshake(
    writer: asyncio.StreamWriter, ctx: ssl.SSLContext, server_name: str, timeout: float
) -> TLSInfo:
    """Upgrade ``writer``'s connection to TLS with SNI ``server_name`` (raises on failure)."""
    async with asyncio.timeout(timeout):
        await writer.start_tls(ctx, server_hostname=server_name, ssl_handshake_timeout=timeout + 1)
    obj = writer.get_extra_info("ssl_object")
    if not isinstance(obj, ssl.SSLObject):
        return TLSInfo("", "", "")
    cipher = obj.cipher()
    return TLSInfo(
        _VERSIONS.get(obj.version() or "", obj.version() or ""),
        cipher[0] if cipher else "",
        obj.selected_alpn_protocol() or "",
    )
