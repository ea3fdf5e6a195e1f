"""The CUSUM over one series: onsets, ends, brackets, gaps, and exact resumption."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from voipwatch.events.cusum import (
    Bins,
    CusumParams,
    State,
    decode_state,
    encode_state,
    prepare,
    run,
    run_range,
)

#: OONI's own settings, with which the arithmetic below is worked out.
OONI = CusumParams(edd=10.0, weight_cap=4)


def bins(shares: list[float | None], *, n: int = 4, grain: int = 1, t0: int = 1000) -> Bins:
    """Bins of ``grain`` hours from hour t0; ``None`` is a bin without measurements."""
    rows = [(t0 + i * grain, s) for i, s in enumerate(shares) if s is not None]
    start = np.array([t for t, _ in rows], dtype=np.int64)
    b = np.array([s * n for _, s in rows], dtype=np.float64)
    blocked = np.where(2 * b >= n, start, -1).astype(np.int64)
    clean = np.where(2 * b < n, start, -1).astype(np.int64)
    return Bins(
        start=start,
        end=start + grain,
        n=np.full(len(rows), n, dtype=np.int64),
        b=b,
        first_blocked=blocked,
        last_blocked=blocked,
        first_clean=clean,
        last_clean=clean,
    )


def test_a_clean_series_has_no_change() -> None:
    assert run(bins([0.0] * 200), State(), CusumParams()) == []


def test_onset_and_end_are_dated_where_the_run_began() -> None:
    series = [0.0] * 48 + [1.0] * 24 + [0.0] * 48
    changes = run(bins(series), State(), OONI)
    assert [c.direction for c in changes] == [1, -1]
    on, off = changes
    # Four measurements an hour at 1.0 add 4 × 0.65 = 2.6 per hour: crossing h = 3.5
    # takes two hours, but the onset is dated at the first blocked hour.
    assert on.at == 1048
    assert on.detected_at == 1050
    assert on.earliest == 1047  # the last clean hour
    assert on.latest == 1049
    assert off.at == 1072
    assert off.earliest == 1071


def test_one_busy_noisy_hour_does_not_fire() -> None:
    series = [0.0] * 24 + [1.0] + [0.0] * 24
    assert run(bins(series, n=50), State(), OONI) == []


def test_a_sparse_series_fires_after_a_few_measurements() -> None:
    # One measurement a day, every one blocked from day 10: 0.65 a day, so h = 3.5 is
    # crossed on the sixth blocked day.
    series = [0.0] * 10 + [1.0] * 10
    changes = run(bins(series, n=1, grain=24), State(), OONI)
    assert [c.direction for c in changes] == [1]
    assert changes[0].at == 1000 + 10 * 24
    assert changes[0].detected_at == 1000 + 16 * 24


def test_silence_decays_the_sums() -> None:
    params = OONI
    state = State()
    run(bins([1.0], t0=1000), state, params)  # 2.6, below h
    assert state.s_pos > 0
    # A week later one more blocked hour: without decay 5.2 > h would fire.
    assert run(bins([1.0], t0=1000 + 24 * 7), state, params) == []


def test_partial_blocking_fires_more_slowly() -> None:
    series = [0.0] * 24 + [0.5] * 24
    changes = run(bins(series), State(), CusumParams())
    assert [c.direction for c in changes] == [1]
    assert changes[0].detected_at - changes[0].at > 2


@settings(max_examples=60, deadline=None)
@given(
    shares=st.lists(
        st.one_of(st.none(), st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0])),
        min_size=1,
        max_size=120,
    ),
    cut=st.integers(min_value=0, max_value=120),
    n=st.integers(min_value=1, max_value=8),
)
def test_resuming_from_a_stored_state_equals_one_run(
    shares: list[float | None], cut: int, n: int
) -> None:
    params = CusumParams()
    whole = bins(shares, n=n)
    one = run(whole, State(), params)
    k = min(cut, len(whole))
    state = State()
    first = run(whole.part(0, k), state, params)
    resumed = decode_state(encode_state(state))
    second = run(whole.part(k, len(whole)), resumed, params)
    assert first + second == one


def _joined(parts: list[Bins]) -> Bins:
    """Several series' bins one after another, as detection holds a part of them."""
    return Bins(
        *(
            np.concatenate([getattr(p, f) for p in parts])
            for f in (
                "start",
                "end",
                "n",
                "b",
                "first_blocked",
                "last_blocked",
                "first_clean",
                "last_clean",
            )
        )
    )


@settings(max_examples=60, deadline=None)
@given(
    series=st.lists(
        st.tuples(
            st.lists(
                st.one_of(st.none(), st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0])),
                max_size=80,
            ),
            st.integers(min_value=1, max_value=6),
            st.integers(min_value=0, max_value=80),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_series_prepared_together_run_as_each_alone(
    series: list[tuple[list[float | None], int, int]],
) -> None:
    """Detection prepares many series' bins at once and runs each series in two
    ranges (sealed, then the open day from a copy of the state): the same changes
    and state as running each series alone, in one go."""
    params = CusumParams()
    # Later series start at earlier hours, so a running maximum carried across a
    # series' start would show.
    each = [bins(s, n=n, t0=5000 - 600 * k) for k, (s, n, _) in enumerate(series)]
    together = _joined(each)
    starts = np.cumsum([0] + [len(b) for b in each[:-1]]).astype(np.int64)
    prep = prepare(together, params, starts)
    for alone, lo, (_, _, cut) in zip(each, starts.tolist(), series, strict=True):
        state = State()
        expected = run(alone, state, params)
        hi = lo + len(alone)
        mid = min(lo + cut, hi)
        got_state = State()
        got = run_range(together, prep, lo, mid, got_state, params)
        got += run_range(together, prep, mid, hi, got_state, params)
        assert got == expected
        assert got_state == state
