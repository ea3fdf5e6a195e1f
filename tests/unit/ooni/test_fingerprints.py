"""OONI's blocking fingerprints: the shipped table, matching, and a damaged table."""

from __future__ import annotations

import base64
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from voipwatch.errors import FingerprintTableError
from voipwatch.ooni import fingerprints as fps
from voipwatch.ooni.fingerprints import Fingerprint

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "src" / "voipwatch" / "ooni" / "data" / "fingerprints.json"
UPSTREAM = Path("ooni-samples") / "ooni__blocking-fingerprints"


@pytest.mark.shared
def test_shipped_table_is_derived_from_oonis_files_by_the_script(
    shared_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "fingerprints.json"
    res = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "derive_fingerprints.py"),
            str(shared_dir / UPSTREAM),
            str(out),
            "--commit",
            "171641e",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert out.read_bytes() == SHIPPED.read_bytes()


@pytest.mark.shared
def test_table_holds_every_upstream_row(shared_dir: Path) -> None:
    import csv

    table = fps.load_file(SHIPPED)
    for kind in ("dns", "http"):
        with (shared_dir / UPSTREAM / f"fingerprints_{kind}.csv").open(newline="") as fh:
            names = {r["name"] for r in csv.DictReader(fh)}
        if kind == "dns":
            got = {fp.name for group in table.dns.values() for fp in group}
            got |= {fp.name for fp in table.dns_other}
        else:
            got = {fp.name for fp in table.http}
        assert got == names, kind


def test_table_names_its_source_and_licence() -> None:
    doc = json.loads(SHIPPED.read_text())
    assert doc["source"].startswith("ooni/blocking-fingerprints")
    assert "ooni/blocking-fingerprints" in doc["licence"]
    assert doc["derived_by"] == "scripts/derive_fingerprints.py"


def _fp(**kw: object) -> Fingerprint:
    base: dict[str, object] = {
        "name": "t.x",
        "scope": "nat",
        "location": "body",
        "pattern_type": "contains",
        "pattern": "blocked by order",
        "confidence_no_fp": 5,
        "countries": ("IR",),
    }
    base.update(kw)
    return Fingerprint(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ptype", "pattern", "value", "hit"),
    [
        ("full", "10.10.34.35", "10.10.34.35", True),
        ("full", "10.10.34.35", "10.10.34.350", False),
        ("prefix", "http://block.", "http://block.example/x", True),
        ("prefix", "http://block.", "https://block.example/x", False),
        ("contains", "blocked by order", "<p>This site is blocked by order</p>", True),
        ("contains", "blocked by order", "<p>welcome</p>", False),
        ("regexp", "URL .* is filtered", "URL http://a is filtered", True),
        ("regexp", "URL .* is filtered", "URL is fine", False),
    ],
)
def test_each_pattern_type_matches_as_ooni_defines_it(
    ptype: str, pattern: str, value: str, hit: bool
) -> None:
    assert _fp(pattern_type=ptype, pattern=pattern).matches(value) is hit


def test_proof_needs_a_censors_scope_and_the_expected_country() -> None:
    assert _fp(scope="nat").proves("ir")
    assert not _fp(scope="nat").proves("IT")
    assert _fp(scope="prod", countries=()).proves("IT")
    assert not _fp(scope="vbw", countries=()).proves("IT")
    assert not _fp(scope="fp", countries=()).proves("IT")


def test_shipped_table_matches_dns_answers_by_address_and_name() -> None:
    table = fps.load()
    some = next(fp for group in table.dns.values() for fp in group if fp.names_censor)
    assert fps.match_dns(table, [some.pattern.upper()], "ZZ") is not None
    assert fps.match_dns(table, ["192.0.2.1", "::"], "ZZ") is None
    name = next(
        fp
        for group in table.dns.values()
        for fp in group
        if not fp.pattern.replace(".", "").isdigit() and ":" not in fp.pattern
    )
    assert fps.match_dns(table, [name.pattern + "."], "ZZ") is not None


def test_shipped_table_matches_headers_and_base64_bodies() -> None:
    table = fps.load()
    loc = next(fp for fp in table.http if fp.location == "header.location" and fp.names_censor)
    value = loc.pattern if loc.pattern_type in ("full", "prefix", "contains") else ""
    assert value, "the first header.location fingerprint is a literal"
    cc = loc.countries[0] if loc.countries else "ZZ"
    assert fps.match_http(table, "", {"location": value}, cc) == loc
    body = next(fp for fp in table.http if fp.location == "body" and fp.pattern_type == "contains")
    encoded = {"format": "base64", "data": base64.b64encode(body.pattern.encode()).decode()}
    text = fps.response_text(encoded)
    assert body.pattern in text
    assert fps.match_http(table, text, {}, "ZZ") is not None
    assert fps.header_map([["Location", "x"], ["bad"]]) == {"location": "x"}


def test_a_censors_match_is_named_before_a_false_positive() -> None:
    table = fps.build_table(
        "test",
        (),
        (
            _fp(name="b.fp", scope="fp", pattern="order", countries=()),
            _fp(name="a.vague", scope="vbw", pattern="blocked", countries=()),
            _fp(name="c.censor", scope="isp", pattern="blocked by"),
            _fp(name="d.regexp", scope="isp", pattern_type="regexp", pattern="by .rder"),
            _fp(name="e.prefix", scope="fp", pattern_type="prefix", pattern="blocked by"),
        ),
    )
    body = "blocked by order"
    assert fps.match_http(table, body, {}, "IR").name == "c.censor"  # type: ignore[union-attr]
    assert fps.match_http(table, body, {}, "IT").name == "b.fp"  # type: ignore[union-attr]
    only_fp = fps.match_http(table, body, {}, "IT", scopes=("fp",))
    assert only_fp is not None
    assert only_fp.name == "b.fp"
    found = {fp.name for fp in table.by_location["body"].match(body)}
    assert found == {"a.vague", "b.fp", "c.censor", "d.regexp", "e.prefix"}


def _damaged(tmp_path: Path) -> dict[str, Path]:
    good = json.loads(SHIPPED.read_text())
    cases: dict[str, str] = {
        "truncated": SHIPPED.read_text()[:5000],
        "not json": "fingerprints, version 2\n",
        "wrong columns": json.dumps({**good, "columns": ["name", "pattern"]}),
        "bad regexp": json.dumps(
            {**good, "http": [["x", "nat", "body", "regexp", "(unclosed", 5, []]]}
        ),
        "unknown pattern type": json.dumps(
            {**good, "dns": [["x", "nat", "dns", "glob", "10.*", 5, []]]}
        ),
        "no http rows": json.dumps({**good, "http": []}),
        "confidence not a number": json.dumps(
            {**good, "dns": [["x", "nat", "dns", "full", "10.0.0.1", "high", []]]}
        ),
    }
    out = {}
    for name, text in cases.items():
        p = tmp_path / f"{name.replace(' ', '_')}.json"
        p.write_text(text)
        out[name] = p
    out["missing file"] = tmp_path / "absent.json"
    return out


def test_a_damaged_table_is_one_clear_error(tmp_path: Path) -> None:
    for why, path in _damaged(tmp_path).items():
        with pytest.raises(FingerprintTableError) as info:
            fps.load_file(path)
        message = str(info.value)
        assert message.startswith(str(path)), why
        assert "fingerprint table" in message, why
        assert "\n" not in message, why
        again = pickle.loads(pickle.dumps(info.value))  # crosses worker processes intact
        assert str(again) == message


def test_damaged_table_through_the_command_line_is_one_line_and_no_traceback(
    tmp_path: Path,
) -> None:
    fixture = ROOT / "tests" / "fixtures" / "measurements" / "whatsapp-ok.json"
    for why, path in _damaged(tmp_path).items():
        env = {**os.environ, fps.TABLE_ENV: str(path), "NO_COLOR": "1"}
        res = subprocess.run(
            [sys.executable, "-m", "voipwatch.cli", "verdicts", "--json", str(fixture)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert res.returncode == 1, why
        assert res.stdout == "", why
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert "Traceback" not in res.stderr, why
        assert len(lines) == 1, (why, res.stderr)
        assert str(path) in lines[0], why
        assert "fingerprint table" in lines[0], why


def test_derive_refuses_a_damaged_csv_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "fingerprints_dns.csv").write_text(
        "name,scope,location_found,pattern_type,pattern,confidence_no_fp,expected_countries\n"
        "x.1,nat,dns,full,10.0.0.1,5,IR\n"
    )
    (tmp_path / "fingerprints_http.csv").write_text(
        "name,scope,location_found,pattern_type,pattern,confidence_no_fp,expected_countries\n"
        "x.2,nat,body,wildcard,blocked*,5,IR\n"
    )
    out = tmp_path / "out.json"
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "derive_fingerprints.py"), str(tmp_path), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 1
    assert "wildcard" in res.stderr
    assert "nothing was written" in res.stderr
    assert "Traceback" not in res.stderr
    assert not out.exists()


def test_damaged_table_stops_ingest_in_one_line_and_quarantines_nothing(tmp_path: Path) -> None:
    import duckdb

    fixtures = sorted((ROOT / "tests" / "fixtures" / "measurements").glob("*.json"))[:3]
    db = tmp_path / "store.duckdb"
    bad = _damaged(tmp_path)["truncated"]
    env = {**os.environ, fps.TABLE_ENV: str(bad), "NO_COLOR": "1", "VOIPWATCH_DB": str(db)}
    for args in (
        ["ingest", *map(str, fixtures)],
        ["ingest", "--workers", "2", *map(str, fixtures)],
    ):
        res = subprocess.run(
            [sys.executable, "-m", "voipwatch.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        assert res.returncode == 1, res.stderr
        assert "Traceback" not in res.stderr
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1, res.stderr
        assert str(bad) in lines[0]
    with duckdb.connect(str(db)) as con:
        counts = [
            con.execute(f"SELECT count(*) FROM {t}").fetchone()
            for t in ("measurements", "quarantine")
        ]
    assert counts == [(0,), (0,)]
