"""Events and documented cases for the web's tests, written through their rooms.

The events are made here (as the detector would find them in the test store: the
blocks :mod:`webstore` puts in) and saved with ``voipwatch.events.store``; the cases
are imported with ``voipwatch.cases.registry`` from voipwatch's own case format. Cost
and legal context come from the data voipwatch ships.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from webstore import COUNTRIES, END

from voipwatch.events.model import Event

DAYS = 30


def _onset(cc: str) -> datetime:
    country = next(c for c in COUNTRIES if c.cc == cc)
    return END - timedelta(days=DAYS - 1 - country.onset)


def make_events() -> list[Event]:
    start = _onset("IR")
    ru = _onset("RU")
    return [
        Event(
            event_id="e1r4n0wh4tsapp",
            kind="block",
            probe_cc="IR",
            asns=[44244, 44245, 44246],
            national=True,
            service="whatsapp",
            roles=["whatsapp/endpoints", "whatsapp/registration"],
            plane="signalling",
            techniques=["ip.blocked", "tls.reset"],
            start=start,
            start_earliest=start - timedelta(hours=20),
            start_latest=start + timedelta(hours=3),
            end=None,
            confidence=0.93,
            measurements=120,
            blocked_share=0.5,
            # Still blocked in the last hour of the world: priced so far, to there.
            evidence={"networks": 3, "last_evidence": END.strftime("%Y-%m-%dT%H:%M:%SZ")},
        ),
        Event(
            event_id="e2ru5telegram",
            kind="block",
            probe_cc="RU",
            asns=[12389],
            national=False,
            service="telegram",
            roles=["telegram/dc"],
            plane="signalling",
            techniques=["ip.blocked"],
            start=ru,
            start_earliest=ru - timedelta(hours=12),
            start_latest=ru + timedelta(hours=2),
            end=END - timedelta(days=2),
            end_earliest=END - timedelta(days=2, hours=5),
            end_latest=END - timedelta(days=2),
            confidence=0.81,
            measurements=40,
            blocked_share=0.5,
        ),
    ]


#: Documented cases in voipwatch's own case format (JSON lines), imported for real.
CASES = (
    {
        "country": "IR",
        "kind": "service_block",
        "apps": ["whatsapp"],
        "start": (END - timedelta(days=DAYS - 1 - 10)).date().isoformat(),
        "end_status": "ongoing",
        "title": "WhatsApp blocked in Iran",
        "cause": "protests",
        "links": ["https://example.org/report-on-whatsapp-in-iran"],
    },
    {
        "country": "RU",
        "kind": "service_block",
        "apps": ["telegram"],
        "start": (END - timedelta(days=DAYS - 1 - 20)).date().isoformat(),
        "title": "Telegram blocked on Rostelecom",
        "links": ["https://example.org/telegram-russia"],
    },
)


def populate(path: Path, tmp: Path) -> None:
    """Add the events and cases of the tests to the store at ``path``, as the rooms do."""
    from voipwatch.cases.registry import import_cases, match_events
    from voipwatch.events.store import save_events
    from voipwatch.store import open_store

    cases = tmp / "cases.jsonl"
    cases.write_text("".join(json.dumps(c) + "\n" for c in CASES))
    with open_store(path) as store:
        save_events(store, make_events())
        import_cases(store, cases, source="voipwatch")
        match_events(store)
