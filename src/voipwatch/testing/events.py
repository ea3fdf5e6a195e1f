"""A detected event for tests of what reads events (feeds, webhooks, citations, alerts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from voipwatch.events import Event

#: When the test event starts.
T0 = datetime(2026, 3, 2, 6, tzinfo=UTC)


def event(eid: str, kind: str = "block", *, end: datetime | None = None, **fields: object) -> Event:
    """A TLS-reset block of WhatsApp on one Iranian network from :data:`T0`; ``fields``
    replace any other of the event's fields."""
    base = Event(
        event_id=eid,
        kind=kind,  # type: ignore[arg-type]
        probe_cc="IR",
        asns=[44244],
        national=False,
        service="whatsapp",
        roles=["whatsapp/endpoints"],
        plane="signalling",
        techniques=["tls.reset"],
        start=T0,
        start_earliest=T0 - timedelta(hours=2),
        start_latest=T0,
        end=end,
        confidence=0.8,
        measurements=40,
        evidence={"detected_at": "2026-03-02T09:00:00Z"},
    )
    return msgspec.structs.replace(base, **fields)
