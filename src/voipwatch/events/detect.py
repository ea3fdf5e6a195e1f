"""Detection: cells → change points per series → events, with the detector's state kept.

Each cell series (country, network, service, role, plane) is binned at a grain chosen
per day from the series' own volume over the week before (an hour for busy networks,
up to a day for networks measured a few times a day), and fed to the CUSUM of
:mod:`voipwatch.events.cusum`.

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
from typing import Any, Final

import msgspec.structs
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from voipwatch.events import corroborate, known, rollup, volume
from voipwatch.events.cells import memory_limit
from voipwatch.events.cusum import Bins, Change, CusumParams, State, decode_state, encode_state, run
from voipwatch.events.known import KnownChange
from voipwatch.events.model import THROUGHPUT, Event, event_id
from voipwatch.events.rollup import Draft, Segment, SeriesKey
from voipwatch.events.store import ensure_schema, load_usage
from voipwatch.store.db import Store, registered, store_errors

SERIES: Final = ("probe_cc", "asn", "service", "role", "plane")
_S: Final = ", ".join(SERIES)
#: Bin sizes (hours) a series may be binned at; each divides a day.
GRAINS: Final = (1, 2, 3, 6, 12, 24)
#: A day's grain is the smallest bin expected to hold this many judged measurements.
MIN_PER_BIN: Final = 3.0
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

# On the throughput series the affected verdicts are the throttled ones (``degraded``:
# the app's name ran slow, a harmless one did not); a reset there is a block, which
# the role's own series shows.
_CELLS: Final = f"""
    CREATE OR REPLACE TEMP TABLE _ev_c AS
    SELECT {_S}, hash({_S}) AS sk, hour, date_trunc('day', hour) AS day,
           datediff('hour', TIMESTAMP '1970-01-01', hour) AS h,
           ok + blocked + partial + degraded AS n,
           CASE WHEN plane = '{THROUGHPUT}' THEN degraded ELSE blocked + partial END AS b
    FROM event_cells
    WHERE asn > 0 AND probe_cc <> 'ZZ' AND ok + blocked + partial + degraded > 0
"""
_DIGESTS: Final = f"""
    SELECT c.{", c.".join(SERIES)}, any_value(c.sk),
           count(*) FILTER (WHERE c.hour < s.sealed_until),
           bit_xor(hash(c.h, c.n, c.b)) FILTER (WHERE c.hour < s.sealed_until),
           count(*) FILTER (WHERE c.hour < $seal),
           bit_xor(hash(c.h, c.n, c.b)) FILTER (WHERE c.hour < $seal),
           any_value(s.sealed_until), any_value(s.n), any_value(s.digest), any_value(s.state)
    FROM _ev_c AS c LEFT JOIN event_series_state AS s USING ({_S})
    GROUP BY ALL ORDER BY ALL
"""


def _grain_case(rate: str) -> str:
    whens = " ".join(f"WHEN {rate} * {g} / 24 >= {MIN_PER_BIN} THEN {g}" for g in GRAINS[:-1])
    return f"CASE {whens} ELSE {GRAINS[-1]} END"


# Series are joined by a hash of their key columns (``sk``), which is what makes
# this a join on one integer instead of five strings.
_BINS: Final = f"""
    WITH d AS (
        SELECT sk, day, sum(n) AS n FROM _ev_c GROUP BY ALL
    ), g AS (
        SELECT sk, day,
               sum(n) OVER (PARTITION BY sk ORDER BY day RANGE BETWEEN INTERVAL 7 DAYS
                            PRECEDING AND INTERVAL 1 DAY PRECEDING) AS past_n,
               least(7, datediff('day', min(day) OVER (PARTITION BY sk), day)) AS past_days
        FROM d
    ), gr AS (
        SELECT sk, day,
               CASE WHEN past_days = 0 OR past_n IS NULL THEN 1
                    ELSE {_grain_case("(past_n / past_days)")} END AS grain
        FROM g
    ), b AS (
        SELECT f.idx, c.h, c.n, c.b, gr.grain,
               datediff('hour', TIMESTAMP '1970-01-01', gr.day)
                 + (hour(c.hour) // gr.grain) * gr.grain AS bin
        FROM _ev_c AS c
        JOIN gr ON gr.sk = c.sk AND gr.day = c.day
        JOIN _ev_from AS f ON f.sk = c.sk
        WHERE c.h >= f.from_h
    )
    -- An hour's bin is its cell: only coarser bins need grouping.
    SELECT idx AS sid, bin, bin + 1 AS bin_end, n, b,
           CASE WHEN 2 * b >= n THEN h ELSE -1 END AS first_blocked,
           CASE WHEN 2 * b >= n THEN h ELSE -1 END AS last_blocked,
           CASE WHEN 2 * b < n THEN h ELSE -1 END AS first_clean,
           CASE WHEN 2 * b < n THEN h ELSE -1 END AS last_clean
    FROM b WHERE grain = 1
    UNION ALL
    SELECT idx, bin, bin + any_value(grain), sum(n), sum(b),
           coalesce(min(h) FILTER (WHERE 2 * b >= n), -1),
           coalesce(max(h) FILTER (WHERE 2 * b >= n), -1),
           coalesce(min(h) FILTER (WHERE 2 * b < n), -1),
           coalesce(max(h) FILTER (WHERE 2 * b < n), -1)
    FROM b WHERE grain > 1 GROUP BY idx, bin
    ORDER BY sid, bin
"""


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
class _Series:
    key: SeriesKey
    sk: int
    state: State
    from_h: int
    resumed: bool
    sealed_n: int
    sealed_digest: int
    changes: list[Change]
    provisional: list[Change]


def fingerprint(params: CusumParams) -> str:
    """What the stored states were computed with: states of other settings are not
    resumed."""
    return f"{params!r} grains={GRAINS} min_per_bin={MIN_PER_BIN}"


def _load_series(store: Store, seal: datetime, params: CusumParams) -> list[_Series]:
    """Every series with its stored state when that state still fits the cells."""
    out: list[_Series] = []
    stored: dict[SeriesKey, list[Change]] = defaultdict(list)
    # A read-only run recomputes everything; so does one with other settings.
    resumable = not store.read_only
    if resumable:
        row = store.con.execute(
            "SELECT value FROM store_meta WHERE name = ?", [DETECTOR_KEY]
        ).fetchone()
        resumable = row is not None and row[0] == fingerprint(params)
    if resumable:
        for r in store.con.execute(
            f"SELECT {_S}, direction, detected_at, change_at, earliest, latest, margin "
            f"FROM event_changes ORDER BY {_S}, detected_at"
        ).fetchall():
            stored[(r[0], int(r[1]), r[2], r[3], r[4])].append(
                Change(int(r[5]), hours(r[6]), hours(r[7]), hours(r[8]), hours(r[9]), r[10])
            )
    digests = store.con.execute(_DIGESTS, {"seal": seal}).fetchall()
    for r in digests:
        key: SeriesKey = (r[0], int(r[1]), r[2], r[3], r[4])
        sk, old_n, old_d, new_n, new_d, sealed_until, st_n, st_d, st_text = r[5:14]
        fits = (
            resumable
            and sealed_until is not None
            and sealed_until <= seal
            and int(old_n) == int(st_n)
            and (old_d or 0) == int(st_d)
        )
        state = decode_state(st_text) if fits else State()
        from_h = hours(sealed_until) if fits else -(2**62)
        out.append(
            _Series(
                key=key,
                sk=int(sk),
                state=state,
                from_h=from_h,
                resumed=fits,
                sealed_n=int(new_n),
                sealed_digest=int(new_d or 0),
                changes=list(stored[key]) if fits else [],
                provisional=[],
            )
        )
    return out


def _bins_of(cols: dict[str, Any], lo: int, hi: int) -> Bins:
    return Bins(
        start=cols["bin"][lo:hi],
        end=cols["bin_end"][lo:hi],
        n=cols["n"][lo:hi],
        b=cols["b"][lo:hi],
        first_blocked=cols["first_blocked"][lo:hi],
        last_blocked=cols["last_blocked"][lo:hi],
        first_clean=cols["first_clean"][lo:hi],
        last_clean=cols["last_clean"][lo:hi],
    )


def _run_series(store: Store, series: list[_Series], seal_h: int, params: CusumParams) -> None:
    keys = pa.table(
        {
            "idx": pa.array(range(len(series)), type=pa.int64()),
            "sk": pa.array([s.sk for s in series], type=pa.uint64()),
            "from_h": pa.array([s.from_h for s in series], type=pa.int64()),
        }
    )
    with registered(store.con, "_ev_from", keys):
        res = store.con.execute(_BINS).fetchnumpy()
    cols: dict[str, Any] = {
        "sid": np.asarray(res["sid"], dtype=np.int64),
        "bin": np.asarray(res["bin"], dtype=np.int64),
        "bin_end": np.asarray(res["bin_end"], dtype=np.int64),
        "n": np.asarray(res["n"], dtype=np.int64),
        "b": np.asarray(res["b"], dtype=np.float64),
        **{
            k: np.asarray(res[k], dtype=np.int64)
            for k in ("first_blocked", "last_blocked", "first_clean", "last_clean")
        },
    }
    sid = cols["sid"]
    bounds = np.searchsorted(sid, np.arange(len(series) + 1))
    for i, s in enumerate(series):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        mid = lo + int(np.searchsorted(cols["bin"][lo:hi], seal_h))
        s.changes.extend(run(_bins_of(cols, lo, mid), s.state, params))
        copy = decode_state(encode_state(s.state))
        s.provisional = run(_bins_of(cols, mid, hi), copy, params)


def _save_series(store: Store, series: list[_Series], seal: datetime, params: CusumParams) -> None:
    con = store.con
    state_rows = pa.table(
        {
            **{k: pa.array([s.key[i] for s in series]) for i, k in enumerate(SERIES)},
            "sealed_until": pa.array([seal] * len(series), type=pa.timestamp("us")),
            "n": pa.array([s.sealed_n for s in series], type=pa.int64()),
            "digest": pa.array([s.sealed_digest for s in series], type=pa.uint64()),
            "state": pa.array([encode_state(s.state) for s in series], type=pa.string()),
        }
    )
    flat = [(s.key, c) for s in series for c in s.changes]
    change_rows = pa.table(
        {
            **{k: pa.array([key[i] for key, _ in flat]) for i, k in enumerate(SERIES)},
            "direction": pa.array([c.direction for _, c in flat], type=pa.int8()),
            **{
                column: pa.array(
                    [when(getattr(c, f)).replace(tzinfo=None) for _, c in flat],
                    type=pa.timestamp("us"),
                )
                for column, f in (
                    ("detected_at", "detected_at"),
                    ("change_at", "at"),
                    ("earliest", "earliest"),
                    ("latest", "latest"),
                )
            },
            "margin": pa.array([c.margin for _, c in flat], type=pa.float64()),
        }
    )
    with store.transaction():
        con.execute(
            "INSERT OR REPLACE INTO store_meta VALUES (?, ?)", [DETECTOR_KEY, fingerprint(params)]
        )
        con.execute("DELETE FROM event_series_state")
        con.execute("DELETE FROM event_changes")
        with registered(con, "_ev_state", state_rows):
            con.execute(
                f"INSERT INTO event_series_state SELECT {_S}, sealed_until, n, digest, state "
                "FROM _ev_state"
            )
        if flat:
            with registered(con, "_ev_chg", change_rows):
                con.execute(
                    f"INSERT INTO event_changes SELECT {_S}, direction, detected_at, "
                    "change_at, earliest, latest, margin FROM _ev_chg"
                )


def change_points(
    store: Store, params: CusumParams | None = None
) -> tuple[dict[SeriesKey, list[Change]], int | None]:
    """Every series' change points (stored, resumed and provisional) and the data's end.

    On a writable store the sealed part is stored for the next run; on a read-only one
    everything is recomputed and nothing written.
    """
    params = params or CusumParams()
    con = store.con
    con.execute(_CELLS)
    row = con.execute("SELECT max(hour) FROM _ev_c").fetchone()
    if row is None or row[0] is None:
        return {}, None
    last: datetime = row[0]
    seal = datetime(last.year, last.month, last.day)
    series = _load_series(store, seal, params)
    _run_series(store, series, hours(seal), params)
    if not store.read_only:
        _save_series(store, series, seal, params)
    return {s.key: [*s.changes, *s.provisional] for s in series}, hours(last) + 1


def detect_events(
    store: Store,
    *,
    params: CusumParams | None = None,
    known_changes: list[KnownChange] | None = None,
) -> list[Event]:
    """Run the detector over the cells (built by ``build_cells``) and assemble events.

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
        changes, data_end = change_points(store, params)
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
        store.con.execute("DROP TABLE IF EXISTS _ev_c")
    events.sort(key=lambda e: (e.start, e.probe_cc, e.service, e.kind, e.event_id))
    return events


_ECHOES: Final = f"""
    SELECT s.idx, c.probe_cc,
           coalesce(sum(c.n) FILTER (WHERE c.h >= s.t0), 0),
           coalesce(sum(c.b) FILTER (WHERE c.h >= s.t0), 0),
           coalesce(sum(c.n) FILTER (WHERE c.h < s.t0), 0),
           coalesce(sum(c.b) FILTER (WHERE c.h < s.t0), 0)
    FROM _ev_seg AS s JOIN _ev_c AS c
      ON c.service = s.service AND c.role = s.role AND c.plane <> '{THROUGHPUT}'
     AND c.h >= s.t0 - {rollup.ECHO_BEFORE_HOURS} AND c.h < s.t1
     AND (c.h >= s.t0 OR c.h < s.t0 - 2)
    GROUP BY ALL ORDER BY ALL
"""


def _echoed(store: Store, segs: list[Segment], artefact: dict[int, str]) -> dict[int, str]:
    """Segments whose role failed the same way, at the same hours, in most countries.

    A detector needs many measurements to call an onset; an app's outage at night, or
    a change on a sparse network, may be called in one country only. The cells say
    more: when most countries measuring the role began failing in the same hours, it
    is the app, not this country's censor, whatever their detectors made of it.
    """
    rows = [
        (i, s.series[0], s.series[2], s.series[3], s.start,
         s.start + min(rollup.ECHO_HOURS, (s.end or s.start + rollup.ECHO_HOURS) - s.start))
        for i, s in enumerate(segs)
        if i not in artefact
    ]  # fmt: skip
    if not rows:
        return {}
    cols = list(zip(*rows, strict=True))
    table = pa.table(
        {
            "idx": pa.array(cols[0], pa.int64()),
            "probe_cc": pa.array(cols[1], pa.string()),
            "service": pa.array(cols[2], pa.string()),
            "role": pa.array(cols[3], pa.string()),
            "t0": pa.array(cols[4], pa.int64()),
            "t1": pa.array(cols[5], pa.int64()),
        }
    )
    shares: dict[int, dict[str, tuple[int, int, int, int]]] = defaultdict(dict)
    with registered(store.con, "_ev_seg", table):
        for idx, cc, n, b, n0, b0 in store.con.execute(_ECHOES).fetchall():
            shares[int(idx)][cc] = (int(b), int(n), int(b0), int(n0))
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


_STATS: Final = f"""
    SELECT m.draft,
           coalesce(sum(c.n) FILTER (WHERE c.h >= m.t0 AND c.h < m.t1), 0),
           coalesce(sum(c.b) FILTER (WHERE c.h >= m.t0 AND c.h < m.t1), 0),
           coalesce(sum(c.n) FILTER (WHERE c.h < m.t0), 0),
           coalesce(sum(c.b) FILTER (WHERE c.h < m.t0), 0),
           max(c.h) FILTER (WHERE c.h >= m.t0 AND c.h < m.t1 AND c.b > 0)
    FROM _ev_m AS m JOIN _ev_c AS c USING ({_S})
    WHERE c.h >= m.t0 - {BASELINE_HOURS} AND c.h < m.t1
    GROUP BY m.draft
"""
_TECHNIQUES: Final = f"""
    SELECT m.draft, t.technique, sum(t.n)
    FROM _ev_m AS m JOIN event_cell_techniques AS t USING ({_S})
    WHERE datediff('hour', TIMESTAMP '1970-01-01', t.hour) >= m.t0
      AND datediff('hour', TIMESTAMP '1970-01-01', t.hour) < m.t1
    GROUP BY ALL ORDER BY 1, 3 DESC, 2
"""
_NETWORKS: Final = """
    SELECT m.draft, count(DISTINCT c.asn)
    FROM (SELECT draft, any_value(probe_cc) AS probe_cc, any_value(service) AS service,
                 any_value(plane) AS plane, min(t0) AS t0, max(t1) AS t1
          FROM _ev_m GROUP BY draft) AS m
    JOIN _ev_c AS c ON c.probe_cc = m.probe_cc AND c.service = m.service
         AND c.plane = m.plane
    WHERE c.h >= m.t0 AND c.h < m.t1
    GROUP BY m.draft
"""


def _events(store: Store, drafts: list[Draft], data_end: int) -> list[Event]:
    """Count each draft's measurements, techniques and networks, and make it an event."""
    if not drafts:
        return []
    members = [(d, s) for d, draft in enumerate(drafts) for s in draft.members]
    table = pa.table(
        {
            "draft": pa.array([d for d, _ in members], type=pa.int64()),
            **{k: pa.array([s.series[i] for _, s in members]) for i, k in enumerate(SERIES)},
            "t0": pa.array([s.start for _, s in members], type=pa.int64()),
            "t1": pa.array(
                [s.end if s.end is not None else data_end for _, s in members], type=pa.int64()
            ),
        }
    )
    con = store.con
    with registered(con, "_ev_m", table):
        stats = {int(r[0]): r[1:] for r in con.execute(_STATS).fetchall()}
        techniques: dict[int, list[tuple[str, int]]] = defaultdict(list)
        for r in con.execute(_TECHNIQUES).fetchall():
            techniques[int(r[0])].append((str(r[1]), int(r[2])))
        networks = {int(r[0]): int(r[1]) for r in con.execute(_NETWORKS).fetchall()}
    return [
        _event(i, d, stats.get(i, (0, 0, 0, 0, None)), techniques.get(i, []), networks.get(i, 0))
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


def _event(
    idx: int, d: Draft, stats: Any, techniques: list[tuple[str, int]], measured: int
) -> Event:
    n, b, base_n, base_b = (float(x) for x in stats[:4])
    last_blocked = stats[4]
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
    if d.kind == "target_change":
        evidence["reason"] = (
            "the same role began failing in many countries at once: the service changed, "
            "not the censors"
        )
    elif d.kind == "outage":
        evidence["reason"] = (
            "the same role failed in many countries at once and came back: the service's "
            "servers were down, not blocked"
        )
    elif d.kind == "throttling":
        evidence["reason"] = (
            "downloads naming the app ran far slower than the same downloads naming a "
            "harmless site, from the same server: the app's traffic was slowed, not cut"
        )
    elif d.kind == "possible_shutdown":
        evidence["reason"] = (
            "every service measured on this network failed at once, for a few hours: "
            "the network or its upstream was down, not one app blocked"
        )
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
    res = store.con.execute(
        "SELECT probe_cc, asn, datediff('hour', TIMESTAMP '1970-01-01', hour) AS h, "
        "measurements AS n FROM event_volume WHERE asn > 0 AND probe_cc <> 'ZZ' ORDER BY 1, 2, 3"
    ).fetchnumpy()
    if not len(res["h"]):
        return []
    ccs = np.asarray(res["probe_cc"], dtype=object)
    asns = np.asarray(res["asn"], dtype=np.int64)
    hs = np.asarray(res["h"], dtype=np.int64)
    ns = np.asarray(res["n"], dtype=np.int64)
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
