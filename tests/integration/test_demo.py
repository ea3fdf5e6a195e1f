"""``voipwatch demo --build-only``: the whole pipeline on a synthetic world, offline.

Serving is the dashboard's own business (tests/e2e); here the store the demo builds
is checked, and the PDF brief on a demo country is rendered and looked at.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from test_report import pdf_pages
from typer.testing import CliRunner

from voipwatch import demo as demo_mod
from voipwatch.cli import app
from voipwatch.report import gather
from voipwatch.report.gather import SYNTHETIC_KEY
from voipwatch.store import ingest, open_store


def _demo(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(app, ["demo", "--build-only", "--json", *args])
    assert result.exit_code == 0, result.output
    doc: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return doc


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    db = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    return db, _demo("--db", str(db))


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
        assert gather.synthetic_note(store.con) is None


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
