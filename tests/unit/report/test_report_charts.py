"""Chart specs: pure builders whose specs carry source and date and draw on the server."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import pytest

from voipwatch.report import charts, render

SOURCE = "test store"


def _rows() -> list[dict[str, Any]]:
    rows = []
    for d in range(1, 5):
        blocked = 3 if d > 2 else 0
        rows.append(
            {
                "measurement_start_day": f"2026-10-0{d}",
                "role": "signal/sfu",
                "plane": "media",
                "ok_count": 5 - blocked,
                "blocked_count": blocked,
                "confirmed_count": 1 if blocked else 0,
                "failure_count": 0,
                "verdict_count": 5,
            }
        )
    return rows


def _event(**kw: Any) -> dict[str, Any]:
    e: dict[str, Any] = {
        "event_id": "e1",
        "kind": "block",
        "probe_cc": "IR",
        "asns": [44244],
        "national": False,
        "service": "signal",
        "plane": "media",
        "roles": ["signal/sfu"],
        "techniques": ["udp.port"],
        "start": datetime(2026, 10, 3),
        "start_earliest": datetime(2026, 10, 2, 18),
        "start_latest": datetime(2026, 10, 3),
        "end": None,
        "confidence": 0.8,
        "measurements": 12,
    }
    e.update(kw)
    return e


def _subtitle(spec: dict[str, Any]) -> str:
    return " ".join(spec["title"]["subtitle"])


def test_role_rows_fold_into_ooni_statuses() -> None:
    counts = charts.ooni_counts(
        {
            "ok_count": 2,
            "blocked_count": 3,
            "confirmed_count": 1,
            "partial_count": 1,
            "down_count": 1,
            "unknown_count": 2,
            "verdict_count": 10,
        }
    )
    assert counts == {"ok": 2, "anomaly": 3, "confirmed": 1, "failure": 2, "down": 1}
    assert charts.ooni_counts(
        {
            "ok_count": 4,
            "anomaly_count": 1,
            "confirmed_count": 2,
            "failure_count": 3,
            "measurement_count": 10,
        }
    ) == {"ok": 4, "anomaly": 1, "confirmed": 2, "failure": 3, "down": 0}


def test_timeline_values_sum_to_the_rows_and_link_each_bar() -> None:
    values = charts.timeline_values(_rows(), href="/m?day={day}&role={role}&status={status}")
    assert sum(v["count"] for v in values) == 20
    assert {v["status"] for v in values} == {"ok", "anomaly", "confirmed"}
    assert values[0]["href"] == "/m?day=2026-10-01&role=signal/sfu&status=ok"
    assert all(v["lane"] == "signal/sfu (media)" for v in values)


@pytest.mark.parametrize(
    "build",
    [
        lambda: charts.timeline(_rows(), title="Signal", source=SOURCE, as_of="2026-10-04"),
        lambda: charts.events_timeline(
            [_event()], title="Events", source=SOURCE, as_of="2026-10-04"
        ),
        lambda: charts.blocks_grid(
            [{"probe_cc": "IR", "service": "signal", "plane": "media", "state": "blocked"}],
            title="Blocks",
            source=SOURCE,
            as_of="2026-10-04",
        ),
        lambda: charts.cost_range(
            [
                {
                    "label": "Signal calls",
                    "low": 1e5,
                    "central": 3e5,
                    "high": 9e5,
                    "upper_bound_full_shutdown": 5e6,
                }
            ],
            title="Cost",
            source=SOURCE,
            as_of="2026-10-04",
        ),
    ],
)
def test_every_chart_carries_source_and_date_and_draws(build: Any) -> None:
    spec = build()
    json.dumps(spec)  # JSON-ready, as the web pages embed it
    assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/v5")
    assert f"Source: {SOURCE}" in _subtitle(spec)
    assert "2026-10-04" in _subtitle(spec)
    assert spec["usermeta"]["voipwatch"]["source"] == SOURCE
    svg = render.to_svg(spec)
    assert svg.startswith("<svg")
    assert f"Source: {SOURCE}" in svg
    assert render.to_png(spec, scale=1).startswith(b"\x89PNG")


def test_timeline_draws_one_bar_per_day_and_status() -> None:
    spec = charts.timeline(_rows(), title="Signal", source=SOURCE)
    svg = render.to_svg(spec)
    bars = re.findall(r'aria-roledescription="bar"', svg)
    assert len(bars) == len(charts.timeline_values(_rows()))


def test_ongoing_event_runs_to_the_date_and_says_so() -> None:
    (v,) = charts.event_values([_event()], as_of=datetime(2026, 10, 9))
    assert v["status"] == "ongoing"
    assert v["end"] == "2026-10-09T00:00:00"
    assert v["scope"] == "AS44244"
    (n,) = charts.event_values(
        [_event(national=True, asns=[], end=datetime(2026, 10, 5), techniques=[])]
    )
    assert (n["status"], n["scope"], n["techniques"]) == ("ended", "national", "not isolated")


def test_synthetic_note_is_on_the_chart() -> None:
    spec = charts.timeline(_rows(), title="T", source=SOURCE, note="Synthetic data")
    assert "Synthetic data" in render.to_svg(spec)


def test_map_keeps_the_worst_state_per_country_and_fetches_nothing() -> None:
    topo = {
        "type": "Topology",
        "objects": {
            "countries": {
                "type": "GeometryCollection",
                "geometries": [{"type": "Polygon", "id": "364", "arcs": [[0]]}],
            }
        },
        "arcs": [[[0, 0], [10, 0], [0, 10], [-10, 0], [0, -10]]],
    }
    rows = [
        {"probe_cc": "IR", "iso_numeric": 364, "state": "ok"},
        {"probe_cc": "IR", "iso_numeric": 364, "state": "blocked", "blocked_apps": ["signal"]},
    ]
    spec = charts.blocks_map(rows, geo=topo, key="iso_numeric", title="Map", source=SOURCE)
    (looked_up,) = spec["transform"][0]["from"]["data"]["values"]
    assert looked_up["state"] == "blocked"
    assert render.to_svg(spec).startswith("<svg")


def test_map_reads_geojson_keyed_by_country_code() -> None:
    square = [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]]
    geo = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": cc,
                "properties": {"cc": cc},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[x + a, b] for a, b in square[0]]],
                },
            }
            for cc, x in (("IR", 0), ("AE", 20))
        ],
    }
    spec = charts.blocks_map(
        [{"probe_cc": "IR", "state": "blocked"}], geo=geo, title="Map", source=SOURCE
    )
    assert spec["data"]["format"] == {"type": "json", "property": "features"}
    svg = render.to_svg(spec)
    assert charts.STATE_COLOURS["blocked"] in svg
    assert charts.STATE_COLOURS["no data"] in svg
    url = charts.blocks_map([], geo="/static/world.geojson", title="Map", source=SOURCE)
    assert url["data"]["url"] == "/static/world.geojson"


def test_money_reads_as_words() -> None:
    assert charts.money(4_500_000) == "USD 4.5 million"
    assert charts.money(1_230_000_000, "EUR") == "EUR 1.23 billion"
    assert charts.money(950) == "USD 950"
