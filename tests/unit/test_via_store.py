"""Via outcomes in the store: written at ingest, rebuilt by rejudge, read per country.

The measurements are real OONI telegram measurements (Germany 2017: web blocked,
data centres partly) carrying a run through a tool made of another real one
(Italy 2020: all reachable), or of the blocked one again.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from test_via_outcome import BLOCKED_UID, OK_UID, TOOL_BLOCKED, WORKS, samples, with_via

from voipwatch.store import ingest, open_store, rejudge, what_still_works

__all__ = ["samples"]  # the fixture, shared with test_via_outcome


def _file(tmp_path: Path, measurements: list[dict[str, Any]]) -> Path:
    path = tmp_path / "via.jsonl"
    path.write_text("".join(json.dumps(m) + "\n" for m in measurements))
    return path


def _variant(m: dict[str, Any], asn: str, day: str) -> dict[str, Any]:
    out = copy.deepcopy(m)
    out["probe_asn"] = asn
    out["measurement_start_time"] = f"{day} 10:00:00"
    out["report_id"] = f"{out['report_id']}-{asn}-{day}"
    return out


@pytest.mark.shared
def test_what_still_works_names_tools_networks_and_times(
    samples: dict[str, Any], tmp_path: Path
) -> None:
    blocked, ok = samples[BLOCKED_UID], samples[OK_UID]
    cc = blocked["probe_cc"]
    ms = [
        _variant(with_via(blocked, ok, WORKS), "AS3320", "2017-04-07"),
        _variant(with_via(blocked, ok, WORKS), "AS3209", "2017-04-09"),
        _variant(with_via(blocked, blocked, WORKS), "AS3320", "2017-04-08"),
        _variant(with_via(blocked, ok, TOOL_BLOCKED), "AS3320", "2017-04-10"),
        ok,  # measured without a tool: no via rows
    ]
    db = tmp_path / "store.duckdb"
    with open_store(db) as store:
        stats = ingest(store, [_file(tmp_path, ms)], workers=1)
        assert stats.new == len(ms)
        got = what_still_works(store.con, cc)
        again = rejudge(store)
        assert what_still_works(store.con, cc) == got
        assert again.failed == 0
        assert what_still_works(store.con, "IT") == []
        later = what_still_works(store.con, cc, since=datetime(2017, 4, 9))
    restored = [r for r in got if r.outcome == "restored"]
    assert {(r.service, r.tool) for r in restored} == {("telegram", "tor")}
    assert sum(r.count for r in restored) == 4  # two roles × two measurements
    assert all(r.networks == ("AS3209", "AS3320") for r in restored)
    assert all(r.first == datetime(2017, 4, 7, 10) for r in restored)
    assert all(r.last == datetime(2017, 4, 9, 10) for r in restored)
    still = [r for r in got if r.outcome == "still_blocked"]
    assert sum(r.count for r in still) == 4
    assert sum(r.tool_blocked for r in still) == 2  # the blocked tool's run, both roles
    assert {r.outcome for r in later} == {"restored", "still_blocked"}
    assert sum(r.count for r in later if r.outcome == "restored") == 2
