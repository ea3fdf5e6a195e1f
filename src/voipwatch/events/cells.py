"""Cells: verdict counts per (country, network, service, role, plane, hour).

The throughput A/B of ``voipwatch_call`` (the app's server name against a harmless
one, from the same server) has cells of its own, on the plane :data:`THROUGHPUT`:
it measures the app's *rate*, where every other verdict of the role measures whether
it answers at all, and sharing their series would drown a throttle (``degraded``,
never blocked) in WhatsApp Web's own test.

DuckDB does all the counting. A run first hashes every hour of measurements (count
and XOR of key + judgement digest, one scan of the ``measurements`` table), compares
those digests with the ones stored when the cells were last counted, and recounts only
the hours that differ: new measurements, late uploads into old hours, and verdicts
that ``voipwatch rejudge`` changed (their judgement digest changes) all show up as a
changed hour. A fresh store counts every hour; ``rebuild=True`` starts over.
Everything of one run is one transaction, so an interrupted run leaves the cells as
they were.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

import duckdb

from voipwatch.events.model import THROUGHPUT
from voipwatch.events.store import DERIVED, ensure_schema
from voipwatch.store.db import Store, store_errors
from voipwatch.store.schema import asn_sql

#: The role statuses counted per cell (the store's ``verdicts.status`` vocabulary).
STATUSES: Final = ("ok", "blocked", "partial", "degraded", "down", "failure", "unknown")
#: Statuses that say something about blocking: the blocked share's denominator.
#: ``down`` (the target itself is down), ``failure`` and ``unknown`` say nothing.
JUDGED: Final = ("ok", "blocked", "partial", "degraded")
#: Statuses that count as blocking in the blocked share.
BLOCKING: Final = ("blocked", "partial")

#: DuckDB's memory while counting cells and detecting: the aggregate's hash table
#: holds one entry per cell (1.6 million for the ten million verdicts of
#: ``benchmarks/bench_events.py``), and what does not fit is spilled to disk, so
#: peak memory stays bounded by this figure whatever the store's size.
MEMORY_LIMIT: Final = "1GB"

#: Techniques of a throttle: what a throughput series counts as affected.
THROTTLE_PREFIX: Final = "throttle."
#: The test that runs the throughput A/B; its only verdicts on a web-plane role are
#: the A/B's (its other roles are the call plane's, media and signalling).
_AB_TEST: Final = "voipwatch_call"
#: The plane a verdict is counted on: the A/B's verdicts, and every throttle wherever
#: it was judged, go to the throughput series.
_PLANE: Final = (
    f"CASE WHEN (v.measurement_test = '{_AB_TEST}' AND v.plane = 'web') "
    f"OR starts_with(v.technique, '{THROTTLE_PREFIX}') THEN '{THROUGHPUT}' ELSE v.plane END"
)

_HOUR: Final = "date_trunc('hour', measurement_start_time)"

_DIGESTS: Final = f"""
    CREATE OR REPLACE TEMP TABLE _ev_digest AS
    SELECT {_HOUR} AS hour, count(*) AS n, bit_xor(hash(key, judgement_digest)) AS digest
    FROM measurements WHERE measurement_start_time IS NOT NULL GROUP BY 1
"""
_CHANGED: Final = """
    CREATE OR REPLACE TEMP TABLE _ev_changed AS
    SELECT hour FROM _ev_digest AS c FULL OUTER JOIN event_hour_digests AS s USING (hour)
    WHERE c.n IS DISTINCT FROM s.n OR c.digest IS DISTINCT FROM s.digest
"""


def _counted(only_changed: bool, hour: str, asn: str) -> str:
    """The rows a count reads: dated, on a known network, of the changed hours only
    when asked."""
    where = f"{hour} IS NOT NULL AND {asn} IS NOT NULL"
    if only_changed:
        where += f" AND {hour} IN (SELECT hour FROM _ev_changed)"
    return where


#: The verdict's own copy of its measurement's network and hour.
_V_COUNTED: Final = {"hour": "v.measurement_hour", "asn": "v.measurement_asn"}
#: A cell's series and hour, from a verdict row.
_V_CELL: Final = (
    "v.measurement_cc AS probe_cc, v.measurement_asn AS asn, v.service, v.role, "
    f"{_PLANE} AS plane, v.measurement_hour AS hour"
)


def _insert_cells(only_changed: bool) -> str:
    """One aggregate over the verdicts, which carry their measurement's country,
    network, hour and test, written straight into the cells: no join, and no
    intermediate table of counts per status to write and group again."""
    counts = ", ".join(f"count(*) FILTER (WHERE v.status = '{s}')" for s in STATUSES)

    def total(statuses: tuple[str, ...]) -> str:
        return " + ".join(statuses)

    return f"""
        INSERT INTO event_cells
        SELECT *, CASE WHEN ({total(JUDGED)}) > 0
                       THEN ({total(BLOCKING)}) / ({total(JUDGED)}) END
        FROM (
            SELECT {_V_CELL}, {counts}, count(*) AS verdicts
            FROM verdicts AS v
            WHERE {_counted(only_changed, **_V_COUNTED)}
            GROUP BY ALL
        ) AS c({", ".join(("probe_cc", "asn", "service", "role", "plane", "hour", *STATUSES))},
               verdicts)
    """


def _insert_techniques(only_changed: bool) -> str:
    """Techniques come only from blocking verdicts and throttles with one named (a few
    in a hundred)."""
    statuses = ", ".join(f"'{s}'" for s in BLOCKING)
    return f"""
        INSERT INTO event_cell_techniques
        SELECT {_V_CELL}, v.technique, count(*)
        FROM verdicts AS v
        WHERE {_counted(only_changed, **_V_COUNTED)} AND v.technique IS NOT NULL
          AND (v.status IN ({statuses}) OR starts_with(v.technique, '{THROTTLE_PREFIX}'))
        GROUP BY ALL
    """


def _insert_volume(only_changed: bool) -> str:
    return f"""
        INSERT INTO event_volume
        SELECT probe_cc, asn, hour, count(*) FROM (
            SELECT probe_cc, {asn_sql("probe_asn")} AS asn, {_HOUR} AS hour
            FROM measurements
        )
        WHERE {_counted(only_changed, "hour", "asn")} GROUP BY ALL
    """


@dataclass(frozen=True, slots=True)
class CellStats:
    """What a run of :func:`build_cells` did."""

    hours_changed: int
    hours_total: int
    cells: int
    rebuilt: bool
    elapsed_seconds: float

    def as_dict(self) -> dict[str, int | float | bool]:
        return {
            "hours_changed": self.hours_changed,
            "hours_total": self.hours_total,
            "cells": self.cells,
            "rebuilt": self.rebuilt,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }


def _count(store: Store, sql: str) -> int:
    row = store.con.execute(sql).fetchone()
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


def build_cells(store: Store, *, rebuild: bool = False) -> CellStats:
    """Count the cells of every hour whose measurements changed since the last run.

    ``rebuild`` drops the cells (and the detector's state, which was computed from
    them) and counts everything again.
    """
    started = time.perf_counter()
    ensure_schema(store)
    con = store.con
    with store_errors(store.path, "counting cells"), memory_limit(store):
        if rebuild:
            with store.transaction():
                for table in DERIVED:
                    con.execute(f"DELETE FROM {table}")
        con.execute(_DIGESTS)
        con.execute(_CHANGED)
        changed = _count(store, "SELECT count(*) FROM _ev_changed")
        total = _count(store, "SELECT count(*) FROM _ev_digest")
        fresh = _count(store, "SELECT count(*) FROM event_hour_digests") == 0
        if changed:
            with store.transaction():
                # A fresh store needs no filter: every hour is new, and the join with
                # the list of hours would cost as much as the counting.
                only = not fresh
                where = "WHERE hour IN (SELECT hour FROM _ev_changed)"
                for table in ("event_cells", "event_cell_techniques", "event_volume"):
                    if only:
                        con.execute(f"DELETE FROM {table} {where}")
                con.execute(_insert_cells(only))
                con.execute(_insert_techniques(only))
                con.execute(_insert_volume(only))
                con.execute(f"DELETE FROM event_hour_digests {where}")
                con.execute(f"INSERT INTO event_hour_digests SELECT * FROM _ev_digest {where}")
        cells = _count(store, "SELECT count(*) FROM event_cells")
        con.execute("DROP TABLE IF EXISTS _ev_digest")
        con.execute("DROP TABLE IF EXISTS _ev_changed")
    return CellStats(
        hours_changed=changed,
        hours_total=total,
        cells=cells,
        rebuilt=rebuild or fresh,
        elapsed_seconds=time.perf_counter() - started,
    )
