"""Every event the detector finds in a synthetic world gets a cost range."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from voipwatch.catalog import load
from voipwatch.cost import cost_for_event
from voipwatch.errors import UsageError
from voipwatch.events.cells import build_cells
from voipwatch.events.detect import detect_events
from voipwatch.events.generate import generate_world
from voipwatch.events.model import is_artefact
from voipwatch.store import ingest, open_store


def test_every_detected_event_has_a_cost_range(tmp_path: Path) -> None:
    world = tmp_path / "world"
    generate_world(
        5,
        world,
        catalog=load(),
        weeks=3,
        countries=2,
        networks=4,
        events=4,
        start=datetime(2025, 3, 3, tzinfo=UTC),
    )
    with open_store(tmp_path / "w.duckdb") as store:
        ingest(store, [world / "raw"], workers=1)
        build_cells(store)
        events = detect_events(store)
    assert events
    kinds: dict[str, int] = {}
    for e in events:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
        if is_artefact(e.kind):
            with pytest.raises(UsageError, match="not a block"):
                cost_for_event(e)
            continue
        c = cost_for_event(e)
        assert all(math.isfinite(x) for x in (c.low, c.central, c.high))
        assert 0 <= c.low <= c.central <= c.high <= c.upper_bound_full_shutdown
        assert c.scope == ("national" if e.national else "networks")
    print(f"{len(events)} events priced: {kinds}")
