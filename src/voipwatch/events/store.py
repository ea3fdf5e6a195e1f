"""The events tier's tables in the store: cells, detector state, change points, events.

Everything here is derived from the verdicts and can be rebuilt, so the tables carry
their own version (``events_schema`` in ``store_meta``): a store written by another
version of this module has its derived tables dropped and rebuilt, never misread.

Tables:

* ``event_cells``: verdict counts per (country, network, service, role, plane, hour);
* ``event_cell_techniques``: techniques of the blocked and partial verdicts per cell;
* ``event_volume``: measurements per (country, network, hour), for shutdowns;
* ``event_hour_digests``: what each hour of measurements looked like when the cells
  were counted, so a later run recounts only the hours that changed;
* ``event_series_state``, ``event_changes``: the change-point detector's state per
  cell series up to the day it sealed, and the change points it found before it;
* ``usage_series``: imported circumvention-usage figures (corroboration);
* ``events``: the events, as :class:`~voipwatch.events.model.Event` rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import duckdb
import msgspec
import pyarrow as pa

from voipwatch.errors import StoreError
from voipwatch.events.model import Event, Surge
from voipwatch.events.usage import BadRow, UsageFile, UsageRow
from voipwatch.store.db import Store, registered, store_errors

EVENTS_SCHEMA: Final = 3
META_KEY: Final = "events_schema"

_SERIES: Final = (
    "probe_cc VARCHAR NOT NULL, asn BIGINT NOT NULL, service VARCHAR NOT NULL, "
    "role VARCHAR NOT NULL, plane VARCHAR NOT NULL"
)

#: The tables computed from the verdicts (``voipwatch events --rebuild`` empties them).
DERIVED: Final = (
    "event_cells",
    "event_cell_techniques",
    "event_volume",
    "event_hour_digests",
    "event_series_state",
    "event_changes",
)

TABLES: Final = (*DERIVED, "usage_series", "events")

DDL: Final = (
    f"""
    CREATE TABLE IF NOT EXISTS event_cells (
        {_SERIES}, hour TIMESTAMP NOT NULL,
        ok INTEGER NOT NULL, blocked INTEGER NOT NULL, partial INTEGER NOT NULL,
        degraded INTEGER NOT NULL, down INTEGER NOT NULL, failure INTEGER NOT NULL,
        unknown INTEGER NOT NULL, verdicts INTEGER NOT NULL,
        blocked_share DOUBLE
    )
    """,
    f"""
    CREATE TABLE IF NOT EXISTS event_cell_techniques (
        {_SERIES}, hour TIMESTAMP NOT NULL, technique VARCHAR NOT NULL, n INTEGER NOT NULL
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

_COLUMNS: Final = (
    "event_id",
    "kind",
    "probe_cc",
    "asns",
    "national",
    "service",
    "roles",
    "plane",
    "techniques",
    "start",
    "start_earliest",
    "start_latest",
    "end",
    "end_earliest",
    "end_latest",
    "confidence",
    "measurements",
    "blocked_share",
    "surges",
    "evidence",
)


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
            # and recount rather than migrate.
            for table in TABLES:
                if table != "usage_series":
                    con.execute(f"DROP TABLE IF EXISTS {table}")
        for ddl in DDL:
            con.execute(ddl)
        con.execute(
            "INSERT OR REPLACE INTO store_meta VALUES (?, ?)", [META_KEY, str(EVENTS_SCHEMA)]
        )
    return True


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _naive(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _row(e: Event) -> list[Any]:
    return [
        e.event_id,
        e.kind,
        e.probe_cc,
        list(e.asns),
        e.national,
        e.service,
        list(e.roles),
        e.plane,
        list(e.techniques),
        _naive(e.start),
        _naive(e.start_earliest),
        _naive(e.start_latest),
        _naive(e.end),
        _naive(e.end_earliest),
        _naive(e.end_latest),
        e.confidence,
        e.measurements,
        e.blocked_share,
        msgspec.json.encode(e.surges).decode(),
        msgspec.json.encode(e.evidence).decode(),
    ]


def save_events(store: Store, events: list[Event]) -> None:
    """Replace the stored events with ``events``, atomically."""
    if store.read_only:
        raise StoreError(f"{store.path}: opened read-only; events cannot be saved")
    ensure_schema(store)
    placeholders = ", ".join("?" for _ in _COLUMNS)
    with store.transaction():
        store.con.execute("DELETE FROM events")
        if events:
            store.con.executemany(
                f"INSERT INTO events VALUES ({placeholders})", [_row(e) for e in events]
            )


def load_events(store: Store, *, cc: str | None = None, service: str | None = None) -> list[Event]:
    """The stored events, oldest onset first; optionally of one country and/or service.

    A store in which events were never detected has none (an empty list).
    """
    con = store.con
    with store_errors(store.path, "reading events"):
        if "events" not in _tables(con):
            return []
        where, params = [], []
        if cc:
            where.append("probe_cc = ?")
            params.append(cc.upper())
        if service:
            where.append("service = ?")
            params.append(service)
        sql = "SELECT " + ", ".join(f'"{c}"' for c in _COLUMNS) + " FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY start, probe_cc, service, event_id"
        rows = con.execute(sql, params).fetchall()
    return [_event(dict(zip(_COLUMNS, r, strict=True))) for r in rows]


def _event(r: dict[str, Any]) -> Event:
    return Event(
        event_id=r["event_id"],
        kind=r["kind"],
        probe_cc=r["probe_cc"],
        asns=[int(a) for a in r["asns"]],
        national=bool(r["national"]),
        service=r["service"],
        roles=list(r["roles"]),
        plane=r["plane"],
        techniques=list(r["techniques"]),
        start=_utc(r["start"]) or datetime.min.replace(tzinfo=UTC),
        start_earliest=_utc(r["start_earliest"]) or datetime.min.replace(tzinfo=UTC),
        start_latest=_utc(r["start_latest"]) or datetime.min.replace(tzinfo=UTC),
        end=_utc(r["end"]),
        end_earliest=_utc(r["end_earliest"]),
        end_latest=_utc(r["end_latest"]),
        confidence=float(r["confidence"]),
        measurements=int(r["measurements"]),
        blocked_share=float(r["blocked_share"]),
        surges=msgspec.json.decode(r["surges"], type=list[Surge]),
        evidence=msgspec.json.decode(r["evidence"], type=dict[str, object]),
    )


def save_usage(store: Store, usage: UsageFile) -> None:
    """Replace the usage series named ``usage.source`` with its rows, atomically."""
    ensure_schema(store)
    rows = usage.rows
    table = pa.table(
        {
            "source": pa.array([usage.source] * len(rows), type=pa.string()),
            "date": pa.array([r.date for r in rows], type=pa.date32()),
            "country": pa.array([r.country for r in rows], type=pa.string()),
            "value": pa.array([r.value for r in rows], type=pa.float64()),
            "tool": pa.array([usage.tool] * len(rows), type=pa.string()),
        }
    )
    with store.transaction():
        store.con.execute("DELETE FROM usage_series WHERE source = ?", [usage.source])
        with registered(store.con, "_ev_usage", table):
            store.con.execute(
                "INSERT INTO usage_series (source, date, country, value, tool) "
                "SELECT source, date, country, value, tool FROM _ev_usage"
            )


def quarantine_usage(store: Store, bad: list[BadRow], now: datetime) -> None:
    """Keep the rows a usage import left out in the store's quarantine, with the reason."""
    if not bad:
        return
    first_seen = _naive(now)
    with store.transaction():
        store.con.executemany(
            "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [
                [b.error.source, b.error.line, b.error.reason, b.text.encode(), first_seen]
                for b in bad
            ],
        )


def load_usage(store: Store) -> list[UsageFile]:
    """Every stored usage series, by source name."""
    with store_errors(store.path, "reading usage series"):
        if "usage_series" not in _tables(store.con):
            return []
        rows = store.con.execute(
            "SELECT source, tool, date, country, value FROM usage_series ORDER BY ALL"
        ).fetchall()
    out: dict[str, UsageFile] = {}
    for source, tool, day, cc, value in rows:
        series = out.setdefault(source, UsageFile(source=source, tool=tool or "", shape="stored"))
        series.rows.append(UsageRow(day, cc, float(value)))
    return list(out.values())
