"""The server's writer: a background worker that ingests in batches while pages are served.

The serving process is the one writer of its store. Each cycle the worker takes the
next batch of files from the watched folder, ingests it — in one transaction, unless
its measurements pass ingest's own bound on the bytes held in memory, which then cuts
it into several — counts the changed hours into cells and runs the detector (which
resumes from its saved state: only hours whose measurements changed are recounted),
stores the events, and then publishes a snapshot of the store
(:mod:`voipwatch.store.snapshot`). The pages and every reading command read only
that snapshot, never the store being written, so what they show moves from one whole
batch to the next, measurements and events together, however many commits a batch
took.

Only after the snapshot is published do the batch's files leave ``incoming/``; a
worker killed at any point leaves them there, and the next start ingests them again
without storing any measurement twice (ingest skips stored measurement ids).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final

from voipwatch.alerts.webhook import WebhookSender, changes, payload
from voipwatch.events import (
    Event,
    KnownChange,
    build_cells,
    detect_events,
    load_events,
    save_events,
)
from voipwatch.observatory.spool import Spool
from voipwatch.store import Store, ingest
from voipwatch.store.ingest import ingested_files
from voipwatch.store.snapshot import Publisher

__all__ = ["BatchOutcome", "Listener", "Worker", "webhook_listener"]

log = logging.getLogger(__name__)

#: A batch's limits (files, and their bytes on disk): enough files that the cost of
#: a snapshot is shared, few enough that the pages are not long behind.
BATCH_FILES: Final = 500
BATCH_BYTES: Final = 32 * 1024 * 1024
#: How much nicer than the serving threads the worker runs (Linux gives each thread its
#: own nice value): on a busy machine a batch may land a little later, but the pages
#: that readers wait for come first. Processes the worker starts inherit it.
WORKER_NICE: Final = 10
#: No bound on the measurements of one commit: only ingest's bound on raw bytes
#: (``voipwatch.store.ingest.BATCH_BYTES``) cuts a batch, to keep memory bounded.
_ANY_COUNT: Final = 1 << 40


@dataclass(slots=True)
class BatchOutcome:
    """What one cycle did; ``new_events`` and ``ended_events`` are blocks (as announced)."""

    files: int = 0
    read: int = 0
    new: int = 0
    duplicate: int = 0
    quarantined: int = 0
    files_quarantined: int = 0
    new_events: list[Event] = field(default_factory=list)
    ended_events: list[Event] = field(default_factory=list)
    snapshot: Path | None = None


#: Told after each published snapshot (a batch's, or another write's, with no files).
Listener = Callable[[BatchOutcome], None]


def webhook_listener(sender: WebhookSender, clock: Callable[[], datetime]) -> Listener:
    """A listener that queues a notice of the blocks a batch found or ended, if any."""

    def notify(outcome: BatchOutcome) -> None:
        if outcome.new_events or outcome.ended_events:
            sender.send(payload(outcome.new_events, outcome.ended_events, now=clock()))

    return notify


class Worker:
    """Owns the open store: ingests the spool's batches and publishes what it commits."""

    def __init__(
        self,
        store: Store,
        spool: Spool,
        *,
        clock: Callable[[], datetime],
        known_changes: list[KnownChange],
        poll_seconds: float = 5.0,
        batch_files: int = BATCH_FILES,
        batch_bytes: int = BATCH_BYTES,
        engine: str | None = None,
        scheduler: str | None = None,
    ) -> None:
        self.store = store
        self.spool = spool
        self.clock = clock
        self.known_changes = known_changes
        self.poll_seconds = poll_seconds
        self.batch_files = batch_files
        self.batch_bytes = batch_bytes
        # With a Dask scheduler the batch's files are read and judged on its workers.
        self.engine = engine
        self.scheduler = scheduler
        self.publisher = Publisher(store.path)
        self.listeners: list[Listener] = []
        self.batches = 0
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._snapshot = self.publisher.publish(store.con)

    @property
    def snapshot(self) -> Path:
        """The last published snapshot of the store."""
        return self._snapshot

    @contextmanager
    def writing(self) -> Iterator[Store]:
        """The store for another writer in this process (annotations); published after."""
        with self._lock:
            yield self.store
            self._snapshot = self.publisher.publish(self.store.con)
        self._tell(BatchOutcome(snapshot=self._snapshot))

    def run_once(self) -> BatchOutcome | None:
        """Ingest the next batch, if any file waits; ``None`` when none did."""
        files = self.spool.pending(max_files=self.batch_files, max_bytes=self.batch_bytes)
        if not files:
            return None
        with self._lock:
            outcome = self._ingest(files)
            before = load_events(self.store)
            after = detect_events(
                self.store, cells=build_cells(self.store).counted, known_changes=self.known_changes
            )
            save_events(self.store, after)
            self._snapshot = outcome.snapshot = self.publisher.publish(self.store.con)
        outcome.new_events, outcome.ended_events = changes(before, after)
        self._settle(files, outcome)
        self.batches += 1
        self._tell(outcome)
        return outcome

    def _tell(self, outcome: BatchOutcome) -> None:
        for listener in self.listeners:
            try:
                listener(outcome)
            except Exception as exc:  # one listener's failure must not silence the others
                log.error("voipwatch worker: a listener failed: %s", exc)

    def _ingest(self, files: list[Path]) -> BatchOutcome:
        readable = [f for f in files if self.spool.is_readable_kind(f)]
        stats = ingest(
            self.store,
            readable,
            workers=None if self.engine else 1,
            engine=self.engine,
            scheduler=self.scheduler,
            batch_size=_ANY_COUNT,
        )
        return BatchOutcome(
            files=len(files),
            read=stats.read,
            new=stats.new,
            duplicate=stats.duplicate,
            quarantined=stats.quarantined,
        )

    def _settle(self, files: list[Path], outcome: BatchOutcome) -> None:
        seen = ingested_files(self.store, files)
        for f in files:
            records, quarantined = seen.get(f, (0, 0))
            good = records > quarantined
            if not good:
                outcome.files_quarantined += 1
            self.spool.settle(f, good=good)

    def _loop(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # not Linux: as it was
            me = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, me, os.getpriority(os.PRIO_PROCESS, me) + WORKER_NICE)
        while not self._stop.is_set():
            try:
                outcome = self.run_once()
                self.last_error = None
            except Exception as exc:  # logged and retried: the server keeps serving
                self.last_error = str(exc)
                log.error("voipwatch worker: batch failed, will retry: %s", exc)
                outcome = None
            if outcome is None:
                self._stop.wait(self.poll_seconds)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="voipwatch-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish the batch under way, then stop; the snapshots are withdrawn."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.publisher.retire()
