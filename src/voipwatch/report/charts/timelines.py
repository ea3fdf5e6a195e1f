"""Timelines: daily verdicts per role and plane, and events from start to end."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from voipwatch.report.charts.base import (
    COLOURS,
    EVENT_COLOURS,
    EVENT_KINDS,
    PLANE_WORDS,
    ROLE_TO_OONI,
    STATUSES,
    colour_scale,
    frame,
    iso,
    link,
)


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
            value.update(link(href, value))
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
            "scale": colour_scale(statuses, COLOURS),
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
    return frame(
        body,
        kind="timeline",
        title=title,
        source=source,
        as_of=as_of,
        note=note,
        description=f"{title}: daily verdicts per role in {len(lanes)} lanes, by status.",
    )


# --- events on a timeline --------------------------------------------------------------


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
        start = iso(e.get("start"))
        end = iso(e.get("end"))
        ongoing = end is None
        value: dict[str, Any] = {
            "event_id": e.get("event_id"),
            "lane": str(
                e.get("lane")
                or f"{e.get('service')} {PLANE_WORDS.get(str(e.get('plane')), e.get('plane'))}"
            ),
            "service": e.get("service"),
            "plane": e.get("plane"),
            "kind": e.get("kind"),
            "scope": scope or "—",
            "techniques": ", ".join(e.get("techniques") or []) or "not isolated",
            "start": start,
            "end": end if not ongoing else (iso(as_of) or iso(e.get("start_latest")) or start),
            "start_earliest": iso(e.get("start_earliest")) or start,
            "start_latest": iso(e.get("start_latest")) or start,
            "status": "ongoing" if ongoing else "ended",
            "confidence": round(float(e.get("confidence") or 0.0), 2),
            "measurements": int(e.get("measurements") or 0),
        }
        value["label"] = value["techniques"] + (" · ongoing" if ongoing else "")
        value.update(link(href, value))
        values.append(value)

    # A bar's label goes after its end, or inside it when the bar ends near the right edge.
    def instant(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=None)

    times = [instant(t) for v in values for t in (v["start"], v["end"]) if t]
    if times:
        lo, hi = min(times), max(times)
        span = (hi - lo).total_seconds() or 1.0
        for v in values:
            end = v["end"] or v["start"]
            v["label_inside"] = bool(end) and (instant(end) - lo).total_seconds() / span > 0.6
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
            "axis": {"format": "%d %b", "labelAngle": 0, "labelOverlap": True},
        },
        "x2": {"field": "end"},
        "y": {"field": "lane", "type": "nominal", "title": None, "sort": lanes},
        # Events of different kinds on one lane (a block during a target change) sit
        # side by side instead of on top of each other.
        "yOffset": {"field": "kind", "type": "nominal", "sort": kinds},
        "color": {
            "field": "kind",
            "type": "nominal",
            "title": None,
            "scale": colour_scale(kinds, EVENT_COLOURS),
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
        "height": {"step": 14 if len(kinds) > 1 else 24},
        "layer": [
            {"mark": {"type": "bar", "cornerRadius": 2, "minBandSize": 3}, "encoding": bar_enc},
            {
                "mark": {"type": "rule", "color": "#212529", "strokeWidth": 2},
                "encoding": {
                    "x": {"field": "start_earliest", "type": "temporal"},
                    "x2": {"field": "start_latest"},
                    "y": {"field": "lane", "type": "nominal", "sort": lanes},
                    "yOffset": {"field": "kind", "type": "nominal", "sort": kinds},
                },
            },
            *(
                {
                    "transform": [{"filter": f"{'' if inside else '!'}datum.label_inside"}],
                    "mark": {
                        "type": "text",
                        "align": "right" if inside else "left",
                        "dx": -4 if inside else 4,
                        "fontSize": 10,
                    },
                    "encoding": {
                        "x": {"field": "end", "type": "temporal"},
                        "y": {"field": "lane", "type": "nominal", "sort": lanes},
                        "yOffset": {"field": "kind", "type": "nominal", "sort": kinds},
                        "text": {"field": "label", "type": "nominal"},
                    },
                }
                for inside in (True, False)
            ),
        ],
    }
    return frame(
        body,
        kind="events",
        title=title,
        source=source,
        as_of=as_of,
        note=note,
        description=f"{title}: {len(values)} events from start to end.",
    )
