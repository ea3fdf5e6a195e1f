"""What every engine offers: ordered, bounded mapping of a pure function over items."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Protocol, Self, TypeVar

T = TypeVar("T")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
F = TypeVar("F")


class Pending(Protocol[R_co]):
    """A result being computed: a ``concurrent.futures.Future``, a Dask future, ..."""

    def done(self) -> bool: ...

    def result(self, timeout: float | None = None) -> R_co: ...


class Engine(Protocol):
    """Runs a pure function over items somewhere and hands the results back in order.

    ``workers`` is how many items run at once. ``concurrent`` says whether items run
    while the caller consumes earlier ones (a pool), or one at a time on demand, when
    the caller asks for the next handle (in process): work that waits for its
    consumer (back-pressure) must only wait in a concurrent engine.
    """

    workers: int
    concurrent: bool

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[Pending[R]]:
        """One handle per item, in input order; only a few items are started ahead."""
        ...

    def close(self) -> None:
        """Stop now: work not yet started is dropped, work running is ended."""
        ...

    def __enter__(self) -> Engine: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def default_workers(files: int) -> int:
    """One worker per CPU, but no more than there are files (at least one)."""
    return max(1, min(os.cpu_count() or 1, files))


def submit_ahead(items: Iterable[T], ahead: int, submit: Callable[[T], F]) -> Iterator[F]:
    """``submit(item)`` for each item, in order, at most ``ahead`` submitted and not yet
    taken: memory stays bounded however many items there are."""
    queue: deque[F] = deque()
    it = iter(items)
    exhausted = False
    while True:
        while not exhausted and len(queue) < ahead:
            try:
                item = next(it)
            except StopIteration:
                exhausted = True
                break
            queue.append(submit(item))
        if not queue:
            return
        yield queue.popleft()


class ClosesOnExit:
    """``with engine:`` closes the engine on the way out, whatever happened inside."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
