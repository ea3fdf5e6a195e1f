"""Events and usage figures to and from the store's rows.

The tables and their SQL are :mod:`voipwatch.store.events`; this module turns
:class:`~voipwatch.events.model.Event` and :class:`~voipwatch.events.usage.UsageFile`
into rows and back: times aware UTC here, naive UTC in the store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import msgspec

from voipwatch.events.model import Event, EventKind, Surge
from voipwatch.events.usage import BadRow, UsageFile, UsageRow
from voipwatch.store.db import Store
from voipwatch.store.events import (
    EventRow,
    QuarantinedLine,
    load_event_rows,
    load_usage_rows,
    quarantine_lines,
    save_event_rows,
    save_usage_rows,
)

_NEVER: datetime = datetime.min.replace(tzinfo=UTC)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _naive(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _row(e: Event) -> EventRow:
    return EventRow(
        event_id=e.event_id,
        kind=e.kind,
        probe_cc=e.probe_cc,
        asns=list(e.asns),
        national=e.national,
        service=e.service,
        roles=list(e.roles),
        plane=e.plane,
        techniques=list(e.techniques),
        start=_naive(e.start) or e.start,
        start_earliest=_naive(e.start_earliest) or e.start_earliest,
        start_latest=_naive(e.start_latest) or e.start_latest,
        end=_naive(e.end),
        end_earliest=_naive(e.end_earliest),
        end_latest=_naive(e.end_latest),
        confidence=e.confidence,
        measurements=e.measurements,
        blocked_share=e.blocked_share,
        surges=msgspec.json.encode(e.surges).decode(),
        evidence=msgspec.json.encode(e.evidence).decode(),
    )


def _event(r: EventRow) -> Event:
    return Event(
        event_id=r.event_id,
        kind=cast(EventKind, r.kind),
        probe_cc=r.probe_cc,
        asns=r.asns,
        national=r.national,
        service=r.service,
        roles=r.roles,
        plane=r.plane,
        techniques=r.techniques,
        start=_utc(r.start) or _NEVER,
        start_earliest=_utc(r.start_earliest) or _NEVER,
        start_latest=_utc(r.start_latest) or _NEVER,
        end=_utc(r.end),
        end_earliest=_utc(r.end_earliest),
        end_latest=_utc(r.end_latest),
        confidence=r.confidence,
        measurements=r.measurements,
        blocked_share=r.blocked_share,
        surges=msgspec.json.decode(r.surges, type=list[Surge]),
        evidence=msgspec.json.decode(r.evidence, type=dict[str, object]),
    )


def save_events(store: Store, events: list[Event]) -> None:
    """Replace the stored events with ``events``, atomically."""
    save_event_rows(store, [_row(e) for e in events])


def load_events(store: Store, *, cc: str | None = None, service: str | None = None) -> list[Event]:
    """The stored events, oldest onset first; optionally of one country and/or service.

    A store in which events were never detected has none (an empty list).
    """
    return [_event(r) for r in load_event_rows(store, cc=cc, service=service)]


def save_usage(store: Store, usage: UsageFile) -> None:
    """Replace the usage series named ``usage.source`` with its rows, atomically."""
    save_usage_rows(
        store, usage.source, usage.tool, [(r.date, r.country, r.value) for r in usage.rows]
    )


def quarantine_usage(store: Store, bad: list[BadRow], now: datetime) -> None:
    """Keep the rows a usage import left out in the store's quarantine, with the reason."""
    lines = [
        QuarantinedLine(b.error.source, b.error.line, b.error.reason, b.text.encode()) for b in bad
    ]
    quarantine_lines(store, lines, _naive(now) or now)


def load_usage(store: Store) -> list[UsageFile]:
    """Every stored usage series, by source name."""
    out: dict[str, UsageFile] = {}
    for f in load_usage_rows(store):
        series = out.setdefault(f.source, UsageFile(source=f.source, tool=f.tool, shape="stored"))
        series.rows.append(UsageRow(f.date, f.country, f.value))
    return list(out.values())
