"""``voipwatch demo --build-only``: the whole pipeline on a synthetic world, offline.

Serving is the dashboard's own business (tests/e2e); here the store the demo builds
is checked, and the PDF brief on a demo country is rendered and looked at.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_report import pdf_pages
from typer.testing import CliRunner

from voipwatch import demo as demo_mod
from voipwatch.cli import app
from voipwatch.events.store import load_events
from voipwatch.report.charts.base import money
from voipwatch.store import ingest, open_store
from voipwatch.views.store_info import SYNTHETIC_KEY, synthetic_note
from voipwatch.web.app import create_app


def _demo(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(app, ["demo", "--build-only", "--json", *args])
    assert result.exit_code == 0, result.output
    doc: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return doc


@pytest.fixture(scope="module")
def demo_db(demo_store: tuple[Path, dict[str, object]]) -> tuple[Path, dict[str, object]]:
    return demo_store


def test_demo_builds_a_labelled_synthetic_store(demo_db: tuple[Path, dict[str, object]]) -> None:
    db, doc = demo_db
    assert doc["skipped"] == [], doc["skipped"]
    world = doc["world"]
    assert isinstance(world, dict)
    ingest = doc["ingest"]
    assert isinstance(ingest, dict)
    assert ingest["new"] == ingest["read"] == world["measurements"] > 1000
    assert ingest["quarantined"] == 0
    assert set(world["countries"]) == set(doc["countries"])  # type: ignore[arg-type]
    assert isinstance(doc["events"], int)
    assert doc["events"] > 0
    assert 0 < doc["costs"] < doc["events"]  # artefacts are not priced
    with open_store(db, read_only=True) as store:
        row = store.con.execute(
            "SELECT value FROM store_meta WHERE name = ?", [SYNTHETIC_KEY]
        ).fetchone()
        assert row
        assert "not real measurements" in row[0]
        saved = store.con.execute("SELECT count(*) FROM events").fetchone()
        assert saved
        assert saved[0] == doc["events"]
        priced = store.con.execute(
            "SELECT count(*) FROM events WHERE kind IN ('block', 'throttling')"
        ).fetchone()
        assert priced
        assert priced[0] == doc["costs"]


def test_demo_again_reuses_the_world(demo_db: tuple[Path, dict[str, object]]) -> None:
    db, first = demo_db
    again = _demo("--db", str(db))
    assert again["world"] == {"seed": demo_mod.SEED, "reused": True}
    assert again["ingest"] is None
    assert again["events"] == first["events"]


def test_pdf_brief_on_a_demo_country(
    demo_db: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    """The acceptance check: the brief renders, with its charts, cost and sources on it."""
    db, doc = demo_db
    by_country = doc["events_by_country"]
    assert isinstance(by_country, dict)
    cc = max(sorted(by_country), key=lambda c: by_country[c])
    out = tmp_path / f"{cc}.pdf"
    result = CliRunner().invoke(
        app, ["report", "--country", cc, "--format", "pdf", "--db", str(db), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    pages = pdf_pages(out, tmp_path)
    assert 3 <= len(pages) <= 12  # a few pages, not a data dump
    tool = shutil.which("pdftotext")
    assert tool, "pdftoppm without pdftotext: poppler-utils is incomplete"
    text = subprocess.run(
        [tool, "-layout", str(out), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "SYNTHETIC DATA" in text
    assert "Blocking events in" in text  # the events chart (drawn on the server)
    assert "verdicts per day, by part and plane" in text  # an app timeline chart
    assert "Source: voipwatch demo store (synthetic world)" in text  # each chart's source
    assert "What it costs" in text
    assert "USD" in text
    assert "Full shutdown" in text
    assert "World Bank" in text
    assert "Deloitte" in text
    assert "Sources" in text


def test_demo_on_a_fresh_machine_makes_its_own_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A world as small as the generator allows: this checks where the store goes.
    monkeypatch.setattr(demo_mod, "WEEKS", 3)
    monkeypatch.setattr(demo_mod, "COUNTRIES", 1)
    monkeypatch.setattr(demo_mod, "NETWORKS", 1)
    monkeypatch.setattr(demo_mod, "EVENTS", 1)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "never-created"))
    doc = _demo()
    assert (tmp_path / "never-created" / "voipwatch" / "voipwatch-demo.duckdb").is_file()
    assert doc["db"] == str(tmp_path / "never-created" / "voipwatch" / "voipwatch-demo.duckdb")


def _real_store(path: Path) -> None:
    """A store of the real OONI measurements bundled with the package."""
    import importlib.resources

    ref = importlib.resources.files("voipwatch.demo_data") / "measurements.jsonl.gz"
    with importlib.resources.as_file(ref) as src, open_store(path) as store:
        ingest(store, [src], workers=1)


def test_demo_never_adds_synthetic_data_to_a_store_of_real_measurements(tmp_path: Path) -> None:
    db = tmp_path / "mine.duckdb"
    _real_store(db)
    result = CliRunner().invoke(app, ["demo", "--build-only", "--db", str(db)])
    assert result.exit_code == 2
    assert "holds measurements that are not the demo's world" in result.output
    with open_store(db, read_only=True) as store:
        assert synthetic_note(store.con) is None


def test_an_older_demo_store_is_built_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in (("WEEKS", 3), ("COUNTRIES", 1), ("NETWORKS", 1), ("EVENTS", 1)):
        monkeypatch.setattr(demo_mod, name, value)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    old = demo_mod.default_demo_db()
    _real_store(old)  # what the demo of an earlier version left there
    doc = _demo()
    with open_store(old, read_only=True) as store:
        rows = store.con.execute("SELECT DISTINCT probe_cc FROM measurements").fetchall()
        ccs = {r[0] for r in rows}
    assert ccs == set(doc["countries"])  # type: ignore[arg-type]
    assert "IT" not in ccs


def test_evidence_bundle_of_the_iran_brief_verifies_and_names_an_altered_file(
    demo_db: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    import zipfile

    db, _ = demo_db
    bundle = tmp_path / "ir.zip"
    args = ["--country", "IR", "--db", str(db), "--out", str(tmp_path / "ir.html")]
    result = CliRunner().invoke(app, ["report", *args, "--bundle", str(bundle)])
    assert result.exit_code == 0, result.output
    assert "evidence bundle" in result.output
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("manifest.json"))
        method = json.loads(zf.read("method.json"))
        raws = [n for n in names if n.startswith("measurements/")]
        assert raws, "the Iran demo brief reports blocks: their measurements are in the bundle"
        for name in raws:
            for line in zf.read(name).splitlines():
                m = json.loads(line)
                assert m["probe_cc"] == "IR"
                assert m["test_name"]
        assert any(n.endswith(".png") for n in names)
        assert any(n.endswith(".svg") for n in names)
        citation = zf.read("CITATION.txt").decode()
    assert f"Bundle id: {manifest['bundle_id']}" in citation
    assert method["country"] == "IR"
    assert {f["name"] for f in manifest["files"]} == set(names) - {"manifest.json"}

    ok = CliRunner().invoke(app, ["verify-bundle", str(bundle)])
    assert ok.exit_code == 0, ok.output
    assert f"bundle {manifest['bundle_id']}: OK" in ok.output

    # One byte changed inside one file, the archive rewritten around it.
    altered = tmp_path / "altered.zip"
    target = raws[0]
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(altered, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == target:
                data = data[:10] + bytes([data[10] ^ 1]) + data[11:]
            dst.writestr(info, data)
    bad = CliRunner().invoke(app, ["verify-bundle", str(altered)])
    assert bad.exit_code == 1
    assert f"{target}: altered" in bad.output
    assert "Traceback" not in bad.output

    # One byte changed in the archive's own bytes, where a member's data lies.
    raw = bytearray(bundle.read_bytes())
    with zipfile.ZipFile(bundle) as zf:
        info = zf.getinfo(target)
    raw[info.header_offset + 30 + len(target.encode()) + 5] ^= 0xFF
    flipped = tmp_path / "flipped.zip"
    flipped.write_bytes(bytes(raw))
    bad = CliRunner().invoke(app, ["verify-bundle", str(flipped)])
    assert bad.exit_code == 1, bad.output
    assert target in bad.output

    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    bad = CliRunner().invoke(app, ["verify-bundle", str(junk)])
    assert bad.exit_code == 2
    assert "not a readable zip archive" in bad.output
    assert "Traceback" not in bad.output


def test_evidence_bundle_is_the_same_bytes_for_the_same_store_and_date(
    demo_db: tuple[Path, dict[str, object]],
) -> None:
    from datetime import UTC, datetime

    from voipwatch.report.brief import build_brief
    from voipwatch.report.bundle import bundle_files, verify, write_bundle
    from voipwatch.report.document import render_html

    db, _ = demo_db
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    archives = []
    with open_store(db, read_only=True) as store:
        for _ in range(2):
            brief = build_brief(store, "IR", now=now)
            files = bundle_files(store, brief, render_html(brief).encode())
            archives.append(write_bundle(brief, files))
    (first, ident), (second, _) = archives
    assert first == second
    assert verify(first).bundle_id == ident
    assert verify(first).ok


def _prices(db: Path) -> dict[str, dict[str, str]]:
    """Every demo event's cost as the CLI's JSON, the API, the brief and the page say it."""
    from fastapi.testclient import TestClient

    from voipwatch.cases.costing import case_cost, event_cost
    from voipwatch.cases.registry import list_cases
    from voipwatch.events.store import load_events
    from voipwatch.report.brief import build_brief
    from voipwatch.web.app import create_app

    def text(cost: dict[str, object]) -> str:
        cost = {k: v for k, v in cost.items() if k != "available"}
        return json.dumps(cost, sort_keys=True)

    out: dict[str, dict[str, str]] = {}
    with open_store(db, read_only=True) as store:
        events = load_events(store)
        for e in events:
            out[e.event_id] = {"cli": text(event_cost(e))}
        cases = {c.case_id: {"cli": text(case_cost(c))} for c in list_cases(store)}
        matched = [c.case_id for c in list_cases(store) if c.events]
    for case_id in matched:
        # The CLI's case dossier prices its matched events as everything else does.
        shown = CliRunner().invoke(app, ["cases", "show", case_id, "--db", str(db), "--json"])
        assert shown.exit_code == 0, shown.output
        for e in json.loads(shown.stdout)["event_details"]:
            out[e["event_id"]]["cases_show"] = text(e["cost"])
        cases[case_id]["cases_show"] = text(json.loads(shown.stdout)["cost"])
    with open_store(db, read_only=True) as store:
        for cc in sorted({e.probe_cc for e in events}):
            for row in build_brief(store, cc).events:
                if row.get("cost"):
                    out[row["event_id"]]["brief"] = text(row["cost"])
    with TestClient(create_app(db), base_url="http://127.0.0.1") as client:
        for eid, said in out.items():
            answer = client.get("/api/v1/cost", params={"event_id": eid})
            if "central" not in json.loads(said["cli"]):
                # An artefact is never priced: the API refuses it, and says why.
                assert answer.status_code == 400, answer.text
                assert "not a block" in answer.json()["error"]
                said["api"] = said["cli"]
            else:
                assert answer.status_code == 200, answer.text
                said["api"] = text(answer.json())
            page = client.get(f"/event/{eid}")
            assert page.status_code == 200
            said["page"] = page.text
            cite = page.text.split('data-testid="cite"', 1)[1].split("</section>", 1)[0]
            assert f"event {eid}:" in cite
            said["cite"] = cite
    return {**out, **cases}


def test_an_event_has_one_price_everywhere_and_the_clock_does_not_move_it(
    demo_db: tuple[Path, dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt

    from voipwatch.report import brief

    db, _ = demo_db
    today = _prices(db)
    assert today
    assert any("cases_show" in said for said in today.values())
    for eid, said in today.items():
        if "cases_show" in said:  # an event matched to a case, or a case
            assert said["cases_show"] == said["cli"], eid
        if "api" not in said:  # a documented case
            continue
        assert said["api"] == said["cli"], eid
        if "brief" in said:
            assert said["brief"] == said["cli"], eid
        cost = json.loads(said["cli"])
        if "central" in cost:
            # Three significant figures on the page, from the same figure.
            assert f"(central {money(cost['central'], '')})" in said["page"], eid
            assert f"<strong>{money(cost['low'], '')}</strong>" in said["page"], eid

    class MonthLater(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> MonthLater:  # type: ignore[override]
            return cls.fromtimestamp(dt.datetime.now(tz).timestamp() + 31 * 86400, tz)

    import voipwatch.cost as cost

    for module in (cost, brief):
        monkeypatch.setattr(module, "datetime", MonthLater)
    later = _prices(db)
    for eid in today:
        # Events in the CLI, API and brief; documented cases as the CLI prices them.
        for face in ("cli", "cases_show", "api", "brief", "cite"):
            assert later[eid].get(face) == today[eid].get(face), (eid, face)


def test_atom_feeds_announce_the_demo_blocks_and_the_pages_advertise_them(
    demo_db: tuple[Path, dict[str, object]],
) -> None:
    import feedparser
    from fastapi.testclient import TestClient

    from voipwatch.events.store import load_events
    from voipwatch.web.app import create_app

    db, _ = demo_db
    with open_store(db, read_only=True) as store:
        events = load_events(store)
    # Blocks and throttling are announced; artefacts are not.
    blocks = [e for e in events if e.kind in ("block", "throttling")]
    assert blocks
    assert any(e.kind == "throttling" for e in blocks)
    with TestClient(create_app(db), base_url="http://127.0.0.1") as client:
        answer = client.get("/feed.atom")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/atom+xml")
        feed = feedparser.parse(answer.content)
        assert not feed.bozo
        announced = {e.id.split(":")[3] for e in feed.entries}
        assert announced <= {e.event_id for e in blocks}
        assert len(feed.entries) == min(100, len(blocks) + sum(1 for e in blocks if e.end))
        throttled = {e.event_id for e in blocks if e.kind == "throttling"}
        titles = [x.title for x in feed.entries if x.id.split(":")[3] in throttled]
        assert titles
        assert all("throttled" in t and "blocked" not in t for t in titles), titles
        cc = blocks[0].probe_cc
        mine = feedparser.parse(client.get("/feed.atom", params={"cc": cc}).content)
        assert mine.entries
        assert all(cc in [t.term for t in e.tags] for e in mine.entries)
        page = client.get(f"/country/{cc}").text
        assert 'type="application/atom+xml"' in page
        assert f'href="/feed.atom?cc={cc}"' in page
        assert client.get("/feed.atom", params={"app": "nosuchapp"}).status_code == 404
        assert client.get("/feed.atom", params={"cc": "IRN"}).status_code in (400, 422)


def test_the_country_page_offers_the_evidence_bundle_and_it_verifies(
    demo_db: tuple[Path, dict[str, object]],
) -> None:
    from fastapi.testclient import TestClient

    from voipwatch.report.bundle import verify
    from voipwatch.web.app import create_app

    db, _ = demo_db
    with TestClient(create_app(db), base_url="http://127.0.0.1") as client:
        page = client.get("/country/IR").text
        assert 'href="/bundle/IR.zip"' in page
        answer = client.get("/bundle/IR.zip")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/zip"
        result = verify(answer.content)
        assert result.ok, result.problems
        assert result.bundle_id in answer.headers["content-disposition"]
        assert client.get("/bundle/IRN.zip").status_code in (400, 404, 422)


#: Countries of the usage file: enough for the detector's daily ratio test.
USAGE_COUNTRIES = ("ir", "ru", "br", "pk", "de", "fr", "it", "jp", "mx", "ng", "us", "in")


def _tor_metrics_csv(path: Path, cc: str, onset: date, *, factor: float) -> Path:
    """Tor Metrics' per-country shape, eight steady weeks around ``onset``; ``cc``'s
    users multiplied by ``factor`` from that day on."""
    lines = [
        "# Tor Metrics: estimated number of directly connecting clients",
        "# https://metrics.torproject.org/userstats-relay-country.csv",
        "date,country,users,lower,upper,frac",
    ]
    for d in range(-35, 21):
        day = onset + timedelta(days=d)
        lines.append(f"{day},,2000000,,,92")
        for i, c in enumerate(USAGE_COUNTRIES):
            users = (3000 + 700 * i) * (0.92 if day.weekday() >= 5 else 1.0) + (d % 5) * 11
            if c == cc.lower() and day >= onset:
                users *= factor
            lines.append(f"{day},{c},{users:.0f},,,92")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_usage_surge_at_a_demo_events_onset_raises_it_and_is_shown_everywhere(
    demo_db: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    src, _ = demo_db
    db = tmp_path / "demo-usage.duckdb"
    shutil.copyfile(src, db)
    with open_store(db, read_only=True) as store:
        before = {e.event_id: e for e in load_events(store)}
    # Iran's one closed app block of the demo world (Messenger, late September).
    (target,) = [e for e in before.values() if e.kind == "block" and e.probe_cc == "IR" and e.end]
    assert not target.surges
    usage = _tor_metrics_csv(tmp_path / "userstats.csv", "IR", target.start.date(), factor=3.1)
    result = CliRunner().invoke(app, ["events", "--db", str(db), "--json", "--usage", str(usage)])
    assert result.exit_code == 0, result.output
    assert "userstats.csv: " in result.stderr
    assert "Tor Metrics' per-country" in result.stderr
    after = {o["event_id"]: o for o in map(json.loads, result.stdout.splitlines())}
    raised = after[target.event_id]
    assert raised["confidence"] == round(1 - (1 - target.confidence) * 0.8, 3)
    assert raised["confidence"] > target.confidence
    assert {s["tool"] for s in raised["surges"]} == {"Tor"}
    assert min(s["date"] for s in raised["surges"]) == target.start.date().isoformat()
    # No other event moved: the surge is Iran's, and only this block coincides with it.
    moved = {i for i, o in after.items() if o["confidence"] != before[i].confidence}
    assert moved == {target.event_id}

    words = "Tor users in Iran rose 3.1× in the week the block began"
    client = TestClient(create_app(db), base_url="http://127.0.0.1")
    page = client.get(f"/event/{target.event_id}")
    assert page.status_code == 200
    assert 'data-testid="corroboration"' in page.text
    assert words in page.text
    country = client.get("/country/IR")
    assert words in country.text
    api = client.get(f"/api/v1/events/{target.event_id}").json()
    assert api["confidence"] == raised["confidence"]
    assert any(words in c for c in api["corroboration"])
    assert api["surges"][0]["ratio"] >= 3.0

    brief = tmp_path / "iran.html"
    result = CliRunner().invoke(
        app, ["report", "--country", "IR", "--format", "html", "--db", str(db), "--out", str(brief)]
    )
    assert result.exit_code == 0, result.output
    assert f"Corroborated:</strong> {words}" in brief.read_text()
