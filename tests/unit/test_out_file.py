"""``--out`` writes regular files only (or stdout with ``-``); a missing folder is an error."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voipwatch.cli import app

INCIDENTS = {
    "incidents": [
        {
            "id": "1",
            "title": "Brazil blocked Telegram",
            "start_time": "2023-04-26T00:00:00Z",
            "end_time": "2023-04-28T00:00:00Z",
            "CCs": ["BR"],
            "test_names": ["telegram"],
        }
    ]
}


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = tmp_path / "s.duckdb"
    src = tmp_path / "incidents.json"
    src.write_text(json.dumps(INCIDENTS))
    code, _, err = run("cases", "import", str(src), "--db", str(path))
    assert code == 0, err
    return str(path)


WRITERS = [
    ("report", "--country", "BR"),
    ("cases", "export"),
    ("cases", "export", "--format", "csv"),
    ("export", "--tier", "measurements"),
]


@pytest.mark.parametrize("command", WRITERS, ids=" ".join)
def test_special_files_are_refused(db: str, command: tuple[str, ...]) -> None:
    for device in ("/dev/full", "/dev/null"):
        before = Path(device).stat()
        code, out, err = run(*command, "--db", db, "--out", device)
        assert code == 2, (command, device, out, err)
        assert "not a regular file" in err
        assert len(err.strip().splitlines()) == 1
        after = Path(device).stat()
        assert stat.S_ISCHR(after.st_mode)
        assert after.st_ino == before.st_ino


@pytest.mark.parametrize("command", WRITERS, ids=" ".join)
def test_missing_folder_is_a_clear_error(db: str, command: tuple[str, ...], tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "out.file"
    code, _, err = run(*command, "--db", db, "--out", str(target))
    assert code == 2, err
    assert "does not exist" in err
    assert not (tmp_path / "no").exists()
    code, _, err = run(*command, "--db", db, "--out", str(tmp_path))
    assert code == 2, err


def test_regular_files_and_stdout(db: str, tmp_path: Path) -> None:
    target = tmp_path / "brief.html"
    code, _, err = run("report", "--country", "BR", "--db", db, "--out", str(target))
    assert code == 0, err
    assert target.read_text().startswith("<!DOCTYPE html>")
    # Written again over the regular file it made; nothing left beside it.
    code, _, err = run("report", "--country", "BR", "--db", db, "--out", str(target))
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir() if "brief" in p.name) == ["brief.html"]
    code, out, err = run("report", "--country", "BR", "--db", db, "--out", "-")
    assert code == 0, err
    assert out.startswith("<!DOCTYPE html>")
    code, out, _ = run("cases", "export", "--db", db, "--out", "-")
    assert json.loads(out.splitlines()[0])["country"] == "BR"
