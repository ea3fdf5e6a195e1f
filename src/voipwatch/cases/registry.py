"""The case registry: documented cases in the store, joined with detected events.

Records are imported into ``voipwatch.store.cases``'s tables, merged into cases at
every import, annotated by people and matched with the detector's events. An import
is one transaction: a file with any bad record writes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import msgspec

from voipwatch.cases.importers import read_file
from voipwatch.cases.match import Match, match
from voipwatch.cases.merge import merge
from voipwatch.cases.model import STATUSES, Annotation, Case, SourceRecord
from voipwatch.cases.names import app_for, country_code
from voipwatch.errors import InputError, InvalidValue, UsageError
from voipwatch.events import Event, load_events
from voipwatch.store import cases as case_tables
from voipwatch.store.cases import CaseRow, MatchRow, SourceRow
from voipwatch.store.db import Store, store_errors, table_names
from voipwatch.untrusted import web_link

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


#: Records staged per statement while a file is read; what an import holds at once.
STAGE_ROWS = 10_000


class _Stager:
    """Puts a file's records into the import's staging table as they are read,
    counting new and updated ones as merging them one by one would.

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
        if not self.pending:
            return
        # Earlier in this file first (it replaced what is stored), then the store.
        earlier, stored = case_tables.unstage(self.store, list(self.pending), stored=self.stored)
        filed: dict[tuple[str, str], str] = {}
        known = {(r.source, r.record_id) for r in earlier}
        for row in [*earlier, *(r for r in stored if (r.source, r.record_id) not in known)]:
            key = (row.source, row.record_id)
            old = msgspec.json.decode(row.record, type=SourceRecord)
            self.stats.updated += old != self.pending[key][0]
            filed[key] = row.case_id
        self.stats.new += len(self.pending) - len(filed)
        case_tables.stage(
            self.store,
            [
                SourceRow(*key, filed.get(key, ""), _encode(last).decode(), self.origin, self.now)
                for key, (_, last) in self.pending.items()
            ],
        )
        self.pending.clear()


def _refile(store: Store, *, stored: bool, stats: ImportStats) -> None:
    """Merge the records, stored and staged, into cases one country after another,
    into the import's work tables.

    Records of two countries never merge, so only one country's records are held at a
    time. Counts go to ``stats``.
    """
    countries = case_tables.gather(store, stored=stored)
    # Case ids stay distinct across countries too (a record may move country).
    taken: set[str] = set()
    for cc in sorted(countries):
        # Fetched and decoded a slice at a time: the rows as text and as records are
        # never both held whole.
        records: list[SourceRecord] = []
        previous: dict[tuple[str, str], str] = {}
        origin: dict[tuple[str, str], tuple[str, datetime]] = {}
        for chunk in case_tables.gathered(store, cc, chunk=STAGE_ROWS):
            for row in chunk:
                records.append(msgspec.json.decode(row.record, type=SourceRecord))
                if row.case_id:
                    previous[(row.source, row.record_id)] = row.case_id
                origin[(row.source, row.record_id)] = (row.imported_from, row.imported_at)
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
                SourceRow(r.source, r.record_id, c.case_id, _encode(r).decode(), *origin[r.key])
            )
        body = msgspec.structs.replace(c, annotations=[], events=[], status="unreviewed")
        case_rows.append(
            CaseRow(
                c.case_id,
                c.country,
                c.kind,
                c.start,
                c.end,
                ",".join(c.apps),
                _encode(body).decode(),
            )
        )
    case_tables.add_merged(store, source_rows, case_rows)


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
    stored = case_tables.has_tables(store)
    now = datetime.now(UTC).replace(tzinfo=None)
    stats = ImportStats(file=str(path), source="")
    with store_errors(store.path, "importing cases"):
        case_tables.start_import(store)
    try:
        if stored:
            stats.cases_before = case_tables.count_cases(store)
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
            case_tables.replace_with_import(store)
            stats.events_matched = _match_stored(store)
            case_tables.drop_work_tables(store)
    finally:
        with store_errors(store.path, "importing cases"):
            case_tables.drop_work_tables(store)
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
    case_tables.clear_matches(store)
    now = datetime.now(UTC).replace(tzinfo=None)
    n = 0
    for cc, found in sorted(by_cc.items()):
        bodies = case_tables.case_bodies(store, country=cc)
        cases = [msgspec.json.decode(body, type=Case) for _, body in bodies]
        n += len(_insert_matches(store, cases, found, now=now))
    return n


# ------------------------------------------------------------------------------------
# Reading cases
# ------------------------------------------------------------------------------------


def _annotations(store: Store) -> dict[str, list[Annotation]]:
    out: dict[str, list[Annotation]] = {}
    for row in case_tables.notes(store):
        out.setdefault(row.case_id, []).append(msgspec.json.decode(row.body, type=Annotation))
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
    for cid, eid, reason in case_tables.recorded_matches(store):
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
    cc = None
    if country:
        cc = country_code(country)
        if cc is None:
            raise InvalidValue("country", country, f"unknown country {country!r}")
    app_id = None
    if app:
        app_id = app_for(app)
        if app_id is None:
            raise InvalidValue("app", app, f"unknown app {app!r} (not in the service catalogue)")
    if not case_tables.has_tables(store):
        return []
    rows = case_tables.case_bodies(store, country=cc, kind=kind, since=since, until=until)
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
    if not case_tables.has_tables(store):
        return None
    body = case_tables.case_body(store, case_id)
    if body is None:
        return None
    notes = _annotations(store).get(case_id, [])
    return _with_events(store, [_compose(body, notes)])[0]


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
    case_tables.add_note(store, case_id, ann.at.replace(tzinfo=None), _encode(ann).decode())
    case = get_case(store, case_id)
    assert case is not None
    return case


# ------------------------------------------------------------------------------------
# Events
# ------------------------------------------------------------------------------------


def _stored_events(store: Store) -> list[Event] | None:
    """The detector's events in the store, or None when it has never run here."""
    if "events" not in table_names(store.con):
        return None
    return load_events(store)


def _insert_matches(
    store: Store, cases: list[Case], events: list[Event], *, now: datetime
) -> list[Match]:
    found = match(cases, events)
    case_tables.add_matches(store, [MatchRow(m.case_id, m.event_id, m.reason, now) for m in found])
    return found


def _write_matches(store: Store, cases: list[Case], events: list[Event]) -> list[Match]:
    case_tables.clear_matches(store)
    return _insert_matches(store, cases, events, now=datetime.now(UTC).replace(tzinfo=None))


def match_events(store: Store, events: list[Event] | None = None) -> list[Match]:
    """Match events (the store's detected events unless given) with every case; stored."""
    case_tables.ensure_tables(store)
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
