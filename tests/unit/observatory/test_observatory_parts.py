"""The running observatory's pure and file-level parts: webhook notices and targets,
the watched folder's batches, and the snapshots readers find."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from voipwatch.alerts.webhook import changes, check_target, payload, sign
from voipwatch.errors import StoreError, UsageError
from voipwatch.observatory import Spool, Worker
from voipwatch.observatory.worker import WORKER_NICE
from voipwatch.store import open_store
from voipwatch.store.snapshot import POINTER, Publisher, current_snapshot, published_dir
from voipwatch.testing import T0, event


def test_the_signature_is_hmac_sha256_of_the_exact_body() -> None:
    body = payload([event("a")], [], now=datetime(2026, 3, 3, tzinfo=UTC))
    expected = hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert sign(b"k", body) == f"sha256={expected}"
    assert sign(b"k", body + b" ") != sign(b"k", body)
    assert sign(b"other", body) != sign(b"k", body)
    decoded = json.loads(body)
    assert decoded["type"] == "voipwatch.events"
    assert [e["event_id"] for e in decoded["new"]] == ["a"]
    assert decoded["ended"] == []


def test_new_and_ended_blocks_are_told_once_and_artefacts_never() -> None:
    a = event("a")
    b = event("b", service="signal")
    before = [a, b, event("c", "outage")]  # type: ignore[arg-type]
    after = [
        a,  # unchanged: nothing to say
        event("b", service="signal", end=T0 + timedelta(days=1)),  # ended
        event("d", "throttling"),  # new
        event("e", end=T0 + timedelta(hours=5)),  # found already over
        event("f", "possible_shutdown"),  # not a block
        event("g", "target_change"),
    ]
    new, ended = changes(before, after)
    assert [e.event_id for e in new] == ["d", "e"]
    assert [e.event_id for e in ended] == ["b", "e"]
    assert changes(after, after) == ([], [])


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/x",
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/",
        "http:///nohost",
        "https://user:pw@example.org/hook",
        "127.0.0.1:8000/hook",
    ],
)
def test_only_plain_http_targets_without_credentials_are_accepted(url: str) -> None:
    with pytest.raises(UsageError):
        check_target(url)


def test_a_good_target_is_kept_as_given() -> None:
    assert check_target("https://alerts.example.org/hook?x=1") == (
        "https://alerts.example.org/hook?x=1"
    )


def _put(folder: Path, name: str, size: int, mtime: int) -> Path:
    p = folder / name
    p.write_bytes(b"x" * size)
    os.utime(p, ns=(mtime, mtime))
    return p


def test_a_batch_is_the_oldest_finished_files_within_its_limits(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.prepare()
    inc = spool.incoming
    _put(inc, "b.jsonl", 10, 2_000)
    _put(inc, "a.jsonl", 10, 3_000)
    _put(inc, "c.jsonl", 10, 1_000)
    _put(inc, ".d.jsonl", 10, 500)  # being written
    _put(inc, "e.jsonl.part", 10, 500)
    _put(inc, "f.jsonl.tmp", 10, 500)
    (inc / "sub").mkdir()
    assert [p.name for p in spool.pending(max_files=10, max_bytes=1000)] == [
        "c.jsonl",
        "b.jsonl",
        "a.jsonl",
    ]
    assert [p.name for p in spool.pending(max_files=2, max_bytes=1000)] == ["c.jsonl", "b.jsonl"]
    assert [p.name for p in spool.pending(max_files=10, max_bytes=15)] == ["c.jsonl"]
    big = _put(inc, "big.jsonl", 100, 100)
    assert spool.pending(max_files=10, max_bytes=15) == [big]


def test_settled_files_never_overwrite_earlier_ones(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.prepare()
    first = spool.settle(_put(spool.incoming, "x.jsonl.gz", 1, 1), good=True)
    second = spool.settle(_put(spool.incoming, "x.jsonl.gz", 2, 2), good=True)
    bad = spool.settle(_put(spool.incoming, "y.txt", 1, 1), good=False)
    assert first == spool.done / "x.jsonl.gz"
    assert second == spool.done / "x.jsonl.1.gz"
    assert first.read_bytes() == b"x"
    assert second.read_bytes() == b"xx"
    assert bad == spool.quarantine / "y.txt"
    assert not any(spool.incoming.iterdir())


def test_a_watched_folder_must_exist(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a directory"):
        Spool(tmp_path / "typo").prepare()


def test_a_published_snapshot_is_found_while_its_server_lives(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with open_store(db) as store:
        publisher = Publisher(db)
        first = publisher.publish(store.con)
        assert current_snapshot(db) == first
        second = publisher.publish(store.con)
        third = publisher.publish(store.con)
        assert current_snapshot(db) == third
        # The generation before the current stays for readers that just read the pointer.
        assert second.exists()
        assert not first.exists()
        with open_store(third, read_only=True) as snap:
            assert snap.read_only
        publisher.retire()
        assert current_snapshot(db) is None
        assert not published_dir(db).exists()


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    return int(proc.stdout)


@pytest.mark.parametrize(
    "pointer",
    [
        "not json",
        "[]",
        '{"pid": "1", "file": "gen-000000001.duckdb"}',
        '{"pid": PID_SELF, "file": "../s.duckdb"}',
        '{"pid": PID_SELF, "file": "gen-000000009.duckdb"}',
        '{"pid": PID_DEAD, "file": "gen-000000001.duckdb"}',
    ],
)
def test_a_stale_or_damaged_pointer_names_no_snapshot(tmp_path: Path, pointer: str) -> None:
    db = tmp_path / "s.duckdb"
    folder = published_dir(db)
    folder.mkdir()
    (folder / "gen-000000001.duckdb").write_bytes(b"")
    text = pointer.replace("PID_SELF", str(os.getpid())).replace("PID_DEAD", str(_dead_pid()))
    (folder / POINTER).write_text(text)
    assert current_snapshot(db) is None


def test_the_worker_runs_nicer_than_the_threads_that_serve(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "watch")
    spool.root.mkdir()
    spool.prepare()
    me = threading.get_native_id()
    base = os.getpriority(os.PRIO_PROCESS, me)
    store = open_store(tmp_path / "s.duckdb")
    worker = Worker(store, spool, clock=lambda: datetime(2026, 12, 1, tzinfo=UTC), known_changes=[])
    worker.start()
    try:
        (thread,) = [t for t in threading.enumerate() if t.name == "voipwatch-worker"]
        assert thread.native_id is not None
        want = min(base + WORKER_NICE, 19)
        deadline = time.monotonic() + 30
        while os.getpriority(os.PRIO_PROCESS, thread.native_id) != want:
            assert time.monotonic() < deadline, "the worker's priority never changed"
            time.sleep(0.05)
        assert os.getpriority(os.PRIO_PROCESS, me) == base  # the serving threads keep theirs
    finally:
        worker.stop()
        store.close()
