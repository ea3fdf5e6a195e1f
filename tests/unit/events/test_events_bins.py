"""Binning cells at each series' day grain, against a plain reading of the rule."""

from __future__ import annotations

import random

import numpy as np

from voipwatch.events import bins
from voipwatch.store.cells import Cells

DAY = 24
T0 = 20_000 * DAY  # a midnight, in hours since the epoch


def _cells(rows: list[tuple[int, int, int, int]]) -> bins.Part:
    """Cells from (series, hour, judged, affected), in series then hour order."""
    rows = sorted(rows)
    col = list(zip(*rows, strict=True))
    return bins.Part(*(np.array(c, dtype=np.int64) for c in col))


def _stored(rows: list[tuple[int, int, int, int]]) -> Cells:
    """The same cells as the store hands them over: 32-bit, with their series named."""
    part = _cells(rows)
    return Cells(
        series=[("XX", 100 + s, "svc", f"svc/r{s}", "web") for s in sorted(set(part.sid))],
        sid=part.sid.astype(np.int32),
        h=part.h.astype(np.int32),
        n=part.n.astype(np.int32),
        b=part.b.astype(np.int32),
    )


def _grain_by_hand(per_day: dict[int, int], day: int) -> int:
    """The rule in words: the first day, or a day after a week with no measurement,
    by the hour; else the smallest grain expected to hold three judged verdicts at
    the mean daily volume of the (up to seven) days before."""
    first = min(per_day)
    past_days = min(7, day - first)
    window = [per_day[d] for d in range(day - 7, day) if d in per_day]
    if past_days == 0 or not window:
        return 1
    rate = sum(window) / past_days
    return next((g for g in (1, 2, 3, 6, 12) if rate * g / 24 >= 3.0), 24)


def test_grains_follow_the_week_before() -> None:
    rng = random.Random(5)
    rows = []
    for s, per_day in ((0, 60), (1, 8), (2, 2)):
        for d in range(20):
            if s == 2 and 5 <= d < 14:
                continue  # a series silent for nine days
            for h in sorted(rng.sample(range(DAY), k=min(DAY, per_day))):
                rows.append((s, T0 + d * DAY + h, rng.randint(1, 3), rng.randint(0, 1)))
    cells = _cells(rows)
    got = bins.grains(cells)
    per_day: dict[int, dict[int, int]] = {}
    for s, h, n, _ in sorted(rows):
        per_day.setdefault(s, {}).setdefault(h // DAY, 0)
        per_day[s][h // DAY] += n
    want = [_grain_by_hand(per_day[s], h // DAY) for s, h, _, _ in sorted(rows)]
    assert got.tolist() == want
    assert {1, 24} <= set(want)  # busy hours and sparse days both occur


def test_bins_sum_their_cells_and_mark_majorities() -> None:
    # One sparse series: day 0 by the hour, day 1 in a single day-long bin.
    rows = [(0, T0 + 3, 2, 2), (0, T0 + 9, 1, 0), (0, T0 + DAY + 4, 3, 2), (0, T0 + DAY + 20, 2, 0)]
    sid, b = bins.bins(_cells(rows), np.array([-(2**62)], dtype=np.int64))
    assert sid.tolist() == [0, 0, 0]
    assert b.start.tolist() == [T0 + 3, T0 + 9, T0 + DAY]
    assert b.end.tolist() == [T0 + 4, T0 + 10, T0 + 2 * DAY]
    assert b.n.tolist() == [2, 1, 5]
    assert b.b.tolist() == [2.0, 0.0, 2.0]
    assert b.first_blocked.tolist() == [T0 + 3, -1, T0 + DAY + 4]
    assert b.last_blocked.tolist() == [T0 + 3, -1, T0 + DAY + 4]
    assert b.first_clean.tolist() == [-1, T0 + 9, T0 + DAY + 20]
    assert b.last_clean.tolist() == [-1, T0 + 9, T0 + DAY + 20]


def test_bins_start_where_a_series_resumes() -> None:
    rows = [(0, T0 + h, 5, 0) for h in range(0, 2 * DAY, 3)] + [(1, T0 + 5, 1, 1)]
    cells = _cells(rows)
    sid, b = bins.bins(cells, np.array([T0 + DAY, -(2**62)], dtype=np.int64))
    assert int(b.start[sid == 0].min()) >= T0 + DAY
    assert b.start[sid == 1].tolist() == [T0 + 5]


def test_digests_see_any_change_before_the_seal() -> None:
    rows = [(0, T0 + h, 4, h % 2) for h in range(48)]
    seal = np.array([T0 + DAY], dtype=np.int64)

    def digests(rows: list[tuple[int, int, int, int]]) -> tuple[list[int], list[int]]:
        cells = _cells(rows)
        n, d = bins.digests(cells, bins.cell_hashes(cells), seal)
        return n.tolist(), d.tolist()

    n0, d0 = digests(rows)
    assert n0 == [24]
    changed = [(s, h, n, 1 - b if h == T0 + 7 else b) for s, h, n, b in rows]
    later = [(s, h, n, 1 - b if h == T0 + DAY + 7 else b) for s, h, n, b in rows]
    assert digests(changed)[1] != d0
    assert digests(later)[1] == d0


def _bins_by_hand(
    rows: list[tuple[int, int, int, int]], grain: list[int]
) -> list[tuple[int, int, int, int, int, int, int, int, int]]:
    """Each bin read cell by cell: series, start, end, judged, affected, and the first
    and last hour with an affected majority, then with a clean one (-1: none)."""
    out: dict[tuple[int, int], list[int]] = {}
    for (s, h, n, b), g in zip(sorted(rows), grain, strict=True):
        start = h // DAY * DAY + (h % DAY) // g * g
        row = out.setdefault((s, start), [s, start, start + g, 0, 0, -1, -1, -1, -1])
        row[3] += n
        row[4] += b
        first, last = (5, 6) if 2 * b >= n else (7, 8)
        row[first] = h if row[first] == -1 else row[first]
        row[last] = h
    return [(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]) for r in out.values()]


def test_bins_match_a_reading_cell_by_cell() -> None:
    """Busy, sparse and mixed series, some with every bin one cell and some not."""
    rng = random.Random(11)
    rows = []
    for s, per_day in enumerate((24, 20, 6, 2, 1)):
        for d in range(12):
            for h in sorted(rng.sample(range(DAY), k=per_day)):
                n = rng.randint(3, 6) if s == 0 else rng.randint(1, 4)
                rows.append((s, T0 + d * DAY + h, n, rng.randint(0, n)))
    cells = _cells(rows)
    sid, b = bins.bins(cells, np.full(5, -(2**62), dtype=np.int64))
    got = list(
        zip(
            sid.tolist(), b.start.tolist(), b.end.tolist(), b.n.tolist(),
            [int(x) for x in b.b], b.first_blocked.tolist(), b.last_blocked.tolist(),
            b.first_clean.tolist(), b.last_clean.tolist(), strict=True,
        )
    )  # fmt: skip
    assert got == _bins_by_hand(rows, bins.grains(cells).tolist())
    assert len(got) < len(rows)  # some bins hold several cells
    # Only the busiest series: every bin is one cell.
    busy = _cells([r for r in rows if r[0] == 0])
    sid, b = bins.bins(busy, np.full(1, -(2**62), dtype=np.int64))
    assert len(sid) == len(busy)
    assert b.first_blocked.tolist() == b.last_blocked.tolist()
    assert [int(x) for x in b.b] == busy.b.tolist()


def test_parts_hold_whole_series_in_order() -> None:
    # Series 0-9 of 1 to 10 cells each, and series 10 of 40 cells, longer than a part.
    rows = [(s, T0 + h, 1, 0) for s in range(10) for h in range(s + 1)]
    rows += [(10, T0 + h, 2, 1) for h in range(40)]
    cells = _stored(rows)
    got = list(bins.parts(cells, size=12))
    assert [p.sid.dtype for p in got] == [np.dtype(np.int64)] * len(got)
    assert np.concatenate([p.h for p in got]).tolist() == cells.h.tolist()
    assert np.concatenate([p.sid for p in got]).tolist() == cells.sid.tolist()
    assert np.concatenate([p.b for p in got]).tolist() == cells.b.tolist()
    series = [sorted(set(p.sid.tolist())) for p in got]
    # No series is split, and parts are cut at the first series to begin at or after
    # each multiple of the size.
    assert sorted(s for ss in series for s in ss) == list(range(11))
    assert series == [[0, 1, 2, 3, 4], [5, 6], [7], [8, 9], [10]]
    (whole,) = bins.parts(cells, size=10**6)
    assert whole.h.tolist() == cells.h.tolist()
    assert list(bins.parts(Cells([], *(np.zeros(0, dtype=np.int32),) * 4))) == []


def test_binning_and_digests_part_by_part_are_those_of_the_whole() -> None:
    rng = random.Random(3)
    rows = [
        (s, T0 + d * DAY + h, rng.randint(1, 4), rng.randint(0, 2))
        for s, per_day in enumerate((24, 9, 3, 1, 20, 2))
        for d in range(10)
        for h in sorted(rng.sample(range(DAY), k=per_day))
    ]
    whole, cells = _cells(rows), _stored(rows)
    from_h = np.array([-(2**62), T0 + 3 * DAY, -(2**62), T0 + DAY, -(2**62), -(2**62)])
    sid, b = bins.bins(whole, from_h)
    seal = np.full(6, T0 + 5 * DAY, dtype=np.int64)
    n, d = bins.digests(whole, bins.cell_hashes(whole), seal)
    got_sid, got_start, got_first, got_n = [], [], [], np.zeros(6, dtype=np.int64)
    got_d = np.zeros(6, dtype=np.uint64)
    parts = list(bins.parts(cells, size=100))
    assert len(parts) > 2
    for part in parts:
        part_sid, part_b = bins.bins(part, from_h)
        got_sid += part_sid.tolist()
        got_start += part_b.start.tolist()
        got_first += part_b.first_blocked.tolist()
        part_n, part_d = bins.digests(part, bins.cell_hashes(part), seal)
        got_n += part_n
        got_d ^= part_d
    assert got_sid == sid.tolist()
    assert got_start == b.start.tolist()
    assert got_first == b.first_blocked.tolist()
    assert got_n.tolist() == n.tolist()
    assert got_d.tolist() == d.tolist()
