"""Binning cells at each series' grain, and the digests that tell a stored state fits.

Pure functions over the cells as arrays (:class:`voipwatch.store.cells.Cells`: series
number, hour, judged and affected counts, grouped by series in hour order), taken a
:class:`Part` of whole series at a time, so a first run over millions of cells is a
few vectorised passes per part instead of a second aggregate.

Each day of a series is binned at a grain chosen from the series' own volume over the
week before: the smallest bin expected to hold :data:`MIN_PER_BIN` judged
measurements (an hour for busy networks, up to a day for networks measured a few
times a day); a series' first day, and a day after a week without measurements, is
binned by the hour. Because a day's grain depends only on earlier days, binning all
days at once or day by day gives the same bins.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from voipwatch.events.cusum import Bins
from voipwatch.store.cells import Cells, IntArray

#: Bin sizes (hours) a series may be binned at; each divides a day.
GRAINS: Final = (1, 2, 3, 6, 12, 24)
#: A day's grain is the smallest bin expected to hold this many judged measurements.
MIN_PER_BIN: Final = 3.0
#: Days of volume a day's grain looks back on.
LOOKBACK_DAYS: Final = 7

#: Cells taken at a time, whole series each: one part's temporaries are a few hundred
#: kilobytes, reused by the next part, where arrays the length of every cell would
#: each be paged in afresh (a first run holds millions of cells).
PART_CELLS: Final = 1 << 16
#: Series numbers are shifted past any day number to key (series, day) in one integer.
_DAY_BITS: Final = 32
_NONE: Final = -1
U64 = npt.NDArray[np.uint64]


@dataclass(frozen=True, slots=True)
class Part:
    """The cells of some whole series (:class:`voipwatch.store.cells.Cells`), widened
    to 64 bits for arithmetic: series number, hour, judged and affected counts."""

    sid: IntArray
    h: IntArray
    n: IntArray
    b: IntArray

    def __len__(self) -> int:
        return len(self.h)


def parts(cells: Cells, size: int = PART_CELLS) -> Iterator[Part]:
    """The cells in parts of whole series, each of about ``size`` cells (or one series,
    when that series alone is longer), in order."""
    if not len(cells):
        return
    firsts = _starts(cells.sid)
    # The first series to begin at or after each multiple of ``size``.
    at = np.searchsorted(firsts, np.arange(0, len(cells), size))
    cuts = np.unique(np.append(firsts[at[at < len(firsts)]], len(cells)))
    for lo, hi in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
        yield Part(
            *(np.asarray(a[lo:hi], dtype=np.int64) for a in (cells.sid, cells.h, cells.n, cells.b))
        )


def _starts(*keys: IntArray | npt.NDArray[np.int32]) -> IntArray:
    """Where a run of equal keys begins, in arrays sorted by those keys."""
    change = np.zeros(len(keys[0]), dtype=bool)
    change[0] = True
    for k in keys:
        change[1:] |= k[1:] != k[:-1]
    return np.flatnonzero(change)


def grains(cells: Part) -> IntArray:
    """Each cell's grain: that of its series' day."""
    if not len(cells):
        return np.zeros(0, dtype=np.int64)
    day = cells.h // 24
    starts = _starts(cells.sid, day)
    g_sid, g_day = cells.sid[starts], day[starts]
    g_n = np.add.reduceat(cells.n, starts)
    key = (g_sid << _DAY_BITS) + g_day
    total = np.concatenate(([0], np.cumsum(g_n)))
    # The days of the same series from a week before up to the day before.
    lo = np.searchsorted(key, key - LOOKBACK_DAYS, side="left")
    hi = np.arange(len(key))
    past_n = (total[hi] - total[lo]).astype(np.float64)
    first = np.searchsorted(key, g_sid << _DAY_BITS, side="left")
    past_days = np.minimum(LOOKBACK_DAYS, g_day - g_day[first])
    by_rate = np.full(len(key), GRAINS[-1], dtype=np.int64)
    usable = (past_days > 0) & (hi > lo)
    rate = np.divide(past_n, past_days, out=np.zeros(len(key)), where=usable)
    for g in reversed(GRAINS[:-1]):
        by_rate = np.where(rate * g / 24 >= MIN_PER_BIN, g, by_rate)
    grain = np.where(usable, by_rate, 1)
    return np.repeat(grain, np.diff(np.append(starts, len(cells.h))))


def bins(cells: Part, from_h: IntArray) -> tuple[IntArray, Bins]:
    """The bins of every series from its hour ``from_h[sid]`` on, grouped by series in
    time order, and the series of each bin.

    A bin's ``first_blocked`` … ``last_clean`` are the first and last hour in it with
    an affected (clean) majority, ``-1`` when none.
    """
    sid, h, n, b, g = cells.sid, cells.h, cells.n, cells.b, grains(cells)
    keep = h >= from_h[sid]
    if not keep.all():
        sid, h, n, b, g = sid[keep], h[keep], n[keep], b[keep], g[keep]
    if not len(h):
        empty = np.zeros(0, dtype=np.int64)
        return empty, Bins(empty, empty, empty, empty.astype(np.float64), *(empty,) * 4)
    start = h - (h % 24) % g
    starts = _starts(sid, start)
    blocked = 2 * b >= n
    affected = np.where(blocked, h, _NONE)
    clean = np.where(blocked, _NONE, h)
    if len(starts) == len(h):
        # Every bin holds one cell (busy series binned by the hour): its first and
        # last hours are the cell's own.
        return sid, Bins(
            start=start,
            end=start + g,
            n=n,
            b=b.astype(np.float64),
            first_blocked=affected,
            last_blocked=affected,
            first_clean=clean,
            last_clean=clean,
        )
    big = np.iinfo(np.int64).max

    def first(hours: IntArray) -> IntArray:
        k = np.minimum.reduceat(np.where(hours == _NONE, big, hours), starts)
        return np.where(k == big, _NONE, k)

    return sid[starts], Bins(
        start=start[starts],
        end=start[starts] + g[starts],
        n=np.add.reduceat(n, starts),
        b=np.add.reduceat(b, starts).astype(np.float64),
        first_blocked=first(affected),
        last_blocked=np.maximum.reduceat(affected, starts),
        first_clean=first(clean),
        last_clean=np.maximum.reduceat(clean, starts),
    )


def _mix(x: U64) -> U64:
    """SplitMix64's finaliser: every input bit moves every output bit."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def cell_hashes(cells: Part) -> U64:
    """A 64-bit hash of each cell's hour and counts."""
    with np.errstate(over="ignore"):
        x = _mix(cells.h.astype(np.uint64))
        x = _mix(x ^ cells.n.astype(np.uint64))
        return _mix(x ^ cells.b.astype(np.uint64))


def digests(cells: Part, hashes: U64, before_h: IntArray) -> tuple[IntArray, U64]:
    """Per series (by number, as many as ``before_h``), how many of its cells lie
    before hour ``before_h[sid]`` and an order-free digest of them (the XOR of their
    :func:`cell_hashes`); zero for series with no cell here."""
    count = len(before_h)
    n, d = np.zeros(count, dtype=np.int64), np.zeros(count, dtype=np.uint64)
    if not len(cells):
        return n, d
    inside = cells.h < before_h[cells.sid]
    x = np.where(inside, hashes, np.uint64(0))
    starts = _starts(cells.sid)
    n += np.bincount(cells.sid[inside], minlength=count)
    d[cells.sid[starts]] = np.bitwise_xor.reduceat(x, starts)
    return n, d
