"""`voipwatch cost` on the command line: JSON shape and clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voipwatch.cli import app

runner = CliRunner()
BR = ["cost", "--country", "BR", "--app", "telegram", "--start", "2023-04-26", "--hours", "48"]


def test_json_has_bounds_currency_formula_and_sourced_inputs() -> None:
    r = runner.invoke(app, [*BR, "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["low"] <= d["central"] <= d["high"]
    assert d["currency"] == "USD"
    assert "daily GDP" in d["formula"]
    for i in d["inputs"].values():
        assert i["source"]
        assert ("year" in i) != bool(i.get("assumption") or i.get("derived")), i
    assert d["inputs"]["gdp_usd"]["year"] == 2023
    assert d["comparisons"][0]["publisher"] == "Top10VPN"


def test_table_output_and_network_shares() -> None:
    r = runner.invoke(app, [*BR, "--networks", "AS28573", "--share", "28573=0.3"])
    assert r.exit_code == 0, r.output
    assert "central" in r.stdout
    assert "market shares supplied" in r.stdout


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--country", "QQ"], "unknown country"),
        (["--app", "myspace"], "unknown app"),
        (["--hours", "-3"], "negative"),
        (["--start", "2999-01-01"], "future"),
        (["--start", "26/04/2023"], "not a date"),
        (["--networks", "abc"], "not an ASN"),
        (["--share", "1=7"], "ASN=SHARE"),
    ],
)
def test_bad_input_exits_2_with_one_line(change: list[str], message: str) -> None:
    args = list(BR)
    if change[0] in args:
        args[args.index(change[0]) + 1] = change[1]
    else:
        args += change
    r = runner.invoke(app, args)
    assert r.exit_code == 2
    assert message in r.stderr
    assert "Traceback" not in r.output
    assert r.stdout == ""


def test_a_damaged_refresh_file_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "overlay.json"
    bad.write_text("{not json")
    monkeypatch.setenv("VOIPWATCH_INDICATORS", str(bad))
    r = runner.invoke(app, BR)
    assert r.exit_code == 1
    assert "damaged refreshed indicators" in r.stderr
    assert "Traceback" not in r.output


def test_data_show_lists_figures_with_year_and_source() -> None:
    r = runner.invoke(app, ["data", "show", "BR", "--json"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    gdp = [x for x in rows if x["indicator"] == "gdp_usd" and x["year"] == 2023]
    assert gdp[0]["value"] > 2e12
    assert all(x["source"] and x["year"] for x in rows)
    assert runner.invoke(app, ["data", "show", "Atlantis"]).exit_code == 2
