"""From change points to draft events: segments, artefacts, networks, countries.

Pure functions over plain values (times are whole hours since the Unix epoch):

1. :func:`segments` pairs each series' onsets with their ends, merges blocks separated
   by less than a merge gap, and drops closed blocks shorter than a minimum duration;
2. :func:`target_changes` marks segments of one role that begin in many countries at
   about the same time: the app changed (WhatsApp Web's 302 becoming a 403, Signal
   retiring an endpoint), not the censors of all those countries at once;
3. :func:`roll_up` joins the roles of one network, service and plane whose blocks
   overlap, then the networks of one country whose blocks began together, into one
   draft event each. Planes stay apart: a block of an app's calls and one of its
   messages are different events, even when they overlap.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from voipwatch.events.cusum import Change

#: (probe_cc, asn, service, role, plane)
SeriesKey = tuple[str, int, str, str, str]

#: Blocks of one series closer than this (hours) are one block.
MERGE_GAP_HOURS: Final = 12
#: Closed blocks shorter than this (hours) are dropped.
MIN_DURATION_HOURS: Final = 2
#: Networks of one country whose blocks began within this many hours changed together.
ROLLUP_WINDOW_HOURS: Final = 24
#: A role beginning to fail in this many countries (or half of those measured, if more)
#: within ``TARGET_WINDOW_HOURS`` is a target change.
TARGET_MIN_COUNTRIES: Final = 3
TARGET_WINDOW_HOURS: Final = 24


@dataclass(frozen=True, slots=True)
class Segment:
    """One series blocked from ``start`` to ``end`` (``None``: still blocked)."""

    series: SeriesKey
    start: int
    start_earliest: int
    start_latest: int
    detected_at: int
    end: int | None
    end_earliest: int | None
    end_latest: int | None
    margin: float


@dataclass(slots=True)
class Draft:
    """An event before its measurements are counted: what kind, where, when, which series."""

    kind: str
    probe_cc: str
    service: str
    plane: str
    members: list[Segment] = field(default_factory=list)

    @property
    def asns(self) -> list[int]:
        return sorted({s.series[1] for s in self.members})

    @property
    def roles(self) -> list[str]:
        return sorted({f"{s.series[2]}/{s.series[3]}" for s in self.members})

    @property
    def first(self) -> Segment:
        return min(self.members, key=lambda s: (s.start, s.start_latest))

    @property
    def end(self) -> int | None:
        ends = [s.end for s in self.members]
        return None if any(e is None for e in ends) else max(e for e in ends if e is not None)


def segments(
    series: SeriesKey,
    changes: Sequence[Change],
    *,
    merge_gap: int = MERGE_GAP_HOURS,
    min_duration: int = MIN_DURATION_HOURS,
) -> list[Segment]:
    """The blocks of one series from its change points (in the order found)."""
    raw: list[Segment] = []
    onset: Change | None = None
    for c in changes:
        if c.direction > 0:
            onset = c
        elif onset is not None:
            raw.append(_segment(series, onset, c))
            onset = None
    if onset is not None:
        raw.append(_segment(series, onset, None))
    merged: list[Segment] = []
    for s in raw:
        prev = merged[-1] if merged else None
        if prev is not None and prev.end is not None and s.start - prev.end <= merge_gap:
            merged[-1] = Segment(
                series=series,
                start=prev.start,
                start_earliest=prev.start_earliest,
                start_latest=prev.start_latest,
                detected_at=prev.detected_at,
                end=s.end,
                end_earliest=s.end_earliest,
                end_latest=s.end_latest,
                margin=max(prev.margin, s.margin),
            )
        else:
            merged.append(s)
    return [s for s in merged if s.end is None or s.end - s.start >= min_duration]


def _segment(series: SeriesKey, on: Change, off: Change | None) -> Segment:
    return Segment(
        series=series,
        start=on.at,
        start_earliest=on.earliest,
        start_latest=on.latest,
        detected_at=on.detected_at,
        end=None if off is None else max(off.at, on.at + 1),
        end_earliest=None if off is None else max(off.earliest, on.at),
        end_latest=None if off is None else max(off.latest, on.at + 1),
        margin=on.margin,
    )


def _clusters(items: list[Segment], window: int) -> Iterable[list[Segment]]:
    """Segments (sorted by start) grouped so each group begins within ``window`` hours."""
    group: list[Segment] = []
    for s in items:
        if group and s.start - group[0].start > window:
            yield group
            group = []
        group.append(s)
    if group:
        yield group


def target_changes(
    segs: Sequence[Segment],
    countries_measured: dict[tuple[str, str], int],
    *,
    min_countries: int = TARGET_MIN_COUNTRIES,
    window: int = TARGET_WINDOW_HOURS,
) -> set[int]:
    """Indices (into ``segs``) of the segments that are part of a target change.

    ``countries_measured`` gives, per (service, role), how many countries measure it:
    the bar is ``min_countries`` or half of them, whichever is more.
    """
    by_role: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, s in enumerate(segs):
        by_role[(s.series[2], s.series[3])].append(i)
    marked: set[int] = set()
    for role, idx in by_role.items():
        bar = max(min_countries, math.ceil(countries_measured.get(role, 0) / 2))
        idx.sort(key=lambda i: (segs[i].start, i))
        # Every window anchored at one segment's start; a segment belongs to a target
        # change if any window holding it spans enough countries.
        for a, first in enumerate(idx):
            inside = [j for j in idx[a:] if segs[j].start - segs[first].start <= window]
            if len({segs[j].series[0] for j in inside}) >= bar:
                marked.update(inside)
    return marked


def roll_up(
    segs: Sequence[Segment], kind: str, *, window: int = ROLLUP_WINDOW_HOURS
) -> list[Draft]:
    """Drafts of one kind: roles of a network joined, then networks of a country."""
    by_network: dict[tuple[str, int, str, str], list[Segment]] = defaultdict(list)
    for s in segs:
        by_network[(s.series[0], s.series[1], s.series[2], s.series[4])].append(s)
    network_events: list[list[Segment]] = []
    for members in by_network.values():
        members.sort(key=lambda s: (s.start, s.series))
        current: list[Segment] = []
        reach: int | None = 0
        for s in members:
            overlaps = current and (reach is None or s.start <= reach + MERGE_GAP_HOURS)
            if current and not overlaps:
                network_events.append(current)
                current = []
            if not current:
                reach = s.end
            elif reach is not None:
                reach = None if s.end is None else max(reach, s.end)
            current.append(s)
        if current:
            network_events.append(current)
    by_country: dict[tuple[str, str, str], list[list[Segment]]] = defaultdict(list)
    for ev in network_events:
        by_country[(ev[0].series[0], ev[0].series[2], ev[0].series[4])].append(ev)
    drafts: list[Draft] = []
    for (cc, service, plane), evs in sorted(by_country.items()):
        evs.sort(key=lambda e: (min(s.start for s in e), e[0].series))
        group: list[list[Segment]] = []
        for ev in evs:
            begin = min(s.start for s in ev)
            if group and begin - min(s.start for s in group[0]) > window:
                drafts.append(Draft(kind, cc, service, plane, [s for e in group for s in e]))
                group = []
            group.append(ev)
        if group:
            drafts.append(Draft(kind, cc, service, plane, [s for e in group for s in e]))
    drafts.sort(key=lambda d: (d.first.start, d.probe_cc, d.service, d.plane, d.asns))
    return drafts
