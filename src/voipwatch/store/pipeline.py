"""Ingest through an engine: files are prepared elsewhere, committed here in order.

An engine (:mod:`voipwatch.engine`) maps :func:`~voipwatch.store.prepare.prepare_file`
over the input files, a few at a time; each spills its rows as Parquet parts into a
directory beside the store (or one every worker of a cluster sees). This process,
the only one holding the store, has DuckDB load the parts in input order — file after
file, part after part, consecutive ready parts in one transaction (see
:class:`_Group`) with their quarantine and, for a file's last part, the file's
bookkeeping — so a run has exactly the semantics of a serial one: the first
occurrence of a key in input order is kept, a killed run re-run converges on one
clean run's store, and duplicates are counted the same.

Parts of the file at the head of the order are committed as soon as they appear, and
its worker writes a part only while fewer than :data:`WINDOW` of its earlier ones
wait on disk: a huge file streams through one chunk of memory and a bounded
amount of disk.
Committed parts are deleted at once; the spill directory goes at the end of the
run, however it ends, and a killed run's is removed by the next run (which holds the
store's lock, so no other run can be using it).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from voipwatch.engine import Engine, Pending
from voipwatch.errors import StoreError
from voipwatch.store.batch import Conflict, FileStats, write_parts
from voipwatch.store.db import Store, store_errors
from voipwatch.store.prepare import (
    POLL_SECONDS,
    FileResult,
    Part,
    part_name,
    part_ready,
    prepare_file,
    read_part,
    remove_part,
)

#: Parts of one file allowed on disk ahead of the commits. Parts wait on disk, not in
#: memory, so the window bounds disk use (a part is at most ``batch_bytes`` of raw
#: JSON, stored compressed: about a quarter of that). It must be deep enough that a
#: worker preparing the next large file keeps working while the main process is
#: still committing the current one; with a window of 2 it idled, and two workers
#: used 1.25 CPUs.
WINDOW: Final = 32
#: A group of parts commits at this many measurements or parts (see :class:`_Group`).
GROUP_MEASUREMENTS: Final = 10_000
GROUP_PARTS: Final = WINDOW // 2
_SPILL_TAG: Final = ".spill-"


@dataclass(frozen=True, slots=True)
class FileJob:
    """One file to prepare: plain data, sent to a worker."""

    index: int
    path: str
    spill_dir: str
    batch_size: int
    batch_bytes: int
    window: int | None

    @property
    def prefix(self) -> str:
        return f"{self.index:06d}-"


def run_job(job: FileJob) -> FileResult:
    """What the engine maps: :func:`prepare_file` on one job."""
    return prepare_file(
        job.path,
        job.spill_dir,
        job.batch_size,
        job.batch_bytes,
        prefix=job.prefix,
        window=job.window,
    )


def _spill_prefixes(db: Path, parts_dir: Path | None = None) -> list[tuple[Path, str]]:
    """Where spill directories of this store live: in ``parts_dir`` when one is
    given, else beside the store, or the system temp dir."""
    digest = hashlib.blake2b(str(db.resolve()).encode(), digest_size=6).hexdigest()
    if parts_dir is not None:
        return [(parts_dir, f".voipwatch-{digest}{_SPILL_TAG}")]
    return [
        (db.parent, f".{db.name}{_SPILL_TAG}"),
        (Path(tempfile.gettempdir()), f"voipwatch-{digest}{_SPILL_TAG}"),
    ]


def spill_dirs(db: Path, parts_dir: Path | None = None) -> list[Path]:
    """Spill directories of this store that exist now (for cleanup, and for tests)."""
    found: list[Path] = []
    for parent, prefix in _spill_prefixes(db, parts_dir):
        with contextlib.suppress(OSError):
            found += [p for p in parent.iterdir() if p.name.startswith(prefix)]
    return found


@contextmanager
def spill_dir(db: Path, parts_dir: Path | None = None) -> Iterator[Path]:
    """A fresh spill directory for this run, removed afterwards; stale ones go first.

    The caller holds the store's write lock, so any other spill directory of this
    store was left by a run that was killed.
    """
    for stale in spill_dirs(db, parts_dir):
        shutil.rmtree(stale, ignore_errors=True)
    made: Path | None = None
    errors: list[str] = []
    for parent, prefix in _spill_prefixes(db, parts_dir):
        path = parent / f"{prefix}{os.getpid()}"
        try:
            path.mkdir()
        except OSError as exc:
            errors.append(f"{path}: {exc.strerror or exc}")
            continue
        made = path
        break
    if made is None:
        raise StoreError(f"{db}: ingest failed: no room for temporary files ({'; '.join(errors)})")
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)


class _Committer:
    """Commits groups of parts; plain inserts until the first stored key is met."""

    def __init__(self, store: Store, on_problem: Callable[[str], None] | None) -> None:
        self.store = store
        self.on_problem = on_problem
        self.all_new = True
        self.new = 0

    def commit(self, group: list[tuple[FileStats, Part]]) -> None:
        quarantine: dict[tuple[str, int, str], bytes] = {}
        messages: list[str] = []
        for fs, part in group:
            if part.last is not None:
                fs.records = part.last.records
                fs.quarantined = part.last.quarantined
                fs.run_duplicate = part.last.run_duplicate
            if part.quarantined:
                q = part.quarantine()
                cols = [q.column(n).to_pylist() for n in ("file", "line", "reason", "excerpt")]
                for f, n, r, ex in zip(*cols, strict=True):
                    if ex is not None:  # None: past the file's quarantine rows, counted only
                        quarantine.setdefault((f, n, r), ex)
                messages += q.column("message").to_pylist()
        with store_errors(self.store.path, "ingest"):
            if self.all_new:
                try:
                    self.new += write_parts(self.store, group, quarantine, all_new=True)
                except Conflict:
                    self.all_new = False
            if not self.all_new:
                self.new += write_parts(self.store, group, quarantine)
        if self.on_problem is not None:
            for message in messages:
                self.on_problem(message)


class _WorkFailed(StoreError):
    """A file could not be prepared; what is ready before it still commits."""


def _failed(store: Store, path: str, exc: BaseException) -> StoreError:
    if isinstance(exc, BrokenProcessPool):
        why = "a worker process died"
    else:
        why = f"{exc.__class__.__name__}: {exc}".splitlines()[0]
    return _WorkFailed(f"{store.path}: ingest failed while preparing {path}: {why}")


def _result(store: Store, job: FileJob, pending: Pending[FileResult]) -> FileResult:
    try:
        return pending.result()
    except Exception as exc:  # what the work raised, or BrokenProcessPool
        raise _failed(store, job.path, exc) from exc


def ingest_files(
    store: Store,
    engine: Engine,
    files: list[Path],
    sizes: list[int],
    *,
    batch_size: int,
    batch_bytes: int,
    on_problem: Callable[[str], None] | None,
    on_file: Callable[[int, FileStats], None],
    on_part: Callable[[int], None],
    on_done: Callable[[FileStats], None],
    parts_dir: Path | None = None,
) -> tuple[list[FileStats], int]:
    """Commit every file through ``engine``; return the files' stats and the new count.

    ``on_file(i, fs)`` is called as file ``i`` becomes the one being committed,
    ``on_part(records)`` after each commit (records of that file so far, about),
    ``on_done(fs)`` once the file is committed to its end. ``parts_dir`` is where
    the parts go (it must be visible to the engine's workers; default: beside the
    store). Raises :class:`StoreError` when the store cannot be written or a worker
    fails; what was committed stays.
    """
    committer = _Committer(store, on_problem)
    done: list[FileStats] = []
    with spill_dir(store.path, parts_dir) as spill, engine:
        window = WINDOW if engine.concurrent else None
        jobs = [
            FileJob(i, str(p), str(spill), batch_size, batch_bytes, window)
            for i, p in enumerate(files)
        ]
        group = _Group(committer, spill, on_part, done, on_done)
        try:
            _commit_all(store, engine, jobs, sizes, spill, group, on_file)
        except _WorkFailed:
            group.flush()  # the parts before the failed file are whole: keep them
            raise
    return done, committer.new


def _commit_all(
    store: Store,
    engine: Engine,
    jobs: list[FileJob],
    sizes: list[int],
    spill: Path,
    group: _Group,
    on_file: Callable[[int, FileStats], None],
) -> None:
    """Hand every part to ``group``, in input order, as the workers finish them."""
    for job, size, pending in zip(jobs, sizes, engine.map(run_job, jobs), strict=True):
        fs = FileStats(job.path, size)
        on_file(job.index, fs)
        n = 0
        while True:
            name = part_name(job.prefix, n)
            if part_ready(spill, name):
                part = read_part(spill, name)
                group.add(fs, part)
                n += 1
                if part.last is not None:
                    break
            elif pending.done():
                _result(store, job, pending)  # raises what the worker raised
                if not part_ready(spill, name):
                    raise _WorkFailed(
                        f"{store.path}: ingest failed while preparing {job.path}: "
                        f"part {n} is missing"
                    )
            elif group.parts:
                # Nothing more is ready: commit what is, rather than idle.
                group.flush()
            else:
                time.sleep(POLL_SECONDS)
        result = _result(store, job, pending)
        if n != len(result.parts):
            raise _WorkFailed(
                f"{store.path}: ingest failed while preparing {job.path}: "
                f"{len(result.parts)} parts written, {n} committed"
            )
    group.flush()


class _Group:
    """Consecutive parts, in input order, that will commit in one transaction.

    One commit per part costs the committing process more than the inserts (DuckDB
    writes its log and, past its threshold, a checkpoint at commit); grouping parts
    cuts that, and lets DuckDB write large appends straight to the file. A group is
    committed once it holds :data:`GROUP_MEASUREMENTS` measurements or
    :data:`GROUP_PARTS` parts, or as soon as the next part is not ready: a committer
    that keeps up commits each part alone, one that falls behind (the costly case)
    finds several ready and commits them together. Fewer parts than the spill window
    are ever held, so the workers never wait on a group that waits on them.
    """

    def __init__(
        self,
        committer: _Committer,
        spill: Path,
        on_part: Callable[[int], None],
        done: list[FileStats],
        on_done: Callable[[FileStats], None],
    ) -> None:
        self.committer = committer
        self.spill = spill
        self.on_part = on_part
        self.done = done
        self.on_done = on_done
        self.parts: list[tuple[FileStats, Part]] = []
        self.measurements = 0
        self.records: dict[int, int] = {}

    def add(self, fs: FileStats, part: Part) -> None:
        self.parts.append((fs, part))
        self.measurements += part.measurements
        if self.measurements >= GROUP_MEASUREMENTS or len(self.parts) >= GROUP_PARTS:
            self.flush()

    def flush(self) -> None:
        if not self.parts:
            return
        parts, self.parts, self.measurements = self.parts, [], 0
        self.committer.commit(parts)
        for fs, part in parts:
            remove_part(self.spill, part.name)
            seen = self.records.get(id(fs), 0) + part.measurements + part.quarantined
            self.records[id(fs)] = seen
            if part.last is not None:
                self.records.pop(id(fs), None)
                self.done.append(fs)
                self.on_done(fs)
        fs, part = parts[-1]
        self.on_part(fs.records if part.last is not None else self.records.get(id(fs), 0))
