"""Legal and policy context files: every one validates; unsourced statements do not."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from voipwatch.cases.legal import (
    COMMITMENT_IDS,
    all_contexts,
    international,
    load_context,
    validate,
    validate_file,
)
from voipwatch.errors import InputError

STARTER = ["MA", "AE", "SA", "QA", "OM", "EG", "ET", "IR", "CN", "RU", "BR", "PK", "GN", "TG", "UG"]
SRC = [{"title": "A report", "url": "https://example.org/report"}]


def test_every_shipped_file_validates_and_the_starter_set_is_there() -> None:
    folder = Path(str(resources.files("voipwatch.cases").joinpath("data", "legal")))
    files = sorted(folder.glob("[a-z][a-z].toml"))
    for f in files:
        validate_file(f)
    codes = [c.country for c in all_contexts()]
    assert set(STARTER) <= set(codes)
    print({c.country: c.statements() for c in all_contexts()})


def test_every_statement_has_a_source_with_title_and_url() -> None:
    for ctx in all_contexts():
        d = ctx.to_dict()
        for key, value in d.items():
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, dict):
                    assert item["sources"], (ctx.country, key)
                    for s in item["sources"]:
                        assert s["title"]
                        assert s["url"].startswith(("http://", "https://"))


def test_international_commitments_are_attached_to_every_country() -> None:
    ids = {c.id for c in international()}
    assert set(COMMITMENT_IDS) <= ids
    br = load_context("br")
    assert br is not None
    assert {c.id for c in br.commitments if c.scope == "all"} == ids
    assert load_context("ZZ") is None
    assert load_context("not a code") is None


def base(**extra: Any) -> dict[str, Any]:
    return {"country": "XX", "name": "Nowhere", "reviewed": "2026-01-01", **extra}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"regulator": {"value": "The Agency"}}, "source"),
        ({"regulator": {"value": "The Agency", "sources": []}}, "source"),
        (
            {"laws_cited": [{"value": "Law 1", "sources": [{"title": "T", "url": "not a url"}]}]},
            "source",
        ),
        ({"laws_cited": [{"value": "Law 1", "sources": [{"url": "https://x.org"}]}]}, "source"),
        ({"regulator": {"value": "", "sources": SRC}}, "length"),
        ({"incumbent": {"operator": "Telco", "value": "x", "state_owned": True}}, "source"),
        ({"guess": {"value": "probably", "sources": SRC}}, "guess"),
    ],
)
def test_a_statement_without_a_proper_source_fails(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        validate(base(**extra), source="xx.toml")


def test_a_sourced_statement_passes_and_unknowns_stay_empty() -> None:
    ctx = validate(base(regulator={"value": "The Agency", "sources": SRC}), source="xx.toml")
    assert ctx.regulator is not None
    assert ctx.net_neutrality is None
    assert ctx.incumbent is None


def test_file_name_must_match_country(tmp_path: Path) -> None:
    f = tmp_path / "yy.toml"
    f.write_text('country = "XX"\nname = "Nowhere"\nreviewed = "2026-01-01"\n')
    with pytest.raises(InputError, match="named yy"):
        validate_file(f)
    f.write_text("country = [")
    with pytest.raises(InputError, match="not TOML"):
        validate_file(f)
    assert tomllib.loads('a = "b"')  # the parser the files use


def test_context_command() -> None:
    import json

    from typer.testing import CliRunner

    from voipwatch.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["context", "ma"])
    assert r.exit_code == 0, r.output
    assert "ANRT" in r.stdout
    assert "source:" in r.stdout
    d = json.loads(runner.invoke(app, ["context", "BR", "--json"]).stdout)
    assert d["net_neutrality"]["sources"]
    listing = runner.invoke(app, ["context", "--json"])
    assert len(listing.stdout.splitlines()) >= 15
    missing = runner.invoke(app, ["context", "ZZ"])
    assert missing.exit_code == 1
    assert "no legal context" in missing.stderr
    bad = runner.invoke(app, ["context", "Morocco"])
    assert bad.exit_code == 2
    assert "Traceback" not in bad.output
