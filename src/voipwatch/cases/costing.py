"""The economic cost of a case or an event, computed on read with :mod:`voipwatch.cost`.

Computed, not stored: the indicators behind it are refreshed (``voipwatch data
refresh``) independently of the cases, and a stored figure would go stale silently.
A case is priced from its documented days: the end minus the onset (at least a day);
while it is in force, "so far": up to the day the sources documenting it were read
(``as_of``), never to the clock; a case whose end nobody recorded has no duration and
so no cost. A case of several apps is the sum of its apps' estimates, capped at
the full-shutdown figure.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from voipwatch.cases.model import Case
from voipwatch.errors import VoipwatchError
from voipwatch.events.model import Event

#: A figure's keys summed over the apps of a case.
SUMMED = ("low", "central", "high")

#: Services outside the catalogue that the cost model has a weight for, by the name
#: the importers give them (``cases/data/names.toml``), mapped to the model's name.
PRICED_OTHERS = {
    "facebook": "facebook",
    "twitter": "x",
    "instagram": "instagram",
    "youtube": "youtube",
    "tiktok": "tiktok",
}


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

    Without a figure the dict has ``available: false`` and a ``reason``.
    """
    from voipwatch.cost import estimate

    if case.kind == "platform_ban":
        return {
            "available": False,
            "reason": "a ban of one access platform (its sale, import, licence or use), "
            "not an outage: the Internet kept working, and voipwatch prices outages only",
        }
    hours, flags = case_hours(case)
    if hours is None:
        return {"available": False, "reason": flags[0]}
    if case.region:
        flags.append(f"regional block ({case.region}) priced for the whole country")
    others = [o for o in case.other_services if o in PRICED_OTHERS]
    if case.kind == "full_shutdown":
        apps = ["internet"]
    elif case.apps or others:
        # A block of Facebook or X alone is priced as that platform, not as the
        # whole Internet; services the model has no weight for are flagged.
        apps = [*case.apps, *others]
        unpriced = [o for o in case.other_services if o not in PRICED_OTHERS]
        if unpriced:
            flags.append(f"not priced (no weight in the model): {', '.join(unpriced)}")
    elif case.kind in ("voip_only", "throttling"):
        # priced as every app's calls (VoIP ban) or the Internet as a whole (throttling)
        apps = ["internet"]
    else:
        return {"available": False, "reason": "the sources name no app to price"}
    estimates: list[dict[str, Any]] = []
    for app in apps:
        try:
            est = estimate(
                case.country,
                PRICED_OTHERS.get(app, app),
                case.start,
                hours,
                calls_only=case.kind == "voip_only",
                # The last day priced: nothing here reads the clock.
                today=case.start + timedelta(hours=hours),
            )
        except VoipwatchError as exc:
            flags.append(f"{app} not priced: {exc}")
            continue
        estimates.append(est.to_dict())
    if not estimates:
        return {"available": False, "reason": "; ".join(f for f in flags if "not priced" in f)}
    if len(estimates) == 1:
        one = dict(estimates[0])
        one["flags"] = [*list(one.get("flags") or []), *flags]
        one["available"] = True
        return one
    cap = max(float(e["upper_bound_full_shutdown"]) for e in estimates)
    total: dict[str, object] = {k: min(cap, sum(float(e[k]) for e in estimates)) for k in SUMMED}
    total.update(
        available=True,
        country=case.country,
        currency=estimates[0]["currency"],
        hours=hours,
        upper_bound_full_shutdown=cap,
        formula="sum of the per-app estimates below, capped at the full-shutdown figure",
        flags=flags,
        per_app=estimates,
    )
    return total


def event_cost(event: Event) -> dict[str, object]:
    """The cost of a detected event (``voipwatch.cost.cost_for_event``), or why none."""
    from voipwatch.cost import cost_for_event

    try:
        result: dict[str, object] = cost_for_event(event).to_dict()
    except VoipwatchError as exc:
        return {"available": False, "reason": str(exc)}
    result["available"] = True
    return result
