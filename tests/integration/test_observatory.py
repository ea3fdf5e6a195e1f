"""The running observatory: a server that ingests a watched folder while it serves.

Data: a world written by ``voipwatch generate`` (two countries with injected
blocks), dropped into the watched folder in parts. Everything runs on loopback:
the app in process (Starlette's client) or as a real ``voipwatch serve`` process,
webhook receivers as threads of this test.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from test_fetch import BUCKET, s3  # noqa: F401  (the loopback S3 server fixture)

from voipwatch.alerts.webhook import SIGNATURE_HEADER, WebhookSender
from voipwatch.events import known
from voipwatch.fetch.bucket import Bucket, bucket_url
from voipwatch.fetch.layout import Selection, parse_tests
from voipwatch.observatory import Fetcher, FetchSchedule, Spool, Worker, webhook_listener
from voipwatch.store import ingest, open_store
from voipwatch.store.snapshot import current_snapshot
from voipwatch.web.app import create_app

RUN = "import sys; from voipwatch.cli import main; sys.exit(main())"
SECRET = b"a shared secret for the webhook test"
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _now() -> datetime:
    return NOW


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUN, *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], int]:
    """The world's measurement files (flattened names) and how many measurements they hold."""
    out = tmp_path_factory.mktemp("world")
    r = _cli(
        "generate", "--seed", "3", "--out", str(out), "--weeks", "4",
        "--countries", "2", "--networks", "2", "--events", "2",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    flat = out / "flat"
    flat.mkdir()
    files = []
    for f in sorted((out / "raw").rglob("*.jsonl*")):
        target = flat / "-".join(f.relative_to(out / "raw").parts)
        shutil.copyfile(f, target)
        files.append(target)
    with open_store(out / "reference.duckdb") as ref:
        stats = ingest(ref, files, workers=1)
    assert stats.quarantined == 0
    assert stats.new > 1000
    return files, stats.new


def _drop(files: list[Path], spool: Spool) -> None:
    """Put files into incoming/ the way a collector does: write aside, then rename."""
    for f in files:
        tmp = spool.incoming / f".{f.name}.part"
        shutil.copyfile(f, tmp)
        os.replace(tmp, spool.incoming / f.name)


def _count(db: Path) -> int:
    with open_store(db, read_only=True) as store:
        row = store.con.execute("SELECT count(*) FROM measurements").fetchone()
    return int(row[0]) if row else 0


def _client_counts(client: TestClient) -> tuple[int, int]:
    """Measurements and events the API shows; the events asked for first."""
    events = client.get("/api/v1/events")
    assert events.status_code == 200, events.text
    agg = client.get("/api/v1/aggregation")
    assert agg.status_code == 200, agg.text
    return int(agg.json()["result"]["measurement_count"]), len(events.json()["results"])


class _Receiver(http.server.BaseHTTPRequestHandler):
    bodies: list[tuple[bytes, str]]

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length", "0"))
        self.bodies.append((self.rfile.read(n), self.headers.get(SIGNATURE_HEADER, "")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[bytes, str]]]]:
    bodies: list[tuple[bytes, str]] = []
    handler = type("Handler", (_Receiver,), {"bodies": bodies})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", bodies
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def hanging() -> Iterator[tuple[str, list[socket.socket]]]:
    """A receiver that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook", held
    finally:
        stop.set()
        thread.join(5)
        for c in held:
            c.close()
        listener.close()


def _verified(bodies: list[tuple[bytes, str]]) -> list[dict[str, object]]:
    out = []
    for body, signature in bodies:
        expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(signature, expected), "bad signature"
        out.append(json.loads(body))
    return out


def _wait(cond: object, what: str, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _worker(tmp_path: Path, db: Path) -> Worker:
    """A worker over a new store and a new watched folder (not started: tests drive it)."""
    spool = Spool(tmp_path / "watch")
    spool.root.mkdir()
    spool.prepare()
    return Worker(open_store(db), spool, clock=_now, known_changes=known.load(None))


def test_pages_move_from_one_whole_batch_to_the_next(
    world: tuple[list[Path], int], tmp_path: Path, receiver: tuple[str, list[tuple[bytes, str]]]
) -> None:
    files, total = world
    db = tmp_path / "live.duckdb"
    worker = _worker(tmp_path, db)
    spool, store = worker.spool, worker.store
    url, bodies = receiver
    sender = WebhookSender([url], SECRET, backoff=0.1)
    worker.listeners.append(webhook_listener(sender, _now))
    app = create_app(db, live=worker)
    worker.listeners.insert(0, lambda o: app.state.db.follow(o.snapshot))
    half = len(files) // 2
    try:
        with TestClient(app, base_url="http://127.0.0.1") as client:
            assert _client_counts(client) == (0, 0)
            assert worker.run_once() is None  # nothing waiting
            _drop(files[:half], spool)
            first = worker.run_once()
            assert first is not None
            assert first.files == half
            assert first.new > 0
            after_first = _client_counts(client)
            assert after_first[0] == first.new
            # The second batch runs while the pages are read: every answer is the
            # first batch's or the second's, measurements and events together.
            _drop(files[half:], spool)
            seen: set[tuple[int, int]] = set()
            batch = threading.Thread(target=worker.run_once)
            batch.start()
            while batch.is_alive():
                seen.add(_client_counts(client))
            batch.join()
            final = _client_counts(client)
            assert final[0] == total
            # Asked first, the events may be the first batch's and the measurements the
            # second's; the other way round would be half a batch.
            assert seen <= {after_first, final, (final[0], after_first[1])}
            assert final[1] != after_first[1]  # the second batch did change the events
            # Exactly once: the same files again store nothing new.
            _drop(files[:3], spool)
            again = worker.run_once()
            assert again is not None
            assert again.new == 0
            assert again.duplicate > 0
            assert _client_counts(client) == final
            # An unreadable file is quarantined, and the good data stays.
            (spool.incoming / "junk.jsonl").write_bytes(b"not json\n")
            (spool.incoming / "notes.txt").write_bytes(b"hello\n")
            bad = worker.run_once()
            assert bad is not None
            assert bad.files_quarantined == 2
            assert sorted(p.name for p in spool.quarantine.iterdir()) == ["junk.jsonl", "notes.txt"]
            assert _client_counts(client) == final
        assert not any(spool.incoming.iterdir())
        assert len(list(spool.done.iterdir())) == len(files) + 3
        assert sender.join(60)
    finally:
        sender.close()
        worker.stop()
        store.close()
    notices = _verified(bodies)
    assert notices, "no webhook was sent although blocks were found"
    announced = {e["event_id"] for n in notices for e in n["new"]}  # type: ignore[attr-defined]
    with open_store(db, read_only=True) as s:
        stored = s.con.execute("SELECT event_id, kind FROM events").fetchall()
    blocks = {i for i, kind in stored if kind in ("block", "throttling")}
    assert blocks
    assert blocks <= announced
    assert current_snapshot(db) is None  # withdrawn when the worker stopped


def test_a_hanging_receiver_times_out_and_blocks_nothing(
    world: tuple[list[Path], int],
    tmp_path: Path,
    hanging: tuple[str, list[socket.socket]],
    receiver: tuple[str, list[tuple[bytes, str]]],
) -> None:
    files, total = world
    worker = _worker(tmp_path, tmp_path / "live.duckdb")
    spool, store = worker.spool, worker.store
    hang_url, held = hanging
    good_url, bodies = receiver
    sender = WebhookSender([hang_url, good_url], SECRET, attempts=2, backoff=0.1, timeout=1.0)
    worker.listeners.append(webhook_listener(sender, _now))
    try:
        _drop(files, spool)
        done = threading.Thread(target=worker.run_once)
        done.start()
        done.join(240)
        assert not done.is_alive(), "ingest waited for a webhook receiver"
        assert sender.join(60)
    finally:
        sender.close()
        worker.stop()
        store.close()
    assert held, "the hanging receiver was never called"
    assert sender.failed == 1
    assert sender.delivered == 1
    assert _verified(bodies)
    assert _count(tmp_path / "live.duckdb") == total
    # Notices for a receiver that never answers pile up only to the queue's bound.
    bounded = WebhookSender([hang_url], SECRET, attempts=1, timeout=5.0, queue_size=2)
    try:
        for _ in range(5):
            bounded.send(b"{}")
        assert bounded.dropped >= 2
        assert bounded.delivered == 0
    finally:
        bounded.close()


def _serve(db: Path, watch: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    args = ["serve", "--db", str(db), "--port", str(port), "--no-warm"]
    args += ["--watch", str(watch), "--poll", "0.2", *extra]
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            return httpx.get(base + "/api/v1/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    _wait(up, "the server to start", 60)
    return proc, base


def test_reading_commands_work_while_serve_holds_the_store(
    world: tuple[list[Path], int], tmp_path: Path, receiver: tuple[str, list[tuple[bytes, str]]]
) -> None:
    files, total = world
    watch = tmp_path / "watch"
    watch.mkdir()
    db = tmp_path / "served.duckdb"
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET + b"\n")
    url, bodies = receiver
    proc, base = _serve(db, watch, "--webhook", url, "--webhook-secret-file", str(secret))
    try:
        spool = Spool(watch)
        _drop(files, spool)
        _wait(lambda: not any(spool.incoming.iterdir()), "the folder to be ingested")

        def stored() -> bool:
            r = httpx.get(base + "/api/v1/aggregation", timeout=30).json()
            return bool(r["result"]["measurement_count"] == total)

        _wait(stored, "the batch to show")
        api_events = httpx.get(base + "/api/v1/events", timeout=30).json()["results"]
        assert api_events
        # Another shell, while the server holds the store.
        ingest_again = _cli("ingest", str(files[0]), "--db", str(db))
        assert ingest_again.returncode == 1
        assert "held by a running voipwatch server" in ingest_again.stderr
        events = _cli("events", "--json", "--db", str(db))
        assert events.returncode == 0, events.stderr
        listed = [json.loads(line) for line in events.stdout.splitlines()]
        assert sorted(e["event_id"] for e in listed) == sorted(e["event_id"] for e in api_events)
        agg = _cli("aggregate", "--db", str(db), "--format", "json")
        assert agg.returncode == 0, agg.stderr
        assert json.loads(agg.stdout)["result"]["measurement_count"] == total
        cases = _cli("cases", "list", "--db", str(db), "--json")
        assert cases.returncode == 0, cases.stderr
        cc = listed[0]["probe_cc"]
        report = _cli("report", "--db", str(db), "--country", cc, "--out", str(tmp_path / "b.html"))
        assert report.returncode == 0, report.stderr
        assert (tmp_path / "b.html").stat().st_size > 0
        _wait(lambda: bool(bodies), "the webhook")
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert any(n["new"] for n in _verified(bodies))
    # One line per batch; the batches' new measurements add up to the world.
    lines = [ln for ln in err.decode().splitlines() if " file(s): " in ln]
    assert sum(int(ln.split(" file(s): ")[1].split(" new")[0]) for ln in lines) == total
    assert "Traceback" not in err.decode()
    assert _count(db) == total  # the store itself, once the server let go


def test_kill_9_in_the_middle_of_a_batch_loses_no_file(
    world: tuple[list[Path], int], tmp_path: Path
) -> None:
    files, total = world
    watch = tmp_path / "watch"
    watch.mkdir()
    db = tmp_path / "served.duckdb"
    spool = Spool(watch)
    proc, _ = _serve(db, watch)
    _drop(files, spool)
    # Files arrive while the worker polls, so it is taking batches now: kill it.
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    left = {p.name for p in spool.incoming.iterdir()}
    moved = {p.name for p in spool.done.iterdir()}
    assert left | moved == {f.name for f in files}
    assert left, "the kill came after the last batch"
    proc, _ = _serve(db, watch)
    try:
        _wait(lambda: not any(spool.incoming.iterdir()), "the rest to be ingested")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    assert sorted(p.name for p in spool.done.iterdir()) == sorted(f.name for f in files)
    assert not any(spool.quarantine.iterdir())
    assert _count(db) == total


def test_scheduled_fetch_hands_each_new_file_over_once(
    s3: tuple[str, dict[str, bytes]],  # noqa: F811  (the fixture imported above)
    tmp_path: Path,
) -> None:
    endpoint, objects = s3
    worker = _worker(tmp_path, tmp_path / "live.duckdb")
    spool, store = worker.spool, worker.store
    mirror = tmp_path / "mirror"
    tests = parse_tests("telegram")
    schedule = FetchSchedule(timedelta(hours=1), ("IT",), tests, mirror)
    # Noon on 11 January 2020: the run fetches the 10th and the 11th.
    wanted = Selection((date(2020, 1, 10), date(2020, 1, 11)), ("IT",), tests)
    expected = {k.replace("/", "_") for k in objects if wanted.wants(k)}
    assert expected
    try:
        with httpx.Client(timeout=30, trust_env=False) as client:
            bucket = Bucket(bucket_url(endpoint, BUCKET), client)
            noon = datetime(2020, 1, 11, 12, tzinfo=UTC)
            fetcher = Fetcher(schedule, bucket, spool, clock=lambda: noon)
            first = fetcher.run_once()
            assert first.fetched == len(expected)
            assert {p.name for p in spool.incoming.iterdir()} == expected
            stored = worker.run_once()
            assert stored is not None
            assert stored.new > 0
            # The next run fetches nothing and hands nothing over again.
            assert fetcher.run_once().fetched == 0
            assert not any(spool.incoming.iterdir())
            # Killed between a download and its handover: handed over again, stored once.
            next(mirror.rglob("*.handed")).unlink()
            fetcher.run_once()
            assert len(list(spool.incoming.iterdir())) == 1
            again = worker.run_once()
            assert again is not None
            assert again.new == 0
            assert again.duplicate > 0
    finally:
        worker.stop()
        store.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--webhook", "http://127.0.0.1:9/h"], "--watch"),
        (["--watch", "WATCH", "--webhook", "http://127.0.0.1:9/h"], "--webhook-secret-file"),
        (["--watch", "WATCH", "--webhook", "file:///etc/passwd", "--webhook-secret-file",
          "SECRET"], "only http:// and https://"),
        (["--watch", "WATCH", "--fetch-every", "1x"], "not a period"),
        (["--watch", "WATCH", "--fetch-every", "10s"], "too short"),
        (["--fetch-every", "1h"], "--watch"),
        (["--watch", "WATCH", "--fetch-every", "1h", "--cc", "Iran"], "not a country code"),
    ],
)  # fmt: skip
def test_bad_serve_options_get_one_clear_line(
    args: list[str], message: str, tmp_path: Path
) -> None:
    (tmp_path / "watch").mkdir()
    (tmp_path / "secret").write_text("s3cret")
    given = [
        a.replace("WATCH", str(tmp_path / "watch")).replace("SECRET", str(tmp_path / "secret"))
        for a in args
    ]
    r = _cli("serve", "--db", str(tmp_path / "s.duckdb"), "--port", "1", *given)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "s.duckdb").exists()  # refused before anything was written


@pytest.mark.timeout(300)
def test_batches_are_judged_on_a_dask_cluster_when_one_is_given(
    world: tuple[list[Path], int], tmp_path: Path
) -> None:
    from distributed import LocalCluster

    files = world[0][:20]
    with open_store(tmp_path / "reference.duckdb") as ref:
        expected = ingest(ref, files, workers=1)
    spool = Spool(tmp_path / "watch")
    spool.root.mkdir()
    spool.prepare()
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        ) as cluster,
        open_store(tmp_path / "live.duckdb") as store,
    ):
        worker = Worker(
            store,
            spool,
            clock=_now,
            known_changes=known.load(None),
            engine="dask",
            scheduler=cluster.scheduler_address,
        )
        try:
            _drop(files, spool)
            outcome = worker.run_once()
        finally:
            worker.stop()
    assert outcome is not None
    assert (outcome.read, outcome.new, outcome.quarantined) == (
        expected.read,
        expected.new,
        expected.quarantined,
    )
    assert len(list(spool.done.iterdir())) == len(files)


def test_events_lists_the_stored_events_beside_a_reading_server(
    world: tuple[list[Path], int], tmp_path: Path
) -> None:
    db = tmp_path / "s.duckdb"
    with open_store(db) as store:
        ingest(store, world[0], workers=1)
    detected = _cli("events", "--json", "--db", str(db))
    assert detected.returncode == 0, detected.stderr
    assert detected.stdout
    # A plain `voipwatch serve` holds the store read-only: events lists, it cannot detect.
    with open_store(db, read_only=True):
        listed = _cli("events", "--json", "--db", str(db))
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout == detected.stdout
        assert "held by a running server" in listed.stderr
        rebuild = _cli("events", "--rebuild", "--db", str(db))
        assert rebuild.returncode == 1
        assert "in use by another voipwatch process" in rebuild.stderr
    # A writer holds it: nobody can read it, one clear line.
    with open_store(db):
        busy = _cli("events", "--json", "--db", str(db))
    assert busy.returncode == 1
    assert "in use by another voipwatch process" in busy.stderr
    assert "Traceback" not in busy.stderr + rebuild.stderr
