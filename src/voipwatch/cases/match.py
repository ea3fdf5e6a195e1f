"""Matching detected events with documented cases (pure: cases and events in, pairs out).

An event documents a case when they share the country, the app (a case naming no app —
a full shutdown, a VoIP ban — takes any), their times overlap, and their networks do
not contradict each other (both name ASNs and share none). A case's time is its onset
widened by a day either side (sources record days), to its end; a case still in force
runs to today; a case whose end nobody recorded is only its onset, since an open end
would claim every later event of that app.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import msgspec

from voipwatch.cases.model import Case
from voipwatch.events import Event

SLACK = timedelta(days=1)


class Match(msgspec.Struct, frozen=True, kw_only=True):
    case_id: str
    event_id: str
    reason: str


def case_window(case: Case, *, today: date) -> tuple[datetime, datetime]:
    """The UTC interval a case covers (see the module docstring)."""
    if case.end is not None:
        last = case.end
    elif case.end_status == "ongoing":
        last = today
    else:
        last = case.start
    start = datetime.combine(case.start, time(), tzinfo=UTC) - SLACK
    end = datetime.combine(last, time(), tzinfo=UTC) + timedelta(days=1) + SLACK
    return start, end


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def match_reason(case: Case, event: Event, *, today: date) -> str | None:
    """Why ``event`` documents ``case``, or None when it does not."""
    if event.probe_cc.upper() != case.country:
        return None
    # The app changed or its servers were down: that documents no block.
    if event.kind in ("target_change", "outage"):
        return None
    # A slowed app documents a throttling case, never a block.
    if event.kind == "throttling" and case.kind != "throttling":
        return None
    if event.kind == "possible_shutdown":
        if case.apps or case.kind not in ("full_shutdown", "throttling"):
            return None
        app = "network-wide"
    elif case.apps:
        if event.service not in case.apps:
            return None
        app = event.service
    else:
        app = f"{event.service} (case names every app)"
    lo, hi = case_window(case, today=today)
    ev_start = _aware(event.start_earliest or event.start)
    now = datetime.combine(today, time(), tzinfo=UTC) + timedelta(days=1)
    last = event.end_latest or event.end
    ev_end = _aware(last) if last is not None else now
    if ev_start >= hi or ev_end <= lo:
        return None
    nets = ""
    if case.networks and event.asns and not event.national:
        shared = sorted(set(case.networks) & set(event.asns))
        if not shared:
            return None
        nets = ", networks " + " ".join(f"AS{a}" for a in shared)
    return f"{case.country}, {app}, {event.start:%Y-%m-%d} within the case{nets}"


def match(cases: list[Case], events: list[Event], *, today: date | None = None) -> list[Match]:
    day = today or datetime.now(UTC).date()
    by_cc: dict[str, list[Case]] = {}
    for c in cases:
        by_cc.setdefault(c.country, []).append(c)
    out = []
    for e in events:
        for c in by_cc.get(e.probe_cc.upper(), []):
            reason = match_reason(c, e, today=day)
            if reason is not None:
                out.append(Match(case_id=c.case_id, event_id=e.event_id, reason=reason))
    return out
