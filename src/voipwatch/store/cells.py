"""Cells: judged and affected verdicts per (country, network, service, role, plane, hour).

The events tier says what a cell counts (:class:`CellRules`); DuckDB does the counting.
A run first hashes every hour of measurements (count and XOR of a hash of each
one's key and judgement digest, in the one scan of the ``measurements`` table that also counts each
network's volume), compares those digests with the ones stored when the cells were
last counted, and recounts only the hours that differ: new
measurements, late uploads into old hours, and verdicts that ``voipwatch rejudge``
changed (their judgement digest changes) all show up as a changed hour. A fresh store
counts every hour. Everything of one run is one transaction, so an interrupted run
leaves the cells as they were.

A cell is stored as its series' 64-bit key (``sk``, the series itself once in
``event_series``), its hour since the epoch and two counts: what the detector reads.
Only the cells the detector can use are kept — a known network, at least one judged
verdict — so a first run writes four fixed-width columns per cell rather than the
series' five names and every status's count, and hands the cells it counted to
detection (:attr:`CellCount.counted`) instead of reading them back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from voipwatch.store.db import Store, registered, store_errors
from voipwatch.store.events import clear_derived
from voipwatch.store.schema import asn_sql

#: DuckDB's memory while counting cells and detecting: the aggregate's hash table
#: holds one entry per cell (1.6 million for the ten million verdicts of
#: ``benchmarks/bench_events.py``), and what does not fit is spilled to disk, so
#: peak memory stays bounded by this figure whatever the store's size.
MEMORY_LIMIT: Final = "1GB"

#: A cell series: country, network, service, role, plane.
SeriesKey = tuple[str, int, str, str, str]
IntArray = npt.NDArray[np.int64]
I32Array = npt.NDArray[np.int32]


@dataclass(frozen=True, slots=True)
class CellRules:
    """What a cell counts, in the verdicts' vocabulary (``verdicts.status``).

    A verdict is counted on ``throughput_plane`` when its test is ``ab_test`` on the
    web plane, or its technique starts with ``throttle_prefix``; elsewhere on its own
    plane. ``judged`` statuses are a cell's denominator; the affected count is of
    ``blocking`` statuses, or of ``throttled`` on the throughput plane.
    """

    judged: tuple[str, ...]
    blocking: tuple[str, ...]
    throttled: str
    throughput_plane: str
    throttle_prefix: str
    ab_test: str


@dataclass(frozen=True, slots=True)
class Cells:
    """Every cell, grouped by series: ``series[sid[i]]`` is cell ``i``'s series, and the
    cells of a series are contiguous, in hour order (``h``, hours since the epoch);
    ``n`` counts its judged verdicts, ``b`` the affected ones. 32-bit, as DuckDB counts
    them: millions of cells, and each array is written once and read a part at a time
    (:func:`voipwatch.events.bins.parts`)."""

    series: list[SeriesKey]
    sid: I32Array
    h: I32Array
    n: I32Array
    b: I32Array

    def __len__(self) -> int:
        return len(self.h)


@dataclass(frozen=True, slots=True)
class CellCount:
    """What one counting run did."""

    hours_changed: int
    hours_total: int
    cells: int
    fresh: bool
    #: Every cell, grouped by series in hour order, when this run counted them all
    #: (a fresh or rebuilt store); None otherwise.
    counted: Cells | None


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _plane(r: CellRules) -> str:
    return (
        f"CASE WHEN (v.measurement_test = '{r.ab_test}' AND v.plane = 'web') "
        f"OR starts_with(v.technique, '{r.throttle_prefix}') "
        f"THEN '{r.throughput_plane}' ELSE v.plane END"
    )


_HOUR: Final = "date_trunc('hour', measurement_start_time)"
_EPOCH: Final = "TIMESTAMP '1970-01-01'"

#: One scan of the measurements gives both what each hour looked like and the volume
#: per network: count and digest per network and hour, summed per hour below. Each
#: measurement's term mixes its key and judgement digest through a second hash:
#: DuckDB's ``hash(key, judgement_digest)`` is the XOR of the two columns' hashes, so
#: in an XOR over the hour equal judgement digests cancelled whatever their keys. Two
#: stored copies of one measurement whose bytes differ (a local run without a report
#: id, serialised twice) have equal judgement digests, and a rejudge that changed both
#: alike went unseen.
_NETWORK_HOURS: Final = f"""
    CREATE OR REPLACE TEMP TABLE _ev_net AS
    SELECT probe_cc, probe_asn, {_HOUR} AS hour, count(*) AS n,
           bit_xor(hash(xor(hash(key), hash(judgement_digest)))) AS digest
    FROM measurements WHERE measurement_start_time IS NOT NULL GROUP BY ALL
"""
_DIGESTS: Final = """
    CREATE OR REPLACE TEMP TABLE _ev_digest AS
    SELECT hour, sum(n)::BIGINT AS n, bit_xor(digest) AS digest FROM _ev_net GROUP BY hour
"""
_CHANGED: Final = """
    CREATE OR REPLACE TEMP TABLE _ev_changed AS
    SELECT hour, datediff('hour', TIMESTAMP '1970-01-01', hour) AS h
    FROM _ev_digest AS c FULL OUTER JOIN event_hour_digests AS s USING (hour)
    WHERE c.n IS DISTINCT FROM s.n OR c.digest IS DISTINCT FROM s.digest
"""


def _counted(only_changed: bool, hour: str, asn: str) -> str:
    """The rows a count reads: dated, on a known network, of the changed hours only
    when asked."""
    where = f"{hour} IS NOT NULL AND {asn} IS NOT NULL"
    if only_changed:
        where += f" AND {hour} IN (SELECT hour FROM _ev_changed)"
    return where


_V_COUNTED: Final = {"hour": "v.measurement_hour", "asn": "v.measurement_asn"}


def _rows(r: CellRules, only_changed: bool, also: str = "TRUE") -> str:
    """The verdict rows a count reads (those that pass ``also`` too), each with its
    series' names (the plane of the throughput A/B decided per verdict). Rows no cell
    keeps (an unknown network or country) are left out before counting, not after."""
    return f"""
        SELECT v.measurement_cc AS probe_cc, v.measurement_asn AS asn, v.service, v.role,
               {_plane(r)} AS plane, v.measurement_hour AS hour, v.status, v.technique
        FROM verdicts AS v
        WHERE {_counted(only_changed, **_V_COUNTED)}
          AND v.measurement_asn > 0 AND v.measurement_cc <> 'ZZ' AND ({also})
    """


def _new_cells(r: CellRules, only_changed: bool) -> str:
    """One aggregate over the verdicts, which carry their measurement's country,
    network, hour and test: no join. It groups by the series' 64-bit hash and the
    hour, two numbers, rather than by five names and the hour, and returns only
    numbers: hashing a verdict's names costs less than a group key of five strings,
    and the names are looked up once per new series (:func:`_new_series`). The cells
    come in no order (:func:`cell_order` sorts them)."""
    affected = (
        f"CASE WHEN plane = '{r.throughput_plane}' THEN status = '{r.throttled}' "
        f"ELSE status IN ({_quoted(r.blocking)}) END"
    )
    return f"""
        SELECT sk, datediff('hour', {_EPOCH}, hour)::INTEGER AS h, n, b FROM (
            SELECT hash(probe_cc, asn, service, role, plane) AS sk, hour,
                   count(*) FILTER (WHERE status IN ({_quoted(r.judged)}))::INTEGER AS n,
                   count(*) FILTER (WHERE {affected})::INTEGER AS b
            FROM ({_rows(r, only_changed)})
            GROUP BY sk, hour
        )
        WHERE n > 0
    """


def _new_series(r: CellRules, only_changed: bool) -> str:
    """The names of the series first seen in this count, from the verdicts of each
    one's first cell (``_ev_first``: its key and hour) only."""
    return f"""
        INSERT INTO event_series
        SELECT sk, any_value(probe_cc), any_value(asn), any_value(service), any_value(role),
               any_value(plane)
        FROM (
            SELECT hash(probe_cc, asn, service, role, plane) AS sk,
                   datediff('hour', {_EPOCH}, hour)::INTEGER AS h, *
            FROM ({_rows(r, only_changed)})
            WHERE hour IN (SELECT {_EPOCH} + to_hours(h) FROM _ev_first)
        )
        SEMI JOIN _ev_first USING (sk, h)
        GROUP BY sk
    """


def _insert_techniques(r: CellRules, only_changed: bool) -> str:
    """Techniques come only from blocking verdicts and throttles with one named (a few
    in a hundred), kept per cell as the cells are: series key and hour. They are
    picked out before the plane and the series' hash are worked out for them."""
    named = (
        f"v.technique IS NOT NULL AND (v.status IN ({_quoted(r.blocking)}) "
        f"OR starts_with(v.technique, '{r.throttle_prefix}'))"
    )
    return f"""
        INSERT INTO event_cell_techniques
        SELECT hash(probe_cc, asn, service, role, plane),
               datediff('hour', {_EPOCH}, hour)::INTEGER, technique, count(*)
        FROM ({_rows(r, only_changed, named)})
        GROUP BY ALL
    """


def _insert_volume(only_changed: bool) -> str:
    """Measurements per network and hour, from the counts per network text and hour
    (two spellings of one network are one network)."""
    return f"""
        INSERT INTO event_volume
        SELECT probe_cc, asn, hour, sum(n) FROM (
            SELECT probe_cc, {asn_sql("probe_asn")} AS asn, hour, n FROM _ev_net
        )
        WHERE {_counted(only_changed, "hour", "asn")} GROUP BY ALL
    """


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


@contextmanager
def memory_limit(store: Store, limit: str = MEMORY_LIMIT) -> Iterator[None]:
    """DuckDB's memory limit raised to ``limit`` for the block, then restored."""
    row = store.con.execute("SELECT current_setting('memory_limit')").fetchone()
    before = str(row[0]) if row else None
    store.con.execute(f"SET memory_limit = '{limit}'")
    try:
        yield
    finally:
        if before is not None:
            with contextlib.suppress(duckdb.Error):
                store.con.execute(f"SET memory_limit = '{before}'")


def _as_cells(
    sk: npt.NDArray[np.uint64], h: I32Array, n: I32Array, b: I32Array, keys: dict[int, SeriesKey]
) -> Cells:
    """Cells sorted by series key and hour, with each series named by ``keys``."""
    if not len(sk):
        empty = np.zeros(0, dtype=np.int32)
        return Cells([], empty, empty, empty, empty)
    new = np.ones(len(sk), dtype=bool)
    new[1:] = sk[1:] != sk[:-1]
    sid = np.cumsum(new, dtype=np.int32)
    sid -= 1
    return Cells(series=[keys[int(k)] for k in sk[new]], sid=sid, h=h, n=n, b=b)


def _series_keys(con: duckdb.DuckDBPyConnection, where: str = "") -> dict[int, SeriesKey]:
    """The named series (those ``where``, our own SQL, selects), by key."""
    return {
        int(sk): (str(cc), int(asn), str(svc), str(role), str(plane))
        for sk, cc, asn, svc, role, plane in con.execute(
            f"SELECT sk, probe_cc, asn, service, role, plane FROM event_series {where}"
        ).fetchall()
    }


def read_cells(store: Store) -> Cells:
    """Every cell the detector reads, grouped by series in hour order."""
    res = store.con.execute("SELECT sk, h, n, b FROM event_cells ORDER BY sk, h").fetchnumpy()
    sk = np.asarray(res["sk"], dtype=np.uint64)
    h, n, b = (np.asarray(res[c], dtype=np.int32) for c in ("h", "n", "b"))
    return _as_cells(sk, h, n, b, _series_keys(store.con))


#: Cells are sorted by one slot per series and hour when there are at most this many
#: slots per cell, else by comparison.
DENSE_SLOTS: Final = 4


def cell_order(sk: npt.NDArray[np.uint64], h: I32Array) -> I32Array:
    """The order of cells ``(sk, h)`` (each pair once) by series key, then hour.

    Most series are measured most hours, so the cells nearly fill a grid of series by
    hours: numbering the series (a hash table, not a sort) and placing each cell in its
    slot of the grid orders them in a few linear passes, where a sort compares them
    log n times. Cells spread far more thinly than that are sorted.
    """
    if not len(sk):
        return np.zeros(0, dtype=np.int32)
    encoded = pc.dictionary_encode(pa.array(sk, pa.uint64()))
    keys = np.asarray(encoded.dictionary, dtype=np.uint64)
    lo = int(h.min())
    span = int(h.max()) - lo + 1
    slots = len(keys) * span
    if slots > DENSE_SLOTS * len(sk) or slots >= 2**31:
        return np.lexsort((h, sk)).astype(np.int32)
    # Series numbered in key order, so that the grid's rows are in key order too.
    rank = np.empty(len(keys), dtype=np.int32)
    rank[np.argsort(keys)] = np.arange(len(keys), dtype=np.int32)
    slot = rank.take(np.asarray(encoded.indices, dtype=np.int32))
    # In place: each temporary the size of every cell costs its pages' first touch.
    slot *= span
    slot += h
    slot -= lo
    grid = np.full(slots, -1, dtype=np.int32)
    grid[slot] = np.arange(len(sk), dtype=np.int32)
    return grid[grid >= 0]


#: Rows per Arrow batch DuckDB hands the counted cells over in.
_BATCH: Final = 1 << 22


def _save_cells(store: Store, rules: CellRules, only_changed: bool) -> Cells:
    """Count the cells, write them, and name the series not seen before; the cells
    counted."""
    con = store.con
    # Arrow, not numpy: DuckDB hands its columns over with less copying (in as few
    # chunks as it can, so that reading them as arrays copies nothing), and Arrow
    # reorders the four columns in one pass.
    counted = con.sql(_new_cells(rules, only_changed)).to_arrow_table(batch_size=_BATCH)
    order = cell_order(
        np.asarray(counted.column("sk").to_numpy(), dtype=np.uint64),
        np.asarray(counted.column("h").to_numpy(), dtype=np.int32),
    )
    table = counted.take(order)
    del counted
    sk = np.asarray(table.column("sk").to_numpy(), dtype=np.uint64)
    h, n, b = (np.asarray(table.column(c).to_numpy(), dtype=np.int32) for c in ("h", "n", "b"))
    with registered(con, "_ev_new", table):
        con.execute("INSERT INTO event_cells SELECT sk, h, n, b FROM _ev_new")
    keys = _series_keys(con)
    # Sorted by series: a series' first cell is where its key changes.
    first = np.ones(len(sk), dtype=bool)
    first[1:] = sk[1:] != sk[:-1]
    at = np.flatnonzero(first)
    unseen = at[~np.isin(sk[at], np.fromiter(keys, dtype=np.uint64, count=len(keys)))]
    if len(unseen):
        firsts = pa.table({"sk": pa.array(sk[unseen], pa.uint64()), "h": h[unseen]})
        with registered(con, "_ev_first", firsts):
            con.execute(_new_series(rules, only_changed))
            keys |= _series_keys(con, "WHERE sk IN (SELECT sk FROM _ev_first)")
    return _as_cells(sk, h, n, b, keys)


def count_cells(store: Store, rules: CellRules, *, rebuild: bool = False) -> CellCount:
    """Count the cells of every hour whose measurements changed since the last run.

    ``rebuild`` empties every derived table (the detector's state was computed from
    the cells) and counts everything again. The events tables must exist
    (:func:`voipwatch.store.events.ensure_schema`).
    """
    con = store.con
    with store_errors(store.path, "counting cells"), memory_limit(store):
        if rebuild:
            clear_derived(store)
        con.execute(_NETWORK_HOURS)
        con.execute(_DIGESTS)
        con.execute(_CHANGED)
        changed = _count(con, "SELECT count(*) FROM _ev_changed")
        total = _count(con, "SELECT count(*) FROM _ev_digest")
        fresh = _count(con, "SELECT count(*) FROM event_hour_digests") == 0
        everything: Cells | None = None
        if changed:
            with store.transaction():
                # A fresh store needs no filter: every hour is new, and the join with
                # the list of hours would cost as much as the counting.
                only = not fresh
                if only:
                    for table in ("event_cells", "event_cell_techniques"):
                        con.execute(f"DELETE FROM {table} WHERE h IN (SELECT h FROM _ev_changed)")
                    con.execute(
                        "DELETE FROM event_volume WHERE hour IN (SELECT hour FROM _ev_changed)"
                    )
                counted = _save_cells(store, rules, only)
                # Counted on an empty table, they are every cell: detection need
                # not read them back.
                everything = None if only else counted
                con.execute(_insert_techniques(rules, only))
                con.execute(_insert_volume(only))
                con.execute(
                    "DELETE FROM event_hour_digests WHERE hour IN (SELECT hour FROM _ev_changed)"
                )
                con.execute(
                    "INSERT INTO event_hour_digests SELECT * FROM _ev_digest "
                    "WHERE hour IN (SELECT hour FROM _ev_changed)"
                )
        cells = _count(con, "SELECT count(*) FROM event_cells")
        for temp in ("_ev_net", "_ev_digest", "_ev_changed"):
            con.execute(f"DROP TABLE IF EXISTS {temp}")
    return CellCount(
        hours_changed=changed, hours_total=total, cells=cells, fresh=fresh, counted=everything
    )


@dataclass(frozen=True, slots=True)
class CellTotal:
    """A role's cells summed on one plane."""

    role: str
    plane: str
    judged: int
    affected: int


def cell_totals(store: Store) -> list[CellTotal]:
    """Every role's judged and affected verdicts per plane, as the cells count them."""
    with store_errors(store.path, "reading cells"):
        rows = store.con.execute(
            "SELECT s.role, s.plane, sum(c.n), sum(c.b) FROM event_cells AS c "
            "JOIN event_series AS s USING (sk) GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    return [CellTotal(str(r), str(p), int(n), int(b)) for r, p, n, b in rows]
