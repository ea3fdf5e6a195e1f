"""One batch of ingest: what commits together, and how it is written.

A batch is one transaction holding measurements with their verdicts and
observations, quarantined records, and the bookkeeping of files read to their end:
a run killed at any moment leaves only whole batches behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa

from voipwatch.errors import StoreError
from voipwatch.store.db import Store, registered
from voipwatch.store.prepare import Part
from voipwatch.store.rows import Rows, insert_observations_sql
from voipwatch.store.schema import MEASUREMENT_COLUMNS, insert_verdicts_sql, start_time_sql

_SELECT_MEASUREMENTS: Final = ", ".join(
    start_time_sql(c) if c == "measurement_start_time" else c for c in MEASUREMENT_COLUMNS
)
_INSERT_ALL: Final = (
    f"INSERT INTO measurements ({', '.join(MEASUREMENT_COLUMNS)}) "
    f"SELECT {_SELECT_MEASUREMENTS} FROM _batch_m"
)
# Skipping stored keys costs DuckDB a third more than a plain insert (every row is
# checked and copied once more), so it is the fallback, not the default.
_INSERT_NEW: Final = f"{_INSERT_ALL} ON CONFLICT DO NOTHING RETURNING key"


@dataclass(slots=True)
class FileStats:
    """Per-file counters for the ``ingest_files`` row.

    ``records``, ``quarantined`` and ``run_duplicate`` are counted by the reading
    thread, ``new`` and ``stored_duplicate`` by the writer after each commit; no field
    is written by both, so no lock is needed.
    """

    path: str
    size: int
    records: int = 0
    quarantined: int = 0
    run_duplicate: int = 0
    new: int = 0
    stored_duplicate: int = 0


@dataclass(slots=True)
class Batch:
    """Everything that commits together in one transaction."""

    rows: Rows = field(default_factory=Rows)
    files: list[FileStats] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    quarantine: dict[tuple[str, int, str], bytes] = field(default_factory=dict)
    finished: list[FileStats] = field(default_factory=list)
    raw_bytes: int = 0

    def full(self, batch_size: int, batch_bytes: int) -> bool:
        return (
            len(self.rows) >= batch_size
            or self.raw_bytes >= batch_bytes
            or len(self.quarantine) >= batch_size
        )

    def empty(self) -> bool:
        return not (len(self.rows) or self.quarantine or self.finished)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    if rows.num_rows == 0:
        return
    with registered(con, "_batch_rows", rows):
        # ``table`` is one of our own table names, never user input.
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _batch_rows")


def insert_rows(con: duckdb.DuckDBPyConnection, rows: Rows, *, all_new: bool = False) -> set[str]:
    """Insert the measurements of ``rows`` not yet stored, with their derived rows.

    Returns the keys that were new. Call inside a transaction: the measurement rows
    and their verdicts and observations must land together. With ``all_new`` the
    rows are inserted without looking for stored keys, and a stored one raises
    ``duckdb.ConstraintException`` (the caller rolls back and tries without it).
    """
    if not len(rows):
        return set()
    with registered(con, "_batch_m", rows.measurements()):
        if all_new:
            con.execute(_INSERT_ALL)
            new = set(rows.keys)
        else:
            new = {k for (k,) in con.execute(_INSERT_NEW).fetchall()}
        if not new:
            return new
        if len(new) == len(rows):
            fresh = rows
            con.execute(insert_observations_sql("_batch_m"))
        else:
            fresh = rows.only(new)
            keys = pa.table({"key": pa.array(list(new), type=pa.string())})
            with registered(con, "_new", keys):
                where = "WHERE key IN (SELECT key FROM _new)"
                con.execute(insert_observations_sql("_batch_m", where=where))
        verdicts = fresh.verdicts()
        if verdicts.num_rows:
            with registered(con, "_batch_rows", verdicts):
                con.execute(insert_verdicts_sql("_batch_rows", "_batch_m"))
    _insert(con, "via_outcomes", fresh.via())
    return new


def _relation(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> duckdb.DuckDBPyRelation:
    return con.read_parquet([str(p) for p in paths])


def insert_parts(
    con: duckdb.DuckDBPyConnection, parts: list[Part], *, all_new: bool = False
) -> list[int]:
    """:func:`insert_rows` for spilled parts: DuckDB reads their Parquet files itself.

    Returns how many measurements of each part were new. With ``all_new`` every
    table is loaded in one statement over all the parts (a stored key, or one key in
    two parts, raises ``duckdb.ConstraintException``); without it the parts are
    inserted one after the other, skipping stored keys, so the first occurrence in
    input order wins.
    """
    full = [p for p in parts if p.measurements]
    if not full:
        return [0] * len(parts)
    if all_new:
        with registered(con, "_batch_m", _relation(con, [p.files["measurements"] for p in full])):
            con.execute(_INSERT_ALL)
            with registered(
                con, "_batch_rows", _relation(con, [p.files["verdicts"] for p in full])
            ):
                con.execute(insert_verdicts_sql("_batch_rows", "_batch_m"))
        for table in ("observations", "via_outcomes"):
            with registered(con, "_batch_rows", _relation(con, [p.files[table] for p in full])):
                con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _batch_rows")
        return [p.measurements for p in parts]
    counts = []
    for p in parts:
        if not p.measurements:
            counts.append(0)
            continue
        with registered(con, "_batch_m", _relation(con, [p.files["measurements"]])):
            new = [k for (k,) in con.execute(_INSERT_NEW).fetchall()]
        counts.append(len(new))
        if not new:
            continue
        some = len(new) < p.measurements
        where = "WHERE key IN (SELECT key FROM _new)" if some else ""
        keys = pa.table({"key": pa.array(new, type=pa.string())})
        with registered(con, "_new", keys):
            for table in ("observations", "via_outcomes"):
                with registered(con, "_batch_rows", _relation(con, [p.files[table]])):
                    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _batch_rows {where}")
            with (
                registered(con, "_batch_m", _relation(con, [p.files["measurements"]])),
                registered(con, "_batch_rows", _relation(con, [p.files["verdicts"]])),
            ):
                only = "WHERE v.key IN (SELECT key FROM _new)" if some else ""
                con.execute(insert_verdicts_sql("_batch_rows", "_batch_m", where=only))
    return counts


class Conflict(Exception):
    """A plain insert met a stored key; the caller writes the batch again, skipping them."""


#: Per file touched by a transaction: how many of its measurements were new, and how
#: many were stored already.
Counts = list[tuple[FileStats, int, int]]


def _commit(
    store: Store,
    insert: Callable[[bool], Counts],
    quarantine: dict[tuple[str, int, str], bytes],
    finished: list[FileStats],
    *,
    all_new: bool,
) -> int:
    """One transaction: rows, quarantine, bookkeeping; then the per-file counts."""
    con = store.con
    try:
        with store.transaction():
            counts = insert(all_new)
            if quarantine:
                now = _utcnow()
                con.executemany(
                    "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [[f, n, r, ex, now] for (f, n, r), ex in quarantine.items()],
                )
            if finished:
                _write_files(con, finished, counts)
    except StoreError as exc:
        if all_new and isinstance(exc.__cause__, duckdb.ConstraintException):
            raise Conflict from exc
        raise
    for fs, new, dup in counts:
        fs.new += new
        fs.stored_duplicate += dup
    return sum(new for _, new, _ in counts)


def write_batch(store: Store, b: Batch, *, all_new: bool = False) -> int:
    """Commit one batch atomically; return how many of its measurements were new.

    With ``all_new`` the plain insert is used (see :func:`insert_rows`), and
    :class:`Conflict` raised, after rolling back, if a key was already stored.
    """

    def insert(all_new: bool) -> Counts:
        new = insert_rows(store.con, b.rows, all_new=all_new)
        counts: dict[int, tuple[FileStats, int, int]] = {}
        for key, fs in zip(b.rows.keys, b.files, strict=True):
            _, n, d = counts.get(id(fs), (fs, 0, 0))
            counts[id(fs)] = (fs, n + 1, d) if key in new else (fs, n, d + 1)
        return list(counts.values())

    return _commit(store, insert, b.quarantine, b.finished, all_new=all_new)


def write_parts(
    store: Store,
    parts: list[tuple[FileStats, Part]],
    quarantine: dict[tuple[str, int, str], bytes],
    *,
    all_new: bool = False,
) -> int:
    """:func:`write_batch` for spilled parts, in input order, in one transaction.

    Files whose last part is among them get their bookkeeping row in the same
    transaction.
    """

    def insert(all_new: bool) -> Counts:
        news = insert_parts(store.con, [p for _, p in parts], all_new=all_new)
        return [(fs, n, p.measurements - n) for (fs, p), n in zip(parts, news, strict=True)]

    finished = [fs for fs, p in parts if p.last is not None]
    return _commit(store, insert, quarantine, finished, all_new=all_new)


def _write_files(con: duckdb.DuckDBPyConnection, finished: list[FileStats], counts: Counts) -> None:
    """Upsert the bookkeeping rows of files read to their end in this batch."""
    now = _utcnow()
    rows = []
    for fs in finished:
        # This batch's counts are applied to the stats only after the commit (a
        # rolled-back attempt must not count), so add them here for the row.
        new = fs.new + sum(n for f, n, _ in counts if f is fs)
        dup = fs.stored_duplicate + sum(d for f, _, d in counts if f is fs)
        rows.append(
            [fs.path, fs.size, fs.records, new, fs.run_duplicate + dup, fs.quarantined, now]
        )
    con.executemany("INSERT OR REPLACE INTO ingest_files VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
