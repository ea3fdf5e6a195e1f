"""The economic cost of a case or an event, computed on read with :mod:`voipwatch.cost`.

Computed, not stored: the indicators behind it are refreshed (``voipwatch data
refresh``) independently of the cases, and a stored figure would go stale silently.
A case is priced from its documented days: the end minus the onset (at least a day);
while it is in force, "so far": up to the day the sources documenting it were read
(``as_of``), never to the clock; a case whose end nobody recorded has no duration and
so no cost. A case is priced as what it says was blocked (:mod:`voipwatch.cases.kinds`);
several apps as the union of their shares, never as a shutdown.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from voipwatch.cases.kinds import Reading, read_case, regional
from voipwatch.cases.model import Case
from voipwatch.cost import cost_for_event, estimate
from voipwatch.cost.formula import union
from voipwatch.errors import VoipwatchError
from voipwatch.events import Event

#: A figure's keys combined over the apps of a case.
SUMMED = ("low", "central", "high")

UNION_FORMULA = (
    "several apps blocked at once: the union of the apps' shares of the full-shutdown "
    "figure, full shutdown x (1 - product of (1 - each app's estimate / full shutdown)), so "
    "people who use several of the apps are counted once; each app's estimate is below"
)


def case_hours(case: Case) -> tuple[float | None, list[str]]:
    """Hours a case lasted as documented, and flags that say how that was read."""
    if case.end is not None:
        days = max((case.end - case.start).days, 1)
        flags = ["duration from the documented days (end − onset, at least one day)"]
        if case.end_precision == "estimated":
            flags.append("end estimated by the source")
        return days * 24.0, flags
    if case.end_status == "ongoing":
        if case.as_of is None:
            return None, ["ongoing, and no day it was last documented: import it again to price it"]
        days = max((case.as_of - case.start).days, 1)
        return days * 24.0, [
            f"ongoing: priced so far, to {case.as_of.isoformat()}, the day the sources that "
            "document it as ongoing were imported"
        ]
    return None, ["no end date documented: duration unknown"]


def case_cost(case: Case) -> dict[str, object]:
    """The cost of a case as a dict (``voipwatch.cost`` estimate form), or why there is none.

    Priced as what the case says was blocked (:func:`voipwatch.cases.kinds.read_case`):
    the whole Internet only for a nationwide shutdown, a ban on selling or licensing a
    platform never. Without a figure the dict has ``available: false`` and a
    ``reason``; with one, ``case_kind`` and ``case_kind_reason`` say how it was read.
    """
    reading = read_case(case)
    if not reading.priced:
        return {"available": False, "reason": _NOT_PRICED[reading.pricing](reading)}
    hours, flags = case_hours(case)
    if hours is None:
        return {"available": False, "reason": flags[0]}
    if regional(case):
        flags.append(f"regional block ({case.region}) priced for the whole country")
    if case.kind == "throttling":
        flags.append("slowed, not cut: priced as a block of those apps, an upper bound")
    if reading.unpriced:
        flags.append(f"not priced (no weight in the model): {', '.join(reading.unpriced)}")
    estimates: list[dict[str, Any]] = []
    for app in reading.apps:
        try:
            est = estimate(
                case.country,
                app,
                case.start,
                hours,
                calls_only=reading.calls_only,
                # The last day priced: nothing here reads the clock.
                today=case.start + timedelta(hours=hours),
            )
        except VoipwatchError as exc:
            flags.append(f"{app} not priced: {exc}")
            continue
        estimates.append(est.to_dict())
    kind = {"case_kind": reading.pricing, "case_kind_reason": reading.why}
    if not estimates:
        return {"available": False, "reason": "; ".join(f for f in flags if "not priced" in f)}
    if len(estimates) == 1:
        one = dict(estimates[0])
        one["flags"] = [*list(one.get("flags") or []), *flags]
        one["available"] = True
        one.update(kind)
        return one
    bound = max(float(e["upper_bound_full_shutdown"]) for e in estimates)
    total: dict[str, object] = {k: union([float(e[k]) for e in estimates], bound) for k in SUMMED}
    total.update(
        available=True,
        country=case.country,
        currency=estimates[0]["currency"],
        hours=hours,
        upper_bound_full_shutdown=bound,
        formula=UNION_FORMULA,
        flags=flags,
        per_app=estimates,
        **kind,
    )
    return total


_NOT_PRICED: dict[str, Callable[[Reading], str]] = {
    "sales_ban": lambda r: f"{r.why}, and voipwatch prices outages only",
    "regional_shutdown": lambda r: (
        f"{r.why}: the region's share of the economy is not in the model, and pricing the "
        "whole country would overstate it"
    ),
    "slowdown": lambda r: f"{r.why}: the model has no loss rate for a slowed network",
    "unnamed": lambda r: "the sources name no app to price",
}


def event_cost(event: Event) -> dict[str, object]:
    """The cost of a detected event (``voipwatch.cost.cost_for_event``), or why none."""
    try:
        result: dict[str, object] = cost_for_event(event).to_dict()
    except VoipwatchError as exc:
        return {"available": False, "reason": str(exc)}
    result["available"] = True
    return result
