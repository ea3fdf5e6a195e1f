"""The citation of an event: stable id, what, where, when, and no clock."""

from __future__ import annotations

from datetime import timedelta

from voipwatch.report.cite import cite_event
from voipwatch.testing import T0, event


def test_a_citation_names_the_event_and_its_own_dates() -> None:
    ended = event("abc123", end=T0 + timedelta(days=3))
    text = cite_event(
        ended, app="WhatsApp messaging", country="Iran (IR)", url="u", synthetic=False
    )
    assert text.startswith("voipwatch, blocking event abc123: WhatsApp messaging in Iran (IR)")
    assert "AS44244, from 2026-03-02 to 2026-03-05" in text
    assert "OONI measurements judged by voipwatch" in text
    assert text.endswith(" u")
    ongoing = event("def", evidence={"last_evidence": "2026-03-09T14:00:00Z"}, national=True)
    text = cite_event(ongoing, app="A", country="C", url="u", synthetic=True)
    assert "nationwide, since 2026-03-02 (ongoing, still seen on 2026-03-09)" in text
    assert "synthetic demo data" in text
