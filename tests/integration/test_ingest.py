"""The store end to end on real OONI measurements: idempotent, kill-safe, re-judgeable.

Inputs are real measurements from ``../shared/ooni-samples``, read in place or
rewritten into ``tmp_path`` (nothing is copied into the repository). Stores are
compared by full dumps of every table, ordered by key, leaving out only the wall-clock
columns (``first_seen``, ``ingested_at``) and the per-run counters of
``ingest_files``.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow.parquet as pq
import pytest

from voipwatch.engine import SerialEngine
from voipwatch.errors import StoreError
from voipwatch.store import TIERS, IngestStats, export_tier, ingest, open_store, rejudge
from voipwatch.store.pipeline import spill_dirs

pytestmark = pytest.mark.shared

S3 = "more/Ash-2k3__OONI-ChainWatch/S3 datasets"
S3_FILES = (
    "20200921_IT_webconnectivity.x.bcd187978df90669.jsonl.gz",
    "20200921_IT_webconnectivity.x.a54b9d653a58c1ef.jsonl.gz",
    "2021081715_US_webconnectivity.n0.7.jsonl.gz",
)
VOIPWATCH = [sys.executable, "-m", "voipwatch.cli"]

# What a dump compares: every column except wall-clock times and per-run counters.
DUMPS = {
    "measurements": "SELECT * FROM measurements ORDER BY key",
    "verdicts": "SELECT * FROM verdicts ORDER BY key, idx",
    "observations": "SELECT * FROM observations ORDER BY key, idx",
    "quarantine": "SELECT file, line, reason, excerpt FROM quarantine ORDER BY file, line, reason",
    "ingest_files": "SELECT file, size, records FROM ingest_files ORDER BY file",
    "store_meta": "SELECT * FROM store_meta ORDER BY name",
}


# Between engines, every counter of a clean run must match too.
FULL_DUMPS = {
    **DUMPS,
    "ingest_files": "SELECT * EXCLUDE (ingested_at) FROM ingest_files ORDER BY file",
}


def dump(db: Path, dumps: dict[str, str] = DUMPS) -> dict[str, list[tuple[Any, ...]]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {name: con.execute(sql).fetchall() for name, sql in dumps.items()}
    finally:
        con.close()


def counts(stats: IngestStats) -> dict[str, int | float]:
    return {k: v for k, v in stats.as_dict().items() if k != "elapsed_seconds"}


@pytest.fixture(scope="module")
def samples(shared_dir: Path) -> list[Path]:
    root = shared_dir / "ooni-samples"
    paths = [root / "derived/all_raw_measurements.jsonl", root / "more/all_im.jsonl"]
    paths += [root / S3 / name for name in S3_FILES]
    for p in paths:
        if not p.exists():
            pytest.fail(f"sample {p} is missing from ../shared")
    return paths


@pytest.fixture(scope="module")
def bad_file(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path) -> Path:
    """Good measurements interleaved with lines that are not measurements."""
    good = (shared_dir / "ooni-samples/more/all_im.jsonl").read_bytes().splitlines()[:5]
    lines = [good[0], b"{not json", good[1], b"[1, 2, 3]", good[2], b'{"hello": "world"}']
    path = tmp_path_factory.mktemp("bad") / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.fixture(scope="module")
def big_input(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path) -> Path:
    """~2300 distinct real measurements (IM and web) in one .jsonl.gz.

    Copies of the samples get fresh report_ids, so each is a new measurement; a few
    lines repeat verbatim and one is not JSON, so duplicates within a run and the
    quarantine are exercised by every kill as well.
    """
    root = shared_dir / "ooni-samples"
    base = [
        line
        for p in (root / "derived/all_raw_measurements.jsonl", root / "more/all_im.jsonl")
        for line in p.read_bytes().splitlines()
        if line.strip()
    ]
    path = tmp_path_factory.mktemp("big") / "replicated.jsonl.gz"
    with gzip.open(path, "wb", compresslevel=1) as fh:
        for copy in range(10):
            for i, line in enumerate(base):
                m = orjson.loads(line)
                m["report_id"] = f"{m.get('report_id') or 'local'}-copy{copy}-{i}"
                data = orjson.dumps(m)
                fh.write(data + b"\n")
                if i % 97 == 0:
                    fh.write(data + b"\n")
            fh.write(b"{truncated measurement\n")
    return path


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory, big_input: Path) -> list[Path]:
    """``big_input`` as three files, with duplicates within and across them.

    ``b`` repeats a stretch of ``a``; ``c`` is ``a`` again under another name (all
    duplicates, some across parts of a file); the bad lines go to the quarantine.
    """
    with gzip.open(big_input, "rb") as fh:
        lines = fh.read().splitlines(keepends=True)
    half = len(lines) // 2
    d = tmp_path_factory.mktemp("replicated")
    parts = {
        "a.jsonl.gz": lines[:half],
        "b.jsonl": lines[half:] + lines[100:400],
        "c.jsonl.gz": lines[:half],
    }
    paths = []
    for name, content in parts.items():
        path = d / name
        data = b"".join(content)
        path.write_bytes(gzip.compress(data, compresslevel=1) if name.endswith(".gz") else data)
        paths.append(path)
    return paths


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (the workers of an ingest)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def kill_mid_run(args: list[str], db: Path, *, after: float, env: dict[str, str]) -> list[int]:
    """Run ``voipwatch ARGS`` and SIGKILL it ``after`` seconds past its first new commit.

    Returns the pids of its child processes (workers) at the time of the kill.

    A commit shows as the write-ahead log growing past 1 MB after the process started
    (a new run first replays and truncates the log left by the last one). Timing the
    kill from that moment, not from start-up, makes it land mid-run however loaded
    the machine is; if the run ends first, there is nothing to kill.
    """
    wal = Path(f"{db}.wal")
    started = time.time()
    proc = subprocess.Popen(
        [*VOIPWATCH, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            st = wal.stat()
        except FileNotFoundError:
            st = None
        if st is not None and st.st_mtime >= started and st.st_size > 1 << 20:
            time.sleep(after)
            break
        time.sleep(0.005)
    children = child_pids(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return children


def run_cli(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VOIPWATCH, *args], capture_output=True, text=True, timeout=120, check=False, **kw
    )


def test_real_samples_ingest_with_consistent_counts(samples: list[Path], tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with open_store(db) as store:
        stats = ingest(store, samples)
        n = store.con.execute("SELECT count(*) FROM measurements").fetchone()
        v = store.con.execute(
            "SELECT count(*) FROM verdicts WHERE key NOT IN (SELECT key FROM measurements)"
        ).fetchone()
    assert stats.files == len(samples)
    assert stats.read == stats.new + stats.duplicate + stats.quarantined
    assert stats.new > 400
    assert n == (stats.new,)
    assert v == (0,), "every verdict row belongs to a stored measurement"


def test_ingest_twice_changes_nothing(samples: list[Path], tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with open_store(db) as store:
        first = ingest(store, samples)
    before = dump(db)
    with open_store(db) as store:
        second = ingest(store, samples)
    assert second.new == 0
    assert second.duplicate == first.new + first.duplicate
    assert dump(db) == before


def test_duplicates_within_one_run(samples: list[Path], tmp_path: Path) -> None:
    once, twice, alone = (tmp_path / f"{n}.duckdb" for n in ("once", "twice", "alone"))
    with open_store(once) as store:
        a = ingest(store, samples[:2])
    with open_store(alone) as store:
        c = ingest(store, samples[:1])
    # The same file given twice in one run, with small batches so that copies meet both
    # within a batch and across committed ones.
    with open_store(twice) as store:
        b = ingest(store, [*samples[:2], samples[0]], batch_size=50)
    assert b.new == a.new
    assert b.duplicate == a.duplicate + c.new + c.duplicate
    assert dump(once)["measurements"] == dump(twice)["measurements"]
    assert dump(once)["verdicts"] == dump(twice)["verdicts"]


def test_quarantine_is_idempotent(bad_file: Path, tmp_path: Path) -> None:
    db = tmp_path / "q.duckdb"
    with open_store(db) as store:
        first = ingest(store, [bad_file])
        rows = store.con.execute("SELECT * FROM quarantine ORDER BY line").fetchall()
    assert (first.new, first.quarantined) == (3, 3)
    assert [r[1] for r in rows] == [2, 4, 6]
    assert all(r[0] == str(bad_file) and r[2] for r in rows)
    with open_store(db) as store:
        second = ingest(store, [bad_file])
        again = store.con.execute("SELECT * FROM quarantine ORDER BY line").fetchall()
    assert (second.new, second.duplicate, second.quarantined) == (0, 3, 3)
    assert again == rows, "same file, line and reason: not added twice, first_seen kept"


def test_killed_ingest_rerun_equals_clean_run(big_input: Path, tmp_path: Path) -> None:
    clean, killed = tmp_path / "clean.duckdb", tmp_path / "killed.duckdb"
    with open_store(clean) as store:
        stats = ingest(store, [big_input])
    assert stats.new > 2000
    assert stats.duplicate > 20
    assert stats.quarantined == 10
    env = {**os.environ, "COLUMNS": "120"}
    # Each re-run starts over the same file and must finish what the last one left.
    # Five kills, each a little later after the run's first new commit: inside a
    # batch being filled, being compressed, being inserted, being committed.
    stored_after_kill = []
    for after in (0.0, 0.05, 0.15, 0.3, 0.5):
        kill_mid_run(["ingest", "--db", str(killed), str(big_input)], killed, after=after, env=env)
        stored_after_kill.append(len(dump(killed)["measurements"]))
    print(f"stored after each kill: {stored_after_kill} of {stats.new}")
    assert any(0 < n < stats.new for n in stored_after_kill), (
        f"no kill landed mid-run (stored after each kill: {stored_after_kill})"
    )
    done = run_cli("ingest", "--json", "--db", str(killed), str(big_input), env=env)
    assert done.returncode == 0, done.stderr
    final = json.loads(done.stdout)
    assert final["read"] == stats.read
    assert dump(killed) == dump(clean)


def test_rejudge_unchanged_store_changes_nothing(samples: list[Path], tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    with open_store(db) as store:
        ingest(store, samples)
    before = dump(db)
    with open_store(db) as store:
        stats = rejudge(store, batch_size=100)
    assert stats.measurements == len(before["measurements"])
    assert (stats.changed, stats.restamped, stats.failed) == (0, 0, 0)
    assert dump(db) == before


def test_rejudge_rebuilds_derived_rows(samples: list[Path], tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    with open_store(db) as store:
        ingest(store, samples[:2])
    before = dump(db)
    assert before["verdicts"], "the IM samples yield role verdicts"
    with open_store(db) as store:
        con = store.con
        # Stale derived rows, as an older rules version would have left them.
        con.execute("DELETE FROM verdicts")
        con.execute("UPDATE observations SET failure = 'stale'")
        con.execute("UPDATE measurements SET status = 'ok', judgement_digest = 'old'")
        con.execute("UPDATE measurements SET rules_version = 0")
        stats = rejudge(store, batch_size=37)
    assert stats.changed == len(before["measurements"])
    assert stats.restamped == 0
    assert dump(db) == before
    with open_store(db) as store:
        store.con.execute("UPDATE measurements SET rules_version = 0")
        again = rejudge(store)
    assert (again.changed, again.restamped) == (0, len(before["measurements"]))
    assert dump(db) == before


def test_killed_rejudge_rerun_restores_the_store(big_input: Path, tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    with open_store(db) as store:
        ingest(store, [big_input])
    before = dump(db)
    with open_store(db) as store:
        store.con.execute("DELETE FROM verdicts")
        store.con.execute("DELETE FROM observations")
        store.con.execute("UPDATE measurements SET judgement_digest = 'stale', rules_version = 0")
    stored_after_kill = []
    env = dict(os.environ)
    for after in (0.0, 0.05, 0.1):
        kill_mid_run(["rejudge", "--db", str(db)], db, after=after, env=env)
        stored_after_kill.append(len(dump(db)["verdicts"]))
    print(f"verdict rows after each kill: {stored_after_kill} of {len(before['verdicts'])}")
    assert any(0 < n < len(before["verdicts"]) for n in stored_after_kill), (
        f"no kill landed mid-run (verdict rows after each kill: {stored_after_kill})"
    )
    done = run_cli("rejudge", "--json", "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["failed"] == 0
    assert dump(db) == before


def test_export_every_tier(samples: list[Path], bad_file: Path, tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    with open_store(db) as store:
        ingest(store, [*samples[:2], bad_file])
    with open_store(db, read_only=True) as store:
        for tier in TIERS:
            out = tmp_path / f"{tier}.parquet"
            n = export_tier(store, tier, out)
            (expected,) = store.con.execute(f"SELECT count(*) FROM {tier}").fetchone() or (0,)
            table = pq.read_table(out)
            assert n == expected == table.num_rows > 0
            assert not list(tmp_path.glob(".*.tmp"))
    assert pq.read_table(tmp_path / "measurements.parquet").column_names[0] == "key"


def test_cli_ingest_aggregate_export(samples: list[Path], tmp_path: Path) -> None:
    db = tmp_path / "c.duckdb"
    r = run_cli("ingest", "--json", "--db", str(db), *map(str, samples[:2]))
    assert r.returncode == 0, r.stderr
    counts = json.loads(r.stdout)
    assert counts["read"] == counts["new"] + counts["duplicate"] + counts["quarantined"]
    assert "Traceback" not in r.stderr

    r = run_cli("aggregate", "--db", str(db), "--axis-x", "test_name")
    assert r.returncode == 0, r.stderr
    agg = json.loads(r.stdout)
    assert agg["v"] == 0
    assert agg["dimension_count"] == 1
    for row in agg["result"]:
        parts = ("anomaly_count", "confirmed_count", "failure_count", "ok_count")
        assert sum(row[k] for k in parts) == row["measurement_count"]

    env = {**os.environ, "VOIPWATCH_DB": str(db)}
    r = run_cli("export", "--tier", "verdicts", "--out", str(tmp_path / "v.parquet"), env=env)
    assert r.returncode == 0, r.stderr
    assert pq.read_table(tmp_path / "v.parquet").num_rows > 0


def test_cli_exit_statuses(bad_file: Path, tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    junk = tmp_path / "junk.jsonl"
    junk.write_bytes(b"{nope\n[]\n")
    r = run_cli("ingest", "--db", str(db), str(junk))
    assert r.returncode == 1, "nothing could be read"
    assert "Traceback" not in r.stderr
    assert str(junk) in r.stderr
    r = run_cli("ingest", "--db", str(db))
    assert r.returncode == 2, "no paths: usage error"
    r = run_cli("aggregate", "--db", str(db), "--axis-x", "nonsense")
    assert r.returncode == 2
    assert "unknown axis" in r.stderr
    r = run_cli("export", "--db", str(db), "--tier", "secrets", "--out", str(tmp_path / "x"))
    assert r.returncode == 2
    assert "tier" in r.stderr


def _unwritable_store_path(tmp_path: Path) -> Path:
    if os.geteuid() == 0:
        # Permissions do not bind root; sysfs refuses new files even to root.
        return Path("/sys/voipwatch-test.duckdb")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    return ro / "store.duckdb"


@pytest.mark.parametrize("kind", ["read-only", "missing-directory"])
def test_cli_unusable_store_path(kind: str, bad_file: Path, tmp_path: Path) -> None:
    db = (
        _unwritable_store_path(tmp_path)
        if kind == "read-only"
        else tmp_path / "no" / "such" / "dir" / "s.duckdb"
    )
    r = run_cli("ingest", "--db", str(db), str(bad_file))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr
    assert str(db) in lines[0]
    r = run_cli("rejudge", "--db", str(db))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr


# --- engines: the process pool must give exactly the serial run's store ---------------


@pytest.mark.parametrize("batch_size", [5000, 40])
def test_engines_give_identical_stores_on_samples(
    samples: list[Path], bad_file: Path, tmp_path: Path, batch_size: int
) -> None:
    inputs = [*samples, bad_file, samples[0]]
    results = {}
    for name, kw in (
        ("serial", {"workers": 1}),
        ("in-process", {"engine": SerialEngine()}),
        ("pool", {"workers": 2}),
    ):
        db = tmp_path / f"{name}.duckdb"
        with open_store(db) as store:
            stats = ingest(store, inputs, batch_size=batch_size, **kw)  # type: ignore[arg-type]
        results[name] = (counts(stats), dump(db, FULL_DUMPS))
        assert not spill_dirs(db), "temporary files are removed after the run"
    assert results["serial"][0]["quarantined"] == 3
    assert results["in-process"] == results["serial"]
    assert results["pool"] == results["serial"]


def test_engines_give_identical_stores_on_replicated_corpus(
    replicated: list[Path], tmp_path: Path
) -> None:
    serial, pool, small = (tmp_path / f"{n}.duckdb" for n in ("serial", "pool", "small"))
    with open_store(serial) as store:
        expected = ingest(store, replicated, workers=1)
    assert expected.duplicate > expected.new // 2
    with open_store(pool) as store:
        got = ingest(store, replicated, workers=2)
    # Small parts: a file streams through many of them, duplicates meet across parts.
    with open_store(small) as store:
        got_small = ingest(store, replicated, workers=2, batch_size=150)
    assert counts(got) == counts(got_small) == counts(expected)
    reference = dump(serial, FULL_DUMPS)
    assert dump(pool, FULL_DUMPS) == reference
    assert dump(small, FULL_DUMPS) == reference
    with open_store(pool) as store:
        again = ingest(store, replicated, workers=2)
    assert (again.new, again.duplicate) == (0, expected.new + expected.duplicate)
    assert dump(pool) == dump(serial)
    assert not spill_dirs(pool)


def test_killed_parallel_ingest_rerun_equals_clean_run(
    replicated: list[Path], tmp_path: Path
) -> None:
    clean, killed = tmp_path / "clean.duckdb", tmp_path / "killed.duckdb"
    with open_store(clean) as store:
        stats = ingest(store, replicated, workers=1)
    env = {**os.environ, "COLUMNS": "120"}
    args = ["ingest", "--workers", "2", "--db", str(killed), *map(str, replicated)]
    stored_after_kill = []
    for after in (0.0, 0.1, 0.3, 0.6):
        workers = kill_mid_run(args, killed, after=after, env=env)
        stored_after_kill.append(len(dump(killed)["measurements"]))
        deadline = time.monotonic() + 10
        while any(alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [p for p in workers if alive(p)], "workers die with the killed run"
    print(f"stored after each kill: {stored_after_kill} of {stats.new}")
    assert any(0 < n < stats.new for n in stored_after_kill), (
        f"no kill landed mid-run (stored after each kill: {stored_after_kill})"
    )
    done = run_cli(
        "ingest", "--json", "--workers", "2", "--db", str(killed), *map(str, replicated), env=env
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["read"] == stats.read
    assert dump(killed) == dump(clean)
    assert not spill_dirs(killed), "the killed runs' temporary files are gone"


def test_dead_worker_fails_the_run_in_one_line(replicated: list[Path], tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    proc = subprocess.Popen(
        [*VOIPWATCH, "ingest", "--workers", "2", "--db", str(db), *map(str, replicated)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    workers: list[int] = []
    while proc.poll() is None and time.monotonic() < deadline and len(workers) < 2:
        # The spawn start method also runs a resource tracker: take the workers only.
        workers = [
            p
            for p in child_pids(proc.pid)
            if b"resource_tracker" not in Path(f"/proc/{p}/cmdline").read_bytes()
        ]
        time.sleep(0.01)
    assert workers, "the run started its workers"
    time.sleep(0.3)
    os.kill(workers[0], signal.SIGKILL)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr
    lines = [x for x in stderr.splitlines() if x.strip()]
    assert len(lines) == 1, stderr
    assert "worker process died" in lines[0]
    assert str(db) in lines[0]
    assert not spill_dirs(db)
    assert not [p for p in workers if alive(p)]


def test_failing_work_keeps_what_was_committed(
    replicated: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import voipwatch.store.pipeline as pipeline

    real = pipeline.run_job

    def fail_on_second(job: pipeline.FileJob) -> Any:
        if job.index == 1:
            raise OSError(28, "No space left on device")
        return real(job)

    monkeypatch.setattr(pipeline, "run_job", fail_on_second)
    db = tmp_path / "f.duckdb"
    with open_store(db) as store, pytest.raises(StoreError) as info:
        ingest(store, replicated, engine=SerialEngine())
    message = str(info.value)
    assert "\n" not in message
    assert str(replicated[1]) in message
    assert "No space left on device" in message
    assert not spill_dirs(db)
    files = dump(db)["ingest_files"]
    assert [f for f, _, _ in files] == [str(replicated[0])], "the first file stays committed"
