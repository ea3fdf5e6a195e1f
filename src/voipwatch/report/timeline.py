"""The brief's dated timeline: one paragraph, in words, ready for a press release.

Pure: the brief's own event rows (the same dates, apps, networks, techniques and cost
figures as its tables) in, sentences out. Artefacts (target changes, outages, possible
shutdowns) are not blocks and are left to the table that explains them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from voipwatch.events import is_artefact
from voipwatch.report.charts.base import money

__all__ = ["timeline"]

_VERBS = {"throttling": "slowed"}
#: What is blocked on each plane, as a subject: "Signal calls were blocked".
_SUBJECTS = {
    "signalling": "{app} messages were",
    "media": "{app} calls were",
    "web": "{app}'s website was",
}


def _date(value: Any) -> str:
    if isinstance(value, datetime):
        return f"{value.day} {value:%B %Y}"
    if isinstance(value, str):
        try:
            return _date(datetime.fromisoformat(value))
        except ValueError:
            return value
    return str(value)


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _sentence(e: Mapping[str, Any]) -> str:
    verb = _VERBS.get(str(e.get("kind")), "blocked")
    where = "nationwide" if e.get("national") else f"on {_join(str(e['where']).split(', '))}"
    how = [str(h["plain"]) for h in e.get("how") or [] if h.get("plain")]
    subject = _SUBJECTS.get(str(e.get("plane")), "{app} was").format(app=e["app"])
    text = f"On {_date(e['start'])}, {subject} {verb} {where}"
    if how:
        text += f": {_join(how)}"
    if e.get("end"):
        text += f". It ended on {_date(e['end'])}"
    else:
        last = e.get("evidence_end")
        text += (
            f". It was still in place in the last measurements, on {_date(last)}"
            if last
            else ". It was still in place in the last measurements"
        )
    cost = e.get("cost")
    if cost:
        so_far = "" if e.get("end") else " so far"
        text += (
            f", at an estimated cost of {money(float(cost['central']), str(cost['currency']))}"
            f"{so_far}"
        )
    return text + "."


def timeline(events: Sequence[Mapping[str, Any]], *, country: str) -> str:
    """The dated paragraph for a country's blocks, oldest first, or "" when none."""
    blocks = sorted(
        (e for e in events if not is_artefact(str(e.get("kind", "block")))),
        key=lambda e: (str(e["start"]), str(e["what"])),
    )
    if not blocks:
        return ""
    first, last = blocks[0], blocks[-1]
    lead = (
        f"voipwatch detected {len(blocks)} block{'s' if len(blocks) != 1 else ''} of calling "
        f"and messaging apps in {country}"
    )
    if len(blocks) > 1:
        lead += f" between {_date(first['start'])} and {_date(last['start'])}"
    return " ".join([lead + ".", *(_sentence(e) for e in blocks)])
