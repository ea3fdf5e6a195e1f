"""Possible shutdowns: a network whose measurement volume collapses.

When a network is cut off, its probes stop uploading and every per-role detector
falls silent (OONI names this gap: "volume collapse silences the detector"). Here the
number of measurements per network is compared, bin by bin, with the median of the
same time of day over the previous week, as IODA does with its moving median: a bin
below ``COLLAPSE_RATIO`` of that median is collapsed, and a collapsed bin's expected
value, not its own, goes into the history, so a long outage does not become the new
normal before ``MAX_INPAINT_DAYS``. Runs of collapsed bins lasting at least
``MIN_HOURS`` are reported.

The function is pure and recomputed over the whole volume series on every run (one
series per network, so it is cheap); the result depends only on the data.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

#: Bin sizes (hours) a network's volume may be looked at in; each divides a day.
GRAINS: Final = (1, 2, 3, 6, 12, 24)
#: The bin size is the smallest at which a typical bin holds this many measurements.
MIN_EXPECTED: Final = 15.0
#: Networks too sparse to fill a half-day bin are not judged: a quiet day there is
#: chance as often as it is a shutdown.
MAX_GRAIN: Final = 12
COLLAPSE_RATIO: Final = 0.2
MIN_HOURS: Final = 6
HISTORY_DAYS: Final = 7
#: Days of history a slot needs before its bins are judged.
WARMUP_DAYS: Final = 3
MAX_INPAINT_DAYS: Final = 7
#: Collapses of one network this close are one shutdown when the hours between them
#: hold too few measurements to say the network came back (a night between two days
#: of silence is not judged, being quiet anyway).
MERGE_GAP_HOURS: Final = 12


#: Hours of volume shown on either side of a collapse, so a reader sees the usual days.
MARGIN_HOURS: Final = 48


@dataclass(frozen=True, slots=True)
class Collapse:
    """Hours [start, end) of a network with almost no measurements; end None: ongoing."""

    start: int
    end: int | None
    #: The last hour with a measurement before it, and the end of the first hour
    #: with one after it.
    earliest: int
    end_latest: int | None
    expected: float
    observed: int


def median(values: Iterable[float]) -> float:
    """The median, as :func:`statistics.median` computes it, without its generality:
    it runs once per bin of every network."""
    data = sorted(values)
    mid = len(data) // 2
    return data[mid] if len(data) % 2 else (data[mid - 1] + data[mid]) / 2


def grain(counts: npt.NDArray[np.int64]) -> int:
    """The bin size for a network measured ``counts`` per hour (dense, from its first)."""
    days = max(1, len(counts) // 24)
    per_day = float(np.median(np.add.reduceat(counts, np.arange(0, days * 24, 24))[:days]))
    for g in GRAINS:
        if per_day * g / 24 >= MIN_EXPECTED:
            return g
    return GRAINS[-1]


def collapses(first_hour: int, counts: npt.NDArray[np.int64]) -> list[Collapse]:
    """The collapses of one network; ``counts[i]`` measurements in hour ``first_hour + i``.

    The series is judged in whole bins aligned to UTC days; a last partial bin is not.
    """
    g = grain(counts)
    if g > MAX_GRAIN:
        return []
    offset = (-first_hour) % g  # the first bin boundary at or after first_hour
    usable = (len(counts) - offset) // g
    if usable <= 0:
        return []
    bins = counts[offset : offset + usable * g].reshape(usable, g).sum(axis=1)
    slots = 24 // g
    if quiet(bins, slots):
        return []
    return _scan(first_hour, counts, g, offset, bins, slots)


def quiet(bins: npt.NDArray[np.int64], slots: int) -> bool:
    """Whether no bin falls below its usual volume when each is judged against the
    median of the same slot's last :data:`HISTORY_DAYS` bins as they were measured.

    Until a bin collapses no history is in-painted, so that median is the one the bin
    by bin scan (:func:`_scan`) takes too: when no bin collapses here, none collapses
    there. A few array operations per network, where the scan is a median per bin.
    """
    count = len(bins)
    values = bins.astype(np.float64)
    # Row i: the same slot's bins on the days before i, latest first; inf where none
    # (sorted last).
    past = np.full((count, HISTORY_DAYS), np.inf)
    for day in range(1, HISTORY_DAYS + 1):
        lag = slots * day
        if lag < count:
            past[lag:, day - 1] = values[:-lag]
    past.sort(axis=1)
    seen = np.minimum(np.arange(count) // slots, HISTORY_DAYS)
    rows = np.arange(count)
    mid = seen // 2
    upper = past[rows, np.minimum(mid, HISTORY_DAYS - 1)]
    lower = past[rows, np.maximum(mid - 1, 0)]
    expected = np.where(seen % 2 == 1, upper, (lower + upper) / 2)
    collapsed = (
        (seen >= WARMUP_DAYS)
        & (expected >= MIN_EXPECTED * 0.5)
        & (values < COLLAPSE_RATIO * expected)
    )
    return not bool(collapsed.any())


def _scan(
    first_hour: int,
    counts: npt.NDArray[np.int64],
    g: int,
    offset: int,
    bins: npt.NDArray[np.int64],
    slots: int,
) -> list[Collapse]:
    """:func:`collapses`, bin by bin: a collapsed bin's expected value, not its own,
    goes into the history."""
    usable = len(bins)
    history: dict[int, deque[float]] = {}
    found: list[Collapse] = []
    run_start: int | None = None
    run_expected = 0.0
    run_observed = 0
    nonzero = np.flatnonzero(counts) + first_hour

    def opened(t: int) -> tuple[int, int]:
        """The hour the silence began (after the last measured hour, if that lies in
        the bin before) and the last measured hour before it."""
        k = int(np.searchsorted(nonzero, t)) - 1
        last = int(nonzero[k]) if k >= 0 else first_hour
        return (last + 1 if last >= t - g else t), last

    def closed(t: int) -> int:
        """The first measured hour of the bin that ended the silence."""
        k = int(np.searchsorted(nonzero, t))
        return int(nonzero[k]) if k < len(nonzero) and nonzero[k] < t + g else t

    for k, value in enumerate(bins.tolist()):
        t = first_hour + offset + k * g
        slot = (t // g) % slots
        past = history.setdefault(slot, deque(maxlen=HISTORY_DAYS))
        expected = median(past) if len(past) >= WARMUP_DAYS else None
        collapsed = expected is not None and expected >= MIN_EXPECTED * 0.5
        collapsed = collapsed and value < COLLAPSE_RATIO * (expected or 0.0)
        if collapsed and run_start is not None and t - run_start >= MAX_INPAINT_DAYS * 24:
            collapsed = False  # the new normal: stop holding the old level
        if collapsed:
            if run_start is None:
                run_start, run_expected, run_observed = t, 0.0, 0
            run_expected += expected or 0.0
            run_observed += value
            past.append(expected or 0.0)
            continue
        if run_start is not None:
            begin, last = opened(run_start)
            end = closed(t)
            if end - begin >= MIN_HOURS:
                found.append(Collapse(begin, end, last, end + 1, run_expected, run_observed))
            run_start = None
        past.append(float(value))
    if run_start is not None:
        begin, last = opened(run_start)
        if first_hour + offset + usable * g - begin >= MIN_HOURS:
            found.append(Collapse(begin, None, last, None, run_expected, run_observed))
    return merge(found, first_hour, counts)


def merge(found: list[Collapse], first_hour: int, counts: npt.NDArray[np.int64]) -> list[Collapse]:
    """Adjacent or overlapping collapses (in order) joined into one.

    Two collapses are one when the second begins at most :data:`MERGE_GAP_HOURS`
    after the first ends and the hours between hold fewer than :data:`MIN_EXPECTED`
    measurements: nothing says the network was back.
    """
    out: list[Collapse] = []
    for c in found:
        prev = out[-1] if out else None
        if prev is not None and prev.end is not None and c.start - prev.end <= MERGE_GAP_HOURS:
            lo, hi = max(0, prev.end - first_hour), max(0, c.start - first_hour)
            between = int(counts[lo:hi].sum()) if hi > lo else 0
            if between < MIN_EXPECTED:
                out[-1] = Collapse(
                    prev.start,
                    c.end,
                    prev.earliest,
                    c.end_latest,
                    prev.expected + c.expected,
                    prev.observed + c.observed + between,
                )
                continue
        out.append(c)
    return out


def series(
    first_hour: int, counts: npt.NDArray[np.int64], c: Collapse, *, margin: int = MARGIN_HOURS
) -> list[tuple[int, int, float | None]]:
    """A collapse's evidence: ``(hour, measurements, usual)`` from ``margin`` hours before
    it to ``margin`` after (or the last hour measured).

    The usual volume of an hour is the median of the same hour on the
    :data:`HISTORY_DAYS` days before (None without :data:`WARMUP_DAYS` of them).
    """
    last = first_hour + len(counts)
    lo = max(first_hour, c.start - margin)
    hi = min(last, (c.end if c.end is not None else last) + margin)
    out: list[tuple[int, int, float | None]] = []
    for h in range(lo, hi):
        past = [
            int(counts[h - first_hour - 24 * k])
            for k in range(1, HISTORY_DAYS + 1)
            if h - 24 * k >= first_hour
        ]
        usual = float(median(past)) if len(past) >= WARMUP_DAYS else None
        out.append((h, int(counts[h - first_hour]), usual))
    return out
