"""The dashboard in a real browser: Debian's Chromium driven by Playwright, on loopback.

Each test leaves screenshots in ``artifacts/e2e/`` for a person to look at.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import httpx
import pytest


def _drawn(page: Any, artifacts: Path, name: str) -> None:
    """Wait for every chart of the page to be drawn, then take a screenshot."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-spec]')]"
        ".every(e => e.getAttribute('data-rendered') === 'true')"
    )
    errors = page.eval_on_selector_all("[data-error]", "els => els.map(e => e.dataset.error)")
    assert errors == []
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
    # A Content-Security-Policy violation or a script error shows up as a console error.
    assert page.problems == [], page.problems


def _mark_counts(page: Any, selector: str) -> list[int]:
    labels = page.eval_on_selector_all(
        f"{selector} svg .mark-rect path[aria-label]",
        "els => els.map(e => e.getAttribute('aria-label'))",
    )
    return [int(m.group(1)) for label in labels if (m := re.search(r"count: ([\d,]+)", label))]


def test_map_country_event_measurement_and_back(
    page: Any, live_server: str, artifacts: Path
) -> None:
    page.goto(live_server + "/")
    assert page.get_by_test_id("demo-banner").is_visible()
    _drawn(page, artifacts, "1-map")
    assert page.locator("[data-testid=chart-map] svg path").count() > 100  # country shapes

    page.locator("[data-testid=country-link]", has_text="Iran").first.click()
    page.wait_for_url(re.compile(r"/country/IR$"))
    _drawn(page, artifacts, "2-country-IR")
    assert page.get_by_test_id("demo-banner").is_visible()
    context = page.get_by_test_id("legal-context")
    assert context.is_visible()
    assert "Telegram" in context.inner_text()

    page.get_by_test_id("event-link").first.click()
    page.wait_for_url(re.compile(r"/event/e1r4n0wh4tsapp$"))
    _drawn(page, artifacts, "3-event")
    assert "ongoing" in page.locator("dl.kv").first.inner_text()
    assert page.get_by_test_id("cost").is_visible()

    page.get_by_test_id("event-measurements").get_by_test_id("measurement-link").first.click()
    page.wait_for_url(re.compile(r"/measurement/"))
    page.screenshot(path=str(artifacts / "4-measurement.png"), full_page=True)
    reading = page.get_by_test_id("reading").inner_text()
    assert "WhatsApp" in reading
    assert "blocked" in reading
    assert page.get_by_test_id("evidence").first.is_visible()
    assert page.problems == []

    page.get_by_test_id("back-link").click()
    page.wait_for_url(re.compile(r"/event/e1r4n0wh4tsapp$"))
    page.go_back()
    page.wait_for_url(re.compile(r"/measurement/"))
    page.go_back()
    page.wait_for_url(re.compile(r"/event/"))
    page.get_by_test_id("country-crumb").click()
    page.wait_for_url(re.compile(r"/country/IR$"))


def test_chart_marks_match_the_api(page: Any, live_server: str, artifacts: Path) -> None:
    page.goto(live_server + "/country/RU?since=2026-10-15&until=2026-11-02")
    _drawn(page, artifacts, "5-country-RU-window")
    drawn = _mark_counts(page, "[data-testid=chart-tests]")
    api = httpx.get(
        live_server + "/api/v1/aggregation",
        params={
            "probe_cc": "RU",
            "since": "2026-10-15",
            "until": "2026-11-02",
            "axis_x": "measurement_start_day",
            "axis_y": "test_name",
        },
    ).json()["result"]
    assert drawn, "no bars drawn"
    assert sum(drawn) == sum(r["measurement_count"] for r in api)
    assert len(drawn) == sum(
        sum(1 for k in ("ok", "anomaly", "confirmed", "failure") if r[f"{k}_count"]) for r in api
    )


def test_csv_download_matches_the_api(page: Any, live_server: str, tmp_path: Path) -> None:
    page.goto(live_server + "/country/IR")
    link = page.get_by_test_id("csv-tests")
    with page.expect_download() as info:
        link.click()
    saved = tmp_path / "chart.csv"
    info.value.save_as(saved)
    href = link.get_attribute("href")
    assert href is not None
    api = httpx.get(live_server + href).text
    assert saved.read_text() == api
    rows = list(csv.DictReader(io.StringIO(api)))
    assert rows
    assert {"measurement_start_day", "test_name", "measurement_count"} <= set(rows[0])


def test_a_bar_leads_to_its_measurements(page: Any, live_server: str, artifacts: Path) -> None:
    page.goto(live_server + "/country/PK?service=telegram")
    _drawn(page, artifacts, "6-country-PK-telegram")
    bar = page.locator("[data-testid=chart-roles] svg .mark-rect path[aria-label*='anomaly']")
    bar.first.click()
    page.wait_for_url(re.compile(r"/measurements\?"))
    page.screenshot(path=str(artifacts / "7-measurements-behind-a-bar.png"), full_page=True)
    assert "probe_cc=PK" in page.url
    assert "vclass=anomaly" in page.url
    rows = page.get_by_test_id("measurement-list").locator("tbody tr")
    assert rows.count() > 0
    assert all("PK" in t for t in rows.all_inner_texts())
    # Each blocked verdict links to its evidence on the measurement's page.
    page.get_by_test_id("verdict-link").first.click()
    page.wait_for_url(re.compile(r"/measurement/.*#role-telegram-"))
    assert page.get_by_test_id("evidence").first.is_visible()


def test_app_and_case_pages(page: Any, live_server: str, artifacts: Path) -> None:
    page.goto(live_server + "/app/telegram")
    _drawn(page, artifacts, "8-app-telegram")
    case = httpx.get(live_server + "/api/v1/cases", params={"probe_cc": "IR"}).json()["results"][0]
    page.goto(live_server + f"/case/{case['case_id']}")
    page.screenshot(path=str(artifacts / "9-case.png"), full_page=True)
    assert page.get_by_test_id("case-status").is_visible()
    assert page.problems == []


@pytest.mark.parametrize("url", ["/nothing-here", "/country/ZZ", "/measurement/unknown"])
def test_error_pages_render(page: Any, live_server: str, url: str) -> None:
    response = page.goto(live_server + url)
    assert response is not None
    assert response.status in (200, 404)
    assert page.get_by_test_id("demo-banner").is_visible()


def test_api_docs_render_offline_under_the_csp(
    page: Any, live_server: str, artifacts: Path
) -> None:
    """Swagger UI from the package, started by our own script: every route is listed,
    nothing is fetched from another site, no inline script is needed."""
    spec = httpx.get(live_server + "/openapi.json").json()
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(live_server + "/api/docs")
    page.wait_for_selector(".opblock", timeout=20_000)
    page.screenshot(path=str(artifacts / "api-docs.png"), full_page=True)
    operations = sum(len(methods) for methods in spec["paths"].values())
    assert page.locator(".opblock").count() == operations
    assert all(u.startswith(live_server) for u in requested), requested
    assert page.problems == [], page.problems
