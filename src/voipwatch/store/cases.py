"""The case registry's tables: documented cases as the store holds them.

Tables (versioned as ``cases_schema`` in ``store_meta``; unlike the events tier they
hold what people wrote, so a store of another version is refused with a message,
never dropped or misread):

* ``case_sources``: every imported source record, as JSON, with the case it is filed
  under — the registry's ground truth;
* ``cases``: the merged cases, rebuilt from the records at every import;
* ``case_annotations``: what people added (notes, status, legal basis, links);
* ``case_events``: which detected events document which case, and why.

Rows go in and out as the dataclasses below, their bodies as the JSON text the
registry encodes and decodes: what a case means is the registry's, how it is kept is
this module's. An import stages its records in work tables (``WORK_TABLES``) and
copies them over the registry's own tables in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import astuple, dataclass, fields
from datetime import date, datetime

import pyarrow as pa

from voipwatch.errors import StoreError
from voipwatch.store.db import Store, registered, table_names

CASES_SCHEMA = "1"

DDL = (
    """
    CREATE TABLE IF NOT EXISTS case_sources (
        source        VARCHAR NOT NULL,
        record_id     VARCHAR NOT NULL,
        case_id       VARCHAR NOT NULL,
        record        VARCHAR NOT NULL,
        imported_from VARCHAR NOT NULL,
        imported_at   TIMESTAMP NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS cases (
        case_id VARCHAR NOT NULL,
        country VARCHAR NOT NULL,
        kind    VARCHAR NOT NULL,
        start   DATE NOT NULL,
        "end"   DATE,
        apps    VARCHAR NOT NULL,
        body    VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS case_annotations (
        case_id VARCHAR NOT NULL,
        noted_at TIMESTAMP NOT NULL,
        body    VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS case_events (
        case_id    VARCHAR NOT NULL,
        event_id   VARCHAR NOT NULL,
        reason     VARCHAR NOT NULL,
        matched_at TIMESTAMP NOT NULL
    )
    """,
)

#: Work tables of an import. Each statement on them commits on its own, so DuckDB
#: writes them out as they grow (one transaction of a million rows would be held in
#: memory until it commits); the registry's own tables change in one last
#: transaction that copies them over and drops these, so a killed import leaves the
#: registry as it was, and the next import starts these afresh.
WORK_TABLES = ("case_import_records", "case_import_all", "case_import_sources", "case_import_cases")
_SOURCE_COLUMNS = (
    "source VARCHAR, record_id VARCHAR, case_id VARCHAR, record VARCHAR, "
    "imported_from VARCHAR, imported_at TIMESTAMP"
)
_CASE_COLUMNS = (
    'case_id VARCHAR, country VARCHAR, kind VARCHAR, start DATE, "end" DATE, '
    "apps VARCHAR, body VARCHAR"
)


@dataclass(frozen=True, slots=True)
class SourceRow:
    """A source record as filed (``case_sources`` and the import's staging tables);
    ``case_id`` is empty for a record not yet filed under a case."""

    source: str
    record_id: str
    case_id: str
    record: str
    imported_from: str
    imported_at: datetime


@dataclass(frozen=True, slots=True)
class CaseRow:
    """A merged case (``cases``): the columns filtered on, and the case as JSON."""

    case_id: str
    country: str
    kind: str
    start: date
    end: date | None
    apps: str
    body: str


@dataclass(frozen=True, slots=True)
class NoteRow:
    """An annotation (``case_annotations``), as JSON, under the case it annotates."""

    case_id: str
    body: str


@dataclass(frozen=True, slots=True)
class MatchRow:
    """An event matched to a case (``case_events``)."""

    case_id: str
    event_id: str
    reason: str
    matched_at: datetime


# ------------------------------------------------------------------------------------
# Layout
# ------------------------------------------------------------------------------------


def check_version(store: Store) -> None:
    """Refuse case tables written in another version of their layout."""
    row = store.con.execute("SELECT value FROM store_meta WHERE name = 'cases_schema'").fetchone()
    if row is not None and row[0] != CASES_SCHEMA:
        raise StoreError(
            f"{store.path}: its documented cases are stored in layout version {row[0]}, "
            f"and this voipwatch reads version {CASES_SCHEMA}: open it with the voipwatch "
            "that wrote them (its 'voipwatch cases export' writes them out for a new store)"
        )


def ensure_tables(store: Store) -> None:
    """Create the registry's tables in a writable store (idempotent)."""
    check_version(store)
    with store.transaction():
        create_tables(store)


def create_tables(store: Store) -> None:
    """Create the registry's tables and note their version (in the caller's transaction)."""
    for ddl in DDL:
        store.con.execute(ddl)
    store.con.execute(
        "INSERT OR REPLACE INTO store_meta VALUES ('cases_schema', ?)", [CASES_SCHEMA]
    )


def has_tables(store: Store) -> bool:
    """Whether the store holds the case tables, in this version's layout (else raises)."""
    names = table_names(store.con)
    if "cases" not in names or "case_sources" not in names:
        return False
    check_version(store)
    return True


# ------------------------------------------------------------------------------------
# An import's work tables
# ------------------------------------------------------------------------------------


def drop_work_tables(store: Store) -> None:
    for t in WORK_TABLES:
        store.con.execute(f"DROP TABLE IF EXISTS {t}")


def start_import(store: Store) -> None:
    """Drop what a killed import left and create the staging table afresh."""
    drop_work_tables(store)
    store.con.execute(f"CREATE TABLE case_import_records ({_SOURCE_COLUMNS})")


def count_cases(store: Store) -> int:
    # fetchall: a result left unfinished would block the statements that follow.
    return int(
        store.con.execute("SELECT count(DISTINCT case_id) FROM case_sources").fetchall()[0][0]
    )


def unstage(
    store: Store, keys: list[tuple[str, str]], *, stored: bool
) -> tuple[list[SourceRow], list[SourceRow]]:
    """The records under these (source, record_id) keys already staged by this import
    (taken out of the staging table, to be staged again) and, when the registry has
    tables (``stored``), those filed in it."""
    con = store.con
    staged_keys = pa.table({"source": [k[0] for k in keys], "record_id": [k[1] for k in keys]})
    with registered(con, "staged_keys", staged_keys):
        earlier = con.execute(
            "SELECT s.* FROM case_import_records s JOIN staged_keys k USING (source, record_id)"
        ).fetchall()
        if earlier:
            con.execute(
                "DELETE FROM case_import_records WHERE (source, record_id) IN "
                "(SELECT (source, record_id) FROM staged_keys)"
            )
        filed = []
        if stored:
            filed = con.execute(
                "SELECT s.* FROM case_sources s JOIN staged_keys k USING (source, record_id)"
            ).fetchall()
    return [SourceRow(*r) for r in earlier], [SourceRow(*r) for r in filed]


def stage(store: Store, rows: list[SourceRow]) -> None:
    """Add records to the import's staging table."""
    _insert(store, "case_import_records", rows)


def gather(store: Store, *, stored: bool) -> list[str]:
    """Put the records to merge — filed ones not staged again (when ``stored``), and the
    staged — in one work table and create the tables merged cases go to; the
    countries the records are of."""
    con = store.con
    con.execute(f"CREATE TABLE case_import_sources ({_SOURCE_COLUMNS})")
    con.execute(f"CREATE TABLE case_import_cases ({_CASE_COLUMNS})")
    kept = (
        "SELECT * FROM case_sources WHERE (source, record_id) NOT IN "
        "(SELECT (source, record_id) FROM case_import_records) UNION ALL "
        if stored
        else ""
    )
    con.execute(
        "CREATE TABLE case_import_all AS SELECT *, json_extract_string(record, '$.country') AS cc "
        f"FROM ({kept}SELECT * FROM case_import_records)"
    )
    return [r[0] for r in con.execute("SELECT DISTINCT cc FROM case_import_all").fetchall()]


def gathered(store: Store, country: str, *, chunk: int) -> Iterator[list[SourceRow]]:
    """One country's gathered records, ``chunk`` rows at a time, by key."""
    con = store.con
    con.execute(
        "SELECT source, record_id, case_id, record, imported_from, imported_at "
        "FROM case_import_all WHERE cc = ? ORDER BY source, record_id",
        [country],
    )
    while rows := con.fetchmany(chunk):
        yield [SourceRow(*r) for r in rows]


def add_merged(store: Store, sources: list[SourceRow], cases: list[CaseRow]) -> None:
    """Append merged cases and their records' filing to the import's work tables."""
    _insert(store, "case_import_sources", sources)
    _insert(store, "case_import_cases", cases)


def replace_with_import(store: Store) -> None:
    """Replace the registry's records and cases with the import's (in the caller's
    transaction, which also drops the work tables once matched)."""
    create_tables(store)
    for table, work in (("case_sources", "case_import_sources"), ("cases", "case_import_cases")):
        store.con.execute(f"DELETE FROM {table}")
        store.con.execute(f"INSERT INTO {table} SELECT * FROM {work}")


def _insert(store: Store, table: str, rows: list[SourceRow] | list[CaseRow]) -> None:
    """Insert rows in one statement (through Arrow; ``executemany`` goes row by row).

    The dataclasses' fields are the tables' columns, in order.
    """
    if not rows:
        return
    names = [f.name for f in fields(rows[0])]
    values = [astuple(r) for r in rows]
    columns = {n: [v[i] for v in values] for i, n in enumerate(names)}
    with registered(store.con, "case_rows", pa.table(columns)):
        store.con.execute(f"INSERT INTO {table} SELECT * FROM case_rows")


# ------------------------------------------------------------------------------------
# Reading and annotating
# ------------------------------------------------------------------------------------


def case_bodies(
    store: Store,
    *,
    country: str | None = None,
    kind: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> list[tuple[str, str]]:
    """(case_id, body) of the cases matching every filter given, by onset then country;
    ``since`` keeps cases not over by then (an open case never is)."""
    conditions = (
        ("country = ?", country),
        ("kind = ?", kind),
        ("coalesce(\"end\", DATE '9999-12-31') >= ?", since),
        ("start <= ?", until),
    )
    given = [(cond, value) for cond, value in conditions if value]
    sql = "SELECT case_id, body FROM cases"
    if given:
        sql += " WHERE " + " AND ".join(cond for cond, _ in given)
    sql += " ORDER BY start, country, case_id"
    args = [value for _, value in given]
    return [(str(cid), str(body)) for cid, body in store.con.execute(sql, args).fetchall()]


def case_body(store: Store, case_id: str) -> str | None:
    row = store.con.execute("SELECT body FROM cases WHERE case_id = ?", [case_id]).fetchone()
    return None if row is None else str(row[0])


def notes(store: Store) -> list[NoteRow]:
    """Every annotation, in the order written."""
    return [
        NoteRow(str(cid), str(body))
        for cid, body in store.con.execute(
            "SELECT case_id, body FROM case_annotations ORDER BY noted_at, rowid"
        ).fetchall()
    ]


def add_note(store: Store, case_id: str, noted_at: datetime, body: str) -> None:
    """Add an annotation (in one transaction)."""
    with store.transaction():
        store.con.execute(
            "INSERT INTO case_annotations VALUES (?, ?, ?)", [case_id, noted_at, body]
        )


def recorded_matches(store: Store) -> list[tuple[str, str, str]]:
    """(case_id, event_id, reason) of the matches last recorded, by case and event."""
    return [
        (str(cid), str(eid), str(reason))
        for cid, eid, reason in store.con.execute(
            "SELECT case_id, event_id, reason FROM case_events ORDER BY case_id, event_id"
        ).fetchall()
    ]


def clear_matches(store: Store) -> None:
    store.con.execute("DELETE FROM case_events")


def add_matches(store: Store, rows: list[MatchRow]) -> None:
    if rows:
        store.con.executemany(
            "INSERT INTO case_events VALUES (?, ?, ?, ?)", [astuple(r) for r in rows]
        )
