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
    """A drawn response as the cache keeps it (``headers``: the ones kept with it).

    ``wire`` and ``wire_gzip`` are its headers as sent, encoded once (built by
    :meth:`of`).
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    gzipped: bytes | None
    etag: str
    wire: Headers = ()
    wire_gzip: Headers = ()

    @classmethod
    def of(
        cls, status: int, headers: tuple[tuple[str, str], ...], body: bytes, gzipped: bytes | None
    ) -> Stored:
        etag = etag_of(body)
        base = (
            *((k.encode("latin-1"), v.encode("latin-1")) for k, v in headers),
            _VARY,
            (b"etag", etag.encode()),
        )
        wire = (*base, (b"content-length", str(len(body)).encode()))
        wire_gzip: Headers = ()
        if gzipped is not None:
            wire_gzip = (
                *base,
                (b"content-encoding", b"gzip"),
                (b"content-length", str(len(gzipped)).encode()),
            )
        return cls(status, headers, body, gzipped, etag, wire, wire_gzip)

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
    host = None
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value
            break
    return _key(scope, host)


def _key(scope: Scope, host: bytes | None) -> tuple[str, str, str, str, str, bytes]:
    return (
        "response",
        str(scope.get("scheme", "http")),
        bytes(host).decode("latin-1") if host is not None else "",
        str(scope.get("root_path", "")),
        str(scope.get("path", "")),
        bytes(scope.get("query_string", b"")),
    )


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
            if view is not None and scope.get("method") == "GET":
                # One pass over the headers: this runs for every request.
                host = origin = validator = accept = None
                for name, value in scope.get("headers", ()):
                    if name == b"host":
                        host = value
                    elif name == b"origin":
                        origin = value
                    elif name == b"if-none-match":
                        validator = value
                    elif name == b"accept-encoding":
                        accept = value
                if origin is None:
                    stored = view.cache.peek(_key(scope, host))
                    if isinstance(stored, Stored):
                        await self._send(send, stored, validator, accept)
                        return
            await self.app(scope, receive, send)

    async def _send(
        self, send: Send, stored: Stored, validator: bytes | None, accept: bytes | None
    ) -> None:
        if validator is not None and stored.status == 200 and validator == stored.etag.encode():
            headers = (*stored.wire[:-1], *self.headers)  # without its content-length
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        if stored.gzipped is not None and accept is not None and b"gzip" in accept:
            body, headers = stored.gzipped, stored.wire_gzip + self.headers
        else:
            body, headers = stored.body, stored.wire + self.headers
        await send({"type": "http.response.start", "status": stored.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
