"""Detection: cells → change points per series → events, with the detector's state kept.

Each cell series (country, network, service, role, plane) is binned at a grain chosen
per day from the series' own volume over the week before (an hour for busy networks,
up to a day for networks measured a few times a day; :mod:`voipwatch.events.bins`),
and fed to the CUSUM of :mod:`voipwatch.events.cusum`, a part of whole series at a
time. The cells come as arrays: as a first run just counted them, or read once from
the store; the store's SQL is in :mod:`voipwatch.store.detector`.

Determinism. The detector runs over whole UTC days: the days before the day of the
newest cell are *sealed* — their change points and the detector's state at their end
are stored with a digest of the cells they were computed from. The next run resumes
each series from its stored state when that digest still matches (new data arrived
only after the seal) and recomputes the series from its beginning when it does not
(late data, rejudged verdicts). Because the grain of a day depends only on earlier
days and the detector is a pure function of its bins and state, running over a whole
period at once and running day by day give the same change points, hence the same
events. The last, still open day is run from a copy of the state on every run and
never stored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import msgspec.structs
import numpy as np
import numpy.typing as npt

from voipwatch.events import bins, corroborate, cusum, known, rollup, volume
from voipwatch.events.bins import GRAINS, MIN_PER_BIN
from voipwatch.events.cusum import Change, CusumParams, State, decode_state, encode_state
from voipwatch.events.known import KnownChange
from voipwatch.events.model import THROUGHPUT, Event, event_id
from voipwatch.events.rollup import Draft, Segment, SeriesKey
from voipwatch.events.store import load_usage
from voipwatch.store.cells import Cells, memory_limit, read_cells
from voipwatch.store.db import Store, store_errors
from voipwatch.store.detector import (
    DraftSums,
    EchoWindow,
    Member,
    StoredChange,
    StoredState,
    draft_figures,
    echo_sums,
    load_changes,
    load_states,
    read_volume,
    save_detector,
)
from voipwatch.store.events import ensure_schema

#: A technique is named when it accounts for this share of an event's blocked verdicts.
TECHNIQUE_SHARE: Final = 0.1
#: The baseline before an onset that the confidence compares against (hours).
BASELINE_HOURS: Final = 7 * 24
#: Networks changing together count as national when they are at least this share of
#: the networks measuring the service in the country.
NATIONAL_SHARE: Final = 0.6
EPOCH: Final = datetime(1970, 1, 1)
#: ``store_meta`` key of the settings the stored detector states were computed with.
DETECTOR_KEY: Final = "events_detector"
#: Why an event that is not a block is what it is, in the words of its evidence.
REASONS: Final = {
    "target_change": (
        "the same role began failing in many countries at once: the service changed, "
        "not the censors"
    ),
    "outage": (
        "the same role failed in many countries at once and came back: the service's "
        "servers were down, not blocked"
    ),
    "throttling": (
        "downloads naming the app ran far slower than the same downloads naming a "
        "harmless site, from the same server: the app's traffic was slowed, not cut"
    ),
    "possible_shutdown": (
        "every service measured on this network failed at once, for a few hours: "
        "the network or its upstream was down, not one app blocked"
    ),
}


def hours(t: datetime) -> int:
    """Whole hours since the epoch of a naive-UTC or aware time."""
    if t.tzinfo is not None:
        t = t.astimezone(UTC).replace(tzinfo=None)
    return int((t - EPOCH).total_seconds() // 3600)


def when(h: int) -> datetime:
    """The aware UTC time of an hour count."""
    return (EPOCH + timedelta(hours=h)).replace(tzinfo=UTC)


def iso(h: int | None) -> str | None:
    """An hour count as ISO 8601 UTC text (``2026-01-05T13:00:00Z``), as events print."""
    return None if h is None else (EPOCH + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class Series:
    """A cell series as a run takes it up: from its stored state and seal when those
    fit the cells, else from its beginning; its change points, sealed and not."""

    key: SeriesKey
    state: State
    from_h: int
    #: Whether the stored state fitted the cells: the series goes on from its seal.
    resumed: bool
    sealed_n: int
    sealed_digest: int
    changes: list[Change]
    provisional: list[Change]


def fingerprint(params: CusumParams) -> str:
    """What the stored states were computed with: states of other settings are not
    resumed."""
    return f"{params!r} grains={GRAINS} min_per_bin={MIN_PER_BIN}"


#: Before every hour: a series without a stored state is run from its beginning.
_ALL: Final = -(2**62)


def _change(c: StoredChange) -> Change:
    return Change(
        c.direction,
        hours(c.detected_at),
        hours(c.change_at),
        hours(c.earliest),
        hours(c.latest),
        c.margin,
    )


def load_series(store: Store, cells: Cells, seal_h: int, params: CusumParams) -> list[Series]:
    """Every series with its stored state when that state still fits the cells: the
    cells before its seal are those it was computed from (same count, same digest)."""
    stored_changes: dict[SeriesKey, list[Change]] = defaultdict(list)
    states: dict[SeriesKey, StoredState] = {}
    # A read-only run recomputes everything; so does one with other settings.
    if not store.read_only and store.meta(DETECTOR_KEY) == fingerprint(params):
        states = load_states(store)
        for c in load_changes(store):
            stored_changes[c.series].append(_change(c))
    sealed = np.array(
        [
            hours(st.sealed_until) if (st := states.get(key)) is not None else _ALL
            for key in cells.series
        ],
        dtype=np.int64,
    )
    seal = np.full(len(cells.series), seal_h, dtype=np.int64)
    old_n, new_n = np.zeros(len(seal), dtype=np.int64), np.zeros(len(seal), dtype=np.int64)
    old_d, new_d = np.zeros(len(seal), dtype=np.uint64), np.zeros(len(seal), dtype=np.uint64)
    # Without stored states there is nothing to compare the cells before them with.
    digested = ((sealed, old_n, old_d),) if states else ()
    for part in bins.parts(cells):
        hashes = bins.cell_hashes(part)
        for before, n, d in (*digested, (seal, new_n, new_d)):
            part_n, part_d = bins.digests(part, hashes, before)
            n += part_n
            d ^= part_d
    out: list[Series] = []
    for i, key in enumerate(cells.series):
        st = states.get(key)
        fits = (
            st is not None
            and int(sealed[i]) <= seal_h
            and int(old_n[i]) == st.n
            and int(old_d[i]) == st.digest
        )
        out.append(
            Series(
                key=key,
                state=decode_state(st.state) if fits and st is not None else State(),
                from_h=int(sealed[i]) if fits else _ALL,
                resumed=fits,
                sealed_n=int(new_n[i]),
                sealed_digest=int(new_d[i]),
                changes=list(stored_changes[key]) if fits else [],
                provisional=[],
            )
        )
    return out


def _run_series(cells: Cells, series: list[Series], seal_h: int, params: CusumParams) -> None:
    from_h = np.array([s.from_h for s in series], dtype=np.int64)
    for part in bins.parts(cells):
        sid, binned = bins.bins(part, from_h)
        first, last = int(part.sid[0]), int(part.sid[-1])
        bounds = np.searchsorted(sid, np.arange(first, last + 2))
        # Where each series' bins reach the seal: its sealed bins, then the open day's.
        sealed = np.concatenate(([0], np.cumsum(binned.start < seal_h)))
        mids = bounds[:-1] + sealed[bounds[1:]] - sealed[bounds[:-1]]
        prep = cusum.prepare(binned, params, bounds[:-1])
        for s, lo, mid, hi in zip(
            series[first : last + 1],
            bounds[:-1].tolist(),
            mids.tolist(),
            bounds[1:].tolist(),
            strict=True,
        ):
            s.changes.extend(cusum.run_range(binned, prep, lo, mid, s.state, params))
            if mid < hi:
                copy = decode_state(encode_state(s.state))
                s.provisional = cusum.run_range(binned, prep, mid, hi, copy, params)


def _save_series(store: Store, series: list[Series], seal_h: int, params: CusumParams) -> None:
    seal = when(seal_h).replace(tzinfo=None)

    def naive(h: int) -> datetime:
        return when(h).replace(tzinfo=None)

    save_detector(
        store,
        (DETECTOR_KEY, fingerprint(params)),
        [
            (s.key, StoredState(seal, s.sealed_n, s.sealed_digest, encode_state(s.state)))
            for s in series
        ],
        [
            StoredChange(
                s.key,
                c.direction,
                naive(c.detected_at),
                naive(c.at),
                naive(c.earliest),
                naive(c.latest),
                c.margin,
            )
            for s in series
            for c in s.changes
        ],
    )


def change_points(
    store: Store, cells: Cells, params: CusumParams | None = None
) -> tuple[dict[SeriesKey, list[Change]], int | None]:
    """Every series' change points (stored, resumed and provisional) and the data's end.

    On a writable store the sealed part is stored for the next run; on a read-only one
    everything is recomputed and nothing written.
    """
    params = params or CusumParams()
    if not len(cells):
        return {}, None
    last_h = int(cells.h.max())
    seal_h = last_h // 24 * 24
    series = load_series(store, cells, seal_h, params)
    _run_series(cells, series, seal_h, params)
    if not store.read_only:
        _save_series(store, series, seal_h, params)
    return {s.key: [*s.changes, *s.provisional] for s in series}, last_h + 1


def detect_events(
    store: Store,
    *,
    cells: Cells | None = None,
    params: CusumParams | None = None,
    known_changes: list[KnownChange] | None = None,
) -> list[Event]:
    """Run the detector over the cells (built by ``build_cells``) and assemble events.

    ``cells`` are every cell when the caller has them (``build_cells(...).counted``
    after counting a fresh store); without them they are read from the store.

    Stored usage series (``voipwatch events --usage``) corroborate blocks with surges.
    ``known_changes`` (the shipped list when None) label the failures they explain as
    target changes or outages, however few countries are measured. Nothing is saved
    but the detector's state; :func:`voipwatch.events.store.save_events` stores the
    events.
    """
    known_list = known.load() if known_changes is None else known_changes
    usable = ensure_schema(store)
    if not usable:
        return []
    with store_errors(store.path, "detecting events"), memory_limit(store):
        if cells is None:
            cells = read_cells(store)
        changes, data_end = change_points(store, cells, params)
        del cells
        if data_end is None:
            return []
        every = [s for key, cs in sorted(changes.items()) for s in rollup.segments(key, cs)]
        # A throttle is isolated by its own control (a harmless name, same server, same
        # moment): an app's change or a network down shows as a failed control there,
        # never as a throttle, so throttles skip the artefact rules.
        throttles = [s for s in every if s.series[4] == THROUGHPUT]
        segs = [s for s in every if s.series[4] != THROUGHPUT]
        artefact = rollup.global_artefacts(
            segs, _measured(k for k in changes if k[4] != THROUGHPUT)
        )
        documented: dict[int, KnownChange] = {}
        for i, seg in enumerate(segs):
            role = rollup.role_name(seg.series[2], seg.series[3])
            found = known.explains(known_list, role, seg.start, seg.end)
            if found is not None:
                documented[i] = found
                artefact[i] = found.kind
        artefact.update(_echoed(store, segs, artefact))
        artefact.update(rollup.late_joiners(segs, artefact))
        down = rollup.outages(segs) - set(artefact)
        drafts = [
            *(
                d
                for kind in known.KINDS
                for d in rollup.roll_up(
                    [s for i, s in enumerate(segs) if artefact.get(i) == kind], kind
                )
            ),
            *rollup.roll_up(
                [s for i, s in enumerate(segs) if i not in artefact and i not in down], "block"
            ),
            *rollup.roll_up(throttles, "throttling"),
        ]
        collapses = _shutdowns(store)
        outages = rollup.by_network(
            [segs[i] for i in sorted(down)],
            "possible_shutdown",
            window=rollup.OUTAGE_WINDOW_HOURS,
        )
        # An outage seen in the verdicts is dropped where the volume already tells of it.
        outages = [d for d in outages if not _covered(d, collapses)]
        events = [
            _documented(e, documented, segs)
            for e in _events(store, [*drafts, *outages], data_end) + collapses
        ]
        for series in load_usage(store):
            events = corroborate.attach_surges(
                events,
                corroborate.detect_surges(series.rows),
                source=series.source,
                tool=series.tool,
            )
    events.sort(key=lambda e: (e.start, e.probe_cc, e.service, e.kind, e.event_id))
    return events


def _echo_span(s: Segment) -> int:
    """The hours of a segment compared across countries: its first ones, at most."""
    return min(rollup.ECHO_HOURS, (s.end or s.start + rollup.ECHO_HOURS) - s.start)


def _echoed(store: Store, segs: list[Segment], artefact: dict[int, str]) -> dict[int, str]:
    """Segments whose role failed the same way, at the same hours, in most countries.

    A detector needs many measurements to call an onset; an app's outage at night, or
    a change on a sparse network, may be called in one country only. The cells say
    more: when most countries measuring the role began failing in the same hours, it
    is the app, not this country's censor, whatever their detectors made of it.
    """
    windows = [
        EchoWindow(i, s.series[0], s.series[2], s.series[3], s.start, s.start + _echo_span(s))
        for i, s in enumerate(segs)
        if i not in artefact
    ]
    shares: dict[int, dict[str, tuple[int, int, int, int]]] = defaultdict(dict)
    for e in echo_sums(
        store, windows, skip_plane=THROUGHPUT, before_hours=rollup.ECHO_BEFORE_HOURS
    ):
        shares[e.idx][e.probe_cc] = (e.b, e.n, e.b0, e.n0)
    out = {}
    for i, per_cc in shares.items():
        kind = rollup.echo_kind(segs[i], per_cc)
        if kind is not None:
            out[i] = kind
    return out


def _documented(e: Event, documented: dict[int, KnownChange], segs: list[Segment]) -> Event:
    """An artefact with the known change that explains it, if one does."""
    if e.kind not in known.KINDS:
        return e
    roles = set(e.roles)
    for i, change in sorted(documented.items()):
        s = segs[i]
        if (
            change.kind == e.kind
            and s.series[0] == e.probe_cc
            and rollup.role_name(s.series[2], s.series[3]) in roles
            and when(s.start) >= e.start_earliest
        ):
            evidence = {**e.evidence, "known_change": change.as_dict()}
            evidence["reason"] = f"a documented change of the app: {change.what}"
            return msgspec.structs.replace(e, evidence=evidence)
    return e


def _covered(d: Draft, collapses: list[Event]) -> bool:
    start, end = when(d.first.start), when(d.end) if d.end is not None else None
    return any(
        e.probe_cc == d.probe_cc
        and e.asns == d.asns
        and (e.end is None or start <= e.end)
        and (end is None or e.start <= end)
        for e in collapses
    )


def _measured(series: Iterable[SeriesKey]) -> dict[tuple[str, str], tuple[int, int]]:
    """Per (service, role): how many countries and networks measure it (every series
    the detector ran, so no second pass over the cells)."""
    countries: dict[tuple[str, str], set[str]] = defaultdict(set)
    networks: dict[tuple[str, str], set[tuple[str, int]]] = defaultdict(set)
    for cc, asn, service, role, _plane in series:
        countries[(service, role)].add(cc)
        networks[(service, role)].add((cc, asn))
    return {k: (len(countries[k]), len(networks[k])) for k in countries}


def _events(store: Store, drafts: list[Draft], data_end: int) -> list[Event]:
    """Count each draft's measurements, techniques and networks, and make it an event."""
    if not drafts:
        return []
    members = [
        Member(d, s.series, s.start, s.end if s.end is not None else data_end)
        for d, draft in enumerate(drafts)
        for s in draft.members
    ]
    figures = draft_figures(store, members, baseline_hours=BASELINE_HOURS)
    return [
        _event(
            d,
            figures.sums.get(i, DraftSums(0, 0, 0, 0, None)),
            figures.techniques.get(i, []),
            figures.networks.get(i, 0),
        )
        for i, d in enumerate(drafts)
    ]


def confidence(*, contrast: float, blocked: float, networks: int) -> float:
    """How sure the evidence makes the event, 0–1.

    The product of three plain factors: how far the blocked share rose above the week
    before (``contrast``), how many blocked verdicts back it (saturating near 20), and
    how many networks changed together (one alone is the weakest case).
    """
    support = 1 - np.exp(-blocked / 8)
    breadth = 1 - 0.5**networks
    value = max(0.0, min(1.0, contrast)) * (0.4 + 0.6 * support) * (0.6 + 0.4 * breadth)
    return round(float(value), 3)


def _event(d: Draft, sums: DraftSums, techniques: list[tuple[str, int]], measured: int) -> Event:
    n, b, base_n, base_b = float(sums.n), float(sums.b), float(sums.base_n), float(sums.base_b)
    last_blocked = sums.last_affected
    share = b / n if n else 0.0
    base = base_b / base_n if base_n else 0.0
    total = sum(c for _, c in techniques)
    names = [t for t, c in techniques if total and c / total >= TECHNIQUE_SHARE]
    first = d.first
    asns = d.asns
    end = d.end
    ends = [s for s in d.members if s.end is not None]
    last = max(ends, key=lambda s: s.end or 0) if end is not None and ends else None
    national = len(asns) >= 2 and len(asns) >= NATIONAL_SHARE * max(measured, 1)
    start = when(first.start)
    evidence: dict[str, object] = {
        "detected_at": iso(min(s.detected_at for s in d.members)),
        "networks_measured": measured,
        "baseline_blocked_share": round(base, 4),
        "margin": round(max(s.margin for s in d.members), 3),
        "series": [
            {
                "asn": s.series[1],
                "role": rollup.role_name(s.series[2], s.series[3]),
                "plane": s.series[4],
                "start": iso(s.start),
                "end": iso(s.end),
                "detected_at": iso(s.detected_at),
            }
            for s in sorted(d.members, key=lambda s: (s.start, s.series))
        ],
    }
    if last_blocked is not None:
        # The end of the last hour that still showed the block: an ongoing event's
        # evidence goes no further, so neither does its price.
        evidence["last_evidence"] = iso(int(last_blocked) + 1)
    if d.kind in REASONS:
        evidence["reason"] = REASONS[d.kind]
    return Event(
        event_id=event_id(d.kind, d.probe_cc, d.service, asns, start, d.plane),
        kind=d.kind,  # type: ignore[arg-type]
        probe_cc=d.probe_cc,
        asns=asns,
        national=national,
        service=d.service,
        roles=d.roles,
        plane=d.plane,
        techniques=names,
        start=start,
        start_earliest=when(min(s.start_earliest for s in d.members)),
        start_latest=when(first.start_latest),
        end=when(end) if end is not None else None,
        end_earliest=when(last.end_earliest) if last and last.end_earliest is not None else None,
        end_latest=when(last.end_latest) if last and last.end_latest is not None else None,
        confidence=confidence(contrast=share - base, blocked=b, networks=len(asns)),
        measurements=int(n),
        blocked_share=round(share, 4),
        evidence=evidence,
    )


def _shutdowns(store: Store) -> list[Event]:
    """Possible shutdowns from each network's measurement volume."""
    vol = read_volume(store)
    if not len(vol.h):
        return []
    ccs, asns, hs, ns = vol.probe_cc, vol.asn, vol.h, vol.n
    end = int(hs.max()) + 1
    # Rows are sorted by network: each network's hours are one slice.
    cuts = np.flatnonzero((ccs[1:] != ccs[:-1]) | (asns[1:] != asns[:-1])) + 1
    by_net: dict[tuple[str, int], tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = {}
    for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), len(hs)], strict=True):
        by_net[(str(ccs[lo]), int(asns[lo]))] = (hs[lo:hi], ns[lo:hi])
    events: list[Event] = []
    for (cc, asn), (net_h, net_n) in sorted(by_net.items()):
        first = int(net_h[0])
        counts = np.zeros(end - first, dtype=np.int64)
        counts[net_h - first] = net_n
        for c in volume.collapses(first, counts):
            start = when(c.start)
            depth = 1 - c.observed / c.expected if c.expected else 1.0
            events.append(
                Event(
                    event_id=event_id("possible_shutdown", cc, "*", [asn], start),
                    kind="possible_shutdown",
                    probe_cc=cc,
                    asns=[asn],
                    national=False,
                    service="*",
                    roles=[],
                    plane="*",
                    techniques=[],
                    start=start,
                    start_earliest=when(c.earliest),
                    start_latest=start + timedelta(hours=1),
                    end=when(c.end) if c.end is not None else None,
                    end_earliest=when(c.end - 1) if c.end is not None else None,
                    end_latest=when(c.end_latest) if c.end_latest is not None else None,
                    confidence=round(max(0.0, min(1.0, depth)) * 0.8, 3),
                    measurements=c.observed,
                    blocked_share=0.0,
                    evidence={
                        "expected_measurements": round(c.expected, 1),
                        "observed_measurements": c.observed,
                        "reason": "measurement volume collapsed on this network",
                        # What the claim rests on, for the page and the brief to draw.
                        "volume": [
                            {"hour": iso(h), "measurements": n, "usual": u}
                            for h, n, u in volume.series(first, counts, c)
                        ],
                    },
                )
            )
    return events
