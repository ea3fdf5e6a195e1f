"""Opening the store: where it lives, and a clear ``StoreError`` whenever it cannot."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from voipwatch.errors import StoreError
from voipwatch.store import SCHEMA_VERSION, default_db_path, open_store
from voipwatch.store.rows import compress, decompress, judgement_digest
from voipwatch.store.schema import VERDICT_COLUMNS
from voipwatch.verdicts.types import Judgement, Verdict


def test_default_store_lives_in_the_user_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    path = default_db_path()
    assert path == tmp_path / "data" / "voipwatch" / "voipwatch.duckdb"
    with open_store() as store:
        assert store.path == path
    assert path.is_file()


def test_schema_version_is_stored(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        row = store.con.execute(
            "SELECT value FROM store_meta WHERE name = 'schema_version'"
        ).fetchone()
    assert row == (str(SCHEMA_VERSION),)


def test_other_schema_version_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with open_store(db) as store:
        store.con.execute("UPDATE store_meta SET value = '999' WHERE name = 'schema_version'")
    for read_only in (False, True):
        with pytest.raises(StoreError, match="schema version 999 is newer"):
            open_store(db, read_only=read_only)


def test_older_store_is_upgraded_by_writers_only(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with open_store(db) as store:
        # A version-1 store: before role verdicts said whether a control confirmed them
        # (and before they carried their measurement's network and hour).
        for column in VERDICT_COLUMNS[VERDICT_COLUMNS.index("confirmed") :]:
            store.con.execute(f"ALTER TABLE verdicts DROP COLUMN {column}")
        store.con.execute("UPDATE store_meta SET value = '1' WHERE name = 'schema_version'")
    with pytest.raises(StoreError, match="older than this voipwatch"):
        open_store(db, read_only=True)
    with open_store(db) as store:
        version = store.con.execute(
            "SELECT value FROM store_meta WHERE name = 'schema_version'"
        ).fetchone()
        columns = [r[0] for r in store.con.execute("DESCRIBE verdicts").fetchall()]
    assert version == (str(SCHEMA_VERSION),)
    assert tuple(columns) == VERDICT_COLUMNS
    open_store(db, read_only=True).close()


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "other.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE accounts (id INTEGER)")
    con.close()
    with pytest.raises(StoreError, match="not a voipwatch store"):
        open_store(db)


def test_not_a_database_file(tmp_path: Path) -> None:
    db = tmp_path / "text.duckdb"
    db.write_text("hello\n" * 1000)
    with pytest.raises(StoreError, match=str(db)):
        open_store(db)


@pytest.mark.parametrize("read_only", [False, True])
def test_unusable_paths(tmp_path: Path, read_only: bool) -> None:
    with pytest.raises(StoreError, match=r"does not exist|no store here"):
        open_store(tmp_path / "missing" / "s.duckdb", read_only=read_only)
    with pytest.raises(StoreError, match="is a directory"):
        open_store(tmp_path, read_only=read_only)


def test_missing_store_is_not_created_by_readers(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with pytest.raises(StoreError, match="no store here"):
        open_store(db, read_only=True)
    assert not db.exists()


def test_store_held_by_another_process(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    open_store(db).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "print('ready', flush=True); time.sleep(30)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        started = time.monotonic()
        with pytest.raises(StoreError, match="in use by another"):
            open_store(db)
        assert time.monotonic() - started < 10
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def test_raw_bytes_round_trip() -> None:
    raw = b'{"test_name": "signal", "test_keys": {}}' * 50
    blob = compress(raw)
    assert len(blob) < len(raw)
    assert decompress(blob) == raw


def test_digest_ignores_rules_version_only() -> None:
    def judgement(status: str, version: int) -> Judgement:
        v = Verdict(
            measurement_uid="u",
            report_id="r",
            test_name="signal",
            test_version="0.2",
            probe_cc="DE",
            probe_asn="AS3320",
            measurement_start_time="2024-01-01 00:00:00",
            input=None,
            status=status,  # type: ignore[arg-type]
            services=[],
            rules_version=version,
        )
        return Judgement(key="k", verdict=v, observations=[])

    assert judgement_digest(judgement("ok", 1)) == judgement_digest(judgement("ok", 2))
    assert judgement_digest(judgement("ok", 1)) != judgement_digest(judgement("anomaly", 1))
