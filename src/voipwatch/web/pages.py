"""The dashboard's pages: server-rendered HTML, every view a shareable URL.

Pages read the same queries as the API and embed each chart's Vega-Lite spec as a
JSON data block, which ``static/app.js`` hands to the bundled Vega-Embed; there is
no inline script, so the Content-Security-Policy can forbid it. Filters are URL
parameters, validated like the API's; a bad one gives a 400 page that says which.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from voipwatch.catalog import load as load_catalog
from voipwatch.cost import CostEstimate
from voipwatch.errors import UsageError
from voipwatch.events import is_artefact
from voipwatch.ooni.explorer import MEASUREMENT_URL as OONI_MEASUREMENT_URL
from voipwatch.views import Tier, attempt, plain, read_country, read_events
from voipwatch.views import measurements as Q
from voipwatch.views.brief_rows import network_names
from voipwatch.web import charts as C
from voipwatch.web import params as P
from voipwatch.web.db import Database
from voipwatch.web.reading import reading
from voipwatch.web.render import cached_page, error_page, render, synthetic_note

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

#: Events of each kind a country page prices in its tables (the event pages price each).
LISTED = 20


def _note(request: Request) -> str | None:
    return synthetic_note(request)


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _service_ok(service: str | None) -> str | None:
    if service and not re.fullmatch(r"[a-z0-9_]{1,64}(,[a-z0-9_]{1,64}){0,49}", service):
        raise UsageError(f"service: {service!r} is not a list of app ids")
    return service or None


# -- the map -----------------------------------------------------------------------


@router.get("/")
def home(
    request: Request,
    days: P.Days = 7,
    service: P.Service = None,
    plane: P.Plane = None,
) -> Response:
    def draw() -> Response:
        db = _db(request)
        note = _note(request)
        world = C.map_chart(db, days=days, service=service, plane=plane, note=note)
        grid = C.grid_chart(db, days=days, service=service, plane=plane, note=note)
        current = C.current_rows(db, days=days, service=service, plane=plane)
        blocked = [r for r in current["rows"] if r["status"] != "ok"]
        anomalies = [r for r in current["rows"] if r["status"] == "ok" and r["blocked_count"]]
        with db.store() as store:
            found = attempt(lambda: read_events(store))
        events, events_note = found.value, found.why
        ongoing = [e for e in (events or []) if e.end is None and e.kind == "block"]
        throttled = [e for e in (events or []) if e.end is None and e.kind == "throttling"]
        artefacts = [e for e in (events or []) if e.end is None and is_artefact(e.kind)]
        services = db.cached(("services",), Q.services)
        return render(
            request,
            "home.html",
            world=world,
            grid=grid,
            current=current,
            blocked=blocked,
            anomalies=anomalies,
            ongoing=ongoing,
            throttled=throttled,
            artefacts=artefacts,
            events_note=events_note,
            services=services,
            filters={"days": days, "service": service or "", "plane": plane or ""},
            countries=db.cached(("countries",), Q.countries),
        )

    return cached_page(request, draw)


# -- a country ---------------------------------------------------------------------


CCPath = Annotated[str, Path(pattern=r"^[A-Za-z]{2}$")]


@router.get("/country/{cc}")
def country(
    request: Request,
    cc: CCPath,
    since: P.Since = None,
    until: P.Until = None,
    service: P.Service = None,
) -> Response:
    cc = cc.upper()

    def draw() -> Response:
        db = _db(request)
        note = _note(request)
        start, end = C.window(db, since, until)
        tests = C.tests_chart(db, probe_cc=cc, since=start, until=end, note=note)
        measured = db.cached(("country-services", cc), lambda cur: Q.country_services(cur, cc))
        wanted = [s for s in measured if not service or s in service.split(",")]
        role_charts = [
            C.roles_chart(db, probe_cc=cc, service=s, since=start, until=end, note=note)
            for s in wanted
        ]
        nets = db.cached(("networks", cc), lambda cur: Q.networks(cur, cc))
        names = db.cached(("network-names", cc), lambda cur: _network_names(cur, cc, nets))
        with db.store() as store:
            dossier = read_country(store, cc, since=_day(start), until=_day(end))
        blocks, throttled = list(dossier.blocks), list(dossier.throttled)
        context = dossier.context.value
        events_chart = (
            C.events_chart(db, probe_cc=cc, service=None, note=note)
            if blocks or throttled
            else None
        )
        current = C.current_rows(db, days=7, service=None, plane=None)
        return render(
            request,
            "country.html",
            cc=cc,
            tests=tests,
            role_charts=role_charts,
            networks=nets,
            names=names,
            events=blocks,
            throttled=throttled,
            artefacts=list(dossier.artefacts),
            events_note=dossier.events_why,
            events_chart=events_chart,
            cases=list(dossier.cases),
            shown_cases=_shown_cases(list(dossier.cases)),
            cases_note=dossier.cases_why,
            context=plain(context) if context is not None else None,
            context_note=dossier.context.why,
            costs=[(e, _pair(dossier.price_of(e))) for e in blocks[:LISTED]],
            throttle_costs=[(e, _pair(dossier.price_of(e))) for e in throttled[:LISTED]],
            current=[r for r in current["rows"] if r["probe_cc"] == cc],
            tools=[t for t in dossier.tools if not service or t.service in service.split(",")],
            since=start,
            until=end,
            service=service or "",
        )

    return cached_page(request, draw)


def _day(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _shown_cases(cases: list[Any], latest: int = 15) -> list[Any]:
    """The cases matched to events, then the latest others, at most ``latest`` of those."""
    matched = [c for c in cases if getattr(c, "events", None)]
    others = [c for c in cases if not getattr(c, "events", None)]
    others.sort(key=lambda c: str(getattr(c, "start", "")), reverse=True)
    return matched + others[:latest]


def _pair(tier: Tier[CostEstimate]) -> tuple[CostEstimate | None, str | None]:
    """A price as the templates unpack it: the estimate, or why there is none."""
    return tier.value, tier.why


def _network_names(cur: Any, cc: str, nets: list[dict[str, Any]]) -> dict[str, str]:
    return network_names(cur, cc, [n["probe_asn"] for n in nets[:30]])


# -- an app ------------------------------------------------------------------------


ServicePath = Annotated[str, Path(pattern=r"^[a-z0-9_]{1,64}$")]


@router.get("/app/{service}")
def app_page(
    request: Request,
    service: ServicePath,
    days: P.Days = 7,
    since: P.Since = None,
    until: P.Until = None,
) -> Response:
    def draw() -> Response:
        db = _db(request)
        note = _note(request)
        world = C.map_chart(db, days=days, service=service, plane=None, note=note)
        start, end = C.window(db, since, until)
        past = C.countries_chart(db, service=service, since=start, until=end, note=note)
        current = C.current_rows(db, days=days, service=service, plane=None)
        with db.store() as store:
            found = attempt(lambda: read_events(store, service=service))
        events, events_note = found.value, found.why
        catalog = load_catalog()
        name = catalog.services[service].name if service in catalog.services else service
        return render(
            request,
            "app.html",
            service=service,
            name=name,
            world=world,
            past=past,
            current=current,
            events=[e for e in events or [] if e.kind == "block"],
            throttled=[e for e in events or [] if e.kind == "throttling"],
            artefacts=[e for e in events or [] if is_artefact(e.kind)],
            events_note=events_note,
            days=days,
        )

    return cached_page(request, draw)


# -- lists of measurements (where a chart's bar leads) ------------------------------


@router.get("/measurements")
def measurement_list(
    request: Request,
    probe_cc: P.ProbeCC = None,
    probe_asn: P.ProbeASN = None,
    test_name: P.TestName = None,
    since: P.Since = None,
    until: P.Until = None,
    day: Annotated[str | None, Query(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")] = None,
    status: P.Status = None,
    vclass: Annotated[str | None, Query(pattern=r"^(ok|anomaly|confirmed|down|failure)$")] = None,
    verdict_status: P.VerdictStatus = None,
    service: P.Service = None,
    role: P.Role = None,
    plane: P.Plane = None,
    technique: P.Technique = None,
    offset: P.Offset = 0,
    limit: P.Limit = 100,
) -> Response:
    if day:
        since, until = _one_day(day)
    if vclass:
        verdict_status = C.OONI_TO_ROLE[vclass]
    api: dict[str, Any] = {
        k: v
        for k, v in {
            "probe_cc": probe_cc,
            "probe_asn": probe_asn,
            "test_name": test_name,
            "since": since,
            "until": until,
            "status": status,
            "verdict_status": verdict_status,
            "service": service,
            "role": role,
            "plane": plane,
            "technique": technique,
        }.items()
        if v
    }
    f = Q.parse_filter(**api)
    db = _db(request)
    with db.cursor() as cur:
        rows, more = Q.list_measurements(cur, f, offset=offset, limit=limit)
    here = dict(request.query_params)
    next_url = "/measurements?" + urlencode({**here, "offset": offset + limit}) if more else None
    prev_url = None
    if offset:
        prev_url = "/measurements?" + urlencode({**here, "offset": max(0, offset - limit)})
    return render(
        request,
        "measurements.html",
        rows=rows,
        filters=api,
        next_url=next_url,
        prev_url=prev_url,
        api_url="/api/v1/measurements?" + urlencode({**api, "offset": offset, "limit": limit}),
        offset=offset,
    )


def _one_day(day: str) -> tuple[str, str]:
    """``day`` as a half-open range; an impossible date (2026-02-30, 0000-00-00) or
    the last day of the calendar (no day follows it) is the caller's error."""
    try:
        d = date.fromisoformat(day[:10])
        return d.isoformat(), (d + timedelta(days=1)).isoformat()
    except (ValueError, OverflowError):
        raise UsageError(f"day: not a day of the calendar: {day[:10]!r}") from None


# -- one measurement ---------------------------------------------------------------


@router.get("/measurement/{measurement_uid}")
def measurement_page(
    request: Request,
    measurement_uid: Annotated[str, Path(pattern=Q.UID_PATTERN)],
) -> Response:
    db = _db(request)
    found = db.cached(
        ("measurement", measurement_uid), lambda c: Q.get_measurement(c, measurement_uid)
    )
    if found is None:
        return error_page(request, 404, f"No measurement {measurement_uid} in this store.")
    import orjson

    raw = orjson.dumps(found.raw_measurement, option=orjson.OPT_INDENT_2).decode()
    doc = found.raw_measurement
    # OONI Explorer has OONI's measurements only: not a synthetic world's, not our probe's.
    from_ooni = (
        synthetic_note(request) is None
        and isinstance(doc, dict)
        and str(doc.get("software_name", "")).lower() != "voipwatch"
    )
    return render(
        request,
        "measurement.html",
        m=found.measurement,
        verdicts=found.verdicts,
        observations=found.observations,
        reading=reading(found),
        raw=raw,
        explorer=OONI_MEASUREMENT_URL.format(uid=measurement_uid) if from_ooni else None,
        back=request.headers.get("referer") if _same_origin(request) else None,
    )


def _same_origin(request: Request) -> bool:
    ref = request.headers.get("referer") or ""
    return ref.startswith(str(request.base_url))
