"""The in-process engine: each item is computed when its handle is asked for.

It runs exactly the function a pool would run, one item at a time, which makes it
the reference the other engines are compared with, and the one to debug with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from typing import TypeVar

from voipwatch.engine.base import ClosesOnExit, Pending

T = TypeVar("T")
R = TypeVar("R")


class SerialEngine(ClosesOnExit):
    """Runs ``fn`` on the calling thread, lazily, in input order."""

    workers = 1
    concurrent = False

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[Pending[R]]:
        for item in items:
            fut: Future[R] = Future()
            try:
                fut.set_result(fn(item))
            except Exception as exc:  # handed over like a pool's failure would be
                fut.set_exception(exc)
            yield fut

    def close(self) -> None:
        pass
