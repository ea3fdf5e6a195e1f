"""Pages of one event and one case, the case annotation form, and chart exports."""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, Final, TypeVar
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from voipwatch.cases.model import STATUSES
from voipwatch.cases.registry import annotate_case, get_case
from voipwatch.catalog import load as load_catalog
from voipwatch.errors import UsageError
from voipwatch.report.cite import cite_event
from voipwatch.report.render import to_png, to_svg
from voipwatch.store import Store
from voipwatch.views import attempt, plain, read_case, read_event
from voipwatch.views import measurements as Q
from voipwatch.views.brief_rows import network_names
from voipwatch.web import charts as C
from voipwatch.web.db import Database
from voipwatch.web.render import cached_page, country_name, error_page, render, synthetic_note

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

Ident = Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
#: Largest annotation form accepted (bytes).
MAX_FORM: Final = 32_768

T = TypeVar("T")


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _dossier(request: Request, read: Callable[[Store], T | None], missing: str) -> T | Response:
    """The dossier ``read`` finds, or the page saying why there is none: 404 when the
    store has no such thing, 503 when it cannot say (a missing tier, a refusal)."""
    with _db(request).store() as store:
        found = attempt(lambda: read(store))
    if found.value is None:
        why = found.why
        return error_page(request, 404 if why is None else 503, why or missing)
    return found.value


@router.get("/event/{event_id}")
def event_page(request: Request, event_id: Ident) -> Response:
    def draw() -> Response:
        db = _db(request)
        note = synthetic_note(request)
        dossier = _dossier(request, lambda s: read_event(s, event_id), f"No event {event_id}.")
        if isinstance(dossier, Response):
            return dossier
        event = dossier.event
        since = (event.start - timedelta(days=14)).date().isoformat()
        end = event.end or db.cached(("latest",), Q.latest_time) or event.start
        until = (end + timedelta(days=8)).date().isoformat()
        # A possible shutdown rests on the network's volume, not on any app's verdicts.
        chart = C.volume_chart(db, event_id=event.event_id, note=note)
        if chart is None:
            chart = C.roles_chart(
                db,
                probe_cc=event.probe_cc,
                service=event.service,
                since=since,
                until=until,
                note=note,
            )
        behind: dict[str, Any] = {
            "probe_cc": event.probe_cc,
            "service": event.service,
            "role": ",".join(event.roles) or None,
            "since": event.start_earliest.isoformat(timespec="seconds"),
            "until": (event.end_latest or end + timedelta(seconds=1)).isoformat(timespec="seconds"),
            "verdict_status": "blocked,partial",
            "probe_asn": ",".join(f"AS{a}" for a in event.asns) or None,
        }
        f = Q.parse_filter(**behind)
        with db.cursor() as cur:
            rows, more = Q.list_measurements(cur, f, offset=0, limit=50)
            nets = Q.networks(cur, event.probe_cc)
            names = network_names(cur, event.probe_cc, [f"AS{a}" for a in event.asns][:30])
        cost, context = dossier.cost.value, dossier.context.value
        cost_chart = C.cost_chart(db, event_id=event.event_id, note=note) if cost else None
        return render(
            request,
            "event.html",
            e=event,
            ev=plain(event),
            timeline=chart,
            rows=rows,
            more=more,
            list_url="/measurements?" + urlencode({k: v for k, v in behind.items() if v}),
            networks=[n for n in nets if not event.asns or int(n["probe_asn"][2:]) in event.asns],
            names=names,
            cost=plain(cost) if cost is not None else None,
            cost_note=dossier.cost.why,
            cost_chart=cost_chart,
            context=plain(context) if context is not None else None,
            context_note=dossier.context.why,
            cases=list(dossier.cases),
            citation=cite_event(
                event,
                app=_app_words(event.service, event.plane),
                country=f"{country_name(event.probe_cc)} ({event.probe_cc})",
                url=f"{str(request.base_url).rstrip('/')}/event/{event.event_id}",
                synthetic=note is not None,
            ),
        )

    return cached_page(request, draw)


def _app_words(service: str, plane: str) -> str:
    found = load_catalog().services.get(service)
    name = found.name if found is not None else "every app" if service == "*" else service
    if service == "*" or plane == "circumvention":
        # A tool is named alone: "Tor blocked", not "Tor messaging blocked".
        return name
    return f"{name} {'calls' if plane == 'media' else 'messaging'}"


@router.get("/case/{case_id}")
def case_page(request: Request, case_id: Ident, saved: int = 0) -> Response:
    dossier = _dossier(request, lambda s: read_case(s, case_id), f"No case {case_id}.")
    if isinstance(dossier, Response):
        return dossier
    case, context = dossier.case, dossier.context.value
    return render(
        request,
        "case.html",
        case=case,
        c=plain(case),
        links=list(case.links),
        events=list(dossier.events),
        context=plain(context) if context is not None else None,
        context_note=dossier.context.why,
        editable=bool(request.app.state.token),
        saved=bool(saved),
        statuses=_statuses(),
    )


def _statuses() -> tuple[str, ...]:
    return tuple(STATUSES)


@router.post("/case/{case_id}/annotate")
async def annotate_form(request: Request, case_id: Ident) -> Response:
    """The page's annotation form: the token travels in the form body, never the URL."""
    expected: str | None = request.app.state.token
    if not expected:
        return error_page(request, 403, "Annotations are disabled on this server.")
    body = await request.body()
    if len(body) > MAX_FORM:
        return error_page(request, 413, "The annotation is too long.")
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items() if v}
    given = form.get("token", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return error_page(request, 401, "The operator token is not right.")
    fields: dict[str, Any] = {}
    if form.get("note", "").strip():
        fields["note"] = form["note"].strip()[:10_000]
    if form.get("status") in _statuses():
        fields["status"] = form["status"]
    if form.get("legal_basis", "").strip():
        fields["legal_basis"] = form["legal_basis"].strip()[:2_000]
    links = [u for u in re.split(r"\s+", form.get("links", "")) if u]
    if links:
        bad = [u for u in links if not re.fullmatch(r"https?://\S{1,2000}", u)]
        if bad:
            return error_page(request, 400, f"Not a web link: {bad[0][:100]}")
        fields["links"] = links[:50]
    if not fields:
        return error_page(request, 400, "Nothing to save: write a note, a status or a link.")
    db = _db(request)
    with db.writing() as store:
        if get_case(store, case_id) is None:
            return error_page(request, 404, f"No case {case_id}.")
        annotate_case(store, case_id, **fields)
    return RedirectResponse(f"/case/{case_id}?saved=1", status_code=303)


# -- chart exports -----------------------------------------------------------------

_PARAM: Final = re.compile(r"^[A-Za-z0-9_,:.\-]{1,200}$")
_FORMATS: Final = ("png", "svg", "csv", "json")


@router.get("/chart/{kind}.{fmt}")
def chart_export(request: Request, kind: str, fmt: str) -> Response:
    """A chart as PNG or SVG (drawn on the server, with its source and date on it),
    or its data as CSV or JSON (the API answer it was drawn from)."""
    if kind not in C.KINDS or fmt not in _FORMATS:
        raise UsageError(f"no chart export {kind}.{fmt}")
    params = {}
    for k, v in request.query_params.items():
        if k not in ("probe_cc", "service", "since", "until", "days", "plane", "event_id"):
            raise UsageError(f"chart {kind}: unknown parameter {k!r}")
        if not _PARAM.fullmatch(v):
            raise UsageError(f"chart {kind}: bad value for {k}")
        params[k] = v
    if "days" in params and not (params["days"].isdigit() and 1 <= int(params["days"]) <= 366):
        raise UsageError("days: a whole number from 1 to 366")
    db = _db(request)
    geo: str | dict[str, Any] = "/static/world.geojson"
    if kind == "map" and fmt in ("png", "svg"):
        geo = _world()
    chart = C.build(db, kind, params, note=synthetic_note(request), geo=geo)
    if fmt in ("csv", "json"):
        return RedirectResponse(chart.data_url(fmt), status_code=307)
    name = f"voipwatch-{chart.ident}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "svg":
        return Response(to_svg(chart.spec), media_type="image/svg+xml", headers=headers)
    return Response(to_png(chart.spec), media_type="image/png", headers=headers)


_world_cache: dict[str, Any] = {}


def _world() -> dict[str, Any]:
    if "geo" not in _world_cache:
        import json
        from importlib.resources import files

        text = (files("voipwatch.web") / "static" / "world.geojson").read_text()
        _world_cache["geo"] = json.loads(text)
    return _world_cache["geo"]  # type: ignore[no-any-return]
