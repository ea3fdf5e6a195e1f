"""Idempotent, kill-safe loading of measurement files into the store.

Files are streamed record by record (constant memory) and written in batches. Each
batch is one transaction holding its measurements together with their verdicts,
observations, quarantined records and the bookkeeping of files read to their end, so
a run killed at any moment leaves whole batches behind. A measurement's identity is
:attr:`Judgement.key <voipwatch.verdicts.types.Judgement.key>`; the insert skips keys
already stored, so re-running after a kill (or on the same files) converges on the
store a single clean run would have built: the first occurrence of a key, in input
order, is the one kept.

Reading and judging run on the calling thread; compressing and writing a batch run
on one writer thread, so the two overlap (zlib, zstd and DuckDB all release the
GIL). Batches are written one at a time, in input order, which keeps every property
above; at most two batches are held in memory at once.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from voipwatch.errors import InputError
from voipwatch.ooni.reader import QUARANTINE_EXCERPT, Problem, iter_files, read_file
from voipwatch.store.db import Store, store_errors
from voipwatch.store.rows import Rows
from voipwatch.store.schema import MEASUREMENT_COLUMNS, start_time_sql
from voipwatch.verdicts import Judgement, judge_bytes

#: Measurements per transaction: large enough that per-commit costs vanish.
BATCH_SIZE: Final = 5000
#: A batch is also cut once its raw (uncompressed) bytes reach this size, which bounds
#: memory when measurements are large (web_connectivity ones average ~80 kB).
BATCH_BYTES: Final = 32 * 1024 * 1024
PROGRESS_EVERY: Final = 250

_SELECT_MEASUREMENTS: Final = ", ".join(
    start_time_sql(c) if c == "measurement_start_time" else c for c in MEASUREMENT_COLUMNS
)
_INSERT_MEASUREMENTS: Final = (
    f"INSERT INTO measurements ({', '.join(MEASUREMENT_COLUMNS)}) "
    f"SELECT {_SELECT_MEASUREMENTS} FROM _batch_m ON CONFLICT DO NOTHING RETURNING key"
)


@dataclass(slots=True)
class IngestStats:
    """What a run did. ``read == new + duplicate + quarantined`` always holds."""

    files: int = 0
    read: int = 0
    new: int = 0
    duplicate: int = 0
    quarantined: int = 0
    missing: int = 0
    elapsed_seconds: float = 0.0

    def as_dict(self) -> dict[str, int | float]:
        return {
            "files": self.files,
            "read": self.read,
            "new": self.new,
            "duplicate": self.duplicate,
            "quarantined": self.quarantined,
            "missing": self.missing,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class IngestProgress:
    """A snapshot for progress displays; bytes advance a whole file at a time."""

    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    records: int
    current: str


@dataclass(slots=True)
class _FileStats:
    """Per-file counters. The reader thread owns the first four fields; the writer
    owns ``new`` and ``stored_duplicate`` (never both on one field, so no locks)."""

    path: str
    size: int
    records: int = 0
    quarantined: int = 0
    run_duplicate: int = 0
    new: int = 0
    stored_duplicate: int = 0


@dataclass(slots=True)
class _Batch:
    """Everything that commits together in one transaction."""

    rows: Rows = field(default_factory=Rows)
    files: list[_FileStats] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    quarantine: dict[tuple[str, int, str], bytes] = field(default_factory=dict)
    finished: list[_FileStats] = field(default_factory=list)
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


def _insert_for_keys(
    con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table, keys: set[str]
) -> None:
    """Insert the rows of ``rows`` that belong to ``keys`` (the measurements just added)."""
    if rows.num_rows == 0 or not keys:
        return
    chosen = rows.filter(pc.is_in(rows["key"], value_set=pa.array(list(keys), type=pa.string())))
    if chosen.num_rows == 0:
        return
    con.register("_batch_rows", chosen)
    try:
        # ``table`` is one of our own table names, never user input.
        con.execute(f"INSERT INTO {table} SELECT * FROM _batch_rows")
    finally:
        con.unregister("_batch_rows")


def insert_rows(con: duckdb.DuckDBPyConnection, rows: Rows) -> set[str]:
    """Insert the measurements of ``rows`` not yet stored, with their derived rows.

    Returns the keys that were new. Call inside a transaction: the measurement rows
    and their verdicts and observations must land together.
    """
    if not len(rows):
        return set()
    con.register("_batch_m", rows.measurements())
    try:
        new = {k for (k,) in con.execute(_INSERT_MEASUREMENTS).fetchall()}
    finally:
        con.unregister("_batch_m")
    _insert_for_keys(con, "verdicts", rows.verdicts(), new)
    _insert_for_keys(con, "observations", rows.observations(), new)
    return new


def write_batch(store: Store, b: _Batch) -> int:
    """Commit one batch atomically; return how many of its measurements were new."""
    con = store.con
    with store.transaction():
        new = insert_rows(con, b.rows)
        if b.quarantine:
            now = _utcnow()
            con.executemany(
                "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [[f, n, r, ex, now] for (f, n, r), ex in b.quarantine.items()],
            )
        for key, fs in zip(b.rows.m["key"], b.files, strict=True):
            if key in new:
                fs.new += 1
            else:
                fs.stored_duplicate += 1
        if b.finished:
            now = _utcnow()
            con.executemany(
                "INSERT OR REPLACE INTO ingest_files VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    [
                        fs.path,
                        fs.size,
                        fs.records,
                        fs.new,
                        fs.run_duplicate + fs.stored_duplicate,
                        fs.quarantined,
                        now,
                    ]
                    for fs in b.finished
                ],
            )
    return len(new)


class _Writer:
    """The thread that compresses and commits batches, one at a time, in order."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.new = 0
        self.written = 0
        self.error: BaseException | None = None
        self._queue: queue.Queue[_Batch | None] = queue.Queue(maxsize=1)
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name="voipwatch-ingest", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            if self.error is not None or self._cancelled.is_set():
                continue
            try:
                self.new += write_batch(self.store, batch)
                self.written += len(batch.rows)
            except BaseException as exc:  # handed to the reading thread, re-raised there
                self.error = exc

    def submit(self, batch: _Batch) -> None:
        self._raise()
        self._queue.put(batch)

    def finish(self) -> None:
        """Wait until every submitted batch is committed."""
        self._queue.put(None)
        self._thread.join()
        self._raise()

    def cancel(self) -> None:
        """Drop batches not yet started; the one being written still commits whole."""
        self._cancelled.set()
        # Only the reading thread puts, so once drained the queue has room for the
        # sentinel even if the writer already stopped after an earlier one.
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put_nowait(None)
        self._thread.join()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error


class _Run:
    """The reading side of one run: counters and the batch being filled."""

    def __init__(
        self, writer: _Writer, *, on_problem: Callable[[str], None] | None, limits: tuple[int, int]
    ) -> None:
        self.writer = writer
        self.on_problem = on_problem
        self.limits = limits
        self.stats = IngestStats()
        self.batch = _Batch()

    def problem(
        self, fs: _FileStats, where: tuple[str, int], reason: str, excerpt: bytes, message: str
    ) -> None:
        self.stats.read += 1
        self.stats.quarantined += 1
        fs.records += 1
        fs.quarantined += 1
        self.batch.quarantine.setdefault((*where, reason), excerpt[:QUARANTINE_EXCERPT])
        if self.on_problem is not None:
            self.on_problem(message)
        self._maybe_submit()

    def measurement(
        self, fs: _FileStats, source: str, line: int, raw: bytes, uid: str | None
    ) -> None:
        try:
            j = judge_record(raw, source=source, line=line, uid=uid)
        except InputError as exc:
            where = (exc.source or source, exc.line or line)
            self.problem(fs, where, exc.reason, raw, str(exc))
            return
        self.stats.read += 1
        fs.records += 1
        b = self.batch
        if j.key in b.keys:
            # Same measurement earlier in this batch: the first one in input order wins,
            # as it would on any re-run.
            self.stats.duplicate += 1
            fs.run_duplicate += 1
            return
        b.keys.add(j.key)
        b.files.append(fs)
        b.rows.add(j, source=source, line=line, raw=raw)
        b.raw_bytes += len(raw)
        self._maybe_submit()

    def _maybe_submit(self) -> None:
        if self.batch.full(*self.limits):
            self.submit()

    def submit(self) -> None:
        if not self.batch.empty():
            self.stats.duplicate += len(self.batch.rows)  # settled against ``new`` at the end
            self.writer.submit(self.batch)
            self.batch = _Batch()


def judge_record(raw: bytes, *, source: str, line: int, uid: str | None) -> Judgement:
    """Judge one record; a rule that trips on odd input becomes an ``InputError``.

    Rules are pure code over untrusted input. One that raises on a record must not end
    a run over millions: the record is quarantined with the reason (and the bug is in
    plain sight there), exactly as ``voipwatch verdicts`` reports it and goes on.
    """
    try:
        return judge_bytes(raw, source=source, line=line, uid=uid)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(
            f"could not judge ({exc.__class__.__name__}: {exc}); "
            "this is a voipwatch bug, please report it",
            source=source,
            line=line,
        ) from exc


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0


def ingest(
    store: Store,
    paths: Iterable[Path],
    *,
    on_problem: Callable[[str], None] | None = None,
    on_progress: Callable[[IngestProgress], None] | None = None,
    batch_size: int = BATCH_SIZE,
    batch_bytes: int = BATCH_BYTES,
) -> IngestStats:
    """Load every measurement under ``paths`` into ``store``; return the counts.

    Paths are made absolute first so that the same file reached by two spellings is
    one source in the quarantine and the file bookkeeping. Raises
    :class:`~voipwatch.errors.StoreError` when the store cannot be written; batches
    committed before that stay, and a re-run completes the rest.
    """
    started = time.perf_counter()
    missing = 0
    files: list[Path] = []
    for item in iter_files(Path(os.path.abspath(p.expanduser())) for p in paths):
        if isinstance(item, Problem):
            missing += 1
            if on_problem is not None:
                on_problem(str(item))
        else:
            files.append(item)
    sizes = [_size(f) for f in files]
    writer = _Writer(store)
    run = _Run(writer, on_problem=on_problem, limits=(batch_size, batch_bytes))
    run.stats.missing = missing
    done_bytes = 0

    def report(i: int, current: str) -> None:
        if on_progress is not None:
            s = IngestProgress(i, len(files), done_bytes, sum(sizes), run.stats.read, current)
            on_progress(s)

    try:
        with store_errors(store.path, "ingest"):
            for i, (path, size) in enumerate(zip(files, sizes, strict=True)):
                fs = _FileStats(str(path), size)
                run.stats.files += 1
                report(i, path.name)
                for n, rec in enumerate(read_file(path), 1):
                    if isinstance(rec, Problem):
                        where = (rec.source, rec.line)
                        run.problem(fs, where, rec.reason, rec.raw, str(rec))
                    else:
                        run.measurement(fs, rec.source, rec.line, rec.raw, rec.uid)
                    if n % PROGRESS_EVERY == 0:
                        report(i, path.name)
                run.batch.finished.append(fs)
                done_bytes += size
                run._maybe_submit()
            run.submit()
            writer.finish()
    except BaseException:
        writer.cancel()
        raise
    run.stats.new = writer.new
    run.stats.duplicate -= writer.new
    report(len(files), "")
    run.stats.elapsed_seconds = time.perf_counter() - started
    return run.stats
