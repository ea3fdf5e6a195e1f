"""On the demo world: one figure said the same way by the API, the pages and the brief.

No artefact among the ongoing blocks; no country ``partial`` or ``blocked`` for an app
on a share that is not significant (checked with an exact binomial tail, apart from
the rule's own Wilson bound); every "now" count of the brief equal to the country
page's and the API's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from voipwatch.events.model import ARTEFACTS
from voipwatch.report.brief import build_brief
from voipwatch.store import open_store
from voipwatch.web.app import create_app


@pytest.fixture(scope="module")
def demo_db(demo_store: tuple[Path, dict[str, object]]) -> Path:
    return demo_store[0]


@pytest.fixture(scope="module")
def client(demo_db: Path) -> Iterator[TestClient]:
    with TestClient(
        create_app(demo_db, demo=True), base_url="http://127.0.0.1", raise_server_exceptions=False
    ) as c:
        yield c


def _tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


def test_no_country_is_coloured_on_noise(client: TestClient) -> None:
    rows = client.get("/api/v1/current").json()["rows"]
    assert rows
    coloured = [r for r in rows if r["status"] != "ok"]
    assert coloured, "the demo world has current blocks"
    for r in rows:
        assert r["status"] in ("ok", "partial", "blocked")
        assert r["blocked"] == (r["status"] == "blocked")
    for r in coloured:
        d = r["decided_by"]
        assert d["blocked_count"] >= 5
        assert d["judged_count"] >= 10
        assert _tail(d["blocked_count"], d["judged_count"], r["baseline"]) < 0.05, r
    # Stray anomalies stay ok, with their count: the 2-of-572 kind.
    few = [r for r in rows if r["status"] == "ok" and r["blocked_count"]]
    assert few
    assert all(r["decided_by"] is None for r in few)
    page = client.get("/").text
    assert "a few anomalies" in page


def test_ongoing_blocks_list_no_artefact(client: TestClient) -> None:
    events = client.get("/api/v1/events", params={"limit": 1000}).json()["results"]
    artefacts = [e for e in events if e["kind"] in ARTEFACTS and e["end"] is None]
    assert artefacts, "the demo world has ongoing target changes"
    page = client.get("/").text
    ongoing = page.split('data-testid="ongoing-blocks"', 1)[1].split("</div>", 1)[0]
    for e in artefacts:
        assert e["event_id"] not in ongoing
    apart = page.split('data-testid="artefacts"', 1)[1]
    for e in artefacts:
        assert e["event_id"] in apart
    assert "Not counted as blocking, and why" in page


def _page_counts(text: str) -> dict[tuple[str, str], tuple[str, str]]:
    """The country page's "Now" table: (app, plane) → (state word, "k / n")."""
    table = text.split('data-testid="country-now"', 1)[1].split("</table>", 1)[0]
    out = {}
    for m in re.finditer(
        r'<tr><td><a href="/app/([a-z0-9_]+)">[^<]*</a></td><td>([a-z]+)</td>\s*'
        r"<td>(.*?)</td>\s*<td>(\d+) / (\d+)</td>",
        table,
        re.S,
    ):
        word = re.sub(r"<[^>]+>", "", m.group(3)).strip().split()[-1]
        out[m.group(1), m.group(2)] = (word, f"{m.group(4)} / {m.group(5)}")
    return out


def test_the_brief_the_country_page_and_the_api_say_the_same_counts(
    client: TestClient, demo_db: Path
) -> None:
    words = {"blocked": "blocked", "partial": "partly", "ok": "reachable"}
    with open_store(demo_db, read_only=True) as store:
        found = store.con.execute("SELECT DISTINCT probe_cc FROM measurements ORDER BY 1")
        countries = [r[0] for r in found.fetchall()]
    assert len(countries) >= 3
    for cc in countries:
        api = client.get("/api/v1/current", params={"probe_cc": cc}).json()["rows"]
        page = _page_counts(client.get(f"/country/{cc}").text)
        with open_store(demo_db, read_only=True) as store:
            brief = build_brief(store, cc)
        assert len(api) == len(page) == len(brief.current) > 0
        for a, b in zip(api, brief.current, strict=True):
            for key in ("service", "plane", "status", "blocked_count", "judged_count"):
                assert a[key] == b[key], (cc, key)
            assert a["lower_bound"] == b["lower_bound"]
            assert page[a["service"], a["plane"]] == (
                words[a["status"]],
                f"{a['blocked_count']} / {a['judged_count']}",
            )
        csv_text = client.get("/api/v1/current", params={"probe_cc": cc, "format": "CSV"}).text
        assert csv_text.count("\n") == len(api) + 1
    # The brief's rendered table shows those counts too.
    from voipwatch.report.document import render_html

    with open_store(demo_db, read_only=True) as store:
        brief = build_brief(store, countries[0])
    text = render_html(brief)
    now = text.split('data-testid="brief-now"', 1)[1].split("</table>", 1)[0]
    for r in brief.current:
        assert f"{r['blocked_count']:,} / {r['judged_count']:,}" in now
        assert f"<td>{r['status']}</td>" in now


def test_the_brief_neither_counts_nor_prices_artefacts(demo_db: Path) -> None:
    with open_store(demo_db, read_only=True) as store:
        ccs = [r[0] for r in store.con.execute("SELECT DISTINCT probe_cc FROM events").fetchall()]
        for cc in ccs:
            brief = build_brief(store, cc)
            assert all(e["kind"] not in ARTEFACTS for e in brief.events)
            assert all(e["kind"] in ARTEFACTS and e["cost"] is None for e in brief.changes)
            assert all(e["why"] for e in brief.changes)


def _visible(page: str) -> str:
    """The words of a page: scripts (chart specs), styles and tags removed."""
    body = re.sub(r"<script.*?</script>|<style.*?</style>", "", page, flags=re.S)
    return re.sub(r"<[^>]+>", " ", body)


def test_a_possible_shutdown_page_shows_its_volume_in_words(client: TestClient) -> None:
    events = client.get("/api/v1/events", params={"limit": 1000}).json()["results"]
    shutdowns = [e for e in events if e["kind"] == "possible_shutdown"]
    assert shutdowns, "the demo world has shutdowns"
    for e in shutdowns:
        page = client.get(f"/event/{e['event_id']}")
        assert page.status_code == 200
        words = _visible(page.text)
        assert "*" not in words
        assert 'data-testid="chart-volume' in page.text
        asn = f"AS{e['asns'][0]}"
        title = re.search(r"<h1>(.*?)</h1>", page.text, re.S)
        assert title
        assert asn in title.group(1)
        assert {"IR": "Iran", "RU": "Russia"}.get(e["probe_cc"], e["probe_cc"]) in title.group(1)
        assert "0 % blocked" not in words
        volume = e["evidence"]["volume"]
        inside = [v for v in volume if e["start"] <= v["hour"] < (e["end"] or "9999")]
        outside = [v for v in volume if v["hour"] < e["start"]]
        assert inside
        assert outside
        # What the claim rests on: far fewer measurements than usual, and usual before.
        assert sum(v["measurements"] for v in inside) < 0.2 * sum(v["usual"] or 0 for v in inside)
        csv_text = client.get(f"/api/v1/events/{e['event_id']}", params={"format": "CSV"}).text
        assert csv_text.splitlines()[0] == "hour,measurements,usual"
        assert len(csv_text.splitlines()) == len(volume) + 1
    # One shutdown per network here: none split in two.
    nets = [(e["probe_cc"], tuple(e["asns"])) for e in shutdowns]
    assert len(nets) == len(set(nets))


def test_the_brief_draws_a_shutdown_s_volume(demo_db: Path) -> None:
    with open_store(demo_db, read_only=True) as store:
        cc = store.con.execute(
            "SELECT probe_cc FROM events WHERE kind = 'possible_shutdown' ORDER BY 1 LIMIT 1"
        ).fetchone()
        assert cc
        brief = build_brief(store, cc[0])
    shutdowns = [e for e in brief.changes if e["kind"] == "possible_shutdown"]
    assert shutdowns
    for e in shutdowns:
        assert "*" not in e["what"]
        assert f"volume:{e['event_id']}" in brief.charts
        assert "against the usual" in brief.charts[f"volume:{e['event_id']}"]


def test_throttling_is_listed_and_priced_apart_from_the_blocks(
    client: TestClient, demo_db: Path
) -> None:
    from voipwatch.report.document import render_html

    events = client.get("/api/v1/events", params={"limit": 1000}).json()["results"]
    throttles = [e for e in events if e["kind"] == "throttling"]
    assert throttles, "the demo world has throttles"
    for e in throttles:
        assert e["plane"] == "throughput"
        assert e["techniques"] == ["throttle.policed"]
        page = client.get(f"/country/{e['probe_cc']}").text
        section = page.split("<h2>Events</h2>", 1)[1]
        blocks, apart = section.split('data-testid="throttling"', 1)
        assert e["event_id"] not in _visible(blocks)
        assert e["event_id"] in apart.split("</table>", 1)[0]
        priced = page.split('data-testid="throttling-costs"', 1)[1].split("</table>", 1)[0]
        assert e["event_id"] in priced
        cost = client.get("/api/v1/cost", params={"event_id": e["event_id"]}).json()
        assert cost["inputs"]["throttled_share"]["assumption"]
        assert any(f.startswith("throttled, not blocked") for f in cost["flags"])
        event_page = client.get(f"/event/{e['event_id']}").text
        assert 'data-testid="throttled"' in event_page
        with open_store(demo_db, read_only=True) as store:
            brief = build_brief(store, e["probe_cc"])
        assert all(b["kind"] == "block" for b in brief.events)
        (row,) = [t for t in brief.throttling if t["event_id"] == e["event_id"]]
        assert row["cost"]["inputs"]["throttled_share"]["assumption"]
        costed = sum(1 for b in brief.events if b.get("cost"))
        assert (brief.total_cost or {}).get("count", 0) == costed
        text = render_html(brief)
        assert "Throttling: slowed, not blocked" in text
        assert row["app"] in text.split('data-testid="brief-throttling"', 1)[1]
