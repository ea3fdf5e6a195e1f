"""Idempotent, kill-safe loading of measurement files into the store.

Files are streamed record by record (constant memory) and written in batches (see
:mod:`voipwatch.store.batch`): each is one transaction, so a run killed at any moment
leaves whole batches behind. A measurement's identity is
:attr:`Judgement.key <voipwatch.verdicts.types.Judgement.key>`; the insert skips keys
already stored, so re-running after a kill (or on the same files) converges on the
store a single clean run would have built: the first occurrence of a key, in input
order, is the one kept.

With one worker (the reference path), reading and judging run on the calling
thread, writing on a :class:`~voipwatch.store.writer.BatchWriter`; at most two
batches are held in memory at once. With more, files are read and judged by a pool
of processes and committed here in input order (:mod:`voipwatch.store.pipeline`),
with the same result.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from voipwatch.engine import Engine, ProcessEngine, create_engine, default_workers
from voipwatch.errors import InputError, InvalidValue
from voipwatch.ooni.reader import (
    QUARANTINE_EXCERPT,
    QUARANTINE_PER_FILE,
    Problem,
    iter_files,
    read_file,
)
from voipwatch.store.batch import Batch, FileStats
from voipwatch.store.db import Store, store_errors
from voipwatch.store.pipeline import ingest_files
from voipwatch.store.prepare import judge_record
from voipwatch.store.writer import BatchWriter

__all__ = ["IngestProgress", "IngestStats", "ingest", "ingested_files", "judge_record"]

#: Measurements per transaction: large enough that per-commit costs vanish.
BATCH_SIZE: Final = 5000
#: A batch is also cut once its raw (uncompressed) bytes reach this size, which bounds
#: memory when measurements are large (web_connectivity ones average ~80 kB).
BATCH_BYTES: Final = 32 * 1024 * 1024
PROGRESS_EVERY: Final = 250


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


class _Run:
    """The reading side of one run: counters and the batch being filled."""

    def __init__(
        self,
        writer: BatchWriter,
        *,
        on_problem: Callable[[str], None] | None,
        limits: tuple[int, int],
    ) -> None:
        self.writer = writer
        self.on_problem = on_problem
        self.limits = limits
        self.stats = IngestStats()
        self.batch = Batch()

    def problem(
        self, fs: FileStats, where: tuple[str, int], reason: str, excerpt: bytes, message: str
    ) -> None:
        self.stats.read += 1
        self.stats.quarantined += 1
        fs.records += 1
        fs.quarantined += 1
        if fs.quarantined <= QUARANTINE_PER_FILE:
            self.batch.quarantine.setdefault((*where, reason), excerpt[:QUARANTINE_EXCERPT])
        if self.on_problem is not None:
            self.on_problem(message)
        self._maybe_submit()

    def measurement(
        self, fs: FileStats, source: str, line: int, raw: bytes, uid: str | None
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
            self.batch = Batch()


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
    workers: int | None = None,
    engine: Engine | str | None = None,
    scheduler: str | None = None,
    parts_dir: Path | None = None,
) -> IngestStats:
    """Load every measurement under ``paths`` into ``store``; return the counts.

    Paths are made absolute first so that the same file reached by two spellings is
    one source in the quarantine and the file bookkeeping. ``workers`` processes read
    and judge the files (default: one per CPU, at most one per file); ``1`` reads
    them on this thread. ``engine`` runs the files through a given engine instead,
    or one named in :data:`~voipwatch.engine.ENGINES` (``scheduler``: the address
    of a running Dask cluster); ``parts_dir`` is where the workers leave their rows
    for this process to load (a directory every worker sees). Every way gives the
    same store and counts. Raises
    :class:`~voipwatch.errors.StoreError` when the store cannot be written or a
    worker fails; batches committed before that stay, and a re-run completes the rest.
    """
    started = time.perf_counter()
    if workers is not None and workers < 1:
        raise InvalidValue("workers", workers, f"must be at least 1, not {workers}")
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
    if isinstance(engine, str):
        engine = create_engine(engine, workers=workers, items=len(files), scheduler=scheduler)
    elif scheduler is not None:
        raise InvalidValue("scheduler", scheduler, "is for the dask engine only")
    if engine is None and files:
        n = default_workers(len(files)) if workers is None else min(workers, len(files))
        if n > 1 or (workers or 1) > 1:
            engine = ProcessEngine(n)
    if engine is None:
        stats = _serial(store, files, sizes, on_problem, on_progress, batch_size, batch_bytes)
    else:
        stats = _with_engine(
            store,
            engine,
            files,
            sizes,
            on_problem,
            on_progress,
            (batch_size, batch_bytes),
            parts_dir,
        )
    stats.missing = missing
    stats.elapsed_seconds = time.perf_counter() - started
    return stats


def _with_engine(
    store: Store,
    engine: Engine,
    files: list[Path],
    sizes: list[int],
    on_problem: Callable[[str], None] | None,
    on_progress: Callable[[IngestProgress], None] | None,
    limits: tuple[int, int],
    parts_dir: Path | None,
) -> IngestStats:
    stats = IngestStats()
    total = sum(sizes)
    done_bytes = done_records = 0
    current = ""

    def on_file(i: int, fs: FileStats) -> None:
        nonlocal done_bytes, done_records, current
        done_bytes = sum(sizes[:i])
        current = Path(fs.path).name
        stats.files = i + 1
        if on_progress is not None:
            on_progress(IngestProgress(i, len(files), done_bytes, total, done_records, current))

    def on_part(records: int) -> None:
        if on_progress is not None:
            p = IngestProgress(
                stats.files - 1, len(files), done_bytes, total, done_records + records, current
            )
            on_progress(p)

    def on_done(fs: FileStats) -> None:
        nonlocal done_records
        done_records += fs.records

    done, new = ingest_files(
        store,
        engine,
        files,
        sizes,
        batch_size=limits[0],
        batch_bytes=limits[1],
        on_problem=on_problem,
        on_file=on_file,
        on_part=on_part,
        on_done=on_done,
        parts_dir=parts_dir,
    )
    stats.files = len(done)
    stats.read = sum(fs.records for fs in done)
    stats.quarantined = sum(fs.quarantined for fs in done)
    stats.new = new
    stats.duplicate = stats.read - stats.new - stats.quarantined
    if on_progress is not None:
        on_progress(IngestProgress(len(files), len(files), total, total, stats.read, ""))
    return stats


def _serial(
    store: Store,
    files: list[Path],
    sizes: list[int],
    on_problem: Callable[[str], None] | None,
    on_progress: Callable[[IngestProgress], None] | None,
    batch_size: int,
    batch_bytes: int,
) -> IngestStats:
    """The reference path: read and judge here, write on a writer thread."""
    writer = BatchWriter(store)
    run = _Run(writer, on_problem=on_problem, limits=(batch_size, batch_bytes))
    done_bytes = 0

    def report(i: int, current: str) -> None:
        if on_progress is not None:
            s = IngestProgress(i, len(files), done_bytes, sum(sizes), run.stats.read, current)
            on_progress(s)

    try:
        with store_errors(store.path, "ingest"):
            for i, (path, size) in enumerate(zip(files, sizes, strict=True)):
                fs = FileStats(str(path), size)
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
    return run.stats


def ingested_files(store: Store, paths: Iterable[Path]) -> dict[Path, tuple[int, int]]:
    """What ingest recorded of each file: ``(records, quarantined)``; absent if never read."""
    # Ingest records files by their absolute path.
    wanted = {os.path.abspath(p): p for p in paths}
    if not wanted:
        return {}
    with store_errors(store.path, "reading the ingested files"):
        rows = store.con.execute(
            "SELECT file, records, quarantined FROM ingest_files WHERE file IN (SELECT unnest(?))",
            [list(wanted)],
        ).fetchall()
    return {wanted[f]: (int(r), int(q)) for f, r, q in rows}
