"""One batch of ingest: what commits together, and how it is written.

A batch is one transaction holding measurements with their verdicts and
observations, quarantined records, and the bookkeeping of files read to their end:
a run killed at any moment leaves only whole batches behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

import duckdb
import pyarrow as pa

from voipwatch.errors import StoreError
from voipwatch.store.db import Store, registered
from voipwatch.store.rows import Rows, insert_observations_sql
from voipwatch.store.schema import MEASUREMENT_COLUMNS, start_time_sql

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
    _insert(con, "verdicts", fresh.verdicts())
    return new


def insert_tables(
    con: duckdb.DuckDBPyConnection,
    measurements: pa.Table,
    verdicts: pa.Table,
    observations: pa.Table,
    *,
    all_new: bool = False,
) -> set[str]:
    """:func:`insert_rows` for rows already built as tables (by a worker process).

    ``measurements`` is :meth:`Rows.measurements` (its observations column may be left
    out), ``verdicts`` :meth:`Rows.verdicts` and ``observations`` the observation rows
    of the same measurements; verdicts and observations are inserted only for the
    keys that were new.
    """
    if not measurements.num_rows:
        return set()
    with registered(con, "_batch_m", measurements):
        if all_new:
            con.execute(_INSERT_ALL)
            new = set(measurements.column("key").to_pylist())
        else:
            new = {k for (k,) in con.execute(_INSERT_NEW).fetchall()}
        if not new:
            return new
    if len(new) == measurements.num_rows:
        _insert(con, "observations", observations)
        _insert(con, "verdicts", verdicts)
        return new
    keys = pa.table({"key": pa.array(list(new), type=pa.string())})
    with registered(con, "_new", keys):
        where = "WHERE key IN (SELECT key FROM _new)"
        for table, rows in (("observations", observations), ("verdicts", verdicts)):
            with registered(con, "_batch_rows", rows):
                con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _batch_rows {where}")
    return new


class Conflict(Exception):
    """A plain insert met a stored key; the caller writes the batch again, skipping them."""


def _commit(
    store: Store,
    insert: Callable[[bool], set[str]],
    keys: list[str],
    files: list[FileStats],
    quarantine: dict[tuple[str, int, str], bytes],
    finished: list[FileStats],
    *,
    all_new: bool,
) -> int:
    """One transaction: rows, quarantine, bookkeeping; then the per-file counts."""
    con = store.con
    try:
        with store.transaction():
            new = insert(all_new)
            if quarantine:
                now = _utcnow()
                con.executemany(
                    "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [[f, n, r, ex, now] for (f, n, r), ex in quarantine.items()],
                )
            counts = [(fs, key in new) for key, fs in zip(keys, files, strict=True)]
            if finished:
                _write_files(con, finished, counts)
    except StoreError as exc:
        if all_new and isinstance(exc.__cause__, duckdb.ConstraintException):
            raise Conflict from exc
        raise
    for fs, is_new in counts:
        if is_new:
            fs.new += 1
        else:
            fs.stored_duplicate += 1
    return len(new)


def write_batch(store: Store, b: Batch, *, all_new: bool = False) -> int:
    """Commit one batch atomically; return how many of its measurements were new.

    With ``all_new`` the plain insert is used (see :func:`insert_rows`), and
    :class:`Conflict` raised, after rolling back, if a key was already stored.
    """

    def insert(all_new: bool) -> set[str]:
        return insert_rows(store.con, b.rows, all_new=all_new)

    return _commit(store, insert, b.rows.keys, b.files, b.quarantine, b.finished, all_new=all_new)


def write_tables(
    store: Store,
    fs: FileStats,
    measurements: pa.Table,
    verdicts: pa.Table,
    observations: pa.Table,
    quarantine: dict[tuple[str, int, str], bytes],
    *,
    finished: bool,
    all_new: bool = False,
) -> int:
    """:func:`write_batch` for one part of one file, its rows built as tables.

    With ``finished`` the file's bookkeeping row is written in the same transaction.
    """

    def insert(all_new: bool) -> set[str]:
        return insert_tables(store.con, measurements, verdicts, observations, all_new=all_new)

    keys = measurements.column("key").to_pylist()
    files = [fs] * len(keys)
    done = [fs] if finished else []
    return _commit(store, insert, keys, files, quarantine, done, all_new=all_new)


def _write_files(
    con: duckdb.DuckDBPyConnection,
    finished: list[FileStats],
    counts: list[tuple[FileStats, bool]],
) -> None:
    """Upsert the bookkeeping rows of files read to their end in this batch."""
    now = _utcnow()
    rows = []
    for fs in finished:
        # This batch's counts are applied to the stats only after the commit (a
        # rolled-back attempt must not count), so add them here for the row.
        new = fs.new + sum(1 for f, is_new in counts if f is fs and is_new)
        dup = fs.stored_duplicate + sum(1 for f, is_new in counts if f is fs and not is_new)
        rows.append(
            [fs.path, fs.size, fs.records, new, fs.run_duplicate + dup, fs.quarantined, now]
        )
    con.executemany("INSERT OR REPLACE INTO ingest_files VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
