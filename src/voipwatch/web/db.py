"""The web's hold on the store: one shared connection, a cursor per request, a cache.

DuckDB allows one writing process or many reading ones. The server opens the store
once — read-only, unless an operator token makes it the store's writer for case
annotations — and gives each request its own cursor (a connection to the same
database instance), so requests run in parallel and see a consistent snapshot.

Answers that cost a scan of the store (aggregations, the map, country summaries)
are cached by their validated query. The cache is emptied whenever the server
writes, and it is the reason the API stays fast under many clients: the store
behind a read-only server cannot change while the server holds it.

A server that ingests while it serves (:mod:`voipwatch.observatory`) hands the
database a :class:`Live` writer instead: requests then read the snapshot it last
published, and :meth:`Database.follow` moves them to the next one after each batch
(requests already running finish on the snapshot they started on), emptying the
cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

import duckdb

from voipwatch.errors import StoreError, UsageError
from voipwatch.store import Store, open_store
from voipwatch.views.store_info import table_names

T = TypeVar("T")

#: Entries kept in the answer cache, and the bytes of the responses among them (a
#: country page of a large store is a megabyte before compression).
CACHE_SIZE: Final = 4096
CACHE_BYTES: Final = 256 * 1024 * 1024
#: A query still running after this many seconds is interrupted (the cost limit).
QUERY_SECONDS: Final = 10.0


class QueryTooCostly(UsageError):
    """A query ran past :data:`QUERY_SECONDS` and was interrupted."""


class AnswerCache:
    """A thread-safe LRU of computed answers, keyed by hashable query values."""

    def __init__(self, size: int = CACHE_SIZE, max_bytes: int = CACHE_BYTES) -> None:
        self._size = size
        self._max_bytes = max_bytes
        self._bytes = 0
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._running: dict[Any, threading.Event] = {}
        self._lock = threading.Lock()
        self._generation = 0
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, key: Any, compute: Callable[[], T]) -> T:
        """The cached value, or ``compute()``'s — run once however many ask at once.

        Requests for a key being computed wait for that computation instead of
        running the same query beside it (a burst of clients on a cold page would
        otherwise multiply the work by their number). A failed computation is not
        cached; each waiter then tries for itself.
        """
        while True:
            with self._lock:
                generation = self._generation
                if key in self._items:
                    self._items.move_to_end(key)
                    self.hits += 1
                    return self._items[key]  # type: ignore[no-any-return]
                running = self._running.get(key)
                if running is None:
                    running = self._running[key] = threading.Event()
                    break
            running.wait(QUERY_SECONDS * 2)
            with self._lock:
                if key in self._items:
                    continue
                if self._running.get(key) is running:
                    # The computation is stuck or failed without clearing: compute here.
                    break
        self.misses += 1
        try:
            value = compute()
            with self._lock:
                if generation != self._generation:
                    # Computed from data the cache was emptied of while it ran.
                    return value
                if key in self._items:
                    self._bytes -= _weight(self._items[key])
                self._items[key] = value
                self._items.move_to_end(key)
                self._bytes += _weight(value)
                while len(self._items) > 1 and (
                    len(self._items) > self._size or self._bytes > self._max_bytes
                ):
                    _, old = self._items.popitem(last=False)
                    self._bytes -= _weight(old)
            return value
        finally:
            with self._lock:
                if self._running.get(key) is running:
                    del self._running[key]
            running.set()

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._items.clear()
            self._bytes = 0


def _weight(value: Any) -> int:
    """The bytes a cached value holds, as far as they matter: stored response bodies."""
    weight = getattr(value, "weight", None)
    return int(weight) if isinstance(weight, int) else 0


class Live(Protocol):
    """A writer of the store in this process that publishes read-only snapshots."""

    @property
    def snapshot(self) -> Path: ...

    def writing(self) -> AbstractContextManager[Store]: ...


class _Held:
    """An open store and the requests reading it; closed when retired and unused."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.users = 0
        self.retired = False


class Database:
    """The store as the web app sees it: cursors, table presence, the answer cache."""

    def __init__(self, path: Path, *, writable: bool = False, live: Live | None = None) -> None:
        self.path = path
        self.writable = writable
        self.live = live
        if not path.exists():
            # Even a writing server serves a store; it never creates an empty one.
            raise StoreError(f"{path}: no store here (create one with `voipwatch ingest`)")
        self._write_lock = threading.Lock()
        self._users = 0
        self._users_lock = threading.Lock()
        self._held: _Held | None = _Held(self._open())
        self.cache = AnswerCache()
        self._tables: frozenset[str] | None = None

    def _open(self) -> Store:
        if self.live is not None:
            return open_store(self.live.snapshot, read_only=True)
        return open_store(self.path, read_only=not self.writable)

    def acquire(self) -> None:
        """A server starts using the store (reopened if a previous one closed it)."""
        with self._users_lock:
            self._users += 1
            if self._held is None:
                self._held = _Held(self._open())

    def release(self) -> None:
        """A server stops; the last one closes the store (checkpointing a writer's log)."""
        with self._users_lock:
            self._users = max(0, self._users - 1)
            if self._users == 0:
                self._retire()

    def close(self) -> None:
        with self._users_lock:
            self._retire()

    def _retire(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.retired = True
            if held.users == 0:
                held.store.close()
        self._tables = None
        self.cache.clear()

    def follow(self, snapshot: Path) -> None:
        """Read ``snapshot`` from now on (a live writer published it)."""
        store = open_store(snapshot, read_only=True)
        with self._users_lock:
            if self._held is None:
                # Stopping: nobody will read it.
                store.close()
                return
            self._retire()
            self._held = _Held(store)

    @contextmanager
    def cursor(self, *, timeout: float = QUERY_SECONDS) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for one request; queries still running after ``timeout`` are stopped."""
        with self._users_lock:
            held = self._held
            if held is None:
                raise StoreError(f"{self.path}: the store is closed (the server is stopping)")
            held.users += 1
        try:
            with self._cursor(held, timeout) as cur:
                yield cur
        finally:
            with self._users_lock:
                held.users -= 1
                if held.retired and held.users == 0:
                    held.store.close()

    @contextmanager
    def _cursor(self, held: _Held, timeout: float) -> Iterator[duckdb.DuckDBPyConnection]:
        try:
            cur = held.store.con.cursor()
        except duckdb.Error as exc:
            raise StoreError(f"{self.path}: cannot read the store: {exc}") from exc
        timer = threading.Timer(timeout, cur.interrupt)
        timer.daemon = True
        timer.start()
        try:
            yield cur
        except duckdb.InterruptException as exc:
            raise QueryTooCostly(
                f"the query took longer than {timeout:g} s and was stopped; narrow it "
                "(a shorter since/until range, fewer axes, a country)"
            ) from exc
        except duckdb.Error as exc:
            raise StoreError(f"{self.path}: reading the store failed: {exc}") from exc
        finally:
            timer.cancel()
            cur.close()

    @contextmanager
    def store(self) -> Iterator[Store]:
        """A :class:`Store` over a fresh cursor, for the rooms whose functions take one."""
        with self.cursor() as cur:
            yield Store(self.path, cur, read_only=not self.writable or self.live is not None)

    @contextmanager
    def writing(self) -> Iterator[Store]:
        """A :class:`Store` to write through; one writer at a time, and the cache emptied."""
        if not self.writable:
            raise StoreError(f"{self.path}: the server holds the store read-only")
        if self.live is not None:
            # The live writer publishes a snapshot after the write, which this follows.
            with self._write_lock, self.live.writing() as store:
                yield store
            return
        with self._write_lock, self.store() as store:
            try:
                yield store
            finally:
                self._tables = None
                self.cache.clear()

    def tables(self) -> frozenset[str]:
        """The names of the store's tables (other rooms add theirs as they are built)."""
        if self._tables is None:
            with self.cursor() as cur:
                self._tables = table_names(cur)
        return self._tables

    def has(self, table: str) -> bool:
        return table in self.tables()

    def cached(self, key: Any, compute: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """``compute(cursor)``, remembered under ``key`` until the server next writes."""

        def run() -> T:
            with self.cursor() as cur:
                return compute(cur)

        return self.cache.get_or_compute(key, run)
