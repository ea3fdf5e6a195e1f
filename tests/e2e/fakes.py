"""Events, cases, costs and contexts for the web's tests, standing in for the rooms.

The web reads these tiers only through :mod:`voipwatch.web.rooms`; the tests replace
its functions with these in-memory ones, so the pages and API are tested against
objects the tests made, whatever the store holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

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
            evidence={"networks": 3},
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


@dataclass
class Annotation:
    at: datetime
    note: str = ""
    status: str | None = None
    legal_basis: str = ""
    links: list[str] = field(default_factory=list)


@dataclass
class Case:
    case_id: str
    country: str
    kind: str
    start: date
    title: str = ""
    apps: list[str] = field(default_factory=list)
    networks: list[int] = field(default_factory=list)
    operators: list[str] = field(default_factory=list)
    start_precision: str = "day"
    end: date | None = None
    end_status: str = "ongoing"
    cause: str = ""
    legal_basis: str = ""
    status: str = "unreviewed"
    sources: list[dict[str, Any]] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    @property
    def links(self) -> list[str]:
        return [link for a in self.annotations for link in a.links]


@dataclass
class Cost:
    low: float
    central: float
    high: float
    currency: str = "USD"
    formula: str = "hours × users × value of an hour of calls × share of the app"
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "low": self.low,
            "central": self.central,
            "high": self.high,
            "currency": self.currency,
            "formula": self.formula,
            "inputs": self.inputs,
        }


@dataclass
class Context:
    cc: str
    summary: str
    laws: list[dict[str, str]] = field(default_factory=list)


class FakeRooms:
    """In-memory events, cases (annotatable), costs and contexts."""

    def __init__(self) -> None:
        self.events = make_events()
        self.cases = {
            "c1ir": Case(
                case_id="c1ir",
                country="IR",
                kind="service_block",
                start=_onset("IR").date(),
                title="WhatsApp blocked in Iran",
                apps=["whatsapp"],
                cause="protests",
                sources=[{"source": "ooni", "record_id": "x1", "title": "OONI report"}],
                events=["e1r4n0wh4tsapp"],
            )
        }

    def load_events(
        self, store: Any, *, cc: str | None = None, service: str | None = None
    ) -> list[Event]:
        return [
            e
            for e in self.events
            if (cc is None or e.probe_cc == cc) and (service is None or e.service == service)
        ]

    def get_event(self, store: Any, event_id: str) -> Event | None:
        return next((e for e in self.events if e.event_id == event_id), None)

    def list_cases(self, store: Any, *, cc: str | None = None) -> list[Case]:
        return [c for c in self.cases.values() if cc is None or c.country == cc]

    def get_case(self, store: Any, case_id: str) -> Case | None:
        return self.cases.get(case_id)

    def annotate_case(self, store: Any, case_id: str, **fields: Any) -> Case:
        case = self.cases[case_id]
        note = Annotation(at=datetime.now(UTC), **fields)
        case = replace(case, annotations=[*case.annotations, note])
        if fields.get("status"):
            case = replace(case, status=fields["status"])
        self.cases[case_id] = case
        return case

    def cost_for_event(self, event: Event) -> Cost:
        return Cost(
            low=1.0e6,
            central=2.5e6,
            high=4.0e6,
            inputs={"users": {"value": 4.1e7, "source": "ITU", "year": 2024}},
        )

    def load_context(self, cc: str) -> Context | None:
        if cc != "IR":
            return None
        return Context(
            cc="IR",
            summary="Filtering ordered by the national committee.",
            laws=[{"name": "Computer Crimes Law", "year": "2009"}],
        )

    def install(self, monkeypatch: Any) -> None:
        import voipwatch.web.rooms as rooms

        for name in (
            "load_events",
            "get_event",
            "list_cases",
            "get_case",
            "annotate_case",
            "cost_for_event",
            "load_context",
        ):
            monkeypatch.setattr(rooms, name, getattr(self, name))
