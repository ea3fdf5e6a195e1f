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
published, and :meth:`Database.follow` moves them to the next one after each batch.
Each snapshot has a cache of its own (a :class:`View`): ``follow`` first recomputes
the answers most recently asked for from the new snapshot, while requests keep
being answered from the previous one, and only then swaps the two. An answer is
therefore always one whole batch's, and a busy page is never computed while
clients wait for it. A request is bound to the view it started on
(:meth:`Database.bound`) and reads nothing else, however many queries it makes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

import duckdb

from voipwatch.errors import StoreError, UsageError
from voipwatch.store import Store, open_store
from voipwatch.views.store_info import table_names

T = TypeVar("T")

log = logging.getLogger(__name__)

#: Entries kept in the answer cache, and the bytes of the responses among them (a
#: country page of a large store is a megabyte before compression).
CACHE_SIZE: Final = 4096
CACHE_BYTES: Final = 256 * 1024 * 1024
#: A query still running after this many seconds is interrupted (the cost limit).
QUERY_SECONDS: Final = 10.0
#: After a batch, at most this many of the most recently used answers are computed
#: again before the new snapshot is shown, within this many seconds; the rest are
#: computed when next asked for.
REFRESH_KEYS: Final = 256
REFRESH_SECONDS: Final = 30.0


class QueryTooCostly(UsageError):
    """A query ran past :data:`QUERY_SECONDS` and was interrupted."""


class AnswerCache:
    """A thread-safe LRU of computed answers, keyed by hashable query values."""

    def __init__(self, size: int = CACHE_SIZE, max_bytes: int = CACHE_BYTES) -> None:
        self._size = size
        self._max_bytes = max_bytes
        self._bytes = 0
        self._items: OrderedDict[Any, Any] = OrderedDict()
        # How each answer was computed, so that it can be computed again from the
        # next snapshot (see Database.follow).
        self._recipes: dict[Any, Callable[[], Any]] = {}
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
                self._recipes[key] = compute
                self._bytes += _weight(value)
                while len(self._items) > 1 and (
                    len(self._items) > self._size or self._bytes > self._max_bytes
                ):
                    gone, old = self._items.popitem(last=False)
                    self._recipes.pop(gone, None)
                    self._bytes -= _weight(old)
            return value
        finally:
            with self._lock:
                if self._running.get(key) is running:
                    del self._running[key]
            running.set()

    def peek(self, key: Any) -> Any | None:
        """The cached value, or ``None``: never computes (the fast serving path)."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
                self.hits += 1
            return value

    def recent(self, limit: int) -> list[tuple[Any, Callable[[], Any]]]:
        """Up to ``limit`` cached keys with their recipes, most recently used first."""
        with self._lock:
            keys = list(reversed(self._items))[:limit]
            return [(k, self._recipes[k]) for k in keys if k in self._recipes]

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._items.clear()
            self._recipes.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)


def _weight(value: Any) -> int:
    """The bytes a cached value holds, as far as they matter: stored response bodies."""
    weight = getattr(value, "weight", None)
    return int(weight) if isinstance(weight, int) else 0


class Live(Protocol):
    """A writer of the store in this process that publishes read-only snapshots."""

    @property
    def snapshot(self) -> Path: ...

    def writing(self) -> AbstractContextManager[Store]: ...


class View:
    """One snapshot of the store, the answers computed from it, and the requests
    reading it; its store is closed when it is retired and no request uses it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.users = 0
        self.retired = False
        self.cache = AnswerCache()
        self.tables: frozenset[str] | None = None


#: The view the running request (or refresh) reads; ``None``: the database's current one.
_bound: ContextVar[View | None] = ContextVar("voipwatch_web_view", default=None)


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
        self._follow_lock = threading.Lock()
        self._users = 0
        self._users_lock = threading.Lock()
        self._view: View | None = View(self._open())
        # What `cache` answers while the store is closed (nothing is kept in it).
        self._closed = AnswerCache()

    def _open(self) -> Store:
        if self.live is not None:
            return open_store(self.live.snapshot, read_only=True)
        return open_store(self.path, read_only=not self.writable)

    @property
    def cache(self) -> AnswerCache:
        """The answers of the view this request reads (the current one outside a request)."""
        view = _bound.get() or self._view
        return view.cache if view is not None else self._closed

    def acquire(self) -> None:
        """A server starts using the store (reopened if a previous one closed it)."""
        with self._users_lock:
            self._users += 1
            if self._view is None:
                self._view = View(self._open())

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
        view, self._view = self._view, None
        if view is not None:
            _retire_view(view)

    def follow(self, snapshot: Path) -> None:
        """Read ``snapshot`` from now on (a live writer published it).

        The answers most recently asked for are computed from ``snapshot`` first, while
        requests are still answered from the previous one; then the views swap.
        """
        with self._follow_lock:
            store = open_store(snapshot, read_only=True)
            with self._users_lock:
                old = self._view
            if old is None:
                # Stopping: nobody will read it.
                store.close()
                return
            new = View(store)
            self._refill(new, old.cache.recent(REFRESH_KEYS))
            with self._users_lock:
                if self._view is not old:
                    # Closed while refilling: nobody will read it either.
                    _retire_view(new)
                    return
                self._view = new
                _retire_view(old)

    def _refill(self, view: View, recipes: list[tuple[Any, Callable[[], Any]]]) -> None:
        deadline = time.monotonic() + REFRESH_SECONDS
        token = _bound.set(view)
        try:
            for key, compute in recipes:
                if time.monotonic() > deadline:
                    break
                try:
                    view.cache.get_or_compute(key, compute)
                except Exception as exc:
                    # Whatever failed is not cached: the next request for it computes
                    # it again and gets the error its route answers with.
                    log.info("refreshing a cached answer failed: %s", exc)
        finally:
            _bound.reset(token)

    @contextmanager
    def bound(self) -> Iterator[View | None]:
        """Bind the caller (a request) to the current view until it is done.

        Everything it reads comes from that one snapshot, and the snapshot stays open
        until it finishes even if a newer one is followed meanwhile. ``None`` when the
        store is closed (the server is stopping).
        """
        with self._users_lock:
            view = self._view
            if view is not None:
                view.users += 1
        token = _bound.set(view)
        try:
            yield view
        finally:
            _bound.reset(token)
            if view is not None:
                with self._users_lock:
                    view.users -= 1
                    if view.retired and view.users == 0:
                        view.store.close()

    def _reading(self) -> View:
        view = _bound.get() or self._view
        if view is None:
            raise StoreError(f"{self.path}: the store is closed (the server is stopping)")
        return view

    @contextmanager
    def cursor(self, *, timeout: float = QUERY_SECONDS) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for one request; queries still running after ``timeout`` are stopped."""
        with self._users_lock:
            view = self._reading()
            if view.retired and view.users == 0:
                raise StoreError(f"{self.path}: the store is closed (the server is stopping)")
            view.users += 1
        try:
            with self._cursor(view, timeout) as cur:
                yield cur
        finally:
            with self._users_lock:
                view.users -= 1
                if view.retired and view.users == 0:
                    view.store.close()

    @contextmanager
    def _cursor(self, view: View, timeout: float) -> Iterator[duckdb.DuckDBPyConnection]:
        try:
            cur = view.store.con.cursor()
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
                view = self._reading()
                view.tables = None
                view.cache.clear()

    def tables(self) -> frozenset[str]:
        """The names of the store's tables (other rooms add theirs as they are built)."""
        view = self._reading()
        if view.tables is None:
            with self.cursor() as cur:
                view.tables = table_names(cur)
        return view.tables

    def has(self, table: str) -> bool:
        return table in self.tables()

    def cached(self, key: Any, compute: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """``compute(cursor)``, remembered under ``key`` until the server next writes."""

        def run() -> T:
            with self.cursor() as cur:
                return compute(cur)

        return self.cache.get_or_compute(key, run)


def _retire_view(view: View) -> None:
    """Called with the users' lock held: the view's store closes when its last user ends."""
    view.retired = True
    if view.users == 0:
        view.store.close()
