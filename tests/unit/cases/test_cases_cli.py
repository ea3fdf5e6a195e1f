"""``voipwatch cases``: import, list, show, annotate, export, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from voipwatch.cli import app

OONI = {
    "incidents": [
        {
            "id": "1",
            "title": "Brazil blocked Telegram",
            "start_time": "2023-04-26T00:00:00Z",
            "end_time": "2023-04-28T00:00:00Z",
            "CCs": ["BR"],
            "ASNs": [28573],
            "test_names": ["telegram"],
            "tags": ["telegram"],
        },
    ]
}


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_cases_commands(tmp_path: Path) -> None:
    db = str(tmp_path / "s.duckdb")
    src = tmp_path / "incidents.json"
    src.write_text(json.dumps(OONI))
    code, out, _ = run("cases", "import", str(src), "--db", db, "--json")
    assert code == 0, out
    assert json.loads(out)["new"] == 1
    code, out, _ = run("cases", "list", "--db", db, "--json")
    case = json.loads(out)
    assert (case["country"], case["apps"], case["sources"][0]["source"]) == (
        "BR",
        ["telegram"],
        "ooni",
    )
    cid = case["case_id"]
    code, out, err = run(
        "cases",
        "annotate",
        cid,
        "--db",
        db,
        "--status",
        "confirmed",
        "--note",
        "court order",
        "--link",
        "https://example.org/a",
    )
    assert code == 0, err
    code, out, _ = run("cases", "show", cid, "--db", db, "--json")
    shown = json.loads(out)
    assert shown["status"] == "confirmed"
    assert "cost" in shown
    assert shown["event_details"] == []
    assert shown["legal_context"]["country"] == "BR"
    code, out, _ = run("cases", "show", cid, "--db", db)
    assert code == 0
    assert "court order" in out
    code, out, _ = run("cases", "export", "--db", db, "--format", "csv")
    assert out.splitlines()[0].startswith("case_id,")
    assert len(out.splitlines()) == 2
    exported = tmp_path / "cases.jsonl"
    code, _, _ = run("cases", "export", "--db", db, "--out", str(exported))
    assert code == 0
    # The JSON export imports again into a fresh store as the same case.
    db2 = str(tmp_path / "t.duckdb")
    code, out, err = run("cases", "import", str(exported), "--db", db2, "--json")
    assert code == 0, err
    code, out, _ = run("cases", "list", "--db", db2, "--json")
    assert json.loads(out)["case_id"] == cid


def test_cases_bad_input(tmp_path: Path) -> None:
    db = str(tmp_path / "s.duckdb")
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "incidents": [
                    {**OONI["incidents"][0], "CCs": ["XQ"]},
                    {**OONI["incidents"][0], "id": "2", "start_time": "2099-01-01T00:00:00Z"},
                ]
            }
        )
    )
    code, out, err = run("cases", "import", str(bad), "--db", db)
    assert code == 1
    assert "unknown country 'XQ'" in err
    assert "is in the future" in err
    assert "nothing imported" in err
    assert "Traceback" not in err
    code, out, _ = run("cases", "list", "--db", db, "--json")
    assert (code, out) == (0, "")
    junk = tmp_path / "junk.csv"
    junk.write_text("a,b\n1,2\n")
    code, _, err = run("cases", "import", str(junk), "--db", db)
    assert code == 1
    assert "format not recognised" in err
    code, _, err = run("cases", "show", "nope", "--db", db)
    assert code == 2
    assert "no case 'nope'" in err
    code, _, err = run("cases", "list", "--db", db, "--app", "tinder")
    assert (code, "unknown app" in err) == (2, True)
    code, _, err = run("cases", "list", "--db", db, "--country", "Atlantis")
    assert (code, "unknown country" in err) == (2, True)


def test_cases_of_another_layout_are_refused(tmp_path: Path) -> None:
    """Case tables hold what people wrote: a store whose case layout is not this
    version's is refused with a message, not misread or rebuilt."""
    import duckdb

    db = tmp_path / "s.duckdb"
    src = tmp_path / "incidents.json"
    src.write_text(json.dumps(OONI))
    assert run("cases", "import", str(src), "--db", str(db))[0] == 0
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE store_meta SET value = '99' WHERE name = 'cases_schema'")
    for args in (("list",), ("import", str(src)), ("show", "x")):
        code, _, err = run("cases", *args, "--db", str(db))
        assert code != 0, args
        assert "layout version 99" in err, err
        assert "reads version 1" in err, err
        assert "Traceback" not in err
    with duckdb.connect(str(db)) as con:
        assert con.execute("SELECT count(*) FROM cases").fetchone() == (1,)
