"""Where apps are blocked: a tile grid of countries × apps, and a world map."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from voipwatch.report.charts.base import (
    PLANE_WORDS,
    STATE_COLOURS,
    STATES,
    colour_scale,
    frame,
    iso,
    link,
)


def blocks_grid(
    rows: Iterable[Mapping[str, Any]],
    *,
    title: str,
    source: str,
    as_of: date | datetime | str | None = None,
    note: str | None = None,
    href: str | None = None,
) -> dict[str, Any]:
    """A tile grid: one row per country, one column per app, coloured by state.

    A row is ``{probe_cc, service, state}`` (state one of :data:`STATES`), with
    optional ``country`` (a name), ``plane`` (then the column is the app's messages,
    calls or web), ``techniques``, ``since`` and ``counts`` (the counts behind the
    state, as words; shown in the tooltip).
    """
    values: list[dict[str, Any]] = []
    for r in rows:
        state = str(r.get("state") or "no data")
        techniques = r.get("techniques") or ""
        if not isinstance(techniques, str):
            techniques = ", ".join(techniques)
        value = {
            "probe_cc": r.get("probe_cc"),
            "country": r.get("country") or r.get("probe_cc"),
            "service": r.get("service"),
            "plane": r.get("plane") or "",
            "column": " ".join(
                p for p in (str(r.get("service")), PLANE_WORDS.get(str(r.get("plane")), "")) if p
            ),
            "state": state if state in STATES else "no data",
            "techniques": techniques,
            "since": iso(r.get("since")) or "",
            "counts": str(r.get("counts") or ""),
        }
        value.update(link(href, value))
        values.append(value)
    states = [s for s in STATES if any(v["state"] == s for v in values)] or ["no data"]
    encoding: dict[str, Any] = {
        "x": {
            "field": "column",
            "type": "nominal",
            "title": None,
            "axis": {"orient": "top", "labelAngle": -35, "labelAlign": "left"},
        },
        "y": {"field": "country", "type": "nominal", "title": None},
        "color": {
            "field": "state",
            "type": "nominal",
            "title": None,
            "scale": colour_scale(states, STATE_COLOURS),
            "legend": {"orient": "bottom", "direction": "horizontal"},
        },
        "tooltip": [
            {"field": f, "type": "nominal"}
            for f in ("country", "service", "plane", "state", "counts", "techniques", "since")
        ],
    }
    if href:
        encoding["href"] = {"field": "href", "type": "nominal"}
    body: dict[str, Any] = {
        "data": {"values": values},
        "width": {"step": 64},
        "height": {"step": 22},
        "mark": {"type": "rect", "stroke": "white", "strokeWidth": 1.5, "tooltip": True},
        "encoding": encoding,
    }
    return frame(
        body,
        kind="blocks",
        title=title,
        source=source,
        as_of=as_of,
        note=note,
        description=f"{title}: state of each app in each country.",
    )


def blocks_map(
    rows: Iterable[Mapping[str, Any]],
    *,
    geo: str | Mapping[str, Any],
    title: str,
    source: str,
    as_of: date | datetime | str | None = None,
    note: str | None = None,
    key: str = "probe_cc",
    feature: str = "countries",
    href: str | None = None,
    width: int = 720,
    height: int = 380,
) -> dict[str, Any]:
    """A world choropleth of the worst state per country.

    ``geo`` is the shapes' URL (served with the page's assets) or the parsed object
    (server side, so nothing is fetched): a GeoJSON FeatureCollection whose features'
    ``id`` is the ISO 3166 alpha-2 code (``probe_cc``), or a TopoJSON topology (its
    ``feature`` object; pass ``key="iso_numeric"`` for world-atlas, whose ids are
    numeric codes). A row is ``{probe_cc, state}`` with optional ``country``,
    ``blocked_apps`` and the ``key`` field.
    """
    rank = {s: i for i, s in enumerate(STATES)}
    worst: dict[str, dict[str, Any]] = {}
    for r in rows:
        raw = r.get(key)
        if raw is None:
            continue
        ident = f"{int(raw):03d}" if key == "iso_numeric" else str(raw)
        state = str(r.get("state") or "no data")
        state = state if state in rank else "no data"
        apps = r.get("blocked_apps") or ""
        if not isinstance(apps, str):
            apps = ", ".join(apps)
        value: dict[str, Any] = {
            "id": ident,
            "probe_cc": r.get("probe_cc"),
            "country": r.get("country") or r.get("probe_cc"),
            "state": state,
            "blocked_apps": apps,
        }
        value.update(link(href, value))
        if ident not in worst or rank[state] < rank[worst[ident]["state"]]:
            worst[ident] = value
    states = [s for s in STATES if any(v["state"] == s for v in worst.values())]
    domain = [*states, "no data"] if "no data" not in states else states
    topo = (
        geo.rsplit("?", 1)[0].endswith(".topojson")
        if isinstance(geo, str)
        else geo.get("type") == "Topology"
    )
    fmt: dict[str, Any] = (
        {"type": "topojson", "feature": feature}
        if topo
        else {"type": "json", "property": "features"}
    )
    data: dict[str, Any] = {"url": geo} if isinstance(geo, str) else {"values": dict(geo)}
    data["format"] = fmt
    fields = ["probe_cc", "country", "state", "blocked_apps"] + (["href"] if href else [])
    encoding: dict[str, Any] = {
        "color": {
            "field": "state",
            "type": "nominal",
            "title": None,
            "scale": colour_scale(domain, STATE_COLOURS),
            "legend": {"orient": "bottom-left", "direction": "horizontal"},
        },
        "tooltip": [{"field": f, "type": "nominal"} for f in ("country", "state", "blocked_apps")],
    }
    if href:
        encoding["href"] = {"field": "href", "type": "nominal"}
    body: dict[str, Any] = {
        "width": width,
        "height": height,
        "projection": {"type": "equalEarth"},
        "data": data,
        "transform": [
            {
                "lookup": "id",
                "from": {"data": {"values": list(worst.values())}, "key": "id", "fields": fields},
                "default": None,
            },
            {"calculate": "datum.state ? datum.state : 'no data'", "as": "state"},
        ],
        "mark": {"type": "geoshape", "stroke": "white", "strokeWidth": 0.4},
        "encoding": encoding,
    }
    return frame(
        body,
        kind="map",
        title=title,
        source=source,
        as_of=as_of,
        note=note,
        description=f"{title}: countries coloured by the worst current state of any app.",
    )
