"""The process engine: a pool of worker processes, results handed back in input order.

Workers are started with ``spawn``: a fresh interpreter that imports only what the
work needs, instead of a fork of a parent holding a DuckDB connection and its
threads. They ignore Ctrl-C (the parent handles it and stops them) and die with the
parent (``PR_SET_PDEATHSIG`` on Linux, a watch on the parent's pid elsewhere), so a
killed run leaves no worker behind. A worker that dies or raises fails its item's
handle; the caller decides what that means.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Final, TypeVar

from voipwatch.engine.base import ClosesOnExit, Pending, submit_ahead

T = TypeVar("T")
R = TypeVar("R")

_PR_SET_PDEATHSIG: Final = 1


def _watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(1)
        time.sleep(0.5)


def _init_worker(parent: int) -> None:
    """Run in each worker before any item: leave Ctrl-C to the parent, die with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    armed = False
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    if not armed:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


class ProcessEngine(ClosesOnExit):
    """Maps ``fn`` over items with ``workers`` processes, ``ahead`` items in flight.

    ``fn`` and the items must be picklable (a module-level function, plain data), and
    only plain data should come back: large results belong on disk.
    """

    concurrent = True

    def __init__(self, workers: int, *, ahead: int | None = None) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        #: Items submitted but not yet handed out and consumed: each worker busy, and
        #: one more queued so that none idles while the caller handles a result.
        self.ahead = ahead if ahead is not None else workers + 1
        self._pool: ProcessPoolExecutor | None = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(os.getpid(),),
        )
        self._pending: set[Future[object]] = set()

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[Pending[R]]:
        def submit(item: T) -> Future[R]:
            if self._pool is None:
                raise RuntimeError("the engine is closed")
            fut = self._pool.submit(fn, item)
            self._pending.add(fut)  # type: ignore[arg-type]
            fut.add_done_callback(self._pending.discard)
            return fut

        yield from submit_ahead(items, self.ahead, submit)

    def close(self) -> None:
        """Shut the pool down: at once if work is still running (its workers are killed)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if not self._pending:
            pool.shutdown(wait=True)
            return
        # Killing the workers is the only way to stop an item mid-way; the executor
        # keeps them in a private mapping, which has been stable since Python 3.2.
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            with contextlib.suppress(OSError, ValueError):
                p.kill()
        for p in procs:
            with contextlib.suppress(OSError, ValueError, AssertionError):
                p.join(timeout=10)
