"""Engines map a function over items and hand the results back in input order."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from voipwatch.engine import ProcessEngine, SerialEngine, default_workers


def test_default_workers_bounded_by_files() -> None:
    assert default_workers(1) == 1
    assert default_workers(0) == 1
    assert 1 <= default_workers(1000) <= 1000


def test_serial_engine_is_lazy_and_in_order() -> None:
    pulled: list[int] = []

    def items() -> Iterator[int]:
        for i in range(5):
            pulled.append(i)
            yield i

    handles = SerialEngine().map(lambda x: -x, items())
    first = next(handles)
    assert first.done()
    assert first.result() == 0
    assert pulled == [0]
    assert [h.result() for h in handles] == [-1, -2, -3, -4]


def test_serial_engine_hands_over_failures() -> None:
    (handle,) = SerialEngine().map(lambda x: 1 // x, [0])
    with pytest.raises(ZeroDivisionError):
        handle.result()


def test_process_engine_in_order_with_bounded_lookahead() -> None:
    pulled: list[int] = []

    def items() -> Iterator[int]:
        for i in range(-6, 0):
            pulled.append(i)
            yield i

    with ProcessEngine(2) as engine:
        handles = engine.map(abs, items())
        first = next(handles)
        assert len(pulled) == engine.ahead == 3
        assert first.result() == 6
        assert [h.result() for h in handles] == [5, 4, 3, 2, 1]


def test_process_engine_close_stops_running_work() -> None:
    engine = ProcessEngine(2)
    handles = engine.map(time.sleep, [60.0, 60.0, 60.0])
    next(handles)
    started = time.monotonic()
    engine.close()
    assert time.monotonic() - started < 15
