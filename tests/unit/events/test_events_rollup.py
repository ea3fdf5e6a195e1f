"""Segments, artefact labels and roll-up, and volume collapses, on hand-made values."""

from __future__ import annotations

import numpy as np

from voipwatch.events import rollup, volume
from voipwatch.events.cusum import Change
from voipwatch.events.rollup import Segment, SeriesKey


def seg(cc: str, asn: int, service: str, role: str, start: int, end: int | None) -> Segment:
    key: SeriesKey = (cc, asn, service, f"{service}/{role}", "signalling")
    return Segment(key, start, start - 1, start + 1, start + 2, end, end, end, 1.2)


def test_segments_merge_close_blocks_and_drop_short_ones() -> None:
    key: SeriesKey = ("IR", 1, "whatsapp", "whatsapp/web", "web")
    changes = [
        Change(1, 102, 100, 99, 101, 1.1),
        Change(-1, 112, 110, 109, 111, 1.1),
        Change(1, 122, 120, 119, 121, 1.3),  # 10 h later: merged
        Change(-1, 132, 130, 129, 131, 1.1),
        Change(1, 502, 500, 499, 501, 1.1),  # two hours only: dropped
        Change(-1, 504, 502, 501, 503, 1.1),
        Change(1, 702, 700, 699, 701, 1.1),  # still going
    ]
    got = rollup.segments(key, changes)
    assert [(s.start, s.end) for s in got] == [(100, 130), (700, None)]
    assert got[0].margin == 1.3


def test_a_role_failing_on_most_networks_of_many_countries_is_a_target_change() -> None:
    segs = [seg(cc, 10 + i, "signal", "directory", 1000 + 5 * i, None)
            for i, cc in enumerate(["IR", "RU", "BR", "PK", "TG", "ET"])]  # fmt: skip
    # A sparse network noticing it 20 h after the last: 45 h after the first.
    segs.append(seg("ET", 99, "signal", "directory", 1000 + 45, None))
    segs.append(seg("IR", 10, "signal", "chat", 1000, None))  # another role
    marked = rollup.target_changes(segs, {("signal", "signal/directory"): (6, 8)})
    assert marked == set(range(7))


def test_coinciding_blocks_on_few_networks_are_not_a_target_change() -> None:
    segs = [seg(cc, 10 + i, "whatsapp", "endpoints", 1000 + i, None)
            for i, cc in enumerate(["IR", "RU", "PK"])]  # fmt: skip
    assert rollup.target_changes(segs, {("whatsapp", "whatsapp/endpoints"): (6, 20)}) == set()


def test_every_service_failing_at_once_for_hours_is_an_outage() -> None:
    segs = [
        seg("RU", 5, "whatsapp", "endpoints", 100, 104),
        seg("RU", 5, "telegram", "dc", 101, 104),
        seg("RU", 5, "signal", "chat", 102, 105),
        seg("RU", 6, "signal", "chat", 102, 105),  # another network
        seg("RU", 5, "messenger", "edge", 300, 400),  # later, and long
    ]
    assert rollup.outages(segs) == {0, 1, 2}
    (draft,) = rollup.by_network([segs[i] for i in (0, 1, 2)], "possible_shutdown", window=3)
    assert (draft.probe_cc, draft.asns, draft.service) == ("RU", [5], "*")


def test_roll_up_joins_networks_that_began_together() -> None:
    segs = [
        seg("IR", 1, "telegram", "dc", 100, 200),
        seg("IR", 2, "telegram", "dc", 110, 190),
        seg("IR", 2, "telegram", "web", 112, None),
        seg("IR", 3, "telegram", "dc", 400, 500),  # days later: its own event
    ]
    drafts = rollup.roll_up(segs, "block")
    assert [(d.asns, d.roles, d.end) for d in drafts] == [
        ([1, 2], ["telegram/dc", "telegram/web"], None),
        ([3], ["telegram/dc"], 500),
    ]


def test_volume_collapse_and_its_bracket() -> None:
    hours = 24 * 21
    counts = np.full(hours, 6, dtype=np.int64)
    counts[24 * 14 + 5 : 24 * 15 + 17] = 0  # 36 silent hours from day 14, 05:00
    (c,) = volume.collapses(0, counts)
    assert (c.start, c.end) == (24 * 14 + 5, 24 * 15 + 17)
    assert c.earliest == 24 * 14 + 4


def test_a_sparse_network_is_not_judged_for_shutdowns() -> None:
    counts = np.zeros(24 * 21, dtype=np.int64)
    counts[::8] = 1  # three measurements a day
    counts[24 * 14 : 24 * 16] = 0
    assert volume.collapses(0, counts) == []


def _diurnal(days: int) -> np.ndarray:
    """Busy days, quiet nights: 8 an hour from 06:00 to 22:00, 1 an hour otherwise."""
    day = np.array([1] * 6 + [8] * 16 + [1] * 2, dtype=np.int64)
    return np.tile(day, days)


def test_a_shutdown_across_quiet_nights_is_one() -> None:
    counts = _diurnal(21)
    # Silent from day 14, 04:00, for 2.5 days: the nights in it are quiet anyway.
    counts[24 * 14 + 4 : 24 * 16 + 16] = 0
    found = volume.collapses(0, counts)
    assert len(found) == 1, found
    (c,) = found
    assert c.start <= 24 * 14 + 6
    assert c.end is not None
    assert 24 * 16 + 16 <= c.end <= 24 * 16 + 22


def test_two_shutdowns_with_the_network_back_between_stay_two() -> None:
    counts = _diurnal(21)
    counts[24 * 14 + 6 : 24 * 14 + 14] = 0  # 06:00-14:00 silent
    counts[24 * 14 + 20 : 24 * 15 + 4] = 0  # back for six busy hours, then silent again
    counts[24 * 15 + 6 : 24 * 15 + 14] = 0
    found = volume.collapses(0, counts)
    assert len(found) == 2, found


def test_merge_joins_only_what_nothing_separates() -> None:
    counts = np.zeros(100, dtype=np.int64)
    a = volume.Collapse(10, 20, 9, 21, 50.0, 0)
    b = volume.Collapse(26, 40, 25, 41, 60.0, 1)
    (m,) = volume.merge([a, b], 0, counts)
    assert (m.start, m.end, m.earliest, m.end_latest, m.expected, m.observed) == (
        10, 40, 9, 41, 110.0, 1
    )  # fmt: skip
    counts[22] = 20  # the network answered between them
    assert volume.merge([a, b], 0, counts) == [a, b]
    far = volume.Collapse(60, None, 59, None, 10.0, 0)
    assert volume.merge([a, far], 0, np.zeros(100, dtype=np.int64)) == [a, far]


def test_a_collapse_carries_its_volume_against_the_usual() -> None:
    counts = _diurnal(21)
    counts[24 * 14 + 6 : 24 * 14 + 20] = 0
    (c,) = volume.collapses(0, counts)
    rows = volume.series(0, counts, c, margin=24)
    assert rows[0][0] == c.start - 24
    assert c.end is not None
    assert rows[-1][0] == c.end + 23
    inside = [r for r in rows if c.start <= r[0] < c.end]
    assert all(n == 0 for _, n, _ in inside)
    # The same hours on the days before were busy: 8 an hour.
    assert all(u == 8 for h, _, u in inside if 6 <= h % 24 < 22)
    # Without three earlier days there is no usual to show.
    early = volume.Collapse(30, 40, 29, 41, 10.0, 0)
    assert all(u is None for _, _, u in volume.series(0, counts, early, margin=10))


def test_a_quiet_network_is_told_without_the_bin_by_bin_scan() -> None:
    """The vectorised check never hides a collapse: on random volumes, with and
    without silences, whenever it finds every bin at its usual level the bin by bin
    scan finds no collapse either, and ``collapses`` gives what the scan gives."""
    rng = np.random.default_rng(3)
    quiet = found = 0
    for trial in range(300):
        counts = rng.poisson(_diurnal(int(rng.integers(4, 30))) * int(rng.integers(1, 4)))
        if trial % 2:
            lo = int(rng.integers(0, len(counts) - 3))
            counts[lo : lo + int(rng.integers(3, 40))] = 0
        first = int(rng.integers(0, 24))
        g = volume.grain(counts)
        offset = (-first) % g
        usable = (len(counts) - offset) // g
        bins = counts[offset : offset + usable * g].reshape(usable, g).sum(axis=1)
        scanned = volume._scan(first, counts, g, offset, bins, 24 // g)
        if volume.quiet(bins, 24 // g):
            quiet += 1
            assert scanned == []
        found += bool(scanned)
        assert volume.collapses(first, counts) == (scanned if g <= volume.MAX_GRAIN else [])
    assert quiet > 50
    assert found > 50
