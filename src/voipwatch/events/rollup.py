"""From change points to draft events: segments, artefacts, networks, countries.

Pure functions over plain values (times are whole hours since the Unix epoch):

1. :func:`segments` pairs each series' onsets with their ends, merges blocks separated
   by less than a merge gap, and drops closed blocks shorter than a minimum duration;
2. :func:`global_artefacts` marks segments of one role that begin in most countries
   at about the same time: the app changed (WhatsApp Web's 302 becoming a 403, Signal
   retiring an endpoint) or its servers were down, not the censors of all those
   countries at once;
3. :func:`roll_up` joins the blocks of one country, service and plane that began
   together — the roles of one network, and the networks of the country — into one
   draft event each. Planes stay apart: a block of an app's calls and one of its
   messages are different events, even when they overlap.
"""

from __future__ import annotations

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
MIN_DURATION_HOURS: Final = 3
#: Networks of one country whose blocks began within this many hours changed together.
ROLLUP_WINDOW_HOURS: Final = 24
#: A role beginning to fail within ``TARGET_WINDOW_HOURS`` in most of the countries
#: measuring it (and at least this many) and on this share of the networks measuring it
#: is a global artefact: a target change, or an outage when it is soon over.
TARGET_MIN_COUNTRIES: Final = 2
TARGET_NETWORK_SHARE: Final = 0.5
TARGET_WINDOW_HOURS: Final = 24
#: A global change whose failures were all over within this many hours is an outage.
GLOBAL_OUTAGE_MAX_HOURS: Final = 48
#: The first hours of a block compared with the same role in other countries.
ECHO_HOURS: Final = 12
#: A country takes part in that comparison with at least this many judged verdicts,
#: and fails with it when at least this share of them say blocked.
ECHO_MIN_VERDICTS: Final = 3
ECHO_SHARE: Final = 0.5
#: The hours before a block that tell whether a country was failing already.
ECHO_BEFORE_HOURS: Final = 24
#: A sparse network may notice an app's change days after the rest: a block of the
#: role beginning this many hours after a global artefact's first onset, while it
#: lasts, is part of it.
LATE_HOURS: Final = 72
#: Blocks of this many services of one network beginning within ``OUTAGE_WINDOW_HOURS``
#: and over within ``OUTAGE_MAX_HOURS`` are an outage of the network, not app blocks.
OUTAGE_MIN_SERVICES: Final = 3
OUTAGE_WINDOW_HOURS: Final = 3
OUTAGE_MAX_HOURS: Final = 12


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
        return sorted({role_name(s.series[2], s.series[3]) for s in self.members})

    @property
    def first(self) -> Segment:
        return min(self.members, key=lambda s: (s.start, s.start_latest))

    @property
    def end(self) -> int | None:
        ends = [s.end for s in self.members]
        return None if any(e is None for e in ends) else max(e for e in ends if e is not None)


def role_name(service: str, role: str) -> str:
    """The full role name (``whatsapp/endpoints``) whether stored full or short."""
    return role if "/" in role else f"{service}/{role}"


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
    measured: dict[tuple[str, str], tuple[int, int]],
    *,
    min_countries: int = TARGET_MIN_COUNTRIES,
    network_share: float = TARGET_NETWORK_SHARE,
    window: int = TARGET_WINDOW_HOURS,
) -> set[int]:
    """Indices (into ``segs``) of the segments that are part of a global artefact
    (a target change or an outage of the app: see :func:`global_artefacts`)."""
    return set(
        global_artefacts(
            segs, measured, min_countries=min_countries, network_share=network_share, window=window
        )
    )


def global_artefacts(
    segs: Sequence[Segment],
    measured: dict[tuple[str, str], tuple[int, int]],
    *,
    min_countries: int = TARGET_MIN_COUNTRIES,
    network_share: float = TARGET_NETWORK_SHARE,
    window: int = TARGET_WINDOW_HOURS,
    outage_hours: int = GLOBAL_OUTAGE_MAX_HOURS,
) -> dict[int, str]:
    """Segments (by index into ``segs``) that are one change of the app, and its kind.

    ``measured`` gives, per (service, role), how many countries and networks measure
    it. The onsets of one role are chained while each follows the one before within
    ``window`` hours (sparse networks notice a change hours after busy ones); a chain
    is global when it spans most of the countries measuring the role (at least
    ``min_countries``) and at least ``network_share`` of the networks measuring it,
    whether the world holds three countries or sixty: a change of the app reaches
    nearly everyone, while blocks that happen to coincide reach a few. A global chain
    whose failures were all over within ``outage_hours`` is an ``outage`` (the app's
    servers were down and came back); one that lasts is a ``target_change``.
    """
    by_role: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, s in enumerate(segs):
        by_role[(s.series[2], s.series[3])].append(i)
    marked: dict[int, str] = {}
    for role, idx in by_role.items():
        countries, networks = measured.get(role, (0, 0))
        bar = max(min_countries, countries // 2 + 1)
        idx.sort(key=lambda i: (segs[i].start, i))
        for chain in _chains(idx, [segs[i].start for i in idx], window):
            ccs = {segs[j].series[0] for j in chain}
            nets = {(segs[j].series[0], segs[j].series[1]) for j in chain}
            if len(ccs) >= bar and len(nets) >= network_share * networks:
                brief = all(
                    (end := segs[j].end) is not None and end - segs[j].start <= outage_hours
                    for j in chain
                )
                marked.update(dict.fromkeys(chain, "outage" if brief else "target_change"))
    return marked


def echo_kind(seg: Segment, per_cc: dict[str, tuple[int, int, int, int]]) -> str | None:
    """Whether a block is one change of the app seen everywhere, and which kind.

    ``per_cc`` holds, per country, the (blocked, judged) verdicts of the block's role
    in its first :data:`ECHO_HOURS` hours and in the :data:`ECHO_BEFORE_HOURS` before
    it. Countries already failing before (a long-standing block elsewhere) say nothing
    about a change and are left out. When most of the others measuring the role (at
    least two, the block's own among them) began failing in at least
    :data:`ECHO_SHARE` of their verdicts, the app changed the same way everywhere,
    not a censor: an ``outage`` when the block was over within
    :data:`GLOBAL_OUTAGE_MAX_HOURS`, else a ``target_change``. None when it is a block
    of its own country.
    """
    own = seg.series[0]
    measured: dict[str, bool] = {}
    for cc, (b, n, b0, n0) in per_cc.items():
        if n < ECHO_MIN_VERDICTS or (n0 >= ECHO_MIN_VERDICTS and b0 >= ECHO_SHARE * n0):
            continue
        measured[cc] = b >= ECHO_SHARE * n
    measured.setdefault(own, True)
    failing = sum(measured.values())
    if not measured[own] or len(measured) < 2 or failing < max(2, len(measured) // 2 + 1):
        return None
    brief = seg.end is not None and seg.end - seg.start <= GLOBAL_OUTAGE_MAX_HOURS
    return "outage" if brief else "target_change"


def late_joiners(segs: Sequence[Segment], artefact: dict[int, str]) -> dict[int, str]:
    """Blocks that begin while a global artefact of their role goes on, soon after it
    began: the same change, noticed late (see :data:`LATE_HOURS`)."""
    first: dict[tuple[str, str], list[tuple[int, int | None, str]]] = defaultdict(list)
    for i, kind in artefact.items():
        s = segs[i]
        first[(s.series[2], s.series[3])].append((s.start, s.end, kind))
    out: dict[int, str] = {}
    for i, s in enumerate(segs):
        if i in artefact:
            continue
        for start, end, kind in first.get((s.series[2], s.series[3]), []):
            if start <= s.start <= start + LATE_HOURS and (end is None or s.start < end):
                out[i] = kind
                break
    return out


def outages(
    segs: Sequence[Segment],
    *,
    min_services: int = OUTAGE_MIN_SERVICES,
    window: int = OUTAGE_WINDOW_HOURS,
    max_hours: int = OUTAGE_MAX_HOURS,
) -> set[int]:
    """Indices (into ``segs``) of short blocks that are one network failing for everything.

    When every app measured on a network fails at once for a few hours, the network
    (or its upstream) was down: a censor blocking apps picks them, and keeps them
    blocked for longer. Such segments are reported as a possible shutdown instead.
    """
    by_network: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i, s in enumerate(segs):
        if s.end is not None and s.end - s.start <= max_hours:
            by_network[(s.series[0], s.series[1])].append(i)
    marked: set[int] = set()
    for idx in by_network.values():
        idx.sort(key=lambda i: (segs[i].start, i))
        for a, first in enumerate(idx):
            inside = [j for j in idx[a:] if segs[j].start - segs[first].start <= window]
            if len({segs[j].series[2] for j in inside}) >= min_services:
                marked.update(inside)
    return marked


def by_network(segs: Sequence[Segment], kind: str, *, window: int) -> list[Draft]:
    """Drafts of one kind per network: its segments (any service) beginning together."""
    groups: dict[tuple[str, int], list[Segment]] = defaultdict(list)
    for s in segs:
        groups[(s.series[0], s.series[1])].append(s)
    drafts: list[Draft] = []
    for (cc, _), members in sorted(groups.items()):
        members.sort(key=lambda s: (s.start, s.series))
        drafts.extend(Draft(kind, cc, "*", "*", g) for g in _clusters(members, window))
    return drafts


def _chains(items: list[int], starts: list[int], gap: int) -> list[list[int]]:
    """``items`` (sorted by ``starts``) cut wherever a start follows the previous one by
    more than ``gap`` hours."""
    chains: list[list[int]] = []
    for item, start, prev in zip(items, starts, [None, *starts[:-1]], strict=True):
        if prev is None or start - prev > gap:
            chains.append([])
        chains[-1].append(item)
    return chains


def roll_up(
    segs: Sequence[Segment], kind: str, *, window: int = ROLLUP_WINDOW_HOURS
) -> list[Draft]:
    """Drafts of one kind: the blocks of one country, service and plane (any role, any
    network) whose onsets lie within ``window`` hours of the first one's."""
    by_plane: dict[tuple[str, str, str], list[Segment]] = defaultdict(list)
    for s in segs:
        by_plane[(s.series[0], s.series[2], s.series[4])].append(s)
    drafts: list[Draft] = []
    for (cc, service, plane), members in sorted(by_plane.items()):
        members.sort(key=lambda s: (s.start, s.series))
        for group in _clusters(members, window):
            drafts.append(Draft(kind, cc, service, plane, group))
    drafts.sort(key=lambda d: (d.first.start, d.probe_cc, d.service, d.plane, d.asns))
    return drafts
