"""Dossiers of an event and of a case: each tier read once, for every face.

An event's dossier holds the event, its price (or why it has none), its country's
legal context and the documented cases matched to it; a case's holds the case, its
matched events and the context. The API, the pages, the charts and the brief render
these and assemble nothing themselves, so a figure cannot differ between them.

``event_dossier`` and ``case_dossier`` are pure (records in, dossier out);
``read_event`` and ``read_case`` are the edge that reads the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from voipwatch.cases.costing import case_cost
from voipwatch.cases.legal import CountryContext, load_context
from voipwatch.cases.model import Case
from voipwatch.cases.registry import event_matches, events_by_id, get_case, list_cases
from voipwatch.cost import CostEstimate, cost_for_event
from voipwatch.events import Event, is_artefact, load_events
from voipwatch.store import Store, ToolResult, what_still_works
from voipwatch.views.tiers import Tier, attempt


@dataclass(frozen=True, slots=True)
class EventDossier:
    event: Event
    cost: Tier[CostEstimate]
    context: Tier[CountryContext]
    cases: tuple[Case, ...]


@dataclass(frozen=True, slots=True)
class CaseDossier:
    """A case, the detected events matched to it (why each matched, and its price), the
    case's own price as what it says was blocked, and its country's legal context."""

    case: Case
    events: tuple[Event, ...]
    reasons: dict[str, str]
    prices: dict[str, Tier[CostEstimate]]
    cost: dict[str, object]
    context: Tier[CountryContext]


def price(event: Event) -> Tier[CostEstimate]:
    """An event's cost, or why it is not priced (an artefact, a circumvention tool)."""
    return attempt(lambda: cost_for_event(event))


def context_of(cc: str) -> Tier[CountryContext]:
    """A country's legal context (None when none is on file), or why it cannot be read."""
    found = attempt(lambda: load_context(cc))
    return Tier(found.value, found.why)


def event_dossier(
    event: Event, cases: list[Case], cost: Tier[CostEstimate], context: Tier[CountryContext]
) -> EventDossier:
    """The dossier of ``event`` from its country's cases (those matched to it are kept)."""
    matched = tuple(c for c in cases if event.event_id in c.events)
    return EventDossier(event=event, cost=cost, context=context, cases=matched)


def case_dossier(
    case: Case,
    matches: list[tuple[Event, str]],
    prices: dict[str, Tier[CostEstimate]],
    context: Tier[CountryContext],
) -> CaseDossier:
    """The dossier of ``case`` from the events matched to it, with why each matched."""
    return CaseDossier(
        case=case,
        events=tuple(e for e, _ in matches),
        reasons={e.event_id: why for e, why in matches},
        prices={e.event_id: prices.get(e.event_id) or price(e) for e, _ in matches},
        cost=case_cost(case),
        context=context,
    )


def find_event(store: Store, event_id: str) -> Event | None:
    return next((e for e in load_events(store) if e.event_id == event_id), None)


def read_event(store: Store, event_id: str) -> EventDossier | None:
    """The dossier of a stored event, or None when the store has no such event."""
    event = find_event(store, event_id)
    if event is None:
        return None
    cases = attempt(lambda: list_cases(store, country=event.probe_cc)).value or []
    return event_dossier(event, cases, price(event), context_of(event.probe_cc))


def read_case(store: Store, case_id: str) -> CaseDossier | None:
    """The dossier of a stored case, or None when the store has no such case."""
    case = get_case(store, case_id)
    return None if case is None else read_case_dossiers(store, [case])[0]


def read_case_dossiers(store: Store, cases: list[Case]) -> list[CaseDossier]:
    """The dossiers of ``cases``: the stored events are read and matched once for all,
    each matched event priced once however many cases it is matched to."""
    links = event_matches(store, cases)
    found = events_by_id(store) if links else {}
    prices: dict[str, Tier[CostEstimate]] = {}
    contexts: dict[str, Tier[CountryContext]] = {}
    out = []
    for case in cases:
        matches = [(found[eid], why) for eid, why in links.get(case.case_id, []) if eid in found]
        for e, _ in matches:
            if e.event_id not in prices:
                prices[e.event_id] = price(e)
        if case.country not in contexts:
            contexts[case.country] = context_of(case.country)
        out.append(case_dossier(case, matches, prices, contexts[case.country]))
    return out


@dataclass(frozen=True, slots=True)
class CountryDossier:
    """A country's events (oldest onset first) with the price of each block and each
    throttling, its documented cases, its legal context, and what still works there in
    the period asked for (the apps' via outcomes: which tool restored which app).

    Artefacts (a target change, an outage, a possible shutdown) are held apart from
    the blocks and never priced: they are not counted as blocking.
    """

    cc: str
    events: tuple[Event, ...]
    events_why: str | None
    prices: dict[str, Tier[CostEstimate]]
    cases: tuple[Case, ...]
    cases_why: str | None
    context: Tier[CountryContext]
    tools: tuple[ToolResult, ...] = ()

    @property
    def blocks(self) -> tuple[Event, ...]:
        return tuple(e for e in self.events if e.kind == "block")

    @property
    def throttled(self) -> tuple[Event, ...]:
        return tuple(e for e in self.events if e.kind == "throttling")

    @property
    def artefacts(self) -> tuple[Event, ...]:
        return tuple(e for e in self.events if is_artefact(e.kind))

    def price_of(self, event: Event) -> Tier[CostEstimate]:
        """The event's price; for an artefact, the cost room's reason for refusing one."""
        return self.prices.get(event.event_id) or price(event)


def country_dossier(
    cc: str,
    events: Tier[list[Event]],
    cases: Tier[list[Case]],
    context: Tier[CountryContext],
    tools: list[ToolResult] | None = None,
) -> CountryDossier:
    """The dossier of country ``cc`` from its events, cases, context and via outcomes."""
    found = tuple(events.value or ())
    return CountryDossier(
        cc=cc,
        events=found,
        events_why=events.why,
        prices={e.event_id: price(e) for e in found if not is_artefact(e.kind)},
        cases=tuple(cases.value or ()),
        cases_why=cases.why,
        context=context,
        tools=tuple(tools or ()),
    )


def read_country(
    store: Store, cc: str, *, since: datetime | None = None, until: datetime | None = None
) -> CountryDossier:
    """The dossier of country ``cc`` as the store holds it; what still works is read in
    ``[since, until)`` (everything held by default)."""
    return country_dossier(
        cc,
        attempt(lambda: load_events(store, cc=cc)),
        attempt(lambda: list_cases(store, country=cc)),
        context_of(cc),
        what_still_works(store.con, cc, since=since, until=until),
    )


def read_events(store: Store, *, cc: str | None = None, service: str | None = None) -> list[Event]:
    """The stored events, oldest onset first; of one country and/or app when given."""
    return load_events(store, cc=cc, service=service)


def read_cases(store: Store, *, cc: str | None = None) -> list[Case]:
    """The documented cases, of one country when given."""
    return list_cases(store, country=cc)
