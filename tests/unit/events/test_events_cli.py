"""``voipwatch events``: JSON per event, the table, usage import, and bad input."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voipwatch.cli import app
from voipwatch.store import open_store
from voipwatch.testing import Block, Network, World, insert

REQUIRED = {
    "kind", "probe_cc", "asns", "service", "roles", "plane", "techniques", "start", "end",
    "confidence", "measurements",
}  # fmt: skip
NETWORKS = [Network(cc, 100 + i, 12) for i, cc in enumerate(["IR", "RU", "DE", "BR", "IN", "EG"])]
ONSET = datetime(2026, 1, 18, 9)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "store.duckdb"
    world = World(
        NETWORKS,
        blocks=[Block("IR", (100,), "telegram", ("dc", "web"), ONSET, None, technique="tls.reset")],
        days=21,
    )
    with open_store(path) as store:
        insert(store, world.rows())
    return path


def _usage(path: Path) -> Path:
    """Ten countries of steady use; Iran's doubles from the day of the block."""
    lines = ["date,country,value"]
    for d in range(21):
        day = datetime(2026, 1, 5) + timedelta(days=d)
        for i, cc in enumerate(["IR", "RU", "DE", "BR", "IN", "EG", "FR", "IT", "JP", "US"]):
            value = 1000 + 100 * i + (d % 3)
            if cc == "IR" and day >= ONSET.replace(hour=0):
                value *= 2
            lines.append(f"{day:%Y-%m-%d},{cc},{value}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_json_has_one_object_per_event(db: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["events", "--db", str(db), "--json", "--usage", str(_usage(tmp_path / "tor.csv"))]
    )
    assert result.exit_code == 0, result.output
    objs = sorted(
        (json.loads(line) for line in result.stdout.splitlines()), key=lambda o: o["plane"]
    )
    assert [o["plane"] for o in objs] == ["signalling", "web"]
    e = objs[0]
    assert set(e) >= REQUIRED
    assert e["kind"] == "block"
    assert (e["probe_cc"], e["asns"], e["service"]) == ("IR", [100], "telegram")
    assert e["roles"] == ["telegram/dc"]
    assert e["techniques"] == ["tls.reset"]
    assert e["end"] is None
    assert e["start"].endswith("Z")
    assert datetime.fromisoformat(e["start"].replace("Z", "+00:00"))
    assert 0 < e["confidence"] <= 1
    assert e["measurements"] > 0
    assert [s["source"] for s in e["surges"]][:1] == ["tor.csv"]


def test_table_lists_events_and_stores_them(db: Path) -> None:
    result = CliRunner().invoke(app, ["events", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "AS100" in result.stdout
    assert "2 event(s)" in result.stdout
    from voipwatch.events.store import load_events

    with open_store(db, read_only=True) as store:
        assert [e.service for e in load_events(store)] == ["telegram", "telegram"]


def test_empty_store_is_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "empty.duckdb"
    open_store(path).close()
    result = CliRunner().invoke(app, ["events", "--db", str(path)])
    assert result.exit_code == 1
    assert "holds no measurements" in result.stderr
    assert "Traceback" not in result.output


def test_missing_store_is_a_clear_message(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["events", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 1
    assert "no store here" in result.stderr
    assert not (tmp_path / "none.duckdb").exists()


def test_malformed_usage_rows_are_named_quarantined_and_the_good_rows_kept(
    db: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "date,country,users\n"
        "2026-01-01,IR,12\n"
        "2026-01-02,IR,twelve\n"
        "2026-01-03,QQ,5\n"
        "2026-01-04,IR,-3\n"
        "2026-01-05,IR\n"
        "2026-01-06,DE,40\n"
    )
    result = CliRunner().invoke(app, ["events", "--db", str(db), "--usage", str(bad)])
    assert result.exit_code == 0, result.output
    assert f"{bad}:3: not a number: 'twelve'" in result.stderr
    assert f"{bad}:4: not a country code (ISO 3166 two letters): 'QQ'" in result.stderr
    assert f"{bad}:5: not a count of users (negative or infinite): '-3'" in result.stderr
    assert f"{bad}:6: 2 fields, the header has 3" in result.stderr
    assert "bad.csv: 2 rows of usage imported, 4 malformed left out (quarantined)" in (
        result.stderr
    )
    assert "Traceback" not in result.output
    with open_store(db, read_only=True) as store:
        kept = store.con.execute(
            "SELECT country, value FROM usage_series WHERE source = 'bad.csv' ORDER BY date"
        ).fetchall()
        quarantined = store.con.execute(
            "SELECT line, reason FROM quarantine WHERE file = ? ORDER BY line", [str(bad)]
        ).fetchall()
    assert kept == [("IR", 12.0), ("DE", 40.0)]
    assert [q[0] for q in quarantined] == [3, 4, 5, 6]
    assert quarantined[0][1] == "not a number: 'twelve'"


def test_a_usage_file_without_its_columns_is_refused(db: Path, tmp_path: Path) -> None:
    bad = tmp_path / "nohead.csv"
    bad.write_text("day,cc,users\n2026-01-01,IR,12\n")
    result = CliRunner().invoke(app, ["events", "--db", str(db), "--usage", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:1: header lacks date, country" in result.stderr
    assert "Traceback" not in result.output
