"""The helper's SIP OPTIONS responder (UDP on every helper port, TCP 5060, TLS 5061).

An OPTIONS request is answered ``SIP/2.0 200 OK`` with the request's Via, From,
To (plus a tag), Call-ID and CSeq, as RFC 3261 §8.2.6 asks; other methods get
``405 Method Not Allowed``. No ``received`` parameter is added to the Via: the
answer travels back on the same socket or connection, so the client's address is
not written anywhere. Over TCP and TLS, a first chunk that is not SIP is echoed
(the probe's ``not_sip`` control on the same port), bounded, and the connection
closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets

from voipwatch.probe import sip

MAX_REQUEST = 8 * 1024
READ_TIMEOUT = 5.0
_COPIED = ("via", "from", "to", "call-id", "cseq")


def answer(data: bytes) -> bytes | None:
    """The answer to a SIP request, or None when ``data`` is not one."""
    if not sip.is_request(data):
        return None
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1", "replace")
    lines = head.split("\r\n")
    method = lines[0].split(" ", 1)[0]
    copied: list[str] = []
    for line in lines[1:]:
        k, sep, v = line.partition(":")
        name = k.strip().lower()
        if sep and name in _COPIED:
            value = v.strip()
            if name == "to" and ";tag=" not in value:
                value += ";tag=" + secrets.token_hex(4)
            copied.append(f"{k.strip()}: {value}")
    status = "200 OK" if method == "OPTIONS" else "405 Method Not Allowed"
    extra = ["Allow: OPTIONS"] if method != "OPTIONS" else []
    out = [f"SIP/2.0 {status}", *copied, *extra, "Content-Length: 0", "", ""]
    return "\r\n".join(out).encode("latin-1", "replace")


async def handle_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One TCP or TLS connection: SIP requests answered, anything else echoed once."""
    try:
        async with asyncio.timeout(READ_TIMEOUT):
            data = await reader.read(MAX_REQUEST)
            if not data:
                return
            if data[:8].split(b" ", 1)[0] not in sip.METHODS:
                writer.write(data)
                await writer.drain()
                return
            while b"\r\n\r\n" not in data and len(data) < MAX_REQUEST:
                more = await reader.read(MAX_REQUEST - len(data))
                if not more:
                    return
                data += more
            reply = answer(data)
            if reply is not None:
                writer.write(reply)
                await writer.drain()
    except (OSError, TimeoutError):
        return
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(1.0):
                await writer.wait_closed()
