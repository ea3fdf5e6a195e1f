"""The web application: the JSON API and the dashboard's pages, over one store.

:func:`create_app` is what ``voipwatch serve`` and ``voipwatch demo`` run under
uvicorn, and what the tests drive. The app is read-only unless an operator token is
given; then, and only with that token, documented cases can be annotated.

Every response carries security headers: a Content-Security-Policy that the pages
satisfy with no inline script and nothing from another origin, ``nosniff``, and a
refusal to be framed. Cross-origin requests are refused unless origins are named.
Before any of it, :class:`~voipwatch.web.guard.Guard` answers only for the host names
the server was started for and caps request bodies before they are read; then
:class:`~voipwatch.web.answers.ServeCached` sends the answers already cached and
binds every other request to one snapshot of the store.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voipwatch import __version__
from voipwatch.collector import Spool
from voipwatch.errors import InvalidValue, StoreError, UsageError, VoipwatchError
from voipwatch.helper.targets import Budget, Sources
from voipwatch.views import Unavailable
from voipwatch.web.answers import ServeCached
from voipwatch.web.api import router as api_router
from voipwatch.web.assets import vega_bundle
from voipwatch.web.bundles import router as bundles_router
from voipwatch.web.collector import COLLECTOR_BUDGET, COLLECTOR_CAPS, Collector
from voipwatch.web.collector import router as collector_router
from voipwatch.web.db import Database, Live
from voipwatch.web.docs import router as docs_router
from voipwatch.web.feeds import router as feeds_router
from voipwatch.web.guard import Caps, Guard, allowed_hosts
from voipwatch.web.headers import SECURITY_HEADERS
from voipwatch.web.pages import router as pages_router
from voipwatch.web.pages_detail import router as detail_router
from voipwatch.web.render import error_page
from voipwatch.web.responses import FastJSON

log = logging.getLogger(__name__)

#: The environment variable holding the operator token (``voipwatch serve --token``).
TOKEN_ENV: Final = "VOIPWATCH_TOKEN"


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every HTTP response (a plain ASGI middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _is_api(request: Request) -> bool:
    path = request.url.path
    return path.startswith(("/api/", "/report/")) or path in ("/openapi.json", "/report")


def _error(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    """JSON for the API; a page for a person who followed a link."""
    if _is_api(request):
        return FastJSON({"error": message, **extra}, status_code=status, headers=headers)
    return error_page(request, status, message)


#: Fields of :class:`~voipwatch.errors.InvalidValue` whose query parameter has another
#: name (OONI's); any other field is its own parameter's name.
PARAMS: dict[str, str] = {"country": "probe_cc", "app": "app"}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(UsageError)
    async def usage(request: Request, exc: UsageError) -> Response:
        if isinstance(exc, InvalidValue):  # named as the API names it, never as a flag
            return _error(request, 400, exc.worded(PARAMS))
        return _error(request, 400, str(exc))

    @app.exception_handler(Unavailable)
    async def unavailable(request: Request, exc: Unavailable) -> Response:
        return _error(request, 503, str(exc))

    @app.exception_handler(StoreError)
    async def store(request: Request, exc: StoreError) -> Response:
        log.warning("store error on %s: %s", request.url.path, exc)
        return _error(request, 503, "the store could not answer this request")

    @app.exception_handler(VoipwatchError)
    async def other(request: Request, exc: VoipwatchError) -> Response:
        return _error(request, 400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "path", "body"))
            problems.append(f"{where or 'request'}: {e.get('msg', 'invalid')}")
        return _error(request, 422, "; ".join(problems) or "invalid request", detail=problems)

    @app.exception_handler(StarletteHTTPException)
    async def http(request: Request, exc: StarletteHTTPException) -> Response:
        return _error(request, exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        # Logged without the query string: it may carry what a user typed.
        log.exception("unexpected error on %s", request.url.path)
        return _error(request, 500, "internal error")


def create_app(
    db: Path,
    *,
    token: str | None = None,
    demo: bool = False,
    cors_origins: list[str] | None = None,
    hosts: frozenset[str] | None = None,
    live: Live | None = None,
    collector_spool: Path | None = None,
    collector_budget: Budget | None = None,
) -> FastAPI:
    """The app over the store at ``db``.

    ``token`` (or ``$VOIPWATCH_TOKEN``) enables case annotations for whoever presents
    it; without one the app never writes. ``demo`` shows a banner saying the data are
    synthetic on every page. ``cors_origins`` lists the origins allowed to call the
    API from a browser (none by default). ``hosts`` are the names the server answers
    for (the ``Host`` header); the loopback names by default. ``collector_spool``
    turns on the collector (OONI's ``/report`` routes): accepted measurements are
    written there, never to the store; ``collector_budget`` is each source's budget
    (:data:`~voipwatch.web.collector.COLLECTOR_BUDGET` by default). ``live`` is the writer
    of the store in this process, when the server ingests while it serves: the app
    then reads the snapshots it publishes (see :class:`~voipwatch.web.db.Live`).
    """
    token = token if token is not None else (os.environ.get(TOKEN_ENV) or None)
    database = Database(db, writable=token is not None, live=live)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Counted: tests and the benchmark may run the same app under several servers.
        database.acquire()
        try:
            yield
        finally:
            database.release()

    app = FastAPI(
        lifespan=lifespan,
        title="voipwatch",
        version=__version__,
        description=(
            "Where VoIP and messaging apps are blocked, since when and how. "
            "/api/v1/aggregation takes OONI's parameters and answers in OONI's shape."
        ),
        # FastAPI's docs pages load their scripts from a CDN: voipwatch serves its own
        # copy of Swagger UI at /api/docs (web/docs.py); the spec is /openapi.json.
        docs_url=None,
        redoc_url=None,
        # voipwatch records nothing about its readers, and FastAPI's OpenTelemetry
        # hook would otherwise look for providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.db = database
    app.state.token = token
    app.state.demo = demo

    app.include_router(docs_router)
    app.include_router(api_router)
    app.include_router(pages_router)
    app.include_router(detail_router)
    app.include_router(feeds_router)
    app.include_router(bundles_router)
    caps: Caps = ()
    if collector_spool is not None:
        app.state.collector = Collector(
            Spool(collector_spool), Sources(collector_budget or COLLECTOR_BUDGET)
        )
        app.include_router(collector_router)
        caps = COLLECTOR_CAPS
    static = files("voipwatch.web") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/assets/vega.js", include_in_schema=False)
    def vega_js(request: Request) -> Response:
        data, etag = vega_bundle()
        headers = {"ETag": f'"{etag}"', "Cache-Control": "public, max-age=86400"}
        if request.headers.get("if-none-match") == f'"{etag}"':
            return Response(status_code=304, headers=headers)
        return Response(data, media_type="text/javascript", headers=headers)

    _install_error_handlers(app)
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=cors_origins, allow_methods=["GET"], allow_headers=[]
        )
    app.add_middleware(SecurityHeaders)
    # Cached answers leave here, before routing; they carry the security headers too.
    app.add_middleware(ServeCached, db=database, headers=SECURITY_HEADERS)
    # Outermost: nothing else runs for a foreign host or before the body is capped.
    app.add_middleware(Guard, hosts=hosts or allowed_hosts(), token=token, caps=caps)
    return app
