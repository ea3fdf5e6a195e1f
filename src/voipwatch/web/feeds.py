"""The Atom feeds of blocking events: ``/feed.atom``, ``?cc=IR``, ``?app=whatsapp``.

The entries are built by :mod:`voipwatch.alerts`; this module only reads the events
from the store and answers. Feeds are cached like every answer and change only when
the events do.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from voipwatch.alerts import FeedQuery, alert_entries, atom_feed
from voipwatch.catalog import load as load_catalog
from voipwatch.events import load_events
from voipwatch.web.db import Database
from voipwatch.web.render import country_name

router = APIRouter(include_in_schema=False)

ATOM: Final = "application/atom+xml; charset=utf-8"


class _Feed:
    """A computed feed as the answer cache keeps it (``weight`` counts its bytes)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.weight = len(body)


@router.get("/feed.atom")
def feed(
    request: Request,
    cc: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$", description="A country.")] = None,
    app: Annotated[
        str | None, Query(pattern=r"^[a-z0-9_-]{1,32}$", description="An app of the catalogue.")
    ] = None,
) -> Response:
    """New and ended blocking events, newest first, as an Atom feed."""
    catalog = load_catalog()
    if app is not None and app not in catalog.services:
        raise HTTPException(404, f"no app {app!r} in the catalogue")
    db: Database = request.app.state.db
    query = FeedQuery(str(request.base_url), cc=cc.upper() if cc else None, app=app)

    def names(service: str) -> str:
        found = catalog.services.get(service)
        return found.name if found is not None else service

    def build() -> _Feed:
        with db.store() as store:
            events = load_events(store, cc=query.cc, service=query.app)
        scope = " in ".join(
            x for x in (names(query.app) if query.app else "", country_name(query.cc or "")) if x
        )
        title = "voipwatch: blocking events" + (f" — {scope}" if scope else "")
        entries = alert_entries(events, names=names, countries=country_name)
        return _Feed(atom_feed(entries, query, title=title))

    answer = db.cache.get_or_compute(("feed", query), build)
    return Response(answer.body, media_type=ATOM)
