"""A file of many bad lines gives a bounded number of problem lines and one summary."""

from __future__ import annotations

import gzip
from pathlib import Path

from typer.testing import CliRunner

from voipwatch.cli import app
from voipwatch.console import PROBLEMS_PER_FILE, Problems

BAD_LINES = 600


def _bad_file(folder: Path, name: str) -> Path:
    path = folder / name
    with gzip.open(path, "wb") as f:
        f.write(b"{not json\n" * BAD_LINES)
    return path


def test_problems_are_capped_per_file() -> None:
    shown = Problems(per_file=2)
    for i in range(5):
        shown(f"a.jsonl:{i + 1}: bad")
    shown("b.jsonl:1: bad")
    shown("no place named")
    assert shown.hidden == 3
    assert shown.seen == {"a.jsonl": 5, "b.jsonl": 1, "": 1}


def test_verdicts_and_ingest_summarise_the_rest(tmp_path: Path) -> None:
    bad = [_bad_file(tmp_path, "bad1.jsonl.gz"), _bad_file(tmp_path, "bad2.jsonl.gz")]
    good = Path(__file__).parents[1] / "fixtures" / "measurements" / "signal-ok.json"
    runner = CliRunner()
    r = runner.invoke(app, ["verdicts", *map(str, bad), str(good)])
    assert r.exit_code == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2 * PROBLEMS_PER_FILE + 3
    for path in bad:
        hidden = f"{path}: {BAD_LINES - PROBLEMS_PER_FILE:,} more problems not shown"
        assert sum(line.startswith(hidden) for line in lines) == 1
    assert lines[-1] == f"1 measurements judged, {2 * BAD_LINES} problems"
    r = runner.invoke(
        app, ["ingest", "--db", str(tmp_path / "s.duckdb"), *map(str, bad), str(good)]
    )
    assert r.exit_code == 0, r.stderr
    problem_lines = [line for line in r.stderr.splitlines() if ".jsonl.gz" in line]
    assert len(problem_lines) == 2 * PROBLEMS_PER_FILE + 2
