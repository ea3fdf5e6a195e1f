"""The dashboard's charts: which rows feed which spec, and where their data lives.

Specs come from :mod:`voipwatch.report.charts` (the briefs draw the same ones); this
module picks each chart's rows — always through an API query, so the chart, its CSV
and JSON downloads and the API count the same rows — and names the links a bar
leads to. A :class:`Chart` is rebuilt from its URL parameters alone, which is what
lets the PNG/SVG export of any chart on any page be a plain link.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final
from urllib.parse import urlencode

from voipwatch import __version__
from voipwatch.catalog import load as load_catalog
from voipwatch.errors import UsageError, VoipwatchError
from voipwatch.events import is_artefact
from voipwatch.report import charts as vega
from voipwatch.store.aggregate import aggregate, parse_query
from voipwatch.views import find_event, plain_object, price, read_events
from voipwatch.views.measurements import (
    countries,
    country_services,
    current_blocks,
    latest_time,
)
from voipwatch.web.db import Database
from voipwatch.web.reading import counts_text
from voipwatch.web.render import country_name

KINDS: Final = ("tests", "roles", "countries", "map", "grid", "events", "cost", "volume")
#: Timeline statuses (OONI's words) back to the role statuses a bar stands for.
OONI_TO_ROLE: Final = {
    "ok": "ok",
    "anomaly": "blocked,partial,degraded",
    "confirmed": "blocked",
    "down": "down",
    "failure": "failure,unknown",
}


#: Country and app pages show the last this-many days of the store unless told otherwise.
WINDOW_DAYS: Final = 90


@dataclass(frozen=True, slots=True)
class Chart:
    """A chart of a page: its kind, its query parameters, its spec and data URLs."""

    kind: str
    params: dict[str, str]
    spec: dict[str, Any]
    api: str  # the API path its data comes from
    api_params: dict[str, str] = field(default_factory=dict)

    @property
    def ident(self) -> str:
        return self.kind + "-" + "-".join(v.replace(",", "_") for v in self.params.values() if v)

    def data_url(self, fmt: str) -> str:
        return f"{self.api}?{urlencode({**self.api_params, 'format': fmt.upper()})}"

    def export_url(self, fmt: str) -> str:
        return f"/chart/{self.kind}.{fmt}?{urlencode(self.params)}"


def links_by_expression(spec: dict[str, Any]) -> dict[str, Any]:
    """Move a timeline's per-value links into one Vega expression over each datum.

    The builders spell a link into every value; for the dashboard's long timelines
    that is most of the page's weight. The template (``/measurements?…&day={day}``)
    becomes ``'/measurements?…&day=' + datum.day``, computed in the browser.
    """
    values = spec.get("data", {}).get("values") or []
    template = spec.get("usermeta", {}).get("voipwatch", {}).get("href")
    if not values or not template:
        return spec
    parts = re.split(r"\{([a-z_]+)\}", template)
    terms = [
        _datum(p) if i % 2 else "'" + p.replace("\\", "\\\\").replace("'", "\\'") + "'"
        for i, p in enumerate(parts)
        if p
    ]
    for v in values:
        v.pop("href", None)
    spec.setdefault("transform", []).append({"calculate": " + ".join(terms), "as": "href"})
    return spec


def _datum(name: str) -> str:
    # Vega-Lite has parsed a temporal field into a date by the time the link is made.
    d = f"datum.{name}"
    if name == "day":
        return f"((isDate({d}) || isNumber({d})) ? utcFormat({d}, '%Y-%m-%d') : {d})"
    return d


def _timeline(rows: list[dict[str, Any]], *, href: str, **kwargs: Any) -> dict[str, Any]:
    spec: dict[str, Any] = vega.timeline(rows, href=href, **kwargs)
    spec.setdefault("usermeta", {}).setdefault("voipwatch", {})["href"] = href
    return links_by_expression(spec)


def window(db: Database, since: str | None, until: str | None) -> tuple[str | None, str | None]:
    """The range a page shows: the one asked for, or the store's last WINDOW_DAYS days."""
    if since or until:
        return since, until
    end = db.cached(("latest",), latest_time)
    if end is None:
        return None, None
    start = (end - timedelta(days=WINDOW_DAYS)).date()
    return start.isoformat(), (end.date() + timedelta(days=1)).isoformat()


def warm(db: Database) -> int:
    """Compute what the map and every country page need, before anyone asks.

    Run in a background thread by ``voipwatch serve``: on a large store a country
    page's first drawing costs a scan per chart; afterwards it is served from the
    cache. Returns the number of answers computed; stops quietly when the server
    closes the store under it.
    """
    done = 0
    try:
        current_rows(db, days=7, service=None, plane=None)
        since, until = window(db, None, None)
        for c in db.cached(("countries",), countries):
            cc = c["probe_cc"]
            base = _clean({"probe_cc": cc, "since": since, "until": until})
            aggregation_rows(db, {**base, "axis_x": "measurement_start_day", "axis_y": "test_name"})
            services: list[str] = db.cached(
                ("country-services", cc), functools.partial(_services_of, cc)
            )
            for s in services:
                aggregation_rows(
                    db, {**base, "service": s, "axis_x": "measurement_start_day", "axis_y": "role"}
                )
            done += 1 + len(services)
    except VoipwatchError:
        pass
    return done


class Rewarmer:
    """Runs :func:`warm` again after each change of the store, one run at a time.

    A server that ingests while it serves starts a new cache with every batch, holding
    the answers asked for most recently (``Database.follow``); this adds, in the
    background, what the map and the country pages need that no one asked for yet.
    A change during a run asks for one more run.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._running = False
        self._again = False

    def __call__(self) -> None:
        with self._lock:
            if self._running:
                self._again = True
                return
            self._running = True
        threading.Thread(target=self._run, name="warm", daemon=True).start()

    def _run(self) -> None:
        try:
            while True:
                warm(self.db)
                with self._lock:
                    if not self._again:
                        return
                    self._again = False
        finally:
            with self._lock:
                self._running = False


def _services_of(cc: str, cur: Any) -> list[str]:
    return country_services(cur, cc)


def aggregation_rows(db: Database, api: dict[str, str]) -> list[dict[str, Any]]:
    """The rows of ``/api/v1/aggregation`` for these parameters (the API's own cache)."""
    q = parse_query(**api)
    answer: dict[str, Any] = db.cached(("aggregation", q), lambda cur: aggregate(cur, q))
    rows: list[dict[str, Any]] = answer["result"]
    return rows


def source_line(db: Database, api_url: str) -> str:
    return f"voipwatch {__version__} ({db.path.name}) · {api_url}"


def _app_name(service: str | None) -> str:
    services = load_catalog().services
    return services[service].name if service in services else str(service)


def _clean(params: dict[str, str | None]) -> dict[str, str]:
    return {k: v for k, v in params.items() if v}


def _as_of(rows: list[dict[str, Any]]) -> str | None:
    """The last day a chart's data shows; a chart with no data has no date (today's
    would say the data is current when there is none)."""
    days = [str(r.get("measurement_start_day")) for r in rows if r.get("measurement_start_day")]
    return max(days) if days else None


def _daily_lanes(
    db: Database,
    name: str,
    params: dict[str, str],
    axis_y: str,
    lane: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    title: str,
    href: str,
    note: str | None,
) -> Chart:
    """Verdicts per day, one lane per value of ``axis_y``, drawn from the aggregation
    the chart's source line names (``lane`` says which lane, or plane, a row is in)."""
    api = {**params, "axis_x": "measurement_start_day", "axis_y": axis_y}
    rows = aggregation_rows(db, api)
    spec = _timeline(
        [lane(r) for r in rows],
        title=title,
        source=source_line(db, "/api/v1/aggregation?" + urlencode(api)),
        as_of=_as_of(rows),
        note=note,
        href=href,
    )
    return Chart(name, params, spec, "/api/v1/aggregation", api)


def tests_chart(
    db: Database, *, probe_cc: str, since: str | None, until: str | None, note: str | None
) -> Chart:
    """OONI Explorer's "Apps" chart: measurements per day and test, in OONI's colours."""
    href = (
        "/measurements?"
        + urlencode({"probe_cc": probe_cc})
        + "&test_name={role}&day={day}&status={status}"
    )
    return _daily_lanes(
        db,
        "tests",
        _clean({"probe_cc": probe_cc, "since": since, "until": until}),
        "test_name",
        lambda r: {**r, "role": r["test_name"]},
        title=f"Measurements of the instant-messaging tests in {probe_cc}",
        href=href,
        note=note,
    )


def roles_chart(
    db: Database,
    *,
    probe_cc: str,
    service: str,
    since: str | None,
    until: str | None,
    note: str | None,
) -> Chart:
    """One app's role verdicts per day in a country, one lane per role and plane."""
    catalog = load_catalog()
    planes = {rid: r.plane for rid, r in catalog.roles.items()}
    name = catalog.services[service].name if service in catalog.services else service
    href = (
        "/measurements?"
        + urlencode({"probe_cc": probe_cc})
        + "&role={role}&day={day}&vclass={status}"
    )
    return _daily_lanes(
        db,
        "roles",
        _clean({"probe_cc": probe_cc, "service": service, "since": since, "until": until}),
        "role",
        lambda r: {**r, "plane": planes.get(str(r["role"]), "")},
        title=f"{name} in {probe_cc}: verdicts per day and role",
        href=href,
        note=note,
    )


def countries_chart(
    db: Database, *, service: str, since: str | None, until: str | None, note: str | None
) -> Chart:
    """One app in every country over time: one lane per country."""
    href = "/measurements?" + urlencode({"service": service}) + "&probe_cc={role}&day={day}"
    href += "&vclass={status}"
    return _daily_lanes(
        db,
        "countries",
        _clean({"service": service, "since": since, "until": until}),
        "probe_cc",
        lambda r: {**r, "role": r["probe_cc"]},
        title=f"{_app_name(service)}: verdicts per day and country",
        href=href,
        note=note,
    )


def state_of(row: dict[str, Any]) -> str:
    """A current row's state, as :mod:`voipwatch.events.standing` judged it."""
    return str(row["status"])


def current_rows(
    db: Database, *, days: int, service: str | None, plane: str | None
) -> dict[str, Any]:
    svcs = tuple(s for s in (service or "").split(",") if s)
    planes = tuple(p for p in (plane or "").split(",") if p)
    answer: dict[str, Any] = db.cached(
        ("current", days, (), svcs, planes),
        lambda cur: current_blocks(cur, days=days, service=svcs, plane=planes),
    )
    return answer


def map_chart(
    db: Database,
    *,
    days: int,
    service: str | None,
    plane: str | None,
    note: str | None,
    geo: str | dict[str, Any] = "/static/world.geojson",
) -> Chart:
    """The world map: each country in the worst state of any app (and plane) chosen."""
    params = _clean({"days": str(days), "service": service, "plane": plane})
    current = current_rows(db, days=days, service=service, plane=plane)
    by_cc: dict[str, dict[str, Any]] = {}
    for r in current["rows"]:
        state = state_of(r)
        cell = by_cc.setdefault(
            r["probe_cc"], {"probe_cc": r["probe_cc"], "state": "ok", "blocked_apps": []}
        )
        rank = ("blocked", "partial", "ok")
        if rank.index(state) < rank.index(cell["state"]):
            cell["state"] = state
        if state != "ok":
            cell["blocked_apps"].append(f"{r['service']} ({r['plane']})")
    spec = vega.blocks_map(
        list(by_cc.values()),
        geo=geo,
        title=f"Where {_app_name(service)} is blocked now"
        if service and "," not in service
        else "Where calls and messaging are blocked now",
        source=source_line(db, "/api/v1/current?" + urlencode(params)),
        as_of=current["until"],
        note=note,
        href="/country/{probe_cc}",
    )
    return Chart("map", params, spec, "/api/v1/current", params)


def grid_chart(
    db: Database, *, days: int, service: str | None, plane: str | None, note: str | None
) -> Chart:
    """The same cells as a tile grid: country × app and plane."""
    params = _clean({"days": str(days), "service": service, "plane": plane})
    current = current_rows(db, days=days, service=service, plane=plane)
    rows = [
        {**r, "state": state_of(r), "since": r["first_blocked"], "counts": counts_text(r)}
        for r in current["rows"]
    ]
    spec = vega.blocks_grid(
        rows,
        title="State of each app, by country and plane",
        source=source_line(db, "/api/v1/current?" + urlencode(params)),
        as_of=current["until"],
        note=note,
        href="/country/{probe_cc}?service={service}",
    )
    return Chart("grid", params, spec, "/api/v1/current", params)


def events_chart(
    db: Database, *, probe_cc: str | None, service: str | None, note: str | None
) -> Chart | None:
    """A country's (or an app's) events from start to end; None when there are none."""
    params = _clean({"probe_cc": probe_cc, "service": service})
    with db.store() as store:
        events = read_events(store, cc=probe_cc, service=service)
    # Artefacts are listed apart, never drawn among the blocks.
    events = [e for e in events if not is_artefact(e.kind)]
    if not events:
        return None
    where = " in " + probe_cc if probe_cc else ""
    # Throttling is drawn in its own colour beside the blocks: interference, not a block.
    what = (
        "Blocking and throttling events"
        if any(e.kind == "throttling" for e in events)
        else "Blocking events"
    )
    spec = vega.events_timeline(
        [plain_object(e) for e in events],
        title=f"{what}{where}" + (f" of {service}" if service else ""),
        source=source_line(db, "/api/v1/events?" + urlencode(params)),
        note=note,
        href="/event/{event_id}",
    )
    return Chart("events", params, spec, "/api/v1/events", params)


def volume_chart(db: Database, *, event_id: str, note: str | None) -> Chart | None:
    """A possible shutdown's measurements per hour against the usual volume; None for
    other events (or one stored without its volume)."""
    with db.store() as store:
        event = find_event(store, event_id)
    rows = event.evidence.get("volume") if event is not None else None
    if event is None or event.kind != "possible_shutdown" or not isinstance(rows, list):
        return None
    params = {"event_id": event_id}
    nets = ", ".join(f"AS{a}" for a in event.asns)
    spec = vega.volume_timeline(
        rows,
        start=event.start,
        end=event.end,
        title=f"Measurements from {nets} in {country_name(event.probe_cc)}, against the usual",
        source=source_line(db, f"/api/v1/events/{event_id}"),
        as_of=rows[-1]["hour"] if rows else None,
        note=note,
    )
    return Chart("volume", params, spec, f"/api/v1/events/{event_id}")


def cost_chart(db: Database, *, event_id: str, note: str | None) -> Chart | None:
    """An event's estimated cost: its range, central value and the shutdown bound."""
    with db.store() as store:
        event = find_event(store, event_id)
    if event is None:
        return None
    cost = price(event)
    if cost.value is None:
        raise UsageError(cost.why or f"event {event_id} is not priced")
    estimate = plain_object(cost.value)
    params = {"event_id": event_id}
    spec = vega.cost_range(
        [{**estimate, "label": f"{event.service} in {event.probe_cc}"}],
        title="Estimated cost of this block",
        source=source_line(db, "/api/v1/cost?" + urlencode(params)),
        note=note,
    )
    return Chart("cost", params, spec, "/api/v1/cost", params)


def build(
    db: Database,
    kind: str,
    params: dict[str, str],
    *,
    note: str | None,
    geo: str | dict[str, Any] = "/static/world.geojson",
) -> Chart:
    """Rebuild a chart from its kind and URL parameters (the export links)."""
    p = {k: v for k, v in params.items() if v}
    try:
        if kind == "tests":
            return tests_chart(
                db, probe_cc=p["probe_cc"], since=p.get("since"), until=p.get("until"), note=note
            )
        if kind == "roles":
            return roles_chart(
                db,
                probe_cc=p["probe_cc"],
                service=p["service"],
                since=p.get("since"),
                until=p.get("until"),
                note=note,
            )
        if kind == "countries":
            return countries_chart(
                db, service=p["service"], since=p.get("since"), until=p.get("until"), note=note
            )
        if kind in ("events", "cost", "volume"):
            if kind == "events":
                found = events_chart(
                    db, probe_cc=p.get("probe_cc"), service=p.get("service"), note=note
                )
            elif kind == "cost":
                found = cost_chart(db, event_id=p["event_id"], note=note)
            else:
                found = volume_chart(db, event_id=p["event_id"], note=note)
            if found is None:
                raise UsageError(f"chart {kind}: nothing to draw for these parameters")
            return found
        days = int(p.get("days", "7"))
        if kind == "map":
            return map_chart(
                db, days=days, service=p.get("service"), plane=p.get("plane"), note=note, geo=geo
            )
        if kind == "grid":
            return grid_chart(
                db, days=days, service=p.get("service"), plane=p.get("plane"), note=note
            )
    except KeyError as exc:
        raise UsageError(f"chart {kind}: parameter {exc.args[0]} is required") from None
    except ValueError as exc:
        raise UsageError(f"chart {kind}: {exc}") from None
    raise UsageError(f"no chart {kind!r}; choose from {', '.join(KINDS)}")
