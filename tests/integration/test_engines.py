"""Serial, process-pool and Dask engines build the same store from the same files.

The Dask run uses a real ``dask.distributed`` LocalCluster with two worker
processes; its workers write Parquet parts that this process's DuckDB loads.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from voipwatch.engine import ENGINES, create_engine
from voipwatch.errors import UsageError
from voipwatch.store import export_tier, ingest, open_store

SAMPLES = ("derived/all_raw_measurements.jsonl", "more/all_im.jsonl")
VOIPWATCH = [sys.executable, "-m", "voipwatch.cli"]


@pytest.fixture(scope="module")
def inputs(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The real samples as four files, with a duplicate across files and a broken line."""
    lines: list[bytes] = []
    for name in SAMPLES:
        lines += (shared_dir / "ooni-samples" / name).read_bytes().splitlines()
    d = tmp_path_factory.mktemp("engines")
    quarter = len(lines) // 4
    chunks = [lines[i * quarter : (i + 1) * quarter] for i in range(3)] + [lines[3 * quarter :]]
    chunks[2] = [*chunks[2], chunks[0][0], b'{"test_name": "whatsapp", "test_keys": ']
    paths = []
    for i, chunk in enumerate(chunks):
        p = d / f"part-{i}.jsonl"
        p.write_bytes(b"\n".join(chunk) + b"\n")
        paths.append(p)
    return paths


def _digests(db: Path, out: Path) -> dict[str, str]:
    found = {}
    with open_store(db, read_only=True) as store:
        for tier in ("measurements", "verdicts", "observations"):
            target = out / f"{db.stem}-{tier}.parquet"
            export_tier(store, tier, target)
            found[tier] = hashlib.sha256(target.read_bytes()).hexdigest()
        found["quarantine"] = repr(
            store.con.execute("SELECT file, line, reason FROM quarantine ORDER BY ALL").fetchall()
        )
    return found


@pytest.mark.timeout(300)
def test_engines_build_byte_identical_tables(inputs: list[Path], tmp_path: Path) -> None:
    digests = {}
    counts = {}
    for name in ENGINES:
        db = tmp_path / f"{name}.duckdb"
        workers = None if name == "serial" else 2
        with open_store(db) as store:
            stats = ingest(store, inputs, engine=name, workers=workers)
        counts[name] = (stats.read, stats.new, stats.duplicate, stats.quarantined)
        digests[name] = _digests(db, tmp_path)
    assert counts["serial"][1] > 100, counts
    assert counts["serial"][2] >= 1, "the duplicate across files is counted"
    assert counts["serial"][3] >= 1, "the broken line is quarantined"
    assert counts["process"] == counts["serial"]
    assert counts["dask"] == counts["serial"]
    assert digests["process"] == digests["serial"]
    assert digests["dask"] == digests["serial"]


@pytest.mark.timeout(300)
def test_ingest_cli_runs_on_dask(inputs: list[Path], tmp_path: Path) -> None:
    db = tmp_path / "cli.duckdb"
    parts = tmp_path / "shared-parts"
    parts.mkdir()
    args = ["ingest", "--json", "--engine", "dask", "--workers", "2", "--parts", str(parts)]
    done = subprocess.run(
        [*VOIPWATCH, *args, "--db", str(db), *map(str, inputs)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["new"] > 100
    assert not list(parts.iterdir()), "the parts are removed once loaded"


@pytest.mark.parametrize(
    ("name", "workers", "scheduler", "message"),
    [
        ("spark", None, None, "unknown engine 'spark'"),
        ("process", None, "tcp://127.0.0.1:8786", "scheduler: is for the dask engine only"),
        ("serial", 2, None, "workers: the serial engine runs one worker"),
        ("dask", 0, None, "workers: must be at least 1"),
    ],
)
def test_bad_engine_choices_are_usage_errors(
    name: str, workers: int | None, scheduler: str | None, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        create_engine(name, workers=workers, items=3, scheduler=scheduler)


def test_unreachable_scheduler_is_one_line(inputs: list[Path], tmp_path: Path) -> None:
    args = ["ingest", "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9"]
    done = subprocess.run(
        [*VOIPWATCH, *args, "--db", str(tmp_path / "s.duckdb"), str(inputs[0])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = [x for x in done.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, done.stderr
    assert "tcp://127.0.0.1:9" in lines[0]
