"""The economic cost of a block: transparent models and the indicator tables they read,
every figure with its source and year.

``estimate(...)`` prices one block of one app; ``cost_for_event(event)`` prices a
detected event. The model is described in :mod:`voipwatch.cost.formula` and in
``voipwatch/cost/README.md``.
"""

from __future__ import annotations

import contextlib
import csv
import io
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources

from voipwatch.cost.formula import (
    Comparison,
    CostEstimate,
    Input,
    PricedBlock,
    ThirdParty,
    compute,
)
from voipwatch.cost.indicators import load_table
from voipwatch.cost.params import load_params
from voipwatch.errors import UsageError
from voipwatch.events import ARTEFACTS, Event, is_artefact

__all__ = [
    "Comparison",
    "CostEstimate",
    "Input",
    "PricedBlock",
    "cost_for_event",
    "estimate",
    "evidence_end",
]


@cache
def third_party_figures() -> list[ThirdParty]:
    text = resources.files("voipwatch.cost").joinpath("data", "third_party.csv").read_text("utf-8")

    def num(s: str) -> float | None:
        return float(s) if s else None

    return [
        ThirdParty(
            r["iso2"],
            r["area"],
            int(r["year"]),
            float(r["cost_usd"]),
            num(r["duration_hours"]),
            num(r["users_affected"]),
        )
        for r in csv.DictReader(io.StringIO(text))
    ]


def estimate(
    probe_cc: str,
    app: str,
    start: date,
    hours: float,
    *,
    networks: list[int] | None = None,
    network_shares: dict[int, float] | None = None,
    measured_networks: int | None = None,
    calls_only: bool = False,
    throttled: bool = False,
    today: date | None = None,
) -> CostEstimate:
    """The cost of blocking ``app`` in ``probe_cc`` from ``start`` for ``hours``.

    ``networks`` (ASNs) limits the block to those networks; their market shares come
    from ``network_shares`` when given, otherwise a flagged proxy (equal shares of a
    market of ``measured_networks`` or at least four operators). Raises
    :class:`voipwatch.errors.UsageError` for an unknown country or app, negative hours
    or a start in the future.
    """
    if isinstance(start, datetime):
        start = start.date()
    block = PricedBlock(
        probe_cc=probe_cc,
        app=app,
        start=start,
        hours=hours,
        networks=networks,
        network_shares=network_shares,
        measured_networks=measured_networks,
        calls_only=calls_only,
        throttled=throttled,
    )
    today = today or datetime.now(UTC).date()
    return compute(load_table(), load_params(), third_party_figures(), block, today=today)


def evidence_end(event: Event) -> datetime:
    """Where an event's evidence ends: its end, else the last hour that still showed it.

    An ongoing event is priced to here, never to the clock, so its figure is the same
    on every page and every day until new measurements extend it. An event stored
    before voipwatch recorded that hour ends at its latest possible onset: it is
    priced at nothing until ``voipwatch events`` runs again.
    """
    if event.end is not None:
        return _aware(event.end)
    last = event.evidence.get("last_evidence")
    if isinstance(last, str):
        with contextlib.suppress(ValueError):
            return max(_aware(datetime.fromisoformat(last)), _aware(event.start))
    return _aware(event.start)


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def cost_for_event(
    event: Event,
    *,
    network_shares: dict[int, float] | None = None,
) -> CostEstimate:
    """The cost of a detected event: national or its networks, to the end of its evidence.

    An event on the media plane only (calls blocked, messages not) is priced as a
    calls-only block; a ``throttling`` event as a degradation (the app slowed, not
    cut: a flagged, assumed share of a block's price). Artefacts (a
    ``target_change``, an ``outage``, a ``possible_shutdown``) are not blocks and are
    refused with the reason, and so is a circumvention tool's block (no model prices
    it). An ongoing event is priced "so far": to the last hour that showed it
    (:func:`evidence_end`), and says so in its flags. Nothing here reads the clock: the
    same event has the same price everywhere.
    """
    if is_artefact(event.kind):
        raise UsageError(
            f"event {event.event_id} is a {event.kind.replace('_', ' ')}, not a block: "
            f"{ARTEFACTS[event.kind]}; it is not priced"
        )
    if event.plane == "circumvention":
        # The cost models price lost use of an app; a tool's block has no such figure.
        raise UsageError(
            f"event {event.event_id} blocks a circumvention tool ({event.service}), not an "
            "app: the cost models price lost use of apps, so it is not priced"
        )
    start = _aware(event.start)
    end = evidence_end(event)
    hours = max(0.0, (end - start).total_seconds() / 3600)
    app = event.service
    measured = event.evidence.get("networks_measured")
    result = estimate(
        event.probe_cc,
        app,
        start.date(),
        hours,
        networks=None if event.national else list(event.asns),
        network_shares=network_shares,
        measured_networks=measured if isinstance(measured, int) else None,
        calls_only=event.plane == "media",
        throttled=event.kind == "throttling",
        today=end.date(),
    )
    import msgspec.structs

    if event.end is None:
        result = msgspec.structs.replace(
            result,
            flags=[
                *result.flags,
                f"ongoing: priced so far, to {end.isoformat(timespec='minutes')}, the end of "
                "the last hour whose measurements showed it",
            ],
        )
    return result
