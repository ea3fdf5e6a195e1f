"""The server's door: which hosts it answers for, how much a request may send, and
who may write — decided before any route reads a byte of the body.

A page on another site can point a name it controls at this server (DNS
rebinding) and then read it as same-origin; answering only for the names the server
was started for closes that. A route that parses its body first (FastAPI does, before
any dependency runs) would hold an oversized body in memory before it could refuse
it, so the size and the operator token are checked here, ahead of the app.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
from collections.abc import Iterable
from typing import Final

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Names a server bound to loopback is reached by.
LOOPBACK_HOSTS: Final = ("localhost", "127.0.0.1", "::1")
#: Largest request body any route accepts (bytes); an annotation is far smaller.
MAX_BODY: Final = 256 * 1024
#: Routes that write, and where their token travels: a header (checked here, before
#: the body) or the body of the page's form (that route reads at most its own cap).
WRITE_ROUTES: Final = (
    (re.compile(r"^/api/v1/cases/[A-Za-z0-9._-]{1,64}/annotations$"), "header"),
    (re.compile(r"^/case/[A-Za-z0-9._-]{1,64}/annotate$"), "form"),
)
_WILDCARDS: Final = ("", "0.0.0.0", "::")


#: Routes whose bodies have their own cap (the collector's): (path pattern, bytes).
Caps = tuple[tuple[re.Pattern[str], int], ...]


class BodyTooLarge(HTTPException):
    """A request body passed its cap while it was being received (no Content-Length).

    An HTTP exception so that the app's handlers answer 413 wherever the route was
    reading its body."""

    def __init__(self, cap: int) -> None:
        super().__init__(413, f"request body larger than {cap} bytes")


def allowed_hosts(bind: str | None = None, extra: Iterable[str] = ()) -> frozenset[str]:
    """The loopback names, the address the server binds to (unless a wildcard), and
    the names the operator gave (``--allowed-host``), all lower case without port."""
    names = set(LOOPBACK_HOSTS)
    if bind and bind not in _WILDCARDS:
        names.add(bind.strip("[]").lower())
    names.update(h.strip().strip("[]").lower() for h in extra if h.strip())
    return frozenset(names)


def host_name(header: str) -> str:
    """The host of a ``Host`` header, without its port or IPv6 brackets."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else ""
    if header.count(":") == 1:
        header = header.split(":", 1)[0]
    elif header.count(":") > 1:
        # An IPv6 address without brackets is not a valid Host; compare it whole.
        try:
            return str(ipaddress.IPv6Address(header))
        except ValueError:
            return ""
    return header.rstrip(".")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def bearer_ok(authorization: str | None, expected: str) -> bool:
    """``Authorization: Bearer …`` equals the operator token (constant-time)."""
    given = ""
    if authorization and authorization[:7].lower() == "bearer ":
        given = authorization[7:].strip()
    return hmac.compare_digest(given.encode(), expected.encode())


class Guard:
    """ASGI middleware: Host allow-list, body cap, and the token before the body."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        hosts: frozenset[str],
        token: str | None,
        max_body: int = MAX_BODY,
        caps: Caps = (),
    ) -> None:
        self.app = app
        self.hosts = hosts
        self.token = token
        self.max_body = max_body
        self.caps = caps

    def _cap(self, path: str) -> int:
        for pattern, cap in self.caps:
            if pattern.match(path):
                return cap
        return self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if host_name(_header(scope, b"host") or "") not in self.hosts:
            await _refuse(send, 421, "this server does not answer for that host name")
            return
        refusal = self._write_refusal(scope)
        if refusal is not None:
            await _refuse(send, *refusal)
            return
        # Any method: a GET with a body is odd, but nothing should hold it either.
        cap = self._cap(scope.get("path", ""))
        length = _header(scope, b"content-length")
        if length is not None and (not length.strip().isdigit() or int(length) > cap):
            await _refuse(send, 413, f"request body larger than {cap} bytes")
            return
        await self._capped(scope, receive, send, cap)

    def _write_refusal(self, scope: Scope) -> tuple[int, str, dict[str, str]] | None:
        path = scope.get("path", "")
        for pattern, where in WRITE_ROUTES:
            if scope.get("method") != "POST" or not pattern.match(path):
                continue
            if not self.token:
                return 403, "annotations are disabled: the server runs without a token", {}
            if where == "header" and not bearer_ok(_header(scope, b"authorization"), self.token):
                return 401, "a valid operator token is required", {"WWW-Authenticate": "Bearer"}
        return None

    async def _capped(self, scope: Scope, receive: Receive, send: Send, cap: int) -> None:
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    raise BodyTooLarge(cap)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _refuse(send, 413, f"request body larger than {cap} bytes")


async def _refuse(
    send: Send, status: int, message: str, headers: dict[str, str] | None = None
) -> None:
    body = json.dumps({"error": message}).encode()
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    raw.extend((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
