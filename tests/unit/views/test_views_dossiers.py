"""The read side's pure builders: a dossier keeps what belongs to it, prices each
block once, and never prices an artefact."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from voipwatch.cases.costing import case_cost
from voipwatch.cases.legal import load_context
from voipwatch.cases.model import Case
from voipwatch.cost import cost_for_event
from voipwatch.events.model import Event, EventKind
from voipwatch.store import ToolResult
from voipwatch.views import (
    Tier,
    Unavailable,
    attempt,
    case_dossier,
    context_of,
    country_dossier,
    event_dossier,
    plain,
)

START = datetime(2026, 3, 1, 6, tzinfo=UTC)


def _event(event_id: str, kind: EventKind = "block", service: str = "whatsapp") -> Event:
    return Event(
        event_id=event_id,
        kind=kind,
        probe_cc="IR",
        asns=[44244],
        national=True,
        service=service,
        roles=[f"{service}/endpoints"],
        plane="signalling",
        techniques=["ip.blocked"],
        start=START,
        start_earliest=START - timedelta(hours=2),
        start_latest=START,
        end=START + timedelta(days=2),
        confidence=0.9,
        measurements=40,
    )


def _case(case_id: str, events: list[str]) -> Case:
    return Case(
        case_id=case_id,
        country="IR",
        kind="service_block",
        apps=["whatsapp"],
        start=date(2026, 3, 1),
        events=events,
    )


def test_an_event_dossier_keeps_the_cases_matched_to_it() -> None:
    block = _event("ev-block")
    cases = [_case("c-matched", ["ev-block"]), _case("c-other", ["ev-else"])]
    dossier = event_dossier(block, cases, Tier(cost_for_event(block)), context_of("IR"))
    assert [c.case_id for c in dossier.cases] == ["c-matched"]
    assert dossier.cost.value == cost_for_event(block)
    assert dossier.context.value == load_context("IR")


def test_a_case_dossier_prices_its_events_and_itself() -> None:
    case = _case("c1", ["ev-a", "ev-b"])
    a, b = _event("ev-a"), _event("ev-b")
    known = {"ev-a": Tier(cost_for_event(a))}
    dossier = case_dossier(case, [(a, "same app"), (b, "same day")], known, Tier(None))
    assert [e.event_id for e in dossier.events] == ["ev-a", "ev-b"]
    assert dossier.reasons == {"ev-a": "same app", "ev-b": "same day"}
    # A price already known is kept; the other is computed, the same way.
    assert dossier.prices["ev-a"] is known["ev-a"]
    assert dossier.prices["ev-b"].value == cost_for_event(b)
    assert dossier.cost == case_cost(case)


def test_a_country_dossier_prices_blocks_and_throttling_never_artefacts() -> None:
    events = [
        _event("ev-block"),
        _event("ev-slow", kind="throttling"),
        _event("ev-change", kind="target_change"),
    ]
    dossier = country_dossier("IR", Tier(events), Tier([]), Tier(None))
    assert [e.event_id for e in dossier.blocks] == ["ev-block"]
    assert [e.event_id for e in dossier.throttled] == ["ev-slow"]
    assert [e.event_id for e in dossier.artefacts] == ["ev-change"]
    assert "ev-change" not in dossier.prices
    assert dossier.price_of(events[0]).value == cost_for_event(events[0])
    # The artefact says why it has no price; the figure is never computed for it.
    artefact = dossier.price_of(events[2])
    assert artefact.value is None
    assert artefact.why is not None
    assert "not a block" in artefact.why


def test_a_country_dossier_holds_what_still_works() -> None:
    restored = ToolResult(
        service="whatsapp",
        plane="signalling",
        tool="tor",
        outcome="restored",
        count=3,
        networks=("AS44244",),
        first=START,
        last=START,
        tool_blocked=0,
    )
    dossier = country_dossier("IR", Tier([]), Tier([]), Tier(None), [restored])
    assert dossier.tools == (restored,)


def test_a_missing_tier_is_said_not_raised() -> None:
    def missing() -> list[Event]:
        raise Unavailable("events are not available in this voipwatch")

    dossier = country_dossier("IR", attempt(missing), Tier([]), Tier(None))
    assert dossier.events == ()
    assert dossier.events_why == "events are not available in this voipwatch"


def test_plain_values_are_the_records_json() -> None:
    value = plain(_event("ev-block"))
    assert isinstance(value, dict)
    assert value["event_id"] == "ev-block"
    assert value["start"] == "2026-03-01T06:00:00Z"
