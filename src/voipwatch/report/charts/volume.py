"""A possible shutdown's evidence: a network's measurements per hour against its usual."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from voipwatch.report.charts.base import COLOURS, frame, iso


def volume_timeline(
    rows: Iterable[Mapping[str, Any]],
    *,
    start: date | datetime | str,
    end: date | datetime | str | None,
    title: str,
    source: str,
    as_of: date | datetime | str | None = None,
    note: str | None = None,
    width: int = 560,
) -> dict[str, Any]:
    """Measurements per hour (bars) and the usual volume of that hour (a dashed line),
    with the collapse shaded from ``start`` to ``end`` (to the last hour when None).

    A row is ``{hour, measurements, usual}``; ``usual`` may be None (not enough days
    before it to say).
    """
    values = [
        {
            "hour": iso(r["hour"]),
            "measurements": int(r["measurements"]),
            "usual": None if r.get("usual") is None else float(r["usual"]),
        }
        for r in rows
    ]
    last = values[-1]["hour"] if values else iso(start)
    x = {
        "field": "hour",
        "type": "temporal",
        "title": None,
        "axis": {"format": "%d %b %H:%M", "labelAngle": 0, "labelOverlap": True},
    }
    body: dict[str, Any] = {
        "width": width,
        "height": 160,
        "layer": [
            {
                "data": {"values": [{"from": iso(start), "to": iso(end) if end else last}]},
                "mark": {"type": "rect", "color": COLOURS["confirmed"], "opacity": 0.12},
                "encoding": {
                    "x": {"field": "from", "type": "temporal", "title": None},
                    "x2": {"field": "to"},
                },
            },
            {
                "data": {"values": values},
                "layer": [
                    {
                        "mark": {"type": "bar", "color": "#495057"},
                        "encoding": {
                            "x": x,
                            "y": {
                                "field": "measurements",
                                "type": "quantitative",
                                "title": "measurements per hour",
                            },
                            "tooltip": [
                                {"field": "hour", "type": "temporal", "format": "%d %b %H:%M"},
                                {"field": "measurements", "type": "quantitative"},
                                {"field": "usual", "type": "quantitative"},
                            ],
                        },
                    },
                    {
                        "transform": [{"filter": "isValid(datum.usual)"}],
                        "mark": {
                            "type": "line",
                            "color": COLOURS["confirmed"],
                            "strokeDash": [4, 3],
                            "interpolate": "step-after",
                        },
                        "encoding": {"x": x, "y": {"field": "usual", "type": "quantitative"}},
                    },
                ],
            },
        ],
    }
    return frame(
        body,
        kind="volume",
        title=title,
        source=source,
        as_of=as_of,
        note=note,
        description=(
            f"{title}: measurements per hour (bars) against the usual volume of the same "
            "hour over the week before (dashed line); the shaded span is the collapse."
        ),
    )
