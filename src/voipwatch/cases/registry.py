"""The case registry: documented cases in the store, joined with detected events.

Tables (created here, versioned as ``cases_schema`` in ``store_meta``; unlike the
events tier they hold what people wrote, so a store of another version is refused
with a message, never dropped or misread):

* ``case_sources``: every imported source record, as JSON, with the case it is filed
  under — the registry's ground truth;
* ``cases``: the merged cases, rebuilt from the records at every import;
* ``case_annotations``: what people added (notes, status, legal basis, links);
* ``case_events``: which detected events document which case, and why.

An import is one transaction: a file with any bad record writes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import msgspec

from voipwatch.cases.importers import read_file
from voipwatch.cases.match import Match, match
from voipwatch.cases.merge import merge
from voipwatch.cases.model import STATUSES, Annotation, Case, SourceRecord
from voipwatch.cases.names import app_for, country_code
from voipwatch.errors import InputError, InvalidValue, StoreError, UsageError
from voipwatch.events.model import Event
from voipwatch.events.store import load_events
from voipwatch.store.db import Store, registered, store_errors
from voipwatch.untrusted import web_link

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

_encode = msgspec.json.Encoder().encode


@dataclass
class ImportStats:
    """What an import did: rows read, records new / updated, rows left out, cases."""

    file: str
    source: str
    rows: int = 0
    records: int = 0
    new: int = 0
    updated: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    repaired: Counter[str] = field(default_factory=Counter)
    cases_before: int = 0
    cases_after: int = 0
    merged: int = 0
    events_matched: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "source": self.source,
            "rows": self.rows,
            "records": self.records,
            "new": self.new,
            "updated": self.updated,
            "skipped": dict(self.skipped),
            "repaired": dict(self.repaired),
            "cases_before": self.cases_before,
            "cases_after": self.cases_after,
            "merged": self.merged,
            "events_matched": self.events_matched,
        }


def _check_version(store: Store) -> None:
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
    _check_version(store)
    with store.transaction():
        _create_tables(store)


def _create_tables(store: Store) -> None:
    for ddl in DDL:
        store.con.execute(ddl)
    store.con.execute(
        "INSERT OR REPLACE INTO store_meta VALUES ('cases_schema', ?)", [CASES_SCHEMA]
    )


def _has_tables(store: Store) -> bool:
    """Whether the store holds the case tables, in this version's layout (else raises)."""
    names = {r[0] for r in store.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "cases" not in names or "case_sources" not in names:
        return False
    _check_version(store)
    return True


#: Records staged per statement while a file is read; what an import holds at once.
STAGE_ROWS = 10_000
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


def _drop_work_tables(store: Store) -> None:
    for t in WORK_TABLES:
        store.con.execute(f"DROP TABLE IF EXISTS {t}")


class _Stager:
    """Puts a file's records into ``case_import_records`` as they are read, counting new
    and updated ones as merging them one by one would.

    A record keeps the case it was filed under (the merge keeps case ids stable); a
    new one is filed under none until the records are merged.
    """

    def __init__(
        self, store: Store, *, stored: bool, origin: str, now: datetime, stats: ImportStats
    ) -> None:
        self.store = store
        self.stored = stored
        self.origin = origin
        self.now = now
        self.stats = stats
        self.count = 0
        # Per key: the first record the file gave (compared with the stored one) and the last.
        self.pending: dict[tuple[str, str], tuple[SourceRecord, SourceRecord]] = {}

    def __call__(self, record: SourceRecord) -> None:
        self.count += 1
        got = self.pending.get(record.key)
        if got is None:
            self.pending[record.key] = (record, record)
        else:
            self.stats.updated += got[1] != record
            self.pending[record.key] = (got[0], record)
        if len(self.pending) >= STAGE_ROWS:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa

        if not self.pending:
            return
        con = self.store.con
        keys = pa.table(
            {
                "source": [k[0] for k in self.pending],
                "record_id": [k[1] for k in self.pending],
            }
        )
        with registered(con, "staged_keys", keys):
            # Earlier in this file first (it replaced what is stored), then the store.
            earlier = con.execute(
                "SELECT s.source, s.record_id, s.record, s.case_id FROM case_import_records s "
                "JOIN staged_keys k USING (source, record_id)"
            ).fetchall()
            if earlier:
                con.execute(
                    "DELETE FROM case_import_records WHERE (source, record_id) IN "
                    "(SELECT (source, record_id) FROM staged_keys)"
                )
            stored = []
            if self.stored:
                stored = con.execute(
                    "SELECT s.source, s.record_id, s.record, s.case_id FROM case_sources s "
                    "JOIN staged_keys k USING (source, record_id)"
                ).fetchall()
        filed: dict[tuple[str, str], str] = {}
        known = {(r[0], r[1]) for r in earlier}
        for src, rid, body, cid in [*earlier, *(r for r in stored if (r[0], r[1]) not in known)]:
            old = msgspec.json.decode(body, type=SourceRecord)
            self.stats.updated += old != self.pending[(src, rid)][0]
            filed[(src, rid)] = cid
        self.stats.new += len(self.pending) - len(filed)
        _insert(
            self.store,
            "case_import_records",
            [
                (*key, filed.get(key, ""), _encode(last).decode(), self.origin, self.now)
                for key, (_, last) in self.pending.items()
            ],
        )
        self.pending.clear()


def _refile(store: Store, *, stored: bool, stats: ImportStats) -> None:
    """Merge the records, stored and staged, into cases one country after another,
    into ``case_import_sources`` and ``case_import_cases``.

    Records of two countries never merge, so only one country's records are held at a
    time. Counts go to ``stats``.
    """
    con = store.con
    con.execute(f"CREATE TABLE case_import_sources ({_SOURCE_COLUMNS})")
    con.execute(
        "CREATE TABLE case_import_cases (case_id VARCHAR, country VARCHAR, kind VARCHAR, "
        'start DATE, "end" DATE, apps VARCHAR, body VARCHAR)'
    )
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
    countries = [r[0] for r in con.execute("SELECT DISTINCT cc FROM case_import_all").fetchall()]
    # Case ids stay distinct across countries too (a record may move country).
    taken: set[str] = set()
    for cc in sorted(countries):
        con.execute(
            "SELECT source, record_id, case_id, record, imported_from, imported_at "
            "FROM case_import_all WHERE cc = ? ORDER BY source, record_id",
            [cc],
        )
        # Fetched and decoded a slice at a time: the rows as text and as records are
        # never both held whole.
        records: list[SourceRecord] = []
        previous: dict[tuple[str, str], str] = {}
        origin: dict[tuple[str, str], tuple[str, datetime]] = {}
        while chunk := con.fetchmany(STAGE_ROWS):
            for src, rid, cid, body, frm, at in chunk:
                records.append(msgspec.json.decode(body, type=SourceRecord))
                if cid:
                    previous[(src, rid)] = cid
                origin[(src, rid)] = (frm, at)
        cases = merge(records, previous, taken=taken)
        del records
        stats.cases_after += len(cases)
        stats.merged += sum(1 for c in cases if len(c.sources) > 1)
        for i in range(0, len(cases), STAGE_ROWS):
            _write_cases(store, cases[i : i + STAGE_ROWS], origin=origin)


def _write_cases(
    store: Store, cases: list[Case], *, origin: dict[tuple[str, str], tuple[str, datetime]]
) -> None:
    """Append merged cases and their records' filing to the import's work tables."""
    source_rows = []
    case_rows = []
    for c in cases:
        for r in c.sources:
            source_rows.append(
                (r.source, r.record_id, c.case_id, _encode(r).decode(), *origin[r.key])
            )
        body = msgspec.structs.replace(c, annotations=[], events=[], status="unreviewed")
        case_rows.append(
            (c.case_id, c.country, c.kind, c.start, c.end, ",".join(c.apps), _encode(body).decode())
        )
    _insert(store, "case_import_sources", source_rows)
    _insert(store, "case_import_cases", case_rows)


def _insert(store: Store, table: str, rows: list[tuple[Any, ...]]) -> None:
    """Insert rows in one statement (through Arrow; ``executemany`` goes row by row)."""
    import pyarrow as pa

    if not rows:
        return
    names = [r[0] for r in store.con.execute(f"DESCRIBE {table}").fetchall()]
    columns = {n: [row[i] for row in rows] for i, n in enumerate(names)}
    with registered(store.con, "case_rows", pa.table(columns)):
        store.con.execute(f"INSERT INTO {table} SELECT * FROM case_rows")


def import_cases(
    store: Store,
    path: Path,
    source: str | None = None,
    *,
    today: date | None = None,
    on_problem: Callable[[str], None] | None = None,
) -> ImportStats:
    """Import one file of documented cases, merging its records into the registry.

    The file is read as a stream and its records staged in work tables as they come,
    so memory does not grow with the file; merging holds one country's records at a
    time. Bad records are reported through ``on_problem`` and then an
    :class:`InputError` is raised: nothing is written unless every record of the file
    is good, and the registry changes in one transaction.
    """
    stored = _has_tables(store)
    now = datetime.now(UTC).replace(tzinfo=None)
    stats = ImportStats(file=str(path), source="")
    con = store.con
    with store_errors(store.path, "importing cases"):
        _drop_work_tables(store)
        con.execute(f"CREATE TABLE case_import_records ({_SOURCE_COLUMNS})")
    try:
        if stored:
            # fetchall: a result left unfinished would block the statements that follow.
            stats.cases_before = con.execute(
                "SELECT count(DISTINCT case_id) FROM case_sources"
            ).fetchall()[0][0]
        stage = _Stager(store, stored=stored, origin=str(path), now=now, stats=stats)
        batch = read_file(path, source=source, today=today, sink=stage)
        if batch.problems:
            for p in batch.problems:
                if on_problem is not None:
                    on_problem(str(p))
            first = batch.problems[0]
            raise InputError(
                f"{len(batch.problems)} bad record(s), nothing imported (first: line "
                f"{first.line}: {first.reason})",
                source=str(path),
            )
        if not stage.count and not batch.skipped:
            raise InputError("no cases in the file", source=str(path))
        with store_errors(store.path, "importing cases"):
            stage.flush()
            stats.source = batch.source
            stats.rows = batch.rows
            stats.records = stage.count
            stats.skipped = batch.skipped
            stats.repaired = batch.notes
            _refile(store, stored=stored, stats=stats)
        with store.transaction():
            _create_tables(store)
            for table, work in (
                ("case_sources", "case_import_sources"),
                ("cases", "case_import_cases"),
            ):
                con.execute(f"DELETE FROM {table}")
                con.execute(f"INSERT INTO {table} SELECT * FROM {work}")
            stats.events_matched = _match_stored(store)
            _drop_work_tables(store)
    finally:
        with store_errors(store.path, "importing cases"):
            _drop_work_tables(store)
    return stats


def _match_stored(store: Store) -> int:
    """Match the stored events (if the detector has run) with the cases just written,
    a country at a time; how many matches."""
    events = _stored_events(store)
    if events is None:
        return 0
    by_cc: dict[str, list[Event]] = {}
    for e in events:
        by_cc.setdefault(e.probe_cc.upper(), []).append(e)
    store.con.execute("DELETE FROM case_events")
    now = datetime.now(UTC).replace(tzinfo=None)
    n = 0
    for cc, found in sorted(by_cc.items()):
        rows = store.con.execute("SELECT body FROM cases WHERE country = ?", [cc]).fetchall()
        cases = [msgspec.json.decode(r[0], type=Case) for r in rows]
        n += len(_insert_matches(store, cases, found, now=now))
    return n


# ------------------------------------------------------------------------------------
# Reading cases
# ------------------------------------------------------------------------------------


def _annotations(store: Store) -> dict[str, list[Annotation]]:
    out: dict[str, list[Annotation]] = {}
    for cid, body in store.con.execute(
        "SELECT case_id, body FROM case_annotations ORDER BY noted_at, rowid"
    ).fetchall():
        out.setdefault(cid, []).append(msgspec.json.decode(body, type=Annotation))
    return out


def event_matches(store: Store, cases: list[Case]) -> dict[str, list[tuple[str, str]]]:
    """(event_id, reason) per case: matched now against the stored events when the
    detector has run (so a case never shows stale events), else as last recorded."""
    out: dict[str, list[tuple[str, str]]] = {}
    events = _stored_events(store)
    if events is not None:
        for m in match(cases, events):
            out.setdefault(m.case_id, []).append((m.event_id, m.reason))
        return out
    for cid, eid, reason in store.con.execute(
        "SELECT case_id, event_id, reason FROM case_events ORDER BY case_id, event_id"
    ).fetchall():
        out.setdefault(cid, []).append((eid, reason))
    return out


def _with_events(store: Store, cases: list[Case]) -> list[Case]:
    links = event_matches(store, cases)
    return [
        msgspec.structs.replace(c, events=[e for e, _ in links.get(c.case_id, [])]) for c in cases
    ]


def _compose(body: str, notes: list[Annotation]) -> Case:
    case = msgspec.json.decode(body, type=Case)
    status = case.status
    legal = case.legal_basis
    for a in notes:
        if a.status:
            status = a.status
        if a.legal_basis:
            legal = a.legal_basis
    return msgspec.structs.replace(case, annotations=notes, status=status, legal_basis=legal)


def list_cases(
    store: Store,
    *,
    country: str | None = None,
    app: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    since: date | None = None,
    until: date | None = None,
    source: str | None = None,
) -> list[Case]:
    """Cases matching every filter given, by onset then country."""
    where: list[str] = []
    args: list[object] = []
    if country:
        cc = country_code(country)
        if cc is None:
            raise InvalidValue("country", country, f"unknown country {country!r}")
        where.append("country = ?")
        args.append(cc)
    app_id = None
    if app:
        app_id = app_for(app)
        if app_id is None:
            raise InvalidValue("app", app, f"unknown app {app!r} (not in the service catalogue)")
    if not _has_tables(store):
        return []
    if kind:
        where.append("kind = ?")
        args.append(kind)
    if since:
        where.append("coalesce(\"end\", DATE '9999-12-31') >= ?")
        args.append(since)
    if until:
        where.append("start <= ?")
        args.append(until)
    sql = "SELECT case_id, body FROM cases"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY start, country, case_id"
    rows = store.con.execute(sql, args).fetchall()
    notes = _annotations(store)
    out = []
    for cid, body in rows:
        case = _compose(body, notes.get(cid, []))
        if app_id and app_id not in case.apps:
            continue
        if status and case.status != status:
            continue
        if source and all(s.source != source for s in case.sources):
            continue
        out.append(case)
    return _with_events(store, out)


def get_case(store: Store, case_id: str) -> Case | None:
    if not _has_tables(store):
        return None
    row = store.con.execute("SELECT body FROM cases WHERE case_id = ?", [case_id]).fetchone()
    if row is None:
        return None
    notes = _annotations(store).get(case_id, [])
    return _with_events(store, [_compose(row[0], notes)])[0]


def annotate_case(
    store: Store,
    case_id: str,
    *,
    note: str | None = None,
    status: str | None = None,
    legal_basis: str | None = None,
    links: list[str] | None = None,
    author: str = "",
) -> Case:
    """Add an annotation to a case; the case as it now reads.

    Raises :class:`UsageError` for an unknown case or status, a link that is not a web
    address, or an annotation that says nothing.
    """
    # Forms send empty fields for what was left blank.
    status = status or None
    links = [link for link in links or [] if link.strip()]
    if status is not None and status not in STATUSES:
        raise UsageError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    for link in links or []:
        if web_link(link) != link:
            raise UsageError(f"link {link!r} is not a web address (http:// or https://)")
    if not (note or status or legal_basis or links):
        raise UsageError("nothing to add: give a note, a status, a legal basis or links")
    if get_case(store, case_id) is None:
        raise UsageError(f"no case {case_id!r} (see `voipwatch cases list`)")
    ann = Annotation(
        at=datetime.now(UTC),
        note=note or "",
        status=status,
        legal_basis=legal_basis or "",
        links=list(links or []),
        author=author,
    )
    with store.transaction():
        store.con.execute(
            "INSERT INTO case_annotations VALUES (?, ?, ?)",
            [case_id, ann.at.replace(tzinfo=None), _encode(ann).decode()],
        )
    case = get_case(store, case_id)
    assert case is not None
    return case


# ------------------------------------------------------------------------------------
# Events
# ------------------------------------------------------------------------------------


def _stored_events(store: Store) -> list[Event] | None:
    """The detector's events in the store, or None when it has never run here."""
    names = {r[0] for r in store.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "events" not in names:
        return None
    return load_events(store)


def _insert_matches(
    store: Store, cases: list[Case], events: list[Event], *, now: datetime
) -> list[Match]:
    found = match(cases, events)
    if found:
        store.con.executemany(
            "INSERT INTO case_events VALUES (?, ?, ?, ?)",
            [(m.case_id, m.event_id, m.reason, now) for m in found],
        )
    return found


def _write_matches(store: Store, cases: list[Case], events: list[Event]) -> list[Match]:
    store.con.execute("DELETE FROM case_events")
    return _insert_matches(store, cases, events, now=datetime.now(UTC).replace(tzinfo=None))


def match_events(store: Store, events: list[Event] | None = None) -> list[Match]:
    """Match events (the store's detected events unless given) with every case; stored."""
    ensure_tables(store)
    if events is None:
        events = _stored_events(store) or []
    cases = list_cases(store)
    with store.transaction():
        return _write_matches(store, cases, events)


def case_events(store: Store, case_id: str) -> list[tuple[str, str]]:
    """(event_id, reason) of the events matched to a case."""
    case = get_case(store, case_id)
    if case is None:
        return []
    return event_matches(store, [case]).get(case_id, [])


def events_by_id(store: Store, ids: list[str] | None = None) -> dict[str, Event]:
    """The stored events (those with these ids); empty when the detector has not run."""
    events = _stored_events(store) or []
    wanted = None if ids is None else set(ids)
    return {e.event_id: e for e in events if wanted is None or e.event_id in wanted}
