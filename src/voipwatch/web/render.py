"""Rendering the pages: the templates, the synthetic-data banner, country names."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates

from voipwatch.catalog import load as load_catalog
from voipwatch.events import ARTEFACTS, THROTTLED, corroboration
from voipwatch.report.charts import money
from voipwatch.untrusted import web_link
from voipwatch.views.store_info import synthetic_note as stored_label
from voipwatch.web.db import Database
from voipwatch.web.reading import atom_sentence, counts_text, technique_text
from voipwatch.web.responses import cached_response

_templates: Jinja2Templates | None = None


def web_url(value: object) -> str:
    """A link from the data (a source, an annotation) only if it is a web address.

    Imported records are not ours to trust; a ``javascript:`` or ``data:`` link must not
    become something a reader can click (the CSP would stop it too).
    """
    return web_link(value) or "#"


def templates() -> Jinja2Templates:
    global _templates
    if _templates is None:
        from importlib.resources import files

        _templates = Jinja2Templates(directory=str(files("voipwatch.web") / "templates"))
        _templates.env.globals["technique_text"] = technique_text
        _templates.env.globals["atom_sentence"] = atom_sentence
        _templates.env.globals["counts_text"] = counts_text
        _templates.env.globals["event_title"] = event_title
        _templates.env.globals["artefact_why"] = ARTEFACTS.get
        _templates.env.globals["corroboration"] = event_corroboration
        _templates.env.globals["throttled_why"] = THROTTLED
        _templates.env.filters["asn"] = lambda a: a if str(a).startswith("AS") else f"AS{a}"
        _templates.env.filters["web_url"] = web_url
        # Estimates rest on assumed shares: three significant figures, never to the dollar.
        _templates.env.filters["money"] = lambda v, currency="": money(float(v), currency)
    return _templates


def synthetic_note(request: Request) -> str | None:
    """What the banner says: the demo flag, or the label a demo store carries."""
    db: Database = request.app.state.db

    note = db.cached(("synthetic",), stored_label)
    if note:
        return note
    if request.app.state.demo:
        return "Demo: synthetic data, generated for illustration — not real measurements."
    return None


def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    banner = synthetic_note(request)
    return templates().TemplateResponse(
        request,
        template,
        {
            "banner": banner,
            "catalog": load_catalog(),
            "country_name": country_name,
            "now": datetime.now().strftime("%Y-%m-%d %H:%M"),
            **context,
        },
        status_code=status,
    )


def cached_page(request: Request, draw: Callable[[], Response]) -> Response:
    """The page at this URL, drawn once while the store is unchanged."""
    return cached_response(request, draw)


def error_page(request: Request, status: int, message: str) -> Response:
    return render(request, "error.html", status=status, status_code=status, message=message)


def country_name(cc: str) -> str:
    try:
        import pycountry

        found = pycountry.countries.get(alpha_2=cc)
    except (ImportError, KeyError, LookupError):
        found = None
    return str(getattr(found, "common_name", None) or getattr(found, "name", cc)) if found else cc


def event_corroboration(e: Any) -> list[str]:
    """The sentences of the usage surges that corroborate an event (none: empty)."""
    return corroboration(e, country_name(e.probe_cc)) if getattr(e, "surges", None) else []


def event_title(e: Any, names: dict[str, str] | None = None) -> str:
    """An event's title in words: what, on which networks for a shutdown (with their
    operators' names when ``names`` has them), and where."""
    where = country_name(e.probe_cc)
    if e.kind == "possible_shutdown":
        known = names or {}
        nets = ", ".join(
            f"AS{a} ({known[f'AS{a}']})" if known.get(f"AS{a}") else f"AS{a}" for a in e.asns
        )
        nets = nets or "every network"
        return f"Possible shutdown of {nets} in {where}"
    catalog = load_catalog()
    name = catalog.services[e.service].name if e.service in catalog.services else e.service
    if e.kind == "throttling":
        return f"{name} throttled in {where}"
    return f"{name} ({e.plane}) in {where}"
