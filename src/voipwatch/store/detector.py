"""What the change-point detector keeps in the store, and the sums it asks of the cells.

The detector itself is pure (:mod:`voipwatch.events.detect`, cells in, events out);
this module is its SQL: the state of each series up to the day it sealed and the
change points found before it (``event_series_state``, ``event_changes``), the
per-event sums over the cells and their techniques, and the measurement volume per
network for possible shutdowns.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from voipwatch.store.cells import IntArray, SeriesKey
from voipwatch.store.db import Store, registered

SERIES: Final = ("probe_cc", "asn", "service", "role", "plane")
_S: Final = ", ".join(SERIES)
_EPOCH: Final = "TIMESTAMP '1970-01-01'"


class StoredState(NamedTuple):
    """A series' detector state at the end of the day it sealed, with the count and
    digest of the cells it was computed from."""

    sealed_until: datetime
    n: int
    digest: int
    state: str


class StoredChange(NamedTuple):
    """A change point found before a series' seal (times naive UTC)."""

    series: SeriesKey
    direction: int
    detected_at: datetime
    change_at: datetime
    earliest: datetime
    latest: datetime
    margin: float


def _key(r: tuple[object, ...]) -> SeriesKey:
    return (str(r[0]), int(str(r[1])), str(r[2]), str(r[3]), str(r[4]))


def load_states(store: Store) -> dict[SeriesKey, StoredState]:
    """Every series' stored detector state."""
    rows = store.con.execute(
        f"SELECT {_S}, sealed_until, n, digest, state FROM event_series_state"
    ).fetchall()
    return {_key(r): StoredState(r[5], int(r[6]), int(r[7]), str(r[8])) for r in rows}


def load_changes(store: Store) -> list[StoredChange]:
    """Every stored change point, by series and detection time."""
    rows = store.con.execute(
        f"SELECT {_S}, direction, detected_at, change_at, earliest, latest, margin "
        f"FROM event_changes ORDER BY {_S}, detected_at"
    ).fetchall()
    return [StoredChange(_key(r), int(r[5]), r[6], r[7], r[8], r[9], float(r[10])) for r in rows]


def save_detector(
    store: Store,
    meta: tuple[str, str],
    states: list[tuple[SeriesKey, StoredState]],
    changes: list[StoredChange],
) -> None:
    """Replace the stored states and change points, and note ``meta`` (name, value:
    the settings they were computed with), atomically."""
    con = store.con
    state_rows = pa.table(
        {
            **{k: pa.array([key[i] for key, _ in states]) for i, k in enumerate(SERIES)},
            "sealed_until": pa.array([s.sealed_until for _, s in states], pa.timestamp("us")),
            "n": pa.array([s.n for _, s in states], type=pa.int64()),
            "digest": pa.array([s.digest for _, s in states], type=pa.uint64()),
            "state": pa.array([s.state for _, s in states], type=pa.string()),
        }
    )
    change_rows = pa.table(
        {
            **{k: pa.array([c.series[i] for c in changes]) for i, k in enumerate(SERIES)},
            "direction": pa.array([c.direction for c in changes], type=pa.int8()),
            **{
                f: pa.array([getattr(c, f) for c in changes], type=pa.timestamp("us"))
                for f in ("detected_at", "change_at", "earliest", "latest")
            },
            "margin": pa.array([c.margin for c in changes], type=pa.float64()),
        }
    )
    with store.transaction():
        store.set_meta(*meta)
        con.execute("DELETE FROM event_series_state")
        con.execute("DELETE FROM event_changes")
        if states:
            with registered(con, "_ev_state", state_rows):
                con.execute(
                    f"INSERT INTO event_series_state SELECT {_S}, sealed_until, n, digest, "
                    "state FROM _ev_state"
                )
        if changes:
            with registered(con, "_ev_chg", change_rows):
                con.execute(
                    f"INSERT INTO event_changes SELECT {_S}, direction, detected_at, "
                    "change_at, earliest, latest, margin FROM _ev_chg"
                )


class EchoWindow(NamedTuple):
    """A segment's window to compare across countries: hours ``t0`` to ``t1``."""

    idx: int
    probe_cc: str
    service: str
    role: str
    t0: int
    t1: int


class EchoSums(NamedTuple):
    """One country's judged and affected verdicts of a segment's role: in its window
    (``n``, ``b``) and in the hours before it (``n0``, ``b0``)."""

    idx: int
    probe_cc: str
    n: int
    b: int
    n0: int
    b0: int


def echo_sums(
    store: Store, windows: list[EchoWindow], *, skip_plane: str, before_hours: int
) -> list[EchoSums]:
    """Per window and country measuring its service and role (on any plane but
    ``skip_plane``), the verdicts in the window and in the ``before_hours`` before it
    (the two hours just before the window left out)."""
    if not windows:
        return []
    cols = list(zip(*windows, strict=True))
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
    sql = f"""
        SELECT s.idx, e.probe_cc,
               coalesce(sum(c.n) FILTER (WHERE c.h >= s.t0), 0),
               coalesce(sum(c.b) FILTER (WHERE c.h >= s.t0), 0),
               coalesce(sum(c.n) FILTER (WHERE c.h < s.t0), 0),
               coalesce(sum(c.b) FILTER (WHERE c.h < s.t0), 0)
        FROM _ev_seg AS s
        JOIN event_series AS e
          ON e.service = s.service AND e.role = s.role AND e.plane <> '{skip_plane}'
        JOIN event_cells AS c
          ON c.sk = e.sk AND c.h >= s.t0 - {int(before_hours)} AND c.h < s.t1
         AND (c.h >= s.t0 OR c.h < s.t0 - 2)
        GROUP BY ALL ORDER BY ALL
    """
    with registered(store.con, "_ev_seg", table):
        rows = store.con.execute(sql).fetchall()
    return [
        EchoSums(int(i), str(cc), int(n), int(b), int(n0), int(b0)) for i, cc, n, b, n0, b0 in rows
    ]


class Member(NamedTuple):
    """One series of a draft event, from hour ``t0`` to ``t1``."""

    draft: int
    series: SeriesKey
    t0: int
    t1: int


class DraftSums(NamedTuple):
    """A draft's verdicts in its window and in the baseline before it, and the last
    hour with an affected verdict."""

    n: int
    b: int
    base_n: int
    base_b: int
    last_affected: int | None


@dataclass(frozen=True, slots=True)
class DraftFigures:
    """What the cells say of each draft event, by draft number."""

    sums: dict[int, DraftSums]
    techniques: dict[int, list[tuple[str, int]]]
    networks: dict[int, int]


def draft_figures(store: Store, members: list[Member], *, baseline_hours: int) -> DraftFigures:
    """Each draft's sums over its members' cells (and ``baseline_hours`` before), its
    techniques, most counted first, and how many networks of its country measured its
    service on its plane during it."""
    table = pa.table(
        {
            "draft": pa.array([m.draft for m in members], type=pa.int64()),
            **{k: pa.array([m.series[i] for m in members]) for i, k in enumerate(SERIES)},
            "t0": pa.array([m.t0 for m in members], type=pa.int64()),
            "t1": pa.array([m.t1 for m in members], type=pa.int64()),
        }
    )
    stats = f"""
        SELECT m.draft,
               coalesce(sum(c.n) FILTER (WHERE c.h >= m.t0 AND c.h < m.t1), 0),
               coalesce(sum(c.b) FILTER (WHERE c.h >= m.t0 AND c.h < m.t1), 0),
               coalesce(sum(c.n) FILTER (WHERE c.h < m.t0), 0),
               coalesce(sum(c.b) FILTER (WHERE c.h < m.t0), 0),
               max(c.h) FILTER (WHERE c.h >= m.t0 AND c.h < m.t1 AND c.b > 0)
        FROM _ev_m AS m JOIN event_series AS e USING ({_S})
        JOIN event_cells AS c ON c.sk = e.sk
        WHERE c.h >= m.t0 - {int(baseline_hours)} AND c.h < m.t1
        GROUP BY m.draft
    """
    techniques = f"""
        SELECT m.draft, t.technique, sum(t.n)
        FROM _ev_m AS m JOIN event_series AS e USING ({_S})
        JOIN event_cell_techniques AS t ON t.sk = e.sk
        WHERE t.h >= m.t0 AND t.h < m.t1
        GROUP BY ALL ORDER BY 1, 3 DESC, 2
    """
    networks = """
        SELECT m.draft, count(DISTINCT e.asn)
        FROM (SELECT draft, any_value(probe_cc) AS probe_cc, any_value(service) AS service,
                     any_value(plane) AS plane, min(t0) AS t0, max(t1) AS t1
              FROM _ev_m GROUP BY draft) AS m
        JOIN event_series AS e ON e.probe_cc = m.probe_cc AND e.service = m.service
             AND e.plane = m.plane
        JOIN event_cells AS c ON c.sk = e.sk
        WHERE c.h >= m.t0 AND c.h < m.t1
        GROUP BY m.draft
    """
    con = store.con
    with registered(con, "_ev_m", table):
        sums = {
            int(r[0]): DraftSums(
                int(r[1]), int(r[2]), int(r[3]), int(r[4]), None if r[5] is None else int(r[5])
            )
            for r in con.execute(stats).fetchall()
        }
        named: dict[int, list[tuple[str, int]]] = defaultdict(list)
        for r in con.execute(techniques).fetchall():
            named[int(r[0])].append((str(r[1]), int(r[2])))
        counted = {int(r[0]): int(r[1]) for r in con.execute(networks).fetchall()}
    return DraftFigures(sums=sums, techniques=dict(named), networks=counted)


@dataclass(frozen=True, slots=True)
class Volume:
    """Measurements per network and hour, sorted by network then hour."""

    probe_cc: npt.NDArray[np.object_]
    asn: IntArray
    h: IntArray
    n: IntArray


def read_volume(store: Store) -> Volume:
    """Every known network's measurements per hour (hours since the epoch)."""
    res = store.con.execute(
        f"SELECT probe_cc, asn, datediff('hour', {_EPOCH}, hour) AS h, measurements AS n "
        "FROM event_volume WHERE asn > 0 AND probe_cc <> 'ZZ' ORDER BY 1, 2, 3"
    ).fetchnumpy()
    return Volume(
        probe_cc=np.asarray(res["probe_cc"], dtype=object),
        asn=np.asarray(res["asn"], dtype=np.int64),
        h=np.asarray(res["h"], dtype=np.int64),
        n=np.asarray(res["n"], dtype=np.int64),
    )
