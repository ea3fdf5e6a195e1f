"""Countries, events and documented cases of the web's test store, written through their rooms.

The test store copies real measurements across :data:`COUNTRIES` (each blocking some
tests from its onset day); the events are made here (as the detector would find them
in that store) and saved with ``voipwatch.events.store``; the cases
are imported with ``voipwatch.cases.registry`` from voipwatch's own case format. Cost
and legal context come from the data voipwatch ships.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from voipwatch.cases.registry import import_cases, match_events
from voipwatch.events import Event, save_events
from voipwatch.store import open_store

#: The last day of the test store.
END = datetime(2026, 11, 1)
DAYS = 30


@dataclass(frozen=True)
class Country:
    cc: str
    asn: int
    blocked_tests: tuple[str, ...] = ()
    onset: int = 0  # days after the first day from which the block shows


COUNTRIES = (
    Country("IR", 44244, ("whatsapp", "signal", "telegram", "facebook_messenger"), 10),
    Country("RU", 12389, ("telegram", "signal"), 20),
    Country("CN", 4134, ("whatsapp", "telegram", "signal", "facebook_messenger"), 0),
    Country("TR", 9121, ("signal",), 25),
    Country("AE", 5384, ("whatsapp", "facebook_messenger"), 0),
    Country("EG", 8452, ("signal",), 5),
    Country("PK", 17557, ("telegram",), 15),
    Country("BR", 28573),
    Country("DE", 3320),
    Country("US", 7922),
    Country("IN", 55836),
    Country("NG", 29465),
)


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
    cases = tmp / "cases.jsonl"
    cases.write_text("".join(json.dumps(c) + "\n" for c in CASES))
    with open_store(path) as store:
        save_events(store, make_events())
        import_cases(store, cases, source="voipwatch")
        match_events(store)
