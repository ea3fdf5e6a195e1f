"""Legal and policy context files: every one validates; unsourced or undated statements do
not; UN texts are cited to the UN only; the countries are those of the documented cases."""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from voipwatch.cases.importers import read_file
from voipwatch.cases.legal import (
    COMMITMENT_IDS,
    RANKS,
    UN_DOMAINS,
    all_contexts,
    international,
    load_context,
    on_un_domain,
    validate,
    validate_file,
)
from voipwatch.errors import InputError

STARTER = ["MA", "AE", "SA", "QA", "OM", "EG", "ET", "IR", "CN", "RU", "BR", "PK", "GN", "TG", "UG"]
SRC = [{"title": "A report", "url": "https://example.org/report", "rank": "ngo"}]
UNTC = "https://treaties.un.org/Pages/ViewDetails.aspx?src=TREATY&mtdsg_no={}&chapter=4"
CASE_FILES = (
    "ooni_incidents.json",
    "accessnow_stop_messaging_voip_subset.csv",
    "cenalert_service_blocking_events_All.csv",
)


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
                    assert item["as_of"], (ctx.country, key)
                    for s in item["sources"]:
                        assert s["title"]
                        assert s["url"].startswith(("http://", "https://"))
                        assert s["rank"] in ("official", "intergovernmental", "ngo", "press")


def test_at_least_30_countries_each_with_regulator_incumbent_and_treaty_status() -> None:
    contexts = all_contexts()
    assert len(contexts) >= 30
    for ctx in contexts:
        for treaty_id in ("iccpr", "icescr"):
            treaty = ctx.treaty(treaty_id)
            assert treaty is not None, (ctx.country, treaty_id)
            assert any("treaties.un.org" in s.url for s in treaty.sources)
    incomplete = {c.country for c in contexts if c.regulator is None or c.incumbent is None}
    assert not incomplete, sorted(incomplete)
    iran = load_context("IR")
    assert iran is not None
    assert iran.regulator
    assert iran.incumbent
    assert iran.voip_licensing
    assert iran.multistakeholder
    assert iran.net_neutrality
    assert len(iran.laws_cited) >= 3
    iccpr = iran.treaty("iccpr")
    assert iccpr is not None
    assert iccpr.status == "party"


def test_the_readme_states_the_counts_the_files_hold() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    found = re.search(r"(\d+) countries and (\d+) dated statements", " ".join(readme.split()))
    assert found is not None
    contexts = all_contexts()
    own = sum(
        1
        for ctx in contexts
        for value in ctx.to_dict().values()
        for item in (value if isinstance(value, list) else [value])
        if isinstance(item, dict) and "sources" in item and item.get("scope") != "all"
    )
    assert (int(found[1]), int(found[2])) == (len(contexts), own)
    text = " ".join(readme.split())
    ranks = re.search(
        r"strongest source, (\d+) official \((\d+) of them the treaty statuses.*?(\d+) "
        r"intergovernmental, (\d+) NGO and (\d+) press",
        text,
    )
    assert ranks is not None
    strongest: Counter[str] = Counter()
    for ctx in contexts:
        for value in ctx.to_dict().values():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict) and "sources" in item and item.get("scope") != "all":
                    strongest[min((s["rank"] for s in item["sources"]), key=RANKS.index)] += 1
    treaties = sum(len(c.treaties) for c in contexts)
    assert tuple(int(n) for n in ranks.groups()) == (
        strongest["official"],
        treaties,
        strongest["intergovernmental"],
        strongest["ngo"],
        strongest["press"],
    )
    fields = re.search(
        r"incumbent \((\d+) with the state's share\).*?(\d+) cite the laws.*?(\d+) describe VoIP "
        r"licensing, (\d+) a multistakeholder process and (\d+) net neutrality",
        text,
    )
    assert fields is not None
    assert tuple(int(n) for n in fields.groups()) == (
        sum(c.incumbent is not None and c.incumbent.state_share is not None for c in contexts),
        sum(bool(c.laws_cited) for c in contexts),
        sum(c.voip_licensing is not None for c in contexts),
        sum(c.multistakeholder is not None for c in contexts),
        sum(c.net_neutrality is not None for c in contexts),
    )


def test_every_country_with_five_messaging_cases_since_2015_has_a_file(shared_dir: Path) -> None:
    counts: Counter[str] = Counter()
    for name in CASE_FILES:
        batch = read_file(shared_dir / "ground-truth" / name, today=date(2026, 12, 5))
        for r in batch.records:
            app_block = r.kind in ("service_block", "voip_only", "throttling")
            if r.start.year >= 2015 and app_block and (r.apps or r.other_services):
                counts[r.country] += 1
    busiest = {cc for cc, n in counts.items() if n >= 5}
    assert len(busiest) >= 20
    on_file = {c.country for c in all_contexts()}
    assert busiest <= on_file, sorted(busiest - on_file)


def test_international_texts_are_cited_to_the_un_only() -> None:
    by_id = {c.id: c for c in international()}
    assert all(on_un_domain(s.url) for c in by_id.values() for s in c.sources)
    iccpr = {s.url.split("/")[2] for s in by_id["iccpr-19"].sources}
    assert iccpr <= {"www.ohchr.org", "treaties.un.org", "www.un.org"}
    assert any("A/HRC/RES/32/13" in s.url for s in by_id["hrc-32-13"].sources)
    assert all(s.rank == "official" for c in by_id.values() for s in c.sources)
    for ctx in all_contexts():
        for c in ctx.commitments:
            assert all(on_un_domain(s.url) for s in c.sources), (ctx.country, c.id)


def test_un_domains_are_matched_by_host_not_by_text() -> None:
    assert on_un_domain("https://www.ohchr.org/en/x")
    assert on_un_domain("https://undocs.org/A/HRC/RES/32/13")
    assert not on_un_domain("https://un.org.example.com/x")
    assert not on_un_domain("https://right-docs.org/doc/a-hrc-res-32-13?u=un.org")
    assert "treaties.un.org" in UN_DOMAINS


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
        ({"guess": {"value": "probably", "sources": SRC, "as_of": "2020"}}, "guess"),
        ({"regulator": {"value": "The Agency", "sources": SRC}}, "as_of"),
        (
            {
                "regulator": {
                    "value": "A",
                    "as_of": "2020",
                    "sources": [{"title": "T", "url": "https://x.org"}],
                }
            },
            "rank",
        ),
        (
            {
                "regulator": {
                    "value": "A",
                    "as_of": "2020",
                    "sources": [{"title": "T", "url": "https://x.org", "rank": "blog"}],
                }
            },
            "rank",
        ),
        ({"regulator": {"value": "A", "as_of": "last year", "sources": SRC}}, "as_of"),
        (
            {
                "treaties": [
                    {
                        "id": "iccpr",
                        "status": "party",
                        "value": "Party",
                        "as_of": "2022",
                        "sources": SRC,
                    }
                ]
            },
            "UN",
        ),
        (
            {
                "treaties": [
                    {
                        "id": "iccpr",
                        "status": "party",
                        "value": "Party",
                        "as_of": "2022",
                        "sources": [
                            {"title": "UNTC", "url": UNTC.format("IV-3"), "rank": "official"}
                        ],
                    }
                ]
            },
            "IV-4",
        ),
        (
            {
                "commitments": [
                    {
                        "id": "hrc-32-13",
                        "value": "HRC 32/13",
                        "as_of": "2016",
                        "sources": [
                            {
                                "title": "copy",
                                "url": "https://right-docs.org/doc/a-hrc-res-32-13",
                                "rank": "ngo",
                            }
                        ],
                    }
                ]
            },
            "UN",
        ),
        (
            {
                "commitments": [
                    {
                        "id": "hrc-32-13",
                        "value": "HRC 32/13",
                        "as_of": "2016",
                        "sources": [
                            {
                                "title": "another",
                                "url": "https://undocs.org/A/HRC/RES/20/8",
                                "rank": "official",
                            }
                        ],
                    }
                ]
            },
            "A/HRC/RES/32/13",
        ),
        (
            {
                "incumbent": {
                    "operator": "T",
                    "value": "x",
                    "as_of": "2020",
                    "sources": SRC,
                    "state_share": 120,
                }
            },
            "state_share",
        ),
    ],
)
def test_a_statement_without_a_proper_source_fails(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        validate(base(**extra), source="xx.toml")


def test_a_sourced_statement_passes_and_unknowns_stay_empty() -> None:
    ctx = validate(
        base(
            regulator={"value": "The Agency", "sources": SRC, "as_of": "2024-05"},
            treaties=[
                {
                    "id": "iccpr",
                    "status": "party",
                    "value": "Party",
                    "as_of": "2022-05-29",
                    "sources": [{"title": "UNTC", "url": UNTC.format("IV-4"), "rank": "official"}],
                }
            ],
            incumbent={
                "operator": "Telco",
                "value": "The state holds 60%.",
                "as_of": "2009",
                "sources": SRC,
                "state_share": 60,
            },
        ),
        source="xx.toml",
    )
    assert ctx.regulator is not None
    assert ctx.net_neutrality is None
    assert ctx.multistakeholder is None
    assert ctx.incumbent is not None
    assert ctx.incumbent.state_share == 60
    assert ctx.treaty("iccpr") is not None
    assert ctx.treaty("icescr") is None
    twice = base(treaties=[ctx.to_dict()["treaties"][0]] * 2)
    with pytest.raises(InputError, match="twice"):
        validate(twice, source="xx.toml")


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
    iran = runner.invoke(app, ["context", "IR"])
    assert iran.exit_code == 0, iran.output
    assert "UN treaties (ratification status)" in iran.stdout
    assert "State party to the ICCPR" in iran.stdout
    assert "As of 2022-05-29." in iran.stdout
    assert "note: The UN Treaty Collection page was not readable" in iran.stdout
    assert "source: [official] UN Treaty Collection" in iran.stdout
    assert "Multistakeholder Internet governance" in iran.stdout
    sa = runner.invoke(app, ["context", "SA"]).stdout
    assert "State share: 64%." in sa
    assert "Has neither signed nor ratified the ICCPR" in sa
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
