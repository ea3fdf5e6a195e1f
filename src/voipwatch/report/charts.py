"""Vega-Lite chart specs: rows in, a spec dict out.

The same spec is drawn by the browser on the dashboard (Vega-Lite from bundled
assets) and by :mod:`voipwatch.report.render` on the server for the briefs, so a
chart looks the same wherever it is taken from. Every builder is pure: it reads the
rows it is given and returns a new JSON-ready dict; nothing here touches the store.

Every chart carries where its data comes from and when (``source`` and ``as_of``) in
its subtitle, so a PNG or SVG cut out of a page or a brief still says it, and in
``usermeta.voipwatch`` for code that reads specs. A ``note`` line is for what a reader
must not miss, such as "synthetic data".

Colours follow OONI Explorer's MAT (``components/aggregation/mat/colorMap.js``):
ok green, anomaly yellow, confirmed red, failure grey; ``down`` (the service itself is
down, not blocked) is blue, as OONI colours its "down" outcomes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final

SCHEMA: Final = "https://vega.github.io/schema/vega-lite/v5.json"

#: The statuses a timeline shows, in stacking order (bottom first), and their colours.
STATUSES: Final = ("confirmed", "anomaly", "down", "failure", "ok")
COLOURS: Final = {
    "ok": "#51cf66",
    "anomaly": "#fcc419",
    "confirmed": "#e03131",
    "failure": "#adb5bd",
    "down": "#74c0fc",
}
#: How a role status reads in OONI's vocabulary (DESIGN.md, "Vocabulary"): a blocked
#: role is ``confirmed`` only when a control or fingerprint isolated the technique.
ROLE_TO_OONI: Final = {
    "ok": "ok",
    "blocked": "anomaly",
    "partial": "anomaly",
    "degraded": "anomaly",
    "down": "down",
    "failure": "failure",
    "unknown": "failure",
}
#: The state of an app in a country, for the map and the tile grid.
STATES: Final = ("blocked", "partial", "ok", "no data")
STATE_COLOURS: Final = {
    "blocked": COLOURS["confirmed"],
    "partial": COLOURS["anomaly"],
    "ok": COLOURS["ok"],
    "no data": "#e9ecef",
}
#: How a plane reads for people: signalling carries messages, media carries calls.
PLANE_WORDS: Final = {"signalling": "messages", "media": "calls", "web": "web"}
EVENT_KINDS: Final = ("block", "possible_shutdown", "target_change")
EVENT_COLOURS: Final = {
    "block": COLOURS["confirmed"],
    "possible_shutdown": "#6741d9",
    "target_change": "#868e96",
}

_FONT: Final = "DejaVu Sans, Liberation Sans, Arial, sans-serif"


def _when(value: date | datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _frame(
    body: dict[str, Any],
    *,
    kind: str,
    title: str,
    source: str,
    as_of: date | datetime | str | None,
    note: str | None,
    description: str,
) -> dict[str, Any]:
    """Wrap a chart body with its title, source line, date and shared styling."""
    lines = [f"Source: {source}" + (f" · data as of {_when(as_of)}" if as_of else "")]
    if note:
        lines.append(note)
    spec: dict[str, Any] = {
        "$schema": SCHEMA,
        "description": description,
        "title": {
            "text": title,
            "subtitle": lines,
            "anchor": "start",
            "fontSize": 14,
            "subtitleFontSize": 11,
            "subtitleColor": "#495057",
        },
        "usermeta": {
            "voipwatch": {"kind": kind, "source": source, "as_of": _when(as_of), "note": note}
        },
        "config": {
            "font": _FONT,
            "view": {"stroke": None},
            "axis": {"labelFontSize": 11, "titleFontSize": 11, "grid": False},
            "legend": {"labelFontSize": 11, "titleFontSize": 11},
            "header": {"labelFontSize": 11},
        },
    }
    spec.update(body)
    return spec


def _href(template: str | None, row: Mapping[str, Any]) -> dict[str, str]:
    """A link for a mark, from a ``str.format`` template over the row's fields."""
    if not template:
        return {}
    fields = {k: ("" if v is None else v) for k, v in row.items()}
    return {"href": template.format_map(_Missing(fields))}


class _Missing(dict[str, Any]):
    """format_map mapping that leaves unknown fields empty instead of raising."""

    def __missing__(self, key: str) -> str:
        return ""


def _colour_scale(domain: Sequence[str], colours: Mapping[str, str]) -> dict[str, Any]:
    return {"domain": list(domain), "range": [colours[d] for d in domain]}


# --- per-app timeline by role and plane ----------------------------------------------


def ooni_counts(row: Mapping[str, Any]) -> dict[str, int]:
    """A row's counts in OONI's statuses (plus ``down``), whichever kind of row it is.

    Measurement-level rows (``anomaly_count``, ``confirmed_count``, ...) pass through;
    role-level rows from :func:`voipwatch.store.aggregate` (``blocked_count``,
    ``partial_count``, ...) are folded by :data:`ROLE_TO_OONI`, and a
    ``confirmed_count`` beside ``blocked_count`` moves that many blocked verdicts from
    anomaly to confirmed.
    """
    counts = dict.fromkeys(STATUSES, 0)
    if "blocked_count" in row or "verdict_count" in row:
        for status, ooni in ROLE_TO_OONI.items():
            counts[ooni] += int(row.get(f"{status}_count") or 0)
        confirmed = min(int(row.get("confirmed_count") or 0), int(row.get("blocked_count") or 0))
        counts["anomaly"] -= confirmed
        counts["confirmed"] += confirmed
    else:
        for status in ("ok", "anomaly", "confirmed", "failure"):
            counts[status] = int(row.get(f"{status}_count") or 0)
    return counts


def timeline_values(
    rows: Iterable[Mapping[str, Any]], *, href: str | None = None
) -> list[dict[str, Any]]:
    """Long-form values for :func:`timeline`: one value per row × non-zero status.

    A row has a day (``measurement_start_day`` or ``day``), a ``role`` (or
    ``test_name``), optionally a ``plane``, and counts (see :func:`ooni_counts`).
    """
    values: list[dict[str, Any]] = []
    for row in rows:
        day = str(row.get("measurement_start_day") or row.get("day") or "")
        role = str(row.get("role") or row.get("test_name") or "all")
        plane = str(row.get("plane") or "")
        lane = f"{role} ({plane})" if plane else role
        for order, (status, n) in enumerate((s, ooni_counts(row)[s]) for s in STATUSES):
            if n <= 0:
                continue
            value = {
                "day": day,
                "lane": lane,
                "role": role,
                "plane": plane,
                "status": status,
                "count": n,
                "order": order,
            }
            value.update(_href(href, value))
            values.append(value)
    return values


def timeline(
    rows: Iterable[Mapping[str, Any]],
    *,
    title: str,
    source: str,
    as_of: date | datetime | str | None = None,
    note: str | None = None,
    href: str | None = None,
    width: int = 560,
    lane_height: int = 46,
) -> dict[str, Any]:
    """Stacked daily counts per role (and plane), one lane per role, in OONI's colours.

    ``href`` is a ``str.format`` template over ``day, role, plane, status`` that makes
    each bar a link (e.g. to the measurements behind it).
    """
    values = timeline_values(rows, href=href)
    lanes = sorted({v["lane"] for v in values})
    statuses = [s for s in STATUSES if any(v["status"] == s for v in values)] or ["ok"]
    encoding: dict[str, Any] = {
        "x": {
            "field": "day",
            "type": "temporal",
            "timeUnit": "utcyearmonthdate",
            "title": None,
            "axis": {"format": "%d %b %Y", "labelAngle": 0, "tickCount": 6},
        },
        "y": {
            "field": "count",
            "type": "quantitative",
            "stack": "zero",
            "title": "verdicts",
            "axis": {"tickCount": 3},
        },
        "color": {
            "field": "status",
            "type": "nominal",
            "title": None,
            "scale": _colour_scale(statuses, COLOURS),
            "legend": {"orient": "top", "direction": "horizontal"},
        },
        "order": {"field": "order", "type": "quantitative"},
        "tooltip": [
            {"field": "day", "type": "temporal", "timeUnit": "utcyearmonthdate", "title": "day"},
            {"field": "role", "type": "nominal"},
            {"field": "plane", "type": "nominal"},
            {"field": "status", "type": "nominal"},
            {"field": "count", "type": "quantitative"},
        ],
    }
    if href:
        encoding["href"] = {"field": "href", "type": "nominal"}
    body: dict[str, Any] = {
        "data": {"values": values},
        "facet": {
            "row": {
                "field": "lane",
                "type": "nominal",
                "title": None,
                "sort": lanes,
                "header": {
                    "labelAngle": 0,
                    "labelAlign": "left",
                    "labelAnchor": "start",
                    "labelOrient": "top",
                    "labelFontWeight": "bold",
                },
            }
        },
        "spec": {
            "width": width,
            "height": lane_height,
            "mark": {"type": "bar", "tooltip": True},
            "encoding": encoding,
        },
        "resolve": {"scale": {"y": "independent"}},
        "spacing": 8,
    }
    return _frame(
        body,
        kind="timeline",
        title=title,
        source=source,
        as_of=as_of,
        note=note,
        description=f"{title}: daily verdicts per role in {len(lanes)} lanes, by status.",
    )


# --- events on a timeline --------------------------------------------------------------


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def event_values(
    events: Iterable[Mapping[str, Any]],
    *,
    as_of: date | datetime | str | None = None,
    href: str | None = None,
) -> list[dict[str, Any]]:
    """One value per event (its ``Event`` fields as a mapping), ready for plotting.

    An ongoing event (``end`` None) runs to ``as_of``, or to its latest onset when no
    date is given, and says so in ``status``.
    """
    values: list[dict[str, Any]] = []
    for e in events:
        asns = list(e.get("asns") or [])
        scope = "national" if e.get("national") else ", ".join(f"AS{a}" for a in asns[:3])
        if len(asns) > 3 and not e.get("national"):
            scope += f" +{len(asns) - 3}"
        start = _iso(e.get("start"))
        end = _iso(e.get("end"))
        ongoing = end is None
        value: dict[str, Any] = {
            "event_id": e.get("event_id"),
            "lane": f"{e.get('service')} · {e.get('plane')}",
            "service": e.get("service"),
            "plane": e.get("plane"),
            "kind": e.get("kind"),
            "scope": scope or "—",
            "techniques": ", ".join(e.get("techniques") or []) or "not isolated",
            "start": start,
            "end": end if not ongoing else (_iso(as_of) or _iso(e.get("start_latest")) or start),
            "start_earliest": _iso(e.get("start_earliest")) or start,
            "start_latest": _iso(e.get("start_latest")) or start,
            "status": "ongoing" if ongoing else "ended",
            "confidence": round(float(e.get("confidence") or 0.0), 2),
            "measurements": int(e.get("measurements") or 0),
        }
        value["label"] = value["techniques"] + (" · ongoing" if ongoing else "")
        value.update(_href(href, value))
        values.append(value)
    return values


def events_timeline(
    events: Iterable[Mapping[str, Any]],
    *,
    title: str,
    source: str,
    as_of: date | datetime | str | None = None,
    note: str | None = None,
    href: str | None = None,
    width: int = 560,
) -> dict[str, Any]:
    """Events as bars from start to end on one lane per service and plane.

    The onset bracket (the last measurement before the change and the first after it)
    is drawn as a thin black rule at the bar's start: a claim of "blocked since" is
    only as precise as that bracket. ``href`` is a template over the event's fields
    (``{event_id}``) that makes each bar a link.
    """
    values = event_values(events, as_of=as_of, href=href)
    kinds = [k for k in EVENT_KINDS if any(v["kind"] == k for v in values)] or ["block"]
    lanes = sorted({v["lane"] for v in values})
    tooltip = [
        {"field": f, "type": "nominal"}
        for f in ("service", "plane", "kind", "scope", "techniques", "start", "end", "status")
    ] + [{"field": "confidence", "type": "quantitative"}]
    bar_enc: dict[str, Any] = {
        "x": {
            "field": "start",
            "type": "temporal",
            "title": None,
            "axis": {"format": "%d %b %Y", "labelAngle": 0},
        },
        "x2": {"field": "end"},
        "y": {"field": "lane", "type": "nominal", "title": None, "sort": lanes},
        "color": {
            "field": "kind",
            "type": "nominal",
            "title": None,
            "scale": _colour_scale(kinds, EVENT_COLOURS),
            "legend": {"orient": "top", "direction": "horizontal"},
        },
        "opacity": {
            "field": "status",
            "type": "nominal",
            "scale": {"domain": ["ended", "ongoing"], "range": [0.9, 0.6]},
            "legend": None,
        },
        "tooltip": tooltip,
    }
    if href:
        bar_enc["href"] = {"field": "href", "type": "nominal"}
    body: dict[str, Any] = {
        "data": {"values": values},
        "width": width,
        "height": {"step": 26},
        "layer": [
            {"mark": {"type": "bar", "cornerRadius": 2, "minBandSize": 3}, "encoding": bar_enc},
            {
                "mark": {"type": "rule", "color": "#212529", "strokeWidth": 2},
                "encoding": {
                    "x": {"field": "start_earliest", "type": "temporal"},
                    "x2": {"field": "start_latest"},
                    "y": {"field": "lane", "type": "nominal", "sort": lanes},
                },
            },
            {
                "mark": {"type": "text", "align": "right", "dx": -4, "fontSize": 10},
                "encoding": {
                    "x": {"field": "end", "type": "temporal"},
                    "y": {"field": "lane", "type": "nominal", "sort": lanes},
                    "text": {"field": "label", "type": "nominal"},
                },
            },
        ],
    }
    return _frame(
        body,
        kind="events",
        title=title,
        source=source,
        as_of=as_of,
        note=note,
        description=f"{title}: {len(values)} events from start to end.",
    )


# --- blocks by country and app ---------------------------------------------------------


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
    calls or web), ``techniques`` and ``since`` (shown in the tooltip).
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
            "since": _iso(r.get("since")) or "",
        }
        value.update(_href(href, value))
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
            "scale": _colour_scale(states, STATE_COLOURS),
            "legend": {"orient": "bottom", "direction": "horizontal"},
        },
        "tooltip": [
            {"field": f, "type": "nominal"}
            for f in ("country", "service", "plane", "state", "techniques", "since")
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
    return _frame(
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
    topology: str | Mapping[str, Any],
    title: str,
    source: str,
    as_of: date | datetime | str | None = None,
    note: str | None = None,
    feature: str = "countries",
    href: str | None = None,
    width: int = 720,
    height: int = 380,
) -> dict[str, Any]:
    """A world choropleth of the worst state per country, for a world-atlas TopoJSON.

    ``topology`` is the TopoJSON's URL (served with the page's assets) or the parsed
    object (server side, so nothing is fetched). World-atlas features carry the ISO
    3166 numeric code as ``id``; each row needs ``iso_numeric`` beside ``probe_cc``,
    ``state``, and optionally ``country``, ``blocked_apps``.
    """
    rank = {s: i for i, s in enumerate(STATES)}
    worst: dict[str, dict[str, Any]] = {}
    for r in rows:
        num = r.get("iso_numeric")
        if num is None:
            continue
        key = f"{int(num):03d}"
        state = str(r.get("state") or "no data")
        state = state if state in rank else "no data"
        apps = r.get("blocked_apps") or ""
        if not isinstance(apps, str):
            apps = ", ".join(apps)
        value: dict[str, Any] = {
            "id": key,
            "probe_cc": r.get("probe_cc"),
            "country": r.get("country") or r.get("probe_cc"),
            "state": state,
            "blocked_apps": apps,
        }
        value.update(_href(href, value))
        if key not in worst or rank[state] < rank[worst[key]["state"]]:
            worst[key] = value
    states = [s for s in STATES if any(v["state"] == s for v in worst.values())]
    domain = [*states, "no data"] if "no data" not in states else states
    data: dict[str, Any] = (
        {"url": topology, "format": {"type": "topojson", "feature": feature}}
        if isinstance(topology, str)
        else {"values": topology, "format": {"type": "topojson", "feature": feature}}
    )
    fields = ["probe_cc", "country", "state", "blocked_apps"] + (["href"] if href else [])
    encoding: dict[str, Any] = {
        "color": {
            "field": "state",
            "type": "nominal",
            "title": None,
            "scale": _colour_scale(domain, STATE_COLOURS),
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
    return _frame(
        body,
        kind="map",
        title=title,
        source=source,
        as_of=as_of,
        note=note,
        description=f"{title}: countries coloured by the worst current state of any app.",
    )


# --- cost range ------------------------------------------------------------------------


def money(value: float, currency: str = "USD") -> str:
    """``1234567`` → ``USD 1.23 million``: how a brief and a chart label say an amount."""
    for size, word in ((1e9, "billion"), (1e6, "million"), (1e3, "thousand")):
        if abs(value) >= size:
            return f"{currency} {value / size:,.3g} {word}"
    return f"{currency} {value:,.0f}"


def cost_values(estimates: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One value per estimate: ``label``, ``low``, ``central``, ``high``, ``currency``,
    and ``upper_bound`` (the full-shutdown figure) when the estimate has one."""
    values = []
    for e in estimates:
        central, currency = float(e["central"]), str(e.get("currency") or "USD")
        value: dict[str, Any] = {
            "label": str(e.get("label") or e.get("app") or "estimate"),
            "low": float(e["low"]),
            "central": central,
            "high": float(e["high"]),
            "currency": currency,
            "central_label": money(central, currency),
        }
        bound = e.get("upper_bound_full_shutdown", e.get("upper_bound"))
        if bound is not None:
            value["upper_bound"] = float(bound)
        values.append(value)
    return values


def cost_range(
    estimates: Iterable[Mapping[str, Any]],
    *,
    title: str,
    source: str,
    as_of: date | datetime | str | None = None,
    note: str | None = None,
    width: int = 480,
) -> dict[str, Any]:
    """Each estimate as its low–high range with the central value marked.

    The full-shutdown upper bound, when given, is a separate grey tick: what a whole
    Internet shutdown of the same length would cost, never part of the estimate.
    """
    values = cost_values(estimates)
    currency = values[0]["currency"] if values else "USD"
    x = {
        "type": "quantitative",
        "title": f"{currency} (low – central – high)",
        "axis": {"labelExpr": "replace(format(datum.value, '~s'), 'G', 'B')"},
    }
    tooltip = [{"field": "label", "type": "nominal"}] + [
        {"field": f, "type": "quantitative", "format": ",.0f"} for f in ("low", "central", "high")
    ]
    layers: list[dict[str, Any]] = [
        {
            "mark": {"type": "rule", "strokeWidth": 6, "color": "#ffa8a8"},
            "encoding": {"x": {"field": "low", **x}, "x2": {"field": "high"}, "tooltip": tooltip},
        },
        {
            "mark": {"type": "point", "filled": True, "size": 90, "color": COLOURS["confirmed"]},
            "encoding": {"x": {"field": "central", **x}, "tooltip": tooltip},
        },
        {
            "mark": {"type": "text", "dy": -12, "fontSize": 10, "color": "#212529"},
            "encoding": {
                "x": {"field": "central", **x},
                "text": {"field": "central_label", "type": "nominal"},
            },
        },
    ]
    if any("upper_bound" in v for v in values):
        layers.append(
            {
                "transform": [{"filter": "isValid(datum.upper_bound)"}],
                "mark": {"type": "tick", "color": "#868e96", "thickness": 2},
                "encoding": {
                    "x": {"field": "upper_bound", **x},
                    "tooltip": [
                        {
                            "field": "upper_bound",
                            "type": "quantitative",
                            "format": ",.0f",
                            "title": "full-shutdown upper bound",
                        }
                    ],
                },
            }
        )
        layers.append(
            {
                "transform": [{"filter": "isValid(datum.upper_bound)"}],
                "mark": {"type": "text", "dy": -14, "fontSize": 9, "color": "#495057"},
                "encoding": {
                    "x": {"field": "upper_bound", **x},
                    "text": {"value": "full shutdown"},
                },
            }
        )
    body: dict[str, Any] = {
        "data": {"values": values},
        "width": width,
        "height": {"step": 34},
        "encoding": {"y": {"field": "label", "type": "nominal", "title": None, "sort": None}},
        "layer": layers,
    }
    return _frame(
        body,
        kind="cost",
        title=title,
        source=source,
        as_of=as_of,
        note=note,
        description=f"{title}: low, central and high estimates.",
    )
