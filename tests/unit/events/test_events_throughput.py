"""The throughput A/B's own series: throttles counted apart from the role they slow."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from voipwatch.catalog import load
from voipwatch.events.cells import build_cells
from voipwatch.events.detect import detect_events
from voipwatch.events.generate import generate_world
from voipwatch.events.labels import load_labels
from voipwatch.store import ingest, open_store
from voipwatch.store.cells import cell_totals


def test_throttles_have_a_series_of_their_own_and_become_throttling(tmp_path: Path) -> None:
    world = tmp_path / "world"
    generate_world(
        5,
        world,
        catalog=load(),
        weeks=5,
        countries=3,
        networks=7,
        events=14,
        start=datetime(2026, 9, 7, tzinfo=UTC),
    )
    with open_store(tmp_path / "s.duckdb") as store:
        ingest(store, sorted(world.rglob("*.jsonl.gz")))
        build_cells(store)
        con = store.con
        # Every A/B verdict (the call test's web-plane ones) is counted on the
        # throughput plane, and nothing else is; WhatsApp Web's own test keeps its series.
        (ab,) = con.execute(
            "SELECT count(*) FROM verdicts JOIN measurements USING (key) "
            "WHERE test_name = 'voipwatch_call' AND plane = 'web' "
            "AND verdicts.status IN ('ok', 'blocked', 'partial', 'degraded')"
        ).fetchone() or (0,)
        (web,) = con.execute(
            "SELECT count(*) FROM verdicts JOIN measurements USING (key) "
            "WHERE test_name = 'whatsapp' AND role = 'whatsapp/web' "
            "AND verdicts.status IN ('ok', 'blocked', 'partial', 'degraded')"
        ).fetchone() or (0,)
        counted = {t.plane: t.judged for t in cell_totals(store) if t.role == "whatsapp/web"}
        assert ab > 0
        assert counted == {"throughput": ab, "web": web}
        events = detect_events(store)
    labels = [x for x in load_labels(world / "labels.json").labels if x.kind == "throttling"]
    assert len(labels) == 2
    throttled = [e for e in events if e.kind == "throttling"]
    for label in labels:
        found = [e for e in throttled if e.probe_cc == label.probe_cc]
        assert found, label.title
        assert all(e.plane == "throughput" and e.techniques == ["throttle.policed"] for e in found)
        # Never a block of the role the throttle slowed.
        assert not [
            e
            for e in events
            if e.kind == "block" and e.probe_cc == label.probe_cc and "whatsapp/web" in e.roles
        ]
