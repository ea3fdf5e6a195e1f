"""What every chart shares: the schema, OONI's colours, the title with source and date."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
PLANE_WORDS: Final = {
    "signalling": "messages",
    "media": "calls",
    "web": "web",
    "circumvention": "(circumvention tool)",
    "throughput": "speed",
}
EVENT_KINDS: Final = ("block", "throttling", "possible_shutdown", "target_change")
EVENT_COLOURS: Final = {
    "block": COLOURS["confirmed"],
    "throttling": "#e8590c",
    "possible_shutdown": "#6741d9",
    "target_change": "#868e96",
}

_FONT: Final = "DejaVu Sans, Liberation Sans, Arial, sans-serif"


def when(value: date | datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def frame(
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
    lines = [f"Source: {source}" + (f" · data as of {when(as_of)}" if as_of else "")]
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
            "voipwatch": {"kind": kind, "source": source, "as_of": when(as_of), "note": note}
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


def link(template: str | None, row: Mapping[str, Any]) -> dict[str, str]:
    """A link for a mark, from a ``str.format`` template over the row's fields."""
    if not template:
        return {}
    fields = {k: ("" if v is None else v) for k, v in row.items()}
    return {"href": template.format_map(_Missing(fields))}


class _Missing(dict[str, Any]):
    """format_map mapping that leaves unknown fields empty instead of raising."""

    def __missing__(self, key: str) -> str:
        return ""


def colour_scale(domain: Sequence[str], colours: Mapping[str, str]) -> dict[str, Any]:
    return {"domain": list(domain), "range": [colours[d] for d in domain]}


def iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def money(value: float, currency: str = "USD") -> str:
    """``1234567`` → ``USD 1.23 million``: how a brief and a chart label say an amount."""
    prefix = f"{currency} " if currency else ""
    for size, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"), (1e3, "thousand")):
        if abs(value) >= size:
            scaled = value / size
            text = f"{scaled:,.0f}" if abs(scaled) >= 100 else f"{scaled:.3g}"
            return f"{prefix}{text} {word}"
    return f"{prefix}{value:,.0f}"
