"""The nasty-input corpus through ``voipwatch verdicts`` and ``voipwatch ingest``.

``tests/fixtures/nasty/`` holds small files shaped like the damage real data carries
(truncated gzip and tar, mixed encodings, deep nesting, NaN / Infinity, duplicate
keys, wrong-typed keys of every judged test); its ``MANIFEST.toml`` says how many
measurements each must yield and how many problems. The 100 MB lines are written
here, at test time. Every run is a subprocess, as a user runs it: no traceback, one
line per problem, every good record kept, the store's counts adding up, and a second
ingest changing nothing.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import duckdb
import pytest

NASTY = Path(__file__).resolve().parents[1] / "fixtures" / "nasty"
MANIFEST: dict[str, dict[str, Any]] = tomllib.loads((NASTY / "MANIFEST.toml").read_text())
GOOD = Path(__file__).resolve().parents[1] / "fixtures" / "measurements"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    r = subprocess.run(
        [sys.executable, "-m", "voipwatch.cli", *map(str, args)],
        capture_output=True,
        text=True,
        errors="replace",
        env=env,
        timeout=600,
        check=False,
    )
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert "voipwatch bug" not in r.stderr, r.stderr[-3000:]
    return r


def problems(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.strip() and "measurements judged" not in ln]


def test_corpus_is_what_its_builder_makes() -> None:
    """The committed files are the builder's output (so the manifest describes them)."""
    sys.path.insert(0, str(NASTY))
    try:
        import build_nasty  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(NASTY))
    built = build_nasty.build()
    assert set(built) == set(MANIFEST)
    for name, data in built.items():
        assert (NASTY / name).read_bytes() == data, f"{name}: run build_nasty.py"


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_each_nasty_file_through_verdicts(name: str) -> None:
    want = MANIFEST[name]
    path = NASTY / name
    r = run("verdicts", "--json", path)
    verdicts = [json.loads(x) for x in r.stdout.splitlines()]
    found = problems(r.stderr)
    assert len(verdicts) == want["verdicts"], r.stderr
    assert len(found) == want["problems"], found
    assert r.returncode == (0 if want["verdicts"] else 1), r.stderr
    for line in found:
        assert line.startswith(str(path)), line
        assert len(line) < 600, "a problem quotes no megabytes"
    for word in want.get("words", []):
        assert all(word.lower() in p.lower() for p in found), (word, found)
    for v in verdicts:
        assert v["status"] in ("ok", "anomaly", "confirmed", "failure", "unsupported")
        assert "nasty" in v["report_id"], "only the measurements of the file"


def dump(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    queries = {
        "measurements": "SELECT * FROM measurements ORDER BY key",
        "verdicts": "SELECT * FROM verdicts ORDER BY key, idx",
        "observations": "SELECT * FROM observations ORDER BY key, idx",
        "quarantine": "SELECT file, line, reason, excerpt FROM quarantine ORDER BY ALL",
    }
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {k: con.execute(q).fetchall() for k, q in queries.items()}
    finally:
        con.close()


def test_nasty_corpus_through_ingest_and_rejudge(tmp_path: Path) -> None:
    verdicts = sum(m["verdicts"] for m in MANIFEST.values())
    bad = sum(m["problems"] for m in MANIFEST.values())
    r = run("verdicts", "--json", NASTY)
    assert len(r.stdout.splitlines()) == verdicts
    assert len(problems(r.stderr)) == bad

    db = tmp_path / "nasty.duckdb"
    r = run("ingest", "--json", "--db", db, NASTY)
    assert r.returncode == 0, r.stderr
    counts = json.loads(r.stdout)
    assert counts["read"] == counts["new"] + counts["duplicate"] + counts["quarantined"]
    assert counts["new"] == verdicts
    # Problems of whole files (a truncated stream, an empty file) are counted once each.
    assert counts["quarantined"] == bad
    first = dump(db)
    assert len(first["quarantine"]) == bad
    assert len(first["measurements"]) == verdicts

    r = run("ingest", "--json", "--workers", "1", "--db", db, NASTY)
    again = json.loads(r.stdout)
    assert (again["new"], again["duplicate"]) == (0, verdicts)
    assert dump(db) == first
    r = run("rejudge", "--json", "--db", db)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["failed"] == 0
    assert dump(db) == first


def test_file_without_records_among_others_with_workers(tmp_path: Path) -> None:
    """A file of bad lines only, beside a good one, ingested by worker processes.

    Found with the nasty corpus: it used to stop the whole run ("ArrowInvalid: Empty
    JSON file"); fixed in the store.
    """
    d = tmp_path / "in"
    d.mkdir()
    (d / "a.json").write_bytes((GOOD / "signal-ok.json").read_bytes())
    (d / "b.jsonl").write_bytes(b"{not json\n")
    r = run("ingest", "--json", "--workers", "2", "--db", tmp_path / "w.duckdb", d)
    assert r.returncode == 0, r.stderr
    counts = json.loads(r.stdout)
    assert (counts["new"], counts["quarantined"]) == (1, 1)


def test_hundred_megabyte_lines(tmp_path: Path) -> None:
    """A 100 MB measurement is judged and stored; a 100 MB broken line is one problem."""
    good = [json.loads(p.read_text()) for p in sorted(GOOD.glob("*-ok*.json"))[:3]]
    for i, m in enumerate(good):
        m["report_id"] = f"big-{i}"
        m.pop("measurement_uid", None)
    huge = json.loads(json.dumps(good[1]))
    huge["report_id"] = "big-huge"
    huge["test_keys"]["x_padding"] = "A" * (100 * 1024 * 1024)
    path = tmp_path / "huge.jsonl.gz"
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(json.dumps(good[0]).encode() + b"\n")
        fh.write(json.dumps(huge).encode() + b"\n")
        fh.write(b'{"test_name": "signal", "x": "' + b"B" * (100 * 1024 * 1024) + b"\n")
        fh.write(json.dumps(good[2]).encode() + b"\n")
    del huge
    r = run("verdicts", "--json", path)
    ids = [json.loads(x)["report_id"] for x in r.stdout.splitlines()]
    assert ids == ["big-0", "big-huge", "big-2"]
    (found,) = problems(r.stderr)
    assert found.startswith(f"{path}:3: ")
    assert "invalid JSON" in found
    assert len(found) < 600

    db = tmp_path / "huge.duckdb"
    r = run("ingest", "--json", "--db", db, path)
    assert r.returncode == 0, r.stderr
    counts = json.loads(r.stdout)
    assert (counts["new"], counts["quarantined"]) == (3, 1)
    con = duckdb.connect(str(db), read_only=True)
    try:
        (excerpt,) = con.execute("SELECT octet_length(excerpt) FROM quarantine").fetchone() or (0,)
    finally:
        con.close()
    assert excerpt <= 64 * 1024, "the quarantine keeps an excerpt, not 100 MB"
