"""How to cite an event: one sentence with its stable id, what, where, when and a link.

Pure: the event and the words for it in, text out. The date is the event's own
(its end, or the last hour of evidence of an ongoing one), never the clock, so a
citation made today and one made next month of the same evidence are the same text.
"""

from __future__ import annotations

from datetime import UTC, datetime

from voipwatch.events import Event

__all__ = ["cite_event"]


def _day(t: datetime) -> str:
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).strftime("%Y-%m-%d")


def cite_event(event: Event, *, app: str, country: str, url: str, synthetic: bool) -> str:
    """The citation of ``event`` (``app`` and ``country`` are the words for it)."""
    where = "nationwide" if event.national else ", ".join(f"AS{a}" for a in event.asns)
    if event.end is not None:
        span = f"from {_day(event.start)} to {_day(event.end)}"
    else:
        last = event.evidence.get("last_evidence")
        seen = f", still seen on {last[:10]}" if isinstance(last, str) else ""
        span = f"since {_day(event.start)} (ongoing{seen})"
    kind = {"block": "blocking"}.get(event.kind, event.kind.replace("_", " "))
    data = "synthetic demo data" if synthetic else "OONI measurements judged by voipwatch"
    return (
        f"voipwatch, {kind} event {event.event_id}: {app} in {country}, {where}, {span}. "
        f"Evidence: {event.measurements:,} measurements ({data}); confidence "
        f"{event.confidence:.2f}. {url}"
    )
