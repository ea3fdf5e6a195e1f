"""A two-sided, state-aware CUSUM over one cell series (OONI's detector, made exact).

The design is OONI's (ooni/data ``analysis/detector.py``, after Basseville and
Nikiforov 1993, §2.2.5): fixed means μ0 (share blocked when not blocked) and μ1 (when
blocked), v = μ1 − μ0, threshold h = edd·v/2. In state ``ok`` only the upward sum
runs and crossing h reports an onset; in state ``blk`` only the downward sum runs and
crossing h reports an end; after a change both sums restart. Silence longer than a day
decays both sums with a 48-hour half-life.

What differs, and why:

* Each bin counts as many observations as it has judged measurements, up to
  ``weight_cap``: one measurement moves the sum as much as one of OONI's hourly
  medians, so a network measured three times a day reaches a verdict in days, not
  weeks, while one busy hour cannot fire alone.
* A series starts in ``ok`` (OONI: ``unk``, which sets the state silently), so a block
  that was already in place when measurements began is reported, dated at the start
  of the data.
* The onset reported is not the bin where the sum crossed h but where the run that
  crossed it began (the classical CUSUM change-time estimate), bracketed by the last
  clean hour before it and the end of its first blocked hour; the crossing time is
  kept as ``detected_at``.
* The detector is a pure function of the series and a small state of plain numbers
  (:class:`State`), so a run can stop at any bin boundary, store the state, and resume
  later with exactly the result of one uninterrupted run.

Times are whole hours since the Unix epoch (``int``); ``-1`` in a bin's hour fields
means "none in this bin".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import msgspec
import numpy as np
import numpy.typing as npt

Status = Literal["ok", "blk"]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class CusumParams:
    """The detector's parameters: OONI's, with ``edd`` and ``weight_cap`` tuned.

    OONI's means (μ0 = 0, μ1 = 0.7) and gap decay are kept. OONI's ``edd = 10``
    (h = 3.5) was lowered to 8 (h = 2.8) and the weight cap set to 6 on generated
    worlds (``voipwatch generate`` seeds 101 and 102, scored by ``voipwatch
    evaluate``): recall unchanged, no false alarm in the quiet lead-ins, and the
    median onset latency down from 10–12 h to 8–9 h. Lower thresholds fired on
    short upstream outages and flaky days.
    """

    mu0: float = 0.0
    mu1: float = 0.7
    edd: float = 8.0
    #: At most this many measurements of one bin count as separate observations.
    weight_cap: int = 6
    #: Silence longer than this (hours) decays the sums ...
    gap_hours: int = 24
    #: ... by half per this many hours of silence.
    half_life_hours: float = 48.0

    @property
    def v(self) -> float:
        return self.mu1 - self.mu0

    @property
    def h(self) -> float:
        return self.edd * self.v / 2


class State(msgspec.Struct, kw_only=True):
    """Everything the detector remembers about one series between bins."""

    status: Status = "ok"
    s_pos: float = 0.0
    s_neg: float = 0.0
    #: End (exclusive hour) of the last bin seen.
    last_t: int | None = None
    #: Last hour in which most judged measurements were clean, or blocked.
    last_clean: int | None = None
    last_blocked: int | None = None
    #: The change the running sum is building towards: its estimated hour and the
    #: earliest hour it can have happened (the last hour of the opposite kind).
    run_at: int | None = None
    run_earliest: int | None = None


class Change(NamedTuple):
    """A change point: +1 an onset of blocking, -1 its end (hours since the epoch)."""

    direction: int
    detected_at: int
    at: int
    earliest: int
    latest: int
    margin: float


@dataclass(frozen=True, slots=True)
class Bins:
    """One series' bins in time order: start and end hour, judged and blocking counts,
    and the first and last hour in the bin with a blocked (clean) majority."""

    start: IntArray
    end: IntArray
    n: IntArray
    b: FloatArray
    first_blocked: IntArray
    last_blocked: IntArray
    first_clean: IntArray
    last_clean: IntArray

    def __len__(self) -> int:
        return len(self.start)

    def part(self, lo: int, hi: int) -> Bins:
        """Bins ``lo`` to ``hi`` (views, not copies)."""
        return Bins(
            start=self.start[lo:hi],
            end=self.end[lo:hi],
            n=self.n[lo:hi],
            b=self.b[lo:hi],
            first_blocked=self.first_blocked[lo:hi],
            last_blocked=self.last_blocked[lo:hi],
            first_clean=self.first_clean[lo:hi],
            last_clean=self.last_clean[lo:hi],
        )


def _maybe(value: int | None, candidate: int) -> int | None:
    if candidate < 0:
        return value
    return candidate if value is None or candidate > value else value


@dataclass(frozen=True, slots=True)
class Prepared:
    """What the detector reads of bins besides the bins themselves, worked out once
    for the bins of many series at a time: each bin's share, the bins that can move a
    sum resting at zero (up in state ``ok``, down in ``blk``), and the running maxima,
    within each series, of the last clean and blocked hours."""

    y: FloatArray
    rising: IntArray
    falling: IntArray
    max_clean: IntArray
    max_blocked: IntArray


def prepare(bins: Bins, params: CusumParams, starts: IntArray | None = None) -> Prepared:
    """:class:`Prepared` for ``bins``, which hold whole series beginning at ``starts``
    (one series beginning at 0 when None)."""
    mid = params.mu0 + params.v / 2
    y = bins.b / np.maximum(bins.n, 1)
    return Prepared(
        y=y,
        rising=np.flatnonzero(y > mid),
        falling=np.flatnonzero(y < mid),
        max_clean=_running_max(bins.last_clean, starts),
        max_blocked=_running_max(bins.last_blocked, starts),
    )


def _running_max(x: IntArray, starts: IntArray | None) -> IntArray:
    """The running maximum of ``x`` (hours, or -1), restarted at each of ``starts``."""
    if starts is None or len(x) == 0:
        return np.maximum.accumulate(x) if len(x) else x.copy()
    # Each series lifted above every earlier one (hours are far below 2**32), so one
    # running maximum over all of them never carries a value across a series' start.
    mark = np.zeros(len(x), dtype=np.int64)
    mark[starts[(starts > 0) & (starts < len(x))]] = 1
    lift = np.cumsum(mark) << 32
    out: IntArray = np.maximum.accumulate(x + lift) - lift
    return out


def run(bins: Bins, state: State, params: CusumParams) -> list[Change]:
    """Feed ``bins`` to the detector in ``state`` (updated in place); the changes found."""
    if len(bins) == 0:
        return []
    return run_range(bins, prepare(bins, params), 0, len(bins), state, params)


def run_range(
    bins: Bins, prep: Prepared, lo: int, hi: int, state: State, params: CusumParams
) -> list[Change]:
    """Feed bins ``lo`` to ``hi`` (of one series, whose bins ``prep`` was prepared
    with) to the detector in ``state`` (updated in place); the changes found.

    Bins that cannot move a sum resting at zero (a share at or below v/2 in state
    ``ok``, at or above it in ``blk``) are skipped in bulk; what they would have
    updated (the last time seen, the last clean or blocked hour) is taken from running
    maxima, so skipping changes nothing but the time it takes. Running maxima from the
    start of the series rather than from ``lo`` give the same: the state already holds
    the hours before ``lo``.
    """
    if hi <= lo:
        return []
    y, max_clean, max_blocked = prep.y, prep.max_clean, prep.max_blocked
    h, cap, v = params.h, params.weight_cap, params.v
    changes: list[Change] = []
    i = lo
    while i < hi:
        resting = state.s_neg == 0.0 if state.status == "blk" else state.s_pos == 0.0
        if resting:
            movers = prep.falling if state.status == "blk" else prep.rising
            k = int(movers.searchsorted(i))
            j = min(int(movers[k]), hi) if k < len(movers) else hi
            if j > i:
                state.last_t = int(bins.end[j - 1])
                state.last_clean = _maybe(state.last_clean, int(max_clean[j - 1]))
                state.last_blocked = _maybe(state.last_blocked, int(max_blocked[j - 1]))
                i = j
                if i == hi:
                    break
        start, end = int(bins.start[i]), int(bins.end[i])
        if state.last_t is not None and start - state.last_t > params.gap_hours:
            factor = 0.5 ** ((start - state.last_t) / params.half_life_hours)
            state.s_pos *= factor
            state.s_neg *= factor
        w = min(int(bins.n[i]), cap)
        yi = float(y[i])
        fb, lb = int(bins.first_blocked[i]), int(bins.last_blocked[i])
        fc, lc = int(bins.first_clean[i]), int(bins.last_clean[i])
        ok = state.status == "ok"
        before = state.s_pos if ok else state.s_neg
        step = (yi - params.mu0 - v / 2) if ok else (params.mu1 - yi - v / 2)
        after = max(0.0, before + w * step)
        # Hours of the kind the series is changing to, and of the kind it leaves.
        first_new, first_old = (fb, fc) if ok else (fc, fb)
        if before == 0.0 and after > 0.0:
            at = first_new if first_new >= 0 else start
            earliest = state.last_clean if ok else state.last_blocked
            if 0 <= first_old < at:
                earliest = _maybe(earliest, first_old)
            state.run_at, state.run_earliest = at, start if earliest is None else earliest
        if after > h:
            at = state.run_at if state.run_at is not None else start
            earliest = min(state.run_earliest if state.run_earliest is not None else at, at)
            changes.append(Change(1 if ok else -1, end, at, earliest, at + 1, after / h))
            state.status, state.s_pos, state.s_neg = ("blk" if ok else "ok"), 0.0, 0.0
            state.run_at = state.run_earliest = None
        elif ok:
            state.s_pos = after
        else:
            state.s_neg = after
        state.last_t = end
        state.last_clean = _maybe(state.last_clean, lc)
        state.last_blocked = _maybe(state.last_blocked, lb)
        i += 1
    return changes


def encode_state(state: State) -> str:
    """The state as JSON; floats round-trip exactly, which resuming relies on."""
    return msgspec.json.encode(state).decode()


def decode_state(text: str) -> State:
    return msgspec.json.decode(text, type=State)
