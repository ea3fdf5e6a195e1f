"""The events tier's tables: their schema, the stored events and usage figures.

Everything here but the usage figures is derived from the verdicts and can be
rebuilt, so the tables carry their own version (``events_schema`` in ``store_meta``):
a store written by another version has its derived tables dropped and counted again
on the next run, never misread.

Tables:

* ``event_series``: each cell series (country, network, service, role, plane) under
  the 64-bit key its cells carry;
* ``event_cells``: judged and affected verdicts per series and hour, for the series
  the detector reads (a known network, at least one judged verdict);
* ``event_cell_techniques``: techniques of the blocked and partial verdicts (and of
  throttles) per cell, keyed as the cells are;
* ``event_volume``: measurements per (country, network, hour), for shutdowns;
* ``event_hour_digests``: what each hour of measurements looked like when the cells
  were counted, so a later run recounts only the hours that changed;
* ``event_series_state``, ``event_changes``: the change-point detector's state per
  cell series up to the day it sealed, and the change points it found before it;
* ``usage_series``: imported circumvention-usage figures (corroboration);
* ``events``: the events, one row each (:class:`EventRow`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Final, NamedTuple

import duckdb
import pyarrow as pa

from voipwatch.errors import StoreError
from voipwatch.store.db import Store, registered, store_errors

#: 4: cells keyed by their series' hash, judged and affected counts only.
#: 5: the techniques of a cell keyed as the cell is (series hash and hour).
EVENTS_SCHEMA: Final = 5
META_KEY: Final = "events_schema"

_SERIES: Final = (
    "probe_cc VARCHAR NOT NULL, asn BIGINT NOT NULL, service VARCHAR NOT NULL, "
    "role VARCHAR NOT NULL, plane VARCHAR NOT NULL"
)

#: The tables computed from the verdicts (``voipwatch events --rebuild`` empties them).
DERIVED: Final = (
    "event_series",
    "event_cells",
    "event_cell_techniques",
    "event_volume",
    "event_hour_digests",
    "event_series_state",
    "event_changes",
)

TABLES: Final = (*DERIVED, "usage_series", "events")

DDL: Final = (
    f"CREATE TABLE IF NOT EXISTS event_series (sk UBIGINT NOT NULL, {_SERIES})",
    # Hours since the epoch, and counts only: the detector reads every cell on a
    # first run, and four fixed-width columns are what it needs.
    """
    CREATE TABLE IF NOT EXISTS event_cells (
        sk UBIGINT NOT NULL, h INTEGER NOT NULL, n INTEGER NOT NULL, b INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS event_cell_techniques (
        sk UBIGINT NOT NULL, h INTEGER NOT NULL, technique VARCHAR NOT NULL,
        n INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS event_volume (
        probe_cc VARCHAR NOT NULL, asn BIGINT NOT NULL, hour TIMESTAMP NOT NULL,
        measurements INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS event_hour_digests (
        hour TIMESTAMP PRIMARY KEY, n BIGINT NOT NULL, digest UBIGINT NOT NULL
    )
    """,
    f"""
    CREATE TABLE IF NOT EXISTS event_series_state (
        {_SERIES}, sealed_until TIMESTAMP NOT NULL, n BIGINT NOT NULL,
        digest UBIGINT NOT NULL, state VARCHAR NOT NULL
    )
    """,
    f"""
    CREATE TABLE IF NOT EXISTS event_changes (
        {_SERIES}, direction TINYINT NOT NULL, detected_at TIMESTAMP NOT NULL,
        change_at TIMESTAMP NOT NULL, earliest TIMESTAMP NOT NULL, latest TIMESTAMP NOT NULL,
        margin DOUBLE NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS usage_series (
        source VARCHAR NOT NULL, date DATE NOT NULL, country VARCHAR NOT NULL,
        value DOUBLE NOT NULL, tool VARCHAR NOT NULL DEFAULT ''
    )
    """,
    # Stores of schemas 1 and 2 may keep usage figures without the tool they count.
    "ALTER TABLE usage_series ADD COLUMN IF NOT EXISTS tool VARCHAR DEFAULT ''",
    """
    CREATE TABLE IF NOT EXISTS events (
        event_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, probe_cc VARCHAR NOT NULL,
        asns BIGINT[] NOT NULL, national BOOLEAN NOT NULL, service VARCHAR NOT NULL,
        roles VARCHAR[] NOT NULL, plane VARCHAR NOT NULL, techniques VARCHAR[] NOT NULL,
        start TIMESTAMP NOT NULL, start_earliest TIMESTAMP NOT NULL,
        start_latest TIMESTAMP NOT NULL, "end" TIMESTAMP, end_earliest TIMESTAMP,
        end_latest TIMESTAMP, confidence DOUBLE NOT NULL, measurements BIGINT NOT NULL,
        blocked_share DOUBLE NOT NULL, surges VARCHAR NOT NULL, evidence VARCHAR NOT NULL
    )
    """,
)


class EventRow(NamedTuple):
    """One row of ``events``: times naive UTC, surges and evidence as JSON text."""

    event_id: str
    kind: str
    probe_cc: str
    asns: list[int]
    national: bool
    service: str
    roles: list[str]
    plane: str
    techniques: list[str]
    start: datetime
    start_earliest: datetime
    start_latest: datetime
    end: datetime | None
    end_earliest: datetime | None
    end_latest: datetime | None
    confidence: float
    measurements: int
    blocked_share: float
    surges: str
    evidence: str


class UsageFigure(NamedTuple):
    """One stored usage figure: a source's value for a country on a day."""

    source: str
    tool: str
    date: date
    country: str
    value: float


class QuarantinedLine(NamedTuple):
    """A line an import left out, with where it came from and why."""

    source: str
    line: int
    reason: str
    text: bytes


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


def _version(con: duckdb.DuckDBPyConnection) -> int | None:
    row = con.execute("SELECT value FROM store_meta WHERE name = ?", [META_KEY]).fetchone()
    return int(row[0]) if row and str(row[0]).isdigit() else None


def ensure_schema(store: Store) -> bool:
    """Create (or rebuild, after a version change) the tables; whether they are usable.

    A read-only store cannot be changed: it answers whether the tables exist in this
    version, and callers then work without them (or report that nothing was built).
    """
    con = store.con
    with store_errors(store.path, "reading the events schema"):
        present = _tables(con)
        version = _version(con)
    if store.read_only:
        return version == EVENTS_SCHEMA and set(TABLES) <= present
    if version == EVENTS_SCHEMA and set(TABLES) <= present:
        return True
    with store.transaction():
        if version is not None and version != EVENTS_SCHEMA:
            # Derived data only (usage figures excepted, which keep their shape): drop
            # and recount rather than migrate. The events go too: the next run
            # detects them again from the same verdicts.
            for table in TABLES:
                if table != "usage_series":
                    con.execute(f"DROP TABLE IF EXISTS {table}")
        for ddl in DDL:
            con.execute(ddl)
        con.execute(
            "INSERT OR REPLACE INTO store_meta VALUES (?, ?)", [META_KEY, str(EVENTS_SCHEMA)]
        )
    return True


def clear_derived(store: Store) -> None:
    """Empty every table computed from the verdicts, in one transaction."""
    with store.transaction():
        for table in DERIVED:
            store.con.execute(f"DELETE FROM {table}")


def save_event_rows(store: Store, rows: list[EventRow]) -> None:
    """Replace the stored events with ``rows``, atomically."""
    if store.read_only:
        raise StoreError(f"{store.path}: opened read-only; events cannot be saved")
    ensure_schema(store)
    placeholders = ", ".join("?" for _ in EventRow._fields)
    with store.transaction():
        store.con.execute("DELETE FROM events")
        if rows:
            store.con.executemany(
                f"INSERT INTO events VALUES ({placeholders})", [list(r) for r in rows]
            )


def load_event_rows(
    store: Store, *, cc: str | None = None, service: str | None = None
) -> list[EventRow]:
    """The stored events, oldest onset first; optionally of one country and/or service.

    A store in which events were never detected has none (an empty list).
    """
    con = store.con
    with store_errors(store.path, "reading events"):
        if "events" not in _tables(con):
            return []
        where: list[str] = []
        params: list[str] = []
        if cc:
            where.append("probe_cc = ?")
            params.append(cc.upper())
        if service:
            where.append("service = ?")
            params.append(service)
        sql = "SELECT " + ", ".join(f'"{c}"' for c in EventRow._fields) + " FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY start, probe_cc, service, event_id"
        rows = con.execute(sql, params).fetchall()
    return [
        EventRow(
            str(r[0]),
            str(r[1]),
            str(r[2]),
            [int(a) for a in r[3]],
            bool(r[4]),
            str(r[5]),
            [str(x) for x in r[6]],
            str(r[7]),
            [str(x) for x in r[8]],
            r[9],
            r[10],
            r[11],
            r[12],
            r[13],
            r[14],
            float(r[15]),
            int(r[16]),
            float(r[17]),
            str(r[18]),
            str(r[19]),
        )
        for r in rows
    ]


def save_usage_rows(
    store: Store, source: str, tool: str, rows: list[tuple[date, str, float]]
) -> None:
    """Replace the usage series named ``source`` with ``rows`` (day, country, value)."""
    ensure_schema(store)
    table = pa.table(
        {
            "source": pa.array([source] * len(rows), type=pa.string()),
            "date": pa.array([r[0] for r in rows], type=pa.date32()),
            "country": pa.array([r[1] for r in rows], type=pa.string()),
            "value": pa.array([r[2] for r in rows], type=pa.float64()),
            "tool": pa.array([tool] * len(rows), type=pa.string()),
        }
    )
    with store.transaction():
        store.con.execute("DELETE FROM usage_series WHERE source = ?", [source])
        with registered(store.con, "_ev_usage", table):
            store.con.execute(
                "INSERT INTO usage_series (source, date, country, value, tool) "
                "SELECT source, date, country, value, tool FROM _ev_usage"
            )


def quarantine_lines(store: Store, lines: list[QuarantinedLine], first_seen: datetime) -> None:
    """Keep the lines an import left out in the store's quarantine, with the reason."""
    if not lines:
        return
    with store.transaction():
        store.con.executemany(
            "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [[q.source, q.line, q.reason, q.text, first_seen] for q in lines],
        )


def load_usage_rows(store: Store) -> list[UsageFigure]:
    """Every stored usage figure, by source, tool, day and country."""
    with store_errors(store.path, "reading usage series"):
        if "usage_series" not in _tables(store.con):
            return []
        rows = store.con.execute(
            "SELECT source, tool, date, country, value FROM usage_series ORDER BY ALL"
        ).fetchall()
    return [UsageFigure(str(s), str(t or ""), d, str(c), float(v)) for s, t, d, c, v in rows]
