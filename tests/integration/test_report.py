"""``voipwatch report``: the brief on a country, as HTML and as a PDF that renders."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voipwatch.cli import app
from voipwatch.store import ingest, open_store


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of the measurements bundled with the package (real OONI data)."""
    import importlib.resources

    path = tmp_path_factory.mktemp("report") / "store.duckdb"
    ref = importlib.resources.files("voipwatch.demo_data") / "measurements.jsonl.gz"
    with importlib.resources.as_file(ref) as src, open_store(path) as store:
        ingest(store, [src], workers=1)
    return path


def _report(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["report", *args])
    return result.exit_code, result.output


def test_html_brief_says_what_it_has_and_what_it_lacks(store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "it.html"
    code, output = _report("--country", "it", "--db", str(store_path), "--out", str(out))
    assert code == 0, output
    html = out.read_text()
    assert "Blocking of calls and messaging apps in Italy" in html
    for section in ("Summary", "What is blocked, and how", "What it costs", "Sources"):
        assert section in html
    assert "<svg" in html  # the evidence charts, drawn on the server
    assert "Source: OONI measurements judged by voipwatch" in html
    assert "No blocking event" in html
    assert "holds no legal or policy context" in html or "Legal context" in html
    assert "SYNTHETIC" not in html  # real data is not labelled synthetic
    assert "brief written to" in output


def test_brief_on_a_country_without_data_invents_nothing(store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "zz.html"
    code, output = _report("--country", "NO", "--db", str(store_path), "--out", str(out))
    assert code == 0, output
    html = out.read_text()
    assert "The store holds no judged measurements from NO." in html
    assert "No cost is estimated" in html
    assert "<svg" not in html


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--country", "ITA"], "not a two-letter country code"),
        (["--country", "IT", "--format", "docx"], "is not one of html, pdf"),
        (["--country", "IT", "--since", "2017-01-01", "--until", "2016-01-01"], "ends on"),
        (["--country", "IT", "--since", "2016-13-01"], "is not a day"),
        (["--country", "IT", "--apps", "whatsapp,nosuchapp"], "unknown app(s): nosuchapp"),
    ],
)
def test_bad_options_are_one_line_usage_errors(
    store_path: Path, args: list[str], message: str
) -> None:
    code, output = _report(*args, "--db", str(store_path))
    assert code == 2
    assert message in output
    assert "Traceback" not in output


def pdf_pages(pdf: Path, out_dir: Path) -> list[Path]:
    """The PDF's pages as PNG files (poppler's pdftoppm), for tests and for looking at."""
    tool = shutil.which("pdftoppm")
    if tool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pdftoppm is missing: scripts/install-system-deps installs poppler-utils")
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    subprocess.run([tool, "-r", "50", "-png", str(pdf), str(out_dir / "page")], check=True)
    return sorted(out_dir.glob("page-*.png"))


def test_pdf_brief_renders(store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "it.pdf"
    code, output = _report(
        "--country", "IT", "--format", "pdf", "--db", str(store_path), "--out", str(out)
    )
    assert code == 0, output
    assert out.read_bytes().startswith(b"%PDF")
    pages = pdf_pages(out, tmp_path)
    assert 2 <= len(pages) <= 8
    assert all(p.stat().st_size > 1000 for p in pages)


def test_a_real_ooni_measurement_links_to_ooni_explorer(store_path: Path) -> None:
    from fastapi.testclient import TestClient

    from voipwatch.web.app import create_app

    with open_store(store_path, read_only=True) as store:
        row = store.con.execute(
            "SELECT measurement_uid FROM measurements ORDER BY measurement_uid LIMIT 1"
        ).fetchone()
    assert row
    uid = row[0]
    with TestClient(create_app(store_path), base_url="http://127.0.0.1") as client:
        page = client.get(f"/measurement/{uid}")
        assert page.status_code == 200
        assert f'href="https://explorer.ooni.org/m/{uid}"' in page.text
    # A demo store's measurements are invented: no link to a page that does not exist.
    with TestClient(create_app(store_path, demo=True), base_url="http://127.0.0.1") as client:
        assert "explorer.ooni.org/m/" not in client.get(f"/measurement/{uid}").text


@pytest.mark.shared
def test_a_brief_on_a_past_period_shows_the_case_and_says_there_are_no_measurements(
    shared_dir: Path, store_path: Path, tmp_path: Path
) -> None:
    """Morocco's 2016 VoIP ban: documented, with its law, before anyone measured it."""
    from voipwatch.cases.registry import import_cases

    db = tmp_path / "ma.duckdb"
    shutil.copy(store_path, db)
    with open_store(db) as store:
        stop = shared_dir / "ground-truth" / "accessnow_stop_2016_2025.csv"
        import_cases(store, stop, "stop")
    out = tmp_path / "ma.html"
    code, output = _report(
        "--country", "MA", "--since", "2016-01-01", "--until", "2017-01-01",
        "--db", str(db), "--out", str(out),
    )  # fmt: skip
    assert code == 0, output
    html = out.read_text()
    assert "Morocco, from 2016-01-01 until 2017-01-01" in html
    assert "no judged measurements from MA from 2016-01-01 until 2017-01-01." in html
    assert "2016-02-16" in html  # the documented VoIP ban
    assert "voip only" in html
    assert "ANRT" in html  # the law the regulator cited
    assert "Morocco is a state party to the ICCPR" in html
    assert "voipwatch cases list" not in html  # no command names in a brief
    # A brief on later years does not show the 2016 case.
    code, output = _report(
        "--country", "MA", "--since", "2020-01-01", "--db", str(db), "--out", str(out)
    )
    assert code == 0, output
    assert "2016-02-16" not in out.read_text()
