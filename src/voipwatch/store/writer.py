"""The ingest writer: a thread that compresses and commits batches, in order.

Reading and judging run on the calling thread; building a batch's Arrow tables,
compressing its raw measurements and writing it run here, so the two overlap (zlib,
zstd and DuckDB release the GIL). Batches are written one at a time in the order
they were submitted, which keeps "the first occurrence of a key wins" and the kill
safety of :mod:`voipwatch.store.batch`.
"""

from __future__ import annotations

import queue
import threading

from voipwatch.store.batch import Batch, Conflict, write_batch
from voipwatch.store.db import Store


class BatchWriter:
    """Commits submitted batches on its own thread; errors surface in the submitter."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.new = 0
        self.written = 0
        self.all_new = True
        self.error: BaseException | None = None
        self._queue: queue.Queue[Batch | None] = queue.Queue(maxsize=1)
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name="voipwatch-ingest", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            try:
                if batch is None:
                    return
                if self.error is None and not self._cancelled.is_set():
                    self.new += self._write(batch)
                    self.written += len(batch.rows)
            except BaseException as exc:  # handed to the reading thread, re-raised there
                self.error = exc
            finally:
                self._queue.task_done()

    def _write(self, batch: Batch) -> int:
        # A fresh store (the common case) takes plain inserts; the first stored key
        # met means a re-run, and the rest of the run skips stored keys.
        if self.all_new:
            try:
                return write_batch(self.store, batch, all_new=True)
            except Conflict:
                self.all_new = False
        return write_batch(self.store, batch, all_new=False)

    def submit(self, batch: Batch) -> None:
        """Hand ``batch`` over once the previous one is written.

        Waiting for the previous batch (not merely for room in the queue) keeps at
        most two batches alive: the one being written and the one being filled.
        """
        self._queue.join()
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
