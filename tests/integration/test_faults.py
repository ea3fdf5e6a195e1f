"""Faults: kill -9 at random points, a full disk, a read-only store.

Each command that writes the store — ``ingest``, ``rejudge``, ``events`` and ``cases
import`` — is run as a user runs it (a subprocess) and killed with SIGKILL at seeded
random moments of its run, in chains of kills over the same store; then it is run
once more to the end, and the store must equal, table by table, the store of a clean
run: nothing lost, nothing doubled. At least 50 kills land mid-run in all. The input
is one app's measurements of a small synthetic world (``voipwatch generate``), so a
run takes seconds (the whole file took 3 to 9 minutes on a 2-core machine shared
with other work). Half the kills come at a random moment, half just after the run's
first commit, amid its writes.

A full disk (a size-limited tmpfs) and a read-only store (a tmpfs remounted
read-only) must each give one clear line and exit status 1, and leave the store as it
was; freeing the disk and running again finishes the work. Those need root to mount;
CI runs as root.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

SEED = 20261122
VOIPWATCH = [sys.executable, "-m", "voipwatch.cli"]
#: Columns that hold the wall-clock time of a run, or per-run counters: not state.
WALL_CLOCK = {
    "ingest_files": ("new", "duplicate", "quarantined", "ingested_at"),
    "quarantine": ("first_seen",),
    "case_sources": ("imported_at",),
    "case_annotations": ("noted_at",),
    "case_events": ("matched_at",),
}


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    e["NO_COLOR"] = "1"
    e["COLUMNS"] = "200"
    return e


def run(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [*VOIPWATCH, *map(str, args)],
        capture_output=True,
        text=True,
        env=env(),
        timeout=300,
        check=False,
    )
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    if check:
        assert r.returncode == 0, r.stderr[-3000:]
    return r


def dump(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of the store, canonically: sorted rows, wall-clock columns left out."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [
            t
            for (t,) in con.execute(
                "SELECT table_name FROM information_schema.tables ORDER BY table_name"
            ).fetchall()
        ]
        out = {}
        for t in tables:
            drop = WALL_CLOCK.get(t)
            cols = f"* EXCLUDE ({', '.join(drop)})" if drop else "*"
            out[t] = con.execute(f"SELECT {cols} FROM {t} ORDER BY ALL").fetchall()
        return out
    finally:
        con.close()


def differences(a: dict[str, list[Any]], b: dict[str, list[Any]]) -> dict[str, str]:
    diff = {}
    for t in sorted(set(a) | set(b)):
        ra, rb = a.get(t), b.get(t)
        if ra != rb:
            na, nb = len(ra or []), len(rb or [])
            diff[t] = f"{na} rows vs {nb}" if na != nb else "same count, different rows"
    return diff


def timed(*args: str | Path) -> float:
    t = time.monotonic()
    run(*args)
    return time.monotonic() - t


def kill_at(args: list[str | Path], delay: float, *, after_write: Path | None = None) -> bool:
    """Start ``voipwatch ARGS`` and SIGKILL it; whether it was still running then.

    The kill comes ``delay`` s after the start, or, with ``after_write``, ``delay`` s
    after that store's write-ahead log first appears (the run's first commit).
    """
    started = time.time()
    proc = subprocess.Popen(
        [*VOIPWATCH, *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env(),
        start_new_session=True,
    )
    if after_write is not None:
        wal = Path(f"{after_write}.wal")
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                if wal.stat().st_mtime >= started:
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.002)
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        # The whole group: ingest's worker processes die with it, as with a power cut.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        return True


def reset(db: Path, start: Path | None) -> None:
    """Put the store back as the command found it (no store at all when ``start`` is None)."""
    for p in (db, Path(f"{db}.wal")):
        p.unlink(missing_ok=True)
    if start is not None:
        shutil.copy(start, db)


def kill_chains(
    name: str,
    args: list[str | Path],
    db: Path,
    *,
    start: Path | None,
    expected: dict[str, list[Any]],
    clean_seconds: float,
    want: int,
    chain: int,
    rng: random.Random,
) -> int:
    """Kill ``voipwatch ARGS`` until ``want`` kills have landed mid-run; return how many.

    Kills come in chains over the same store: up to ``chain`` kills at random moments
    of a run, then one run to the end, after which the store must equal ``expected``;
    the next chain starts again from ``start``. Killed runs of incremental commands
    leave less for the next run to do, so a run that ends before its kill also ends
    its chain, and later kills come sooner.
    """
    landed = attempts = mid_write = 0
    upper = max(0.6, clean_seconds * 0.9)
    while landed < want and attempts < want * 3:
        reset(db, start)
        in_chain = 0
        while in_chain < chain and landed < want:
            attempts += 1
            if attempts % 2:
                # Past interpreter start-up (~0.3 s), within the length of a clean run.
                delay = rng.uniform(0.3, upper)
                ok = kill_at(args, delay)
            else:
                # Just after the run's first commit: amid its writes.
                delay = rng.uniform(0.0, 0.15)
                ok = kill_at(args, delay, after_write=db)
            if not ok:
                if attempts % 2:
                    upper = max(0.5, delay * 0.8)
                break
            landed += 1
            in_chain += 1
            # A write-ahead log left behind: the kill came while the store was written.
            mid_write += Path(f"{db}.wal").exists()
            dump(db)  # a killed run never leaves a store that cannot be opened
        r = run(*args)
        assert "Traceback" not in r.stderr
        assert differences(dump(db), expected) == {}, f"{name}: after {landed} kills"
    # Each loop holds its own share (13 + 13 + 13 + 12: at least the 51 kill points
    # mid-run that SECURITY.md counts), wherever the loops run.
    print(f"{name}: {landed} kills mid-run in {attempts} runs, {mid_write} mid-write")
    assert landed >= want, f"{name}: only {landed} kills landed mid-run in {attempts} runs"
    return landed


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic world: one country, two networks, a few blocks."""
    out = tmp_path_factory.mktemp("world")
    run(
        "generate", "--seed", "5", "--out", out, "--weeks", "3", "--countries", "1",
        "--networks", "2", "--events", "3", "--start", "2026-01-05",
    )  # fmt: skip
    # One app's measurements (~1,000 in 21 files) keep each run to a few seconds.
    return out / "raw" / "signal"


@pytest.fixture(scope="module")
def cases_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Documented cases of the world's country, in voipwatch's own export format."""
    path = tmp_path_factory.mktemp("cases") / "cases.jsonl"
    rows = [
        {"country": "IR", "kind": "service_block", "start": f"2026-01-{d:02d}", "apps": [app]}
        for d, app in ((6, "whatsapp"), (9, "telegram"), (12, "signal"), (15, "whatsapp"))
    ]
    rows += [{"country": "IR", "kind": "full_shutdown", "start": "2026-01-20", "end": "2026-01-21"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@pytest.fixture(scope="module")
def clean(
    world: Path, cases_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The clean runs: a store after each step, and how long each step took."""
    d = tmp_path_factory.mktemp("clean")
    db = d / "s.duckdb"
    stages: dict[str, Any] = {}
    stages["ingest_s"] = timed("ingest", "--db", db, world)
    stages["ingested"] = d / "ingested.duckdb"
    shutil.copy(db, stages["ingested"])
    stages["events_s"] = timed("events", "--db", db)
    stages["events"] = d / "events.duckdb"
    shutil.copy(db, stages["events"])
    stages["cases_s"] = timed("cases", "import", "--db", db, cases_file)
    stages["cases"] = d / "cases.duckdb"
    shutil.copy(db, stages["cases"])
    return stages


def test_killed_ingest_equals_clean(clean: dict[str, Any], world: Path, tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    kill_chains(
        "ingest", ["ingest", "--db", db, world], db, start=None,
        expected=dump(clean["ingested"]), clean_seconds=clean["ingest_s"], want=13, chain=5,
        rng=random.Random(SEED),
    )  # fmt: skip


def test_killed_rejudge_equals_clean(clean: dict[str, Any], tmp_path: Path) -> None:
    stale = tmp_path / "stale.duckdb"
    shutil.copy(clean["ingested"], stale)
    con = duckdb.connect(str(stale))
    # What an older rules version leaves: every derived row to be rebuilt.
    con.execute("DELETE FROM verdicts")
    con.execute("DELETE FROM observations")
    con.execute("UPDATE measurements SET judgement_digest = 'stale', rules_version = 0")
    con.close()
    db = tmp_path / "r.duckdb"
    shutil.copy(stale, db)
    full_s = timed("rejudge", "--db", db)
    kill_chains(
        "rejudge", ["rejudge", "--db", db], db, start=stale, expected=dump(clean["ingested"]),
        clean_seconds=full_s, want=13, chain=5, rng=random.Random(SEED + 1),
    )  # fmt: skip


def test_killed_events_equals_clean(clean: dict[str, Any], tmp_path: Path) -> None:
    expected = dump(clean["events"])
    assert expected["events"], "the world's blocks are detected"
    db = tmp_path / "e.duckdb"
    kill_chains(
        "events", ["events", "--db", db], db, start=clean["ingested"], expected=expected,
        clean_seconds=clean["events_s"], want=13, chain=5, rng=random.Random(SEED + 2),
    )  # fmt: skip


def test_killed_cases_import_equals_clean(
    clean: dict[str, Any], cases_file: Path, tmp_path: Path
) -> None:
    expected = dump(clean["cases"])
    assert expected["cases"], "the cases are imported"
    db = tmp_path / "c.duckdb"
    kill_chains(
        "cases import", ["cases", "import", "--db", db, cases_file], db, start=clean["events"],
        expected=expected, clean_seconds=clean["cases_s"], want=12, chain=4,
        rng=random.Random(SEED + 3),
    )  # fmt: skip


# --- a full disk and a read-only store --------------------------------------------------


def _root_or_skip() -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a size-limited or read-only filesystem needs root")


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of 4 MB, mounted for the test and removed after it."""
    _root_or_skip()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _remount(mnt: Path, opts: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{opts}", str(mnt)], check=True)


def one_clear_line(r: subprocess.CompletedProcess[str], db: Path) -> str:
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr
    assert str(db) in lines[0] or db.name in lines[0], lines[0]
    return lines[0]


def test_full_disk_is_a_clear_error_and_resumes(
    small_fs: Path, clean: dict[str, Any], world: Path
) -> None:
    db = small_fs / "s.duckdb"
    r = run("ingest", "--db", db, world, check=False)
    line = one_clear_line(r, db)
    assert "space" in line.lower(), line
    # What was committed is whole: every stored verdict belongs to a stored measurement.
    if db.exists():
        con = duckdb.connect(str(db), read_only=True)
        try:
            orphans = con.execute(
                "SELECT count(*) FROM verdicts WHERE key NOT IN (SELECT key FROM measurements)"
            ).fetchone()
        finally:
            con.close()
        assert orphans == (0,)
    _remount(small_fs, "size=256m")
    run("ingest", "--db", db, world)
    assert differences(dump(db), dump(clean["ingested"])) == {}
    assert [p.name for p in small_fs.iterdir()] == ["s.duckdb"], "no temporary files left"


def test_read_only_store_is_a_clear_error_and_untouched(
    small_fs: Path, clean: dict[str, Any], world: Path, cases_file: Path
) -> None:
    _remount(small_fs, "size=256m")
    db = small_fs / "s.duckdb"
    shutil.copy(clean["ingested"], db)
    before = dump(db)
    _remount(small_fs, "ro")
    try:
        for args in (
            ["ingest", "--db", db, world],
            ["rejudge", "--db", db],
            ["events", "--db", db],
            ["cases", "import", "--db", db, cases_file],
        ):
            r = run(*args, check=False)
            one_clear_line(r, db)
        # Readers still read.
        r = run("aggregate", "--db", db, "--axis-x", "test_name")
        assert json.loads(r.stdout)["result"]
    finally:
        _remount(small_fs, "rw")
    assert differences(dump(db), before) == {}
