"""The JSON API: OONI's shapes, paging, CSV, validation, tokens, headers, injection."""

from __future__ import annotations

import csv
import io
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import LOOPBACK_URL, TOKEN
from voipwatch.store import aggregate, open_store, parse_query
from voipwatch.views import Unavailable, dossiers
from voipwatch.web.app import create_app
from voipwatch.web.db import Database, QueryTooCostly


def test_aggregation_is_oonis_shape_and_counts_what_the_store_counts(
    client: TestClient, web_store: Path
) -> None:
    r = client.get("/api/v1/aggregation", params={"axis_x": "probe_cc", "test_name": "signal"})
    assert r.status_code == 200
    body = r.json()
    assert body["v"] == 0
    assert body["dimension_count"] == 1
    assert set(body["db_stats"]) == {"row_count", "bytes", "total_row_count", "elapsed_seconds"}
    with open_store(web_store, read_only=True) as store:
        expected = aggregate(store.con, parse_query(axis_x="probe_cc", test_name="signal"))
    assert body["result"] == expected["result"]
    for row in body["result"]:
        parts = ("anomaly_count", "confirmed_count", "failure_count", "ok_count")
        assert sum(row[k] for k in parts) == row["measurement_count"]


def test_aggregation_without_axis_is_one_object(client: TestClient) -> None:
    result = client.get("/api/v1/aggregation").json()["result"]
    assert isinstance(result, dict)
    assert result["measurement_count"] > 1000


def test_aggregation_by_our_axes_counts_role_verdicts(client: TestClient) -> None:
    r = client.get(
        "/api/v1/aggregation",
        params={"axis_x": "service", "axis_y": "plane", "probe_cc": "IR", "technique": "ip"},
    )
    assert r.status_code == 200
    rows = r.json()["result"]
    assert rows
    assert all(row["blocked_count"] + row["partial_count"] > 0 for row in rows)
    assert {row["service"] for row in rows} >= {"whatsapp", "telegram"}


def test_aggregation_csv_matches_json(client: TestClient) -> None:
    params = {"axis_x": "measurement_start_day", "probe_cc": "RU", "since": "2026-10-20"}
    as_json = client.get("/api/v1/aggregation", params=params).json()["result"]
    r = client.get("/api/v1/aggregation", params={**params, "format": "CSV", "download": "true"})
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["measurement_start_day"] for row in rows] == [
        row["measurement_start_day"] for row in as_json
    ]
    assert [int(row["measurement_count"]) for row in rows] == [
        row["measurement_count"] for row in as_json
    ]


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"probe_cc": "IRN"}, 422, "probe_cc"),
        ({"axis_x": "colour"}, 422, "axis_x"),
        ({"axis_x": "probe_cc", "axis_y": "probe_cc"}, 400, "same"),
        ({"since": "2026-10-10", "until": "2026-10-01"}, 400, "after"),
        ({"since": "2026-13-45"}, 400, "not a date"),
        ({"category_code": "NEWS"}, 400, "categories"),
        (
            {
                "time_grain": "hour",
                "since": "2026-01-01",
                "until": "2026-06-01",
                "axis_x": "measurement_start_day",
            },
            400,
            "time_grain",
        ),
        ({"probe_asn": "ASX1"}, 422, "probe_asn"),
    ],
)
def test_bad_input_is_a_4xx_with_a_message(
    client: TestClient, params: dict[str, str], status: int, words: str
) -> None:
    r = client.get("/api/v1/aggregation", params=params)
    assert r.status_code == status
    assert words in r.json()["error"]


def test_measurements_pages_with_next_url_until_the_end(client: TestClient) -> None:
    params = {"probe_cc": "TR", "service": "signal", "verdict_status": "blocked", "limit": "4"}
    seen: list[str] = []
    url: str | None = "/api/v1/measurements"
    query: dict[str, str] | None = params
    for _ in range(50):
        assert url is not None
        body = client.get(url, params=query).json()
        seen += [r["measurement_uid"] for r in body["results"]]
        assert all(r["probe_cc"] == "TR" for r in body["results"])
        assert all("signal/" in " ".join(r["blocked_roles"]) for r in body["results"])
        url, query = body["metadata"]["next_url"], None
        if url is None:
            assert body["metadata"]["count"] == len(seen)
            break
    else:
        pytest.fail("paging did not end")
    assert len(seen) == len(set(seen)) > 8
    agg = client.get(
        "/api/v1/aggregation",
        params={"probe_cc": "TR", "service": "signal", "axis_x": "probe_cc"},
    ).json()["result"][0]
    assert len(seen) <= agg["measurement_count"]


def test_measurements_limits(client: TestClient) -> None:
    assert client.get("/api/v1/measurements", params={"limit": 1001}).status_code == 422
    assert client.get("/api/v1/measurements", params={"offset": 10**7}).status_code == 422
    r = client.get("/api/v1/measurements", params={"limit": 3, "format": "CSV"})
    assert r.status_code == 200
    assert len(r.text.strip().splitlines()) == 4


def test_ooni_tri_state_flags(client: TestClient) -> None:
    body = client.get("/api/v1/measurements", params={"confirmed": "true", "limit": 50}).json()
    assert body["results"]
    assert all(r["confirmed"] for r in body["results"])
    body = client.get("/api/v1/measurements", params={"anomaly": "false", "limit": 50}).json()
    assert all(r["status"] in ("ok", "failure") for r in body["results"])


def test_one_measurement_has_raw_verdicts_evidence_and_reading(client: TestClient) -> None:
    listed = client.get(
        "/api/v1/measurements",
        params={"probe_cc": "IR", "service": "whatsapp", "verdict_status": "blocked", "limit": 1},
    ).json()["results"][0]
    r = client.get(f"/api/v1/measurements/{listed['measurement_uid']}")
    assert r.status_code == 200
    body = r.json()
    assert body["raw_measurement"]["test_name"] == "whatsapp"
    blocked = [v for v in body["verdicts"] if v["status"] == "blocked"]
    assert blocked
    assert all(v["evidence"] for v in blocked)
    atom = blocked[0]["evidence"][0]
    assert {"operation", "failure", "target"} <= set(atom)
    assert any("WhatsApp" in line and "blocked" in line for line in body["reading"])
    assert body["observations"]


def test_unknown_and_malformed_measurement_ids(client: TestClient) -> None:
    assert client.get("/api/v1/measurements/20260101000000.000000_XX_x_0").status_code == 404
    assert client.get("/api/v1/measurements/bad%27id").status_code == 422


def test_current_blocks_and_events_and_cases(client: TestClient) -> None:
    rows = client.get("/api/v1/current", params={"service": "telegram"}).json()["rows"]
    # 14 of 21 blocked on one network: above its baseline, not surely a majority.
    assert {r["probe_cc"] for r in rows if r["status"] != "ok"} == {"RU", "IR", "PK", "CN"}
    ru = next(r for r in rows if r["probe_cc"] == "RU" and r["plane"] == "signalling")
    assert ru["status"] == "partial"
    assert ru["decided_by"]["blocked_count"] == 14
    assert ru["baseline"] < ru["lower_bound"] < 0.5
    events = client.get("/api/v1/events", params={"probe_cc": "IR"}).json()
    assert events["count"] == 1
    assert events["results"][0]["service"] == "whatsapp"
    assert client.get("/api/v1/events/e2ru5telegram").json()["probe_cc"] == "RU"
    assert client.get("/api/v1/events/nope").status_code == 404
    cases = client.get("/api/v1/cases", params={"probe_cc": "IR", "format": "CSV"})
    assert "WhatsApp blocked in Iran" in cases.text
    case = client.get("/api/v1/cases", params={"probe_cc": "IR"}).json()["results"][0]
    assert client.get(f"/api/v1/cases/{case['case_id']}").json()["title"] == case["title"]
    assert client.get("/api/v1/context/IR").json()["name"] == "Iran"
    first = client.get("/api/v1/cases", params={"limit": 1}).json()
    assert first["count"] == 2
    assert len(first["results"]) == 1
    second = client.get(first["next_url"]).json()
    assert second["next_url"] is None
    assert second["results"][0]["case_id"] != first["results"][0]["case_id"]
    assert client.get("/api/v1/cases", params={"limit": 5000}).status_code == 422
    assert client.get("/api/v1/context/FR").status_code == 404
    cost = client.get("/api/v1/cost", params={"event_id": "e1r4n0wh4tsapp"}).json()
    assert cost["low"] < cost["central"] < cost["high"]
    assert client.get("/api/v1/cost", params={"probe_cc": "IR"}).status_code == 400
    as_csv = client.get("/api/v1/cost", params={"event_id": "e1r4n0wh4tsapp", "format": "CSV"})
    row = next(csv.DictReader(io.StringIO(as_csv.text)))
    assert float(row["central"]) == pytest.approx(cost["central"], rel=1e-9)
    for kind, params in (("events", {"probe_cc": "IR"}), ("cost", {"event_id": "e1r4n0wh4tsapp"})):
        svg = client.get(f"/chart/{kind}.svg", params=params)
        assert svg.status_code == 200
        assert "Source: voipwatch" in svg.text


def test_a_missing_tier_is_a_503(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(*args: Any, **kwargs: Any) -> Any:
        raise Unavailable("events are not available in this voipwatch")

    monkeypatch.setattr(dossiers, "load_events", missing)
    cache = client.app.state.db.cache  # type: ignore[attr-defined]
    cache.clear()
    try:
        r = client.get("/api/v1/events")
        assert r.status_code == 503
        assert "not available" in r.json()["error"]
        # Pages still render, saying what is missing.
        page = client.get("/country/IR")
        assert page.status_code == 200
        assert "not available" in page.text
    finally:
        cache.clear()  # the pages drawn without events


def test_security_headers_and_no_cors(client: TestClient) -> None:
    for url in ("/", "/api/v1/aggregation", "/static/app.js", "/api/v1/nothing"):
        r = client.get(url, headers={"Origin": "https://elsewhere.example"})
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert "access-control-allow-origin" not in r.headers


def test_cors_only_for_configured_origins(web_store: Path) -> None:
    app = create_app(web_store, cors_origins=["https://partner.example"])
    with TestClient(app, base_url=LOOPBACK_URL) as c:
        ok = c.get("/api/v1/health", headers={"Origin": "https://partner.example"})
        other = c.get("/api/v1/health", headers={"Origin": "https://elsewhere.example"})
    assert ok.headers["access-control-allow-origin"] == "https://partner.example"
    assert "access-control-allow-origin" not in other.headers


def test_pages_have_no_inline_script(client: TestClient) -> None:
    for url in (
        "/",
        "/country/IR",
        "/app/telegram",
        "/event/e1r4n0wh4tsapp",
        "/measurements?probe_cc=IR",
        "/case/" + client.get("/api/v1/cases").json()["results"][0]["case_id"],
    ):
        r = client.get(url)
        assert r.status_code == 200, url
        for tag in re.findall(r"<script\b[^>]*>", r.text):
            assert 'src="/' in tag or 'type="application/json"' in tag, (url, tag)
        assert " on" not in " ".join(re.findall(r"<[a-z]+\s[^>]*\son[a-z]+=", r.text))


def test_annotations_need_the_operator_token(
    web_store: Path, client: TestClient, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    # A store of its own: this process holds the shared one read-only.
    web_store = Path(shutil.copy(web_store, tmp_path / "writable.duckdb"))
    body = {
        "note": "Seen by our partners",
        "status": "confirmed",
        "links": ["https://example.org/report"],
    }
    case_id = client.get("/api/v1/cases", params={"probe_cc": "IR"}).json()["results"][0]["case_id"]
    url = f"/api/v1/cases/{case_id}/annotations"
    with TestClient(create_app(web_store), base_url=LOOPBACK_URL) as ro:
        assert ro.post(url, json=body).status_code == 403
    app = create_app(web_store, token=TOKEN)
    with TestClient(app, base_url=LOOPBACK_URL) as c:
        assert c.post(url, json=body).status_code == 401
        wrong = c.post(url, json=body, headers={"Authorization": "Bearer " + TOKEN[:-1] + "x"})
        assert wrong.status_code == 401
        bad = c.post(
            url,
            json={"links": ["javascript:alert(1)"]},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert bad.status_code == 422
        r = c.post(url, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 201
        assert r.json()["status"] == "confirmed"
        assert c.get(f"/api/v1/cases/{case_id}").json()["annotations"][-1]["note"] == body["note"]
        # The page's form carries the token in its body, never in the URL.
        form = {"note": "from the form", "token": TOKEN}
        r = c.post(f"/case/{case_id}/annotate", data=form, follow_redirects=False)
        assert r.status_code == 303
        assert TOKEN not in r.headers["location"]
        r = c.post(f"/case/{case_id}/annotate", data={**form, "token": "nope"})
        assert r.status_code == 401
        # Everything else stays read-only: no other method is routed.
        assert c.delete(f"/api/v1/cases/{case_id}").status_code == 405
    assert TOKEN not in caplog.text


def test_query_cost_is_bounded(web_store: Path) -> None:
    db = Database(web_store)
    try:
        with pytest.raises(QueryTooCostly), db.cursor(timeout=0.2) as cur:
            cur.execute("SELECT count(*) FROM range(100000000000) a").fetchall()
    finally:
        db.close()


INJECTIONS = (
    "' OR '1'='1",
    "IR' OR 1=1 --",
    "1; DROP TABLE measurements; --",
    "whatsapp') UNION SELECT * FROM store_meta --",
    '" OR ""="',
    "%27%20OR%201=1",
)
AGG_FILTERS = (
    "probe_cc",
    "probe_asn",
    "test_name",
    "input",
    "domain",
    "since",
    "until",
    "service",
    "role",
    "plane",
    "technique",
    "axis_x",
    "axis_y",
    "time_grain",
    "category_code",
    "format",
)
LIST_FILTERS = (
    "probe_cc",
    "probe_asn",
    "test_name",
    "input",
    "domain",
    "since",
    "until",
    "service",
    "role",
    "plane",
    "technique",
    "report_id",
    "status",
    "verdict_status",
    "order",
    "offset",
    "limit",
    "anomaly",
)


@pytest.mark.parametrize("payload", INJECTIONS)
def test_sql_injection_through_every_filter(
    client: TestClient, web_store: Path, payload: str
) -> None:
    before = client.get("/api/v1/aggregation").json()["result"]["measurement_count"]
    for name in AGG_FILTERS:
        r = client.get("/api/v1/aggregation", params={name: payload})
        assert r.status_code in (200, 400, 422), (name, r.status_code)
        if r.status_code == 200:  # free text: matched literally, so nothing matches
            assert r.json()["result"]["measurement_count"] == 0, name
    for name in LIST_FILTERS:
        r = client.get("/api/v1/measurements", params={name: payload})
        assert r.status_code in (200, 400, 422), (name, r.status_code)
        if r.status_code == 200:
            assert r.json()["results"] == [], name
    for name in ("probe_cc", "service", "plane", "days"):
        assert client.get("/api/v1/current", params={name: payload}).status_code == 422
    for url in ("/api/v1/events", "/api/v1/cases"):
        assert client.get(url, params={"probe_cc": payload}).status_code == 422
    for path in ("/api/v1/measurements/", "/api/v1/context/", "/api/v1/events/", "/country/"):
        assert client.get(path + payload).status_code in (404, 422), path
    assert client.get("/chart/tests.svg", params={"probe_cc": payload}).status_code == 400
    after = client.get("/api/v1/aggregation").json()["result"]["measurement_count"]
    assert after == before


def test_openapi_is_published(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {
        "/api/v1/aggregation",
        "/api/v1/measurements",
        "/api/v1/measurements/{measurement_uid}",
        "/api/v1/events",
        "/api/v1/cases",
        "/api/v1/cost",
        "/api/v1/context/{cc}",
    } <= set(spec["paths"])
    assert client.get("/docs").status_code == 404  # the docs page would load a CDN


def test_chart_exports_carry_source_and_date(client: TestClient) -> None:
    svg = client.get("/chart/tests.svg", params={"probe_cc": "IR"})
    assert svg.status_code == 200
    assert svg.headers["content-type"].startswith("image/svg")
    assert "Source: voipwatch" in svg.text
    assert "data as of 2026-11-01" in svg.text
    png = client.get("/chart/map.png", params={"days": "7"})
    assert png.status_code == 200
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    data = client.get(
        "/chart/roles.csv", params={"probe_cc": "IR", "service": "whatsapp"}, follow_redirects=False
    )
    assert data.status_code == 307
    assert data.headers["location"].startswith("/api/v1/aggregation")
    assert client.get("/chart/roles.svg", params={"probe_cc": "IR"}).status_code == 400


def test_vega_bundle_is_served_and_cached(client: TestClient) -> None:
    r = client.get("/assets/vega.js")
    assert r.status_code == 200
    assert b"vegaEmbed" in r.content
    again = client.get("/assets/vega.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


def test_a_cold_answer_is_computed_once_for_concurrent_requests() -> None:
    import threading
    import time

    from voipwatch.web.db import AnswerCache

    cache = AnswerCache()
    calls: list[int] = []

    def slow() -> int:
        calls.append(1)
        time.sleep(0.2)
        return 42

    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get_or_compute("k", slow)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [42] * 8
    assert len(calls) == 1

    def failing() -> int:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        cache.get_or_compute("bad", failing)
    assert cache.get_or_compute("bad", lambda: 7) == 7


def test_warming_computes_what_the_country_pages_need(web_store: Path) -> None:
    from voipwatch.web import charts

    db = Database(web_store)
    try:
        assert charts.warm(db) > 12
        misses = db.cache.misses
        since, until = charts.window(db, None, None)
        charts.tests_chart(db, probe_cc="IR", since=since, until=until, note=None)
        charts.roles_chart(
            db, probe_cc="IR", service="whatsapp", since=since, until=until, note=None
        )
        assert db.cache.misses == misses
    finally:
        db.close()


def test_links_from_data_are_web_addresses_only() -> None:
    from voipwatch.web.render import web_url

    assert web_url("https://ooni.org/post/x") == "https://ooni.org/post/x"
    for bad in ("javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,x", None, ""):
        assert web_url(bad) == "#"


def test_the_cache_is_bounded_by_bytes_too() -> None:
    from dataclasses import dataclass

    from voipwatch.web.db import AnswerCache

    @dataclass
    class Body:
        weight: int

    cache = AnswerCache(size=100, max_bytes=1000)
    for i in range(10):
        cache.get_or_compute(i, lambda: Body(300))
    assert cache.get_or_compute(9, lambda: Body(0)).weight == 300  # the newest stay
    kept = [k for k in range(10) if cache.get_or_compute(k, lambda: Body(0)).weight == 300]
    assert len(kept) <= 4
