"""Corroboration: surges in circumvention-tool use that coincide with an event.

When an app is blocked, people turn to Tor, Psiphon or a VPN; a jump in their use is
independent evidence that something was blocked. The input is a daily usage series per
country (:mod:`voipwatch.events.usage` reads it from CSV).

Surges are found in the spirit of Tor Metrics' censorship detector (Danezis 2011,
torproject/metrics-web ``detector.py``), turned upwards: for each day, every country's
ratio of use to the use a week earlier is computed; outliers beyond the median ± 4
interquartile ranges are dropped; a normal distribution is fitted to the rest; a
country's use is a surge when it exceeds the 99.99th percentile of that ratio times
the 99.99th Poisson percentile of its use a week before. Tor's detector takes the 50
largest countries and needs at least 8 ratios a day; with fewer countries (a regional
file), the ratios of the previous four weeks are pooled.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

import msgspec
import numpy as np

from voipwatch.events.model import Event, Surge
from voipwatch.events.usage import UsageRow

INTERVAL_DAYS: Final = 7
TOP_COUNTRIES: Final = 50
MIN_RATIOS: Final = 8
POOL_DAYS: Final = 28
QUANTILE: Final = 0.9999
IQR_SPAN: Final = 4.0
#: A surge corroborates an event beginning up to this many days after it (usage data
#: is daily, and people react within a day or two) ...
SURGE_BEFORE_DAYS: Final = 1
#: ... or at any time while it lasts, or this many days after its onset if ongoing.
SURGE_ONGOING_DAYS: Final = 7
#: Each usage series with a surge coinciding with a block takes this share of the
#: remaining doubt off its confidence (0.6 becomes 0.68): corroboration, never proof,
#: as people also turn to a tool for reasons of their own.
CONFIDENCE_SHARE: Final = 0.2


@dataclass(frozen=True, slots=True)
class SurgeDay:
    country: str
    date: date
    value: float
    expected_high: float
    before: float  # the use a week earlier


def _ratio_bounds(ratios: list[float]) -> tuple[float, float] | None:
    # scipy takes a second to import and only usage data needs it: every room that
    # reads an event imports this room.
    from scipy import stats  # type: ignore[import-untyped]

    if len(ratios) < MIN_RATIOS:
        return None
    arr = np.sort(np.asarray(ratios))
    q1, med, q3 = np.percentile(arr, [25, 50, 75])
    span = IQR_SPAN * (q3 - q1)
    kept = arr[(arr >= med - span) & (arr <= med + span)]
    if len(kept) < MIN_RATIOS:
        return None
    mu, sigma = float(np.mean(kept)), float(np.std(kept))
    sigma = max(sigma, 1e-3)
    return float(stats.norm.ppf(1 - QUANTILE, mu, sigma)), float(
        stats.norm.ppf(QUANTILE, mu, sigma)
    )


def detect_surges(rows: list[UsageRow]) -> list[SurgeDay]:
    """Days on which a country's use rose beyond what the other countries' ratios allow."""
    from scipy import stats  # see _ratio_bounds

    use: dict[str, dict[date, float]] = defaultdict(dict)
    for r in rows:
        use[r.country][r.date] = r.value
    days = sorted({r.date for r in rows})
    ratios_by_day: dict[date, list[float]] = {}
    for day in days:
        before = day - timedelta(days=INTERVAL_DAYS)
        pairs = [
            (u[before], u[day]) for u in use.values() if day in u and before in u and u[before] > 0
        ]
        pairs.sort(reverse=True)
        ratios_by_day[day] = [now / then for then, now in pairs[:TOP_COUNTRIES]]
    found: list[SurgeDay] = []
    for day in days:
        ratios = ratios_by_day[day]
        if len(ratios) < MIN_RATIOS:
            ratios = [
                r for d in range(POOL_DAYS) for r in ratios_by_day.get(day - timedelta(days=d), [])
            ]
        bounds = _ratio_bounds(ratios)
        if bounds is None:
            continue
        max_r = bounds[1]
        before = day - timedelta(days=INTERVAL_DAYS)
        for cc, u in sorted(use.items()):
            if day not in u or before not in u:
                continue
            high = max_r * float(stats.poisson.ppf(QUANTILE, u[before]))
            if u[day] > max(high, 0.0):
                found.append(SurgeDay(cc, day, u[day], high, u[before]))
    return found


def _day(t: datetime) -> date:
    return t.date()


def attach_surges(
    events: list[Event], surges: list[SurgeDay], *, source: str, tool: str = ""
) -> list[Event]:
    """The events with each coinciding surge of their country attached (blocks only).

    A surge coincides when its day lies from a day before the onset to the end (or
    to a week after the onset of an ongoing event). Each series with a coinciding
    surge raises the confidence by :data:`CONFIDENCE_SHARE` of the remaining doubt.
    """
    by_cc: dict[str, list[SurgeDay]] = defaultdict(list)
    for s in surges:
        by_cc[s.country].append(s)
    out: list[Event] = []
    for e in events:
        if e.kind != "block" or e.probe_cc not in by_cc:
            out.append(e)
            continue
        first = _day(e.start) - timedelta(days=SURGE_BEFORE_DAYS)
        last = _day(e.end) if e.end else _day(e.start) + timedelta(days=SURGE_ONGOING_DAYS)
        hits = [s for s in by_cc[e.probe_cc] if first <= s.date <= last]
        if not hits:
            out.append(e)
            continue
        new = [
            Surge(
                source=source,
                date=s.date.isoformat(),
                value=s.value,
                expected_high=round(s.expected_high, 3),
                tool=tool,
                before=s.before,
                ratio=round(s.value / s.before, 2) if s.before > 0 else 0.0,
            )
            for s in hits
        ]
        confidence = round(1 - (1 - e.confidence) * (1 - CONFIDENCE_SHARE), 3)
        out.append(msgspec.structs.replace(e, surges=[*e.surges, *new], confidence=confidence))
    return out


def corroboration(e: Event, country: str) -> list[str]:
    """One sentence per usage series that corroborates ``e``, its strongest surge:
    "Tor users in Iran rose 3.1× in the week the block began (…)". ``country`` is the
    country's name as the face writes it."""
    by_source: dict[str, list[Surge]] = defaultdict(list)
    for s in e.surges:
        by_source[s.source].append(s)
    out = []
    onset = _day(e.start)
    for source, surges in sorted(by_source.items()):
        top = max(surges, key=lambda s: (s.ratio, s.date))
        day = date.fromisoformat(top.date)
        if (
            onset - timedelta(days=SURGE_BEFORE_DAYS)
            <= day
            <= onset + timedelta(days=INTERVAL_DAYS)
        ):
            when = "in the week the block began"
        else:
            when = "while the block lasted"
        who = f"{top.tool} users" if top.tool else f"Users counted in {source}"
        rise = f"rose {top.ratio:.1f}×" if top.ratio else "surged"
        days = f"{len(surges)} day{'s' if len(surges) != 1 else ''} of surge"
        out.append(
            f"{who} in {country} {rise} {when} ({top.value:,.0f} on {top.date} against "
            f"{top.before:,.0f} a week before; {days}; {source})"
        )
    return out
