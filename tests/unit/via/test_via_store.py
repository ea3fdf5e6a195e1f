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
from fastapi.testclient import TestClient
from test_via_outcome import BLOCKED_UID, OK_UID, TOOL_BLOCKED, WORKS, samples, with_via

from voipwatch.report.brief import build_brief
from voipwatch.report.document import render_html
from voipwatch.store import ingest, open_store, rejudge, what_still_works
from voipwatch.web.app import create_app

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


@pytest.mark.shared
def test_the_country_page_and_the_brief_say_what_still_works(
    samples: dict[str, Any], tmp_path: Path
) -> None:
    blocked, ok = samples[BLOCKED_UID], samples[OK_UID]
    cc = blocked["probe_cc"]
    ms = [
        _variant(with_via(blocked, ok, WORKS), "AS3320", "2017-04-07"),
        _variant(with_via(blocked, ok, TOOL_BLOCKED), "AS3209", "2017-04-08"),
    ]
    db = tmp_path / "store.duckdb"
    with open_store(db) as store:
        ingest(store, [_file(tmp_path, ms)], workers=1)
        brief = build_brief(store, cc, now=datetime(2017, 5, 1))
    html = render_html(brief)
    # One row per plane (the data centres carry messages, the web client is the web).
    assert {(t["name"], t["tool"], t["outcome"]) for t in brief.tools} == {
        ("Telegram", "tor", "restored"),
        ("Telegram", "tor", "still_blocked"),
    }
    assert brief.tools[0]["outcome"] == "restored"  # restored first per app and plane
    assert 'data-testid="brief-tools"' in html
    assert "restored" in html
    assert "with the tool itself blocked" in html
    with TestClient(create_app(db), base_url="http://127.0.0.1") as client:
        page = client.get(f"/country/{cc}", params={"since": "2017-04-01", "until": "2017-05-01"})
        empty = client.get("/country/IT", params={"since": "2017-04-01", "until": "2017-05-01"})
    assert page.status_code == 200
    assert 'data-testid="country-tools"' in page.text
    assert "<strong>restored</strong>" in page.text
    assert "AS3320" in page.text
    assert "AS3209" in page.text
    assert empty.status_code == 200
    assert "No measurement through a circumvention tool from IT" in empty.text
