"""The detector's events joined with documented cases, end to end through the store.

A small world of verdicts (the detector tests' own) with three blocks, two of them
documented; the detector finds the blocks, and each event of a documented block gets
its case — with its measurements and cost on ``cases show`` — while the undocumented
one gets none.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

from typer.testing import CliRunner

from voipwatch.cases.registry import import_cases, list_cases, match_events
from voipwatch.cli import app
from voipwatch.events.cells import build_cells
from voipwatch.events.detect import detect_events
from voipwatch.events.store import save_events
from voipwatch.store import open_store
from voipwatch.testing import Block, Network, World, insert

TODAY = date(2026, 11, 22)
NETWORKS = [
    Network("IR", 100, 30),
    Network("IR", 101, 12),
    Network("RU", 200, 20),
    Network("RU", 201, 6),
    Network("BR", 400, 10),
]
WORLD = World(
    NETWORKS,
    blocks=[
        Block("IR", (100, 101), "whatsapp", ("endpoints", "web"),
              datetime(2026, 1, 20, 6), datetime(2026, 1, 25, 12), technique="ip.blocked"),
        Block("RU", (200,), "telegram", ("dc",), datetime(2026, 1, 15, 3), None,
              technique="dns.nxdomain"),
        Block("BR", (400,), "signal", ("backend",), datetime(2026, 1, 22), None),
    ],
    start=datetime(2026, 1, 5),
    days=28,
)  # fmt: skip

INCIDENTS = {
    "incidents": [
        {
            "id": "9001",
            "title": "Iran blocked WhatsApp",
            "start_time": "2026-01-20T00:00:00Z",
            "end_time": "2026-01-25T00:00:00Z",
            "CCs": ["IR"],
            "ASNs": [100, 101],
            "test_names": ["whatsapp"],
            "tags": ["whatsapp"],
        },
        # Documented, but on a network the detector saw no block on.
        {
            "id": "9002",
            "title": "Iran blocked Telegram",
            "start_time": "2026-01-10T00:00:00Z",
            "end_time": "2026-01-12T00:00:00Z",
            "CCs": ["IR"],
            "ASNs": [100],
            "test_names": ["telegram"],
            "tags": ["telegram"],
        },
    ]
}
CENALERT = (
    "country,country_code,affected_regions,start_date,end_date,cause,affected_services,link,"
    "source\nRussia,RU,,2026-01-15,,Information control,Telegram,https://x.example/ru,"
    "NetBlocks\n"
)


def test_detected_events_get_their_documented_cases(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    (tmp_path / "incidents.json").write_text(json.dumps(INCIDENTS))
    (tmp_path / "all.csv").write_text(CENALERT)
    with open_store(db) as store:
        insert(store, WORLD.rows())
        build_cells(store)
        events = detect_events(store)
        save_events(store, events)
        import_cases(store, tmp_path / "incidents.json", today=TODAY)
        import_cases(store, tmp_path / "all.csv", today=TODAY)
        matches = match_events(store)
        cases = {(c.country, c.apps[0]): c for c in list_cases(store)}
    blocks = [e for e in events if e.kind == "block"]
    found = {(e.probe_cc, e.service) for e in blocks}
    assert {("IR", "whatsapp"), ("RU", "telegram"), ("BR", "signal")} <= found
    by_event: dict[str, set[str]] = {}
    for m in matches:
        by_event.setdefault(m.event_id, set()).add(m.case_id)
    for e in blocks:
        documented = cases.get((e.probe_cc, e.service))
        if documented is not None and (e.probe_cc, e.service) != ("IR", "telegram"):
            assert by_event.get(e.event_id) == {documented.case_id}, e
            assert e.event_id in documented.events
        else:
            assert e.event_id not in by_event, e
    assert not cases[("IR", "telegram")].events  # documented, never detected

    shown = CliRunner().invoke(
        app, ["cases", "show", cases[("IR", "whatsapp")].case_id, "--db", str(db), "--json"]
    )
    assert shown.exit_code == 0, shown.stderr
    detail = json.loads(shown.stdout)
    # The signalling and the web plane of WhatsApp: two events, one block, one case.
    assert sorted(ev["plane"] for ev in detail["event_details"]) == ["signalling", "web"]
    for ev in detail["event_details"]:
        assert ev["service"] == "whatsapp"
        assert ev["measurements"] > 0
        assert "ip.blocked" in ev["techniques"]
        assert ev["cost"]["available"] is True
        assert ev["cost"]["low"] <= ev["cost"]["central"] <= ev["cost"]["high"]
    assert detail["cost"]["available"] is True
