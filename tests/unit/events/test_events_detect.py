"""Cells, detection and events over a hand-built world of verdicts.

The world has busy and sparse networks in six countries, a national block, a
single-network block on a network measured twice a day, a target change that hits
every country at once and a network whose measurements stop (a shutdown).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from voipwatch.events.cells import BLOCKING, JUDGED, build_cells
from voipwatch.events.cusum import CusumParams
from voipwatch.events.detect import detect_events, load_series
from voipwatch.events.model import Event
from voipwatch.events.store import load_events, save_events
from voipwatch.store import Store, open_store
from voipwatch.store.cells import cell_totals, read_cells
from voipwatch.store.detector import load_states
from voipwatch.store.events import EVENTS_SCHEMA
from voipwatch.store.schema import VERDICT_MEASUREMENT_COLUMNS
from voipwatch.testing import Block, Network, Row, World, insert

NETWORKS = [
    Network("IR", 100, 30),
    Network("IR", 101, 12),
    Network("IR", 102, 4),
    Network("RU", 200, 20),
    Network("RU", 201, 2),
    Network("DE", 300, 10),
    Network("BR", 400, 8),
    Network("IN", 500, 15),
    Network("EG", 600, 6),
]
START = datetime(2026, 1, 5)
DAYS = 28


def _world() -> World:
    everyone = [
        Block(cc, tuple(n.asn for n in NETWORKS if n.cc == cc), "signal", ("backend",),
              datetime(2026, 1, 28), None, technique="http.status")
        for cc in sorted({n.cc for n in NETWORKS})
    ]  # fmt: skip
    return World(
        NETWORKS,
        blocks=[
            Block("IR", (100, 101, 102), "whatsapp", ("endpoints", "web"),
                  datetime(2026, 1, 20, 6), datetime(2026, 1, 25, 12), technique="ip.blocked"),
            Block("RU", (201,), "telegram", ("dc",), datetime(2026, 1, 15, 3), None,
                  technique="dns.nxdomain"),
            *everyone,
        ],
        start=START,
        days=DAYS,
    )  # fmt: skip


def _shutdown(rows: list[Row]) -> list[Row]:
    """DE's only network goes silent for two days."""
    lo, hi = datetime(2026, 1, 22, 8), datetime(2026, 1, 24, 8)
    return [r for r in rows if not (r[1] == "DE" and lo <= r[3] < hi)]


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    return _shutdown(_world().rows())


def _detect(store: Store) -> list[Event]:
    """As ``voipwatch events`` does: cells counted on a fresh store go straight to
    detection, and a later run's detection reads every cell from the store."""
    return detect_events(store, cells=build_cells(store).counted)


@pytest.fixture(scope="module")
def one_pass(tmp_path_factory: pytest.TempPathFactory, rows: list[Row]) -> Iterator[Store]:
    db = tmp_path_factory.mktemp("events") / "one.duckdb"
    with open_store(db) as store:
        insert(store, rows)
        save_events(store, _detect(store))
        yield store


@pytest.fixture(scope="module")
def events(one_pass: Store) -> list[Event]:
    return load_events(one_pass)


def _of(events: list[Event], kind: str, cc: str, service: str) -> list[Event]:
    return [e for e in events if e.kind == kind and e.probe_cc == cc and e.service == service]


def test_cells_count_every_verdict(one_pass: Store, rows: list[Row]) -> None:
    totals = cell_totals(one_pass)
    judged = sum(1 for r in rows for v in r[4] if v[3] in JUDGED)
    assert sum(t.judged for t in totals) == judged > 0
    blocked = sum(1 for r in rows for v in r[4] if v[3] in BLOCKING)
    assert sum(t.affected for t in totals) == blocked > 0
    volume = one_pass.con.execute("SELECT sum(measurements) FROM event_volume").fetchone()
    assert volume == (len(rows),)


def test_national_block_is_rolled_up(events: list[Event]) -> None:
    signalling, web = sorted(_of(events, "block", "IR", "whatsapp"), key=lambda e: e.plane)
    assert (signalling.plane, web.plane) == ("signalling", "web")
    assert web.roles == ["whatsapp/web"]
    e = signalling
    assert e.asns == [100, 101, 102]
    assert e.national
    assert e.roles == ["whatsapp/endpoints"]
    assert e.techniques == ["ip.blocked"]
    onset = datetime(2026, 1, 20, 6, tzinfo=UTC)
    assert e.start_earliest <= onset < e.start_latest
    assert e.start - onset <= timedelta(hours=2)
    assert e.end is not None
    assert e.end_earliest is not None
    assert e.end_latest is not None
    assert e.end_earliest <= datetime(2026, 1, 25, 12, tzinfo=UTC) < e.end_latest
    assert e.blocked_share > 0.8
    assert 0.5 < e.confidence <= 1
    assert e.measurements > 100


def test_sparse_single_network_block_is_found(events: list[Event]) -> None:
    (e,) = _of(events, "block", "RU", "telegram")
    assert e.asns == [201]
    assert not e.national
    assert e.end is None
    assert e.techniques == ["dns.nxdomain"]
    # Two measurements a day: the onset is the first blocked measurement's hour.
    assert (
        e.start_earliest
        <= datetime(2026, 1, 15, 3, tzinfo=UTC)
        <= e.start_latest + timedelta(hours=24)
    )


def test_a_role_failing_everywhere_at_once_is_a_target_change(events: list[Event]) -> None:
    assert not _of(events, "block", "IR", "signal")
    changes = [e for e in events if e.kind == "target_change"]
    assert {e.probe_cc for e in changes} == {"BR", "DE", "EG", "IN", "IR", "RU"}
    assert all(e.roles == ["signal/backend"] for e in changes)


def test_volume_collapse_is_a_possible_shutdown(events: list[Event]) -> None:
    shut = [e for e in events if e.kind == "possible_shutdown"]
    assert [(e.probe_cc, e.asns) for e in shut] == [("DE", [300])]
    (e,) = shut
    assert abs(e.start - datetime(2026, 1, 22, 8, tzinfo=UTC)) <= timedelta(hours=6)
    assert e.end is not None
    assert abs(e.end - datetime(2026, 1, 24, 8, tzinfo=UTC)) <= timedelta(hours=6)


def test_no_false_alarms(events: list[Event]) -> None:
    expected = {
        ("block", "IR", "whatsapp"),
        ("block", "RU", "telegram"),
        ("possible_shutdown", "DE", "*"),
    }
    found = {(e.kind, e.probe_cc, e.service) for e in events if e.kind != "target_change"}
    assert found == expected


def test_a_fresh_count_hands_detection_the_cells_it_would_read_back(
    tmp_path: Path, rows: list[Row], events: list[Event]
) -> None:
    with open_store(tmp_path / "handed.duckdb") as store:
        insert(store, rows)
        counted = build_cells(store).counted
        assert counted is not None
        stored = read_cells(store)
        assert len(counted) == len(stored) > 0
        assert counted.series == stored.series
        for name in ("sid", "h", "n", "b"):
            assert getattr(counted, name).tolist() == getattr(stored, name).tolist()
        # Detection reading the cells back finds what it finds from the counted ones.
        assert _dump(detect_events(store)) == _dump(events)
        # Nothing recounted, nothing handed on.
        assert build_cells(store).counted is None


def test_a_second_run_changes_nothing(one_pass: Store, events: list[Event]) -> None:
    stats = build_cells(one_pass)
    assert stats.hours_changed == 0
    assert detect_events(one_pass) == events


def _dump(events: list[Event]) -> list[bytes]:
    return [msgspec.json.encode(e) for e in events]


def test_day_by_day_gives_the_same_events(
    tmp_path: Path, rows: list[Row], events: list[Event]
) -> None:
    with open_store(tmp_path / "daily.duckdb") as store:
        for day in range(DAYS):
            lo, hi = START + timedelta(days=day), START + timedelta(days=day + 1)
            insert(store, [r for r in rows if lo <= r[3] < hi])
            daily = _detect(store)
        assert _dump(daily) == _dump(events)


def test_a_later_run_recounts_new_hours_and_resumes_every_series(
    tmp_path: Path, rows: list[Row], events: list[Event]
) -> None:
    """Two more days of data: only their hours are counted, and every series that
    already had a state goes on from it rather than from its beginning."""
    cut = START + timedelta(days=DAYS - 2)
    with open_store(tmp_path / "later.duckdb") as store:
        insert(store, [r for r in rows if r[3] < cut])
        _detect(store)
        before = dict.fromkeys(load_states(store))
        insert(store, [r for r in rows if r[3] >= cut])
        stats = build_cells(store)
        assert 0 < stats.hours_changed <= 2 * 24 + 1 < stats.hours_total
        cells = read_cells(store)
        last = int(cells.h.max())
        series = load_series(store, cells, last // 24 * 24, CusumParams())
        resumed = {s.key for s in series if s.resumed}
        assert resumed == set(before) & {s.key for s in series}
        assert len(resumed) > 10
        assert _dump(detect_events(store)) == _dump(events)


def test_late_data_and_rejudged_verdicts_give_the_same_events(
    tmp_path: Path, rows: list[Row], events: list[Event]
) -> None:
    """Rows arriving after their day was sealed, and a verdict changed after the
    fact, are handled by recomputing the series they touch."""
    late = {r[0] for r in rows[::7] if r[3] < START + timedelta(days=20)}
    with open_store(tmp_path / "late.duckdb") as store:
        insert(store, [r for r in rows if r[0] not in late])
        _detect(store)
        # A verdict changed by a rule change: the verdict row and the digest change.
        key = rows[5][0]
        store.con.execute("UPDATE verdicts SET status = 'blocked' WHERE key = ?", [key])
        store.con.execute(
            "UPDATE measurements SET judgement_digest = 'changed' WHERE key = ?", [key]
        )
        _detect(store)
        store.con.execute("UPDATE verdicts SET status = 'ok' WHERE key = ?", [key])
        store.con.execute("UPDATE measurements SET judgement_digest = 'back' WHERE key = ?", [key])
        insert(store, [r for r in rows if r[0] in late])
        assert _dump(_detect(store)) == _dump(events)


def test_two_equal_judgements_changed_alike_still_change_their_hour(
    tmp_path: Path, rows: list[Row]
) -> None:
    """Two stored copies of one measurement carry equal judgement digests, which
    cancel out of an XOR; a rejudge that changes both alike must still show as a
    changed hour, or its cells would keep the old verdicts."""
    by_hour: dict[datetime, list[str]] = {}
    for r in rows:
        by_hour.setdefault(r[3].replace(minute=0, second=0, microsecond=0), []).append(r[0])
    a, b = next(keys[:2] for keys in by_hour.values() if len(set(keys)) >= 2)
    with open_store(tmp_path / "twins.duckdb") as store:
        insert(store, rows)
        twins = "UPDATE measurements SET judgement_digest = ? WHERE key IN (?, ?)"
        store.con.execute(twins, ["twin", a, b])
        build_cells(store)
        store.con.execute("UPDATE verdicts SET status = 'failure' WHERE key IN (?, ?)", [a, b])
        store.con.execute(twins, ["twin, rejudged", a, b])
        assert build_cells(store).hours_changed == 1
        counted = cell_totals(store)
        build_cells(store, rebuild=True)
        assert cell_totals(store) == counted


def test_a_store_of_schema_3_is_migrated_and_gives_the_same_events(
    tmp_path: Path, rows: list[Row], events: list[Event]
) -> None:
    """Schema 3 verdicts carried neither their measurement's network nor its hour;
    opening such a store for writing fills them in, and the cells are counted from
    them alone."""
    db = tmp_path / "v3.duckdb"
    copied = [name for name, _, _ in VERDICT_MEASUREMENT_COLUMNS]
    with open_store(db) as store:
        insert(store, rows)
        expected = store.con.execute(
            f"SELECT key, idx, {', '.join(copied)} FROM verdicts ORDER BY key, idx"
        ).fetchall()
        for name in copied:
            store.con.execute(f"ALTER TABLE verdicts DROP COLUMN {name}")
        store.con.execute("UPDATE store_meta SET value = '3' WHERE name = 'schema_version'")
    with open_store(db) as store:
        migrated = store.con.execute(
            f"SELECT key, idx, {', '.join(copied)} FROM verdicts ORDER BY key, idx"
        ).fetchall()
        assert migrated == expected
        assert _dump(_detect(store)) == _dump(events)


#: ``event_cells`` as events schema 3 wrote it: five series names and every status.
_CELLS_V3 = """
    CREATE TABLE event_cells (
        probe_cc VARCHAR NOT NULL, asn BIGINT NOT NULL, service VARCHAR NOT NULL,
        role VARCHAR NOT NULL, plane VARCHAR NOT NULL, hour TIMESTAMP NOT NULL,
        ok INTEGER NOT NULL, blocked INTEGER NOT NULL, partial INTEGER NOT NULL,
        degraded INTEGER NOT NULL, down INTEGER NOT NULL, failure INTEGER NOT NULL,
        unknown INTEGER NOT NULL, verdicts INTEGER NOT NULL, blocked_share DOUBLE
    )
"""


def test_an_events_tier_of_schema_3_is_recounted_and_gives_the_same_events(
    tmp_path: Path, rows: list[Row], events: list[Event]
) -> None:
    """Cells of events schema 3 (one row per cell with every status's count) cannot be
    read as schema 4's: the derived tables are dropped and counted again, the events
    detected again, and they are the same."""
    db = tmp_path / "events-v3.duckdb"
    with open_store(db) as store:
        insert(store, rows)
        save_events(store, _detect(store))
        store.con.execute("DROP TABLE event_cells")
        store.con.execute("DROP TABLE event_series")
        store.con.execute(_CELLS_V3)
        store.con.execute("UPDATE store_meta SET value = '3' WHERE name = 'events_schema'")
    with open_store(db, read_only=True) as store:
        # Read-only, nothing can be recounted: no events rather than misread ones.
        assert detect_events(store) == []
    with open_store(db) as store:
        assert _dump(_detect(store)) == _dump(events)
        assert store.meta("events_schema") == str(EVENTS_SCHEMA)
        columns = store.con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'event_cells' ORDER BY ordinal_position"
        ).fetchall()
        assert [c for (c,) in columns] == ["sk", "h", "n", "b"]


#: ``event_cell_techniques`` as events schema 4 wrote it: the series' names and the hour.
_TECHNIQUES_V4 = """
    CREATE TABLE techniques_v4 AS
    SELECT e.probe_cc, e.asn, e.service, e.role, e.plane,
           TIMESTAMP '1970-01-01' + to_hours(t.h) AS hour, t.technique, t.n
    FROM event_cell_techniques AS t JOIN event_series AS e USING (sk)
"""


def test_an_events_tier_of_schema_4_is_recounted_and_gives_the_same_events(
    tmp_path: Path, rows: list[Row], events: list[Event]
) -> None:
    """Techniques of events schema 4 were kept under their series' five names and the
    hour; schema 5 keys them as the cells are. A store of schema 4 has its derived
    tables dropped and counted again, and gives the same events."""
    db = tmp_path / "events-v4.duckdb"
    with open_store(db) as store:
        insert(store, rows)
        save_events(store, _detect(store))
        store.con.execute(_TECHNIQUES_V4)
        assert store.con.execute("SELECT count(*) FROM techniques_v4").fetchone() != (0,)
        store.con.execute("DROP TABLE event_cell_techniques")
        store.con.execute("ALTER TABLE techniques_v4 RENAME TO event_cell_techniques")
        store.con.execute("UPDATE store_meta SET value = '4' WHERE name = 'events_schema'")
    with open_store(db, read_only=True) as store:
        assert detect_events(store) == []
    with open_store(db) as store:
        assert _dump(_detect(store)) == _dump(events)
        assert store.meta("events_schema") == str(EVENTS_SCHEMA) == "5"
        columns = store.con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'event_cell_techniques' ORDER BY ordinal_position"
        ).fetchall()
        assert [c for (c,) in columns] == ["sk", "h", "technique", "n"]


def test_rebuild_gives_the_same_events(one_pass: Store, events: list[Event]) -> None:
    build_cells(one_pass, rebuild=True)
    assert _dump(detect_events(one_pass)) == _dump(events)


def test_an_empty_store_has_no_events(tmp_path: Path) -> None:
    with open_store(tmp_path / "empty.duckdb") as store:
        assert build_cells(store).cells == 0
        assert detect_events(store) == []
        assert load_events(store) == []


def test_a_read_only_store_is_detected_without_writing(tmp_path: Path, rows: list[Row]) -> None:
    db = tmp_path / "ro.duckdb"
    with open_store(db) as store:
        insert(store, rows)
        build_cells(store)
        expected = _dump(detect_events(store))
    with open_store(db, read_only=True) as store:
        assert _dump(detect_events(store)) == expected


def test_load_events_filters(events: list[Event], one_pass: Store) -> None:
    assert {e.probe_cc for e in load_events(one_pass, cc="ir")} == {"IR"}
    assert {e.service for e in load_events(one_pass, service="telegram")} == {"telegram"}
