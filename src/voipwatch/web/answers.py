"""Cached answers on the wire: how a drawn response is kept, and how it is sent again.

A page or an API answer is drawn once per snapshot of the store and kept in the
answer cache (:mod:`voipwatch.web.db`) as a :class:`Stored`: its body, its gzip form
and an ETag. :class:`ServeCached` sits in front of the FastAPI app and sends a kept
answer straight from the cache, without routing, validation or a worker thread; only
what is not cached yet goes on to the app. Under many clients on one event loop
that per-request overhead, not the store, is what a dashboard's latency is made of.

Every request is also bound there to the snapshot it started on
(:meth:`~voipwatch.web.db.Database.bound`), so a page drawn for it reads one whole
batch however many queries it makes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from voipwatch.web.db import Database

__all__ = ["Headers", "ServeCached", "Stored", "response_key"]

#: Raw ASGI headers.
Headers = tuple[tuple[bytes, bytes], ...]

_VARY: Final = (b"vary", b"Accept-Encoding")


@dataclass(frozen=True, slots=True)
class Stored:
    """A drawn response as the cache keeps it (``headers``: the ones kept with it)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    gzipped: bytes | None
    etag: str

    @property
    def weight(self) -> int:
        """What it costs the cache (see ``AnswerCache``'s byte limit)."""
        return len(self.body) + len(self.gzipped or b"")


def etag_of(body: bytes) -> str:
    """A strong validator of a body (quoted, as the header carries it)."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def response_key(scope: Scope) -> tuple[str, str, str, str, str, bytes]:
    """The cache key of the answer to this request: everything in its URL.

    Computed from the ASGI scope so that the app (which stores answers) and
    :class:`ServeCached` (which sends them) name the same answer the same way.
    """
    host = ""
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = bytes(value).decode("latin-1")
            break
    return (
        "response",
        str(scope.get("scheme", "http")),
        host,
        str(scope.get("root_path", "")),
        str(scope.get("path", "")),
        bytes(scope.get("query_string", b"")),
    )


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


class ServeCached:
    """ASGI middleware: a cached answer is sent from the cache; the rest go to the app.

    ``headers`` are added to every answer sent from here (the security headers the
    app's own middleware adds to the others). Requests carrying an ``Origin`` go to
    the app, whose CORS middleware answers them.
    """

    def __init__(self, app: ASGIApp, *, db: Database, headers: Headers = ()) -> None:
        self.app = app
        self.db = db
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self.db.bound() as view:
            if view is not None and scope.get("method") == "GET" and not _header(scope, b"origin"):
                stored = view.cache.peek(response_key(scope))
                if isinstance(stored, Stored):
                    await self._send(scope, send, stored)
                    return
            await self.app(scope, receive, send)

    async def _send(self, scope: Scope, send: Send, stored: Stored) -> None:
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in stored.headers]
        raw.append(_VARY)
        raw.append((b"etag", stored.etag.encode()))
        raw.extend(self.headers)
        if _header(scope, b"if-none-match") == stored.etag.encode() and stored.status == 200:
            await send({"type": "http.response.start", "status": 304, "headers": raw})
            await send({"type": "http.response.body", "body": b""})
            return
        body = stored.body
        accept = _header(scope, b"accept-encoding") or b""
        if stored.gzipped is not None and b"gzip" in accept:
            body = stored.gzipped
            raw.append((b"content-encoding", b"gzip"))
        raw.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": stored.status, "headers": raw})
        await send({"type": "http.response.body", "body": body})
