"""The answer cache of a server that ingests while it serves, and the cached-answer path.

After a batch the answers last asked for are computed again from the new snapshot
while readers keep getting the previous batch's; then the two swap. Cached answers
are sent before routing, with the headers the app would send, an ETag and gzip.
Data: real OONI measurements of the project's fixtures, ingested by the observatory's
own worker; every request goes through the app in process (Starlette's client).
"""

from __future__ import annotations

import gzip
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from voipwatch.events import known
from voipwatch.observatory import Spool, Worker
from voipwatch.store import open_store
from voipwatch.web.answers import Stored, response_key
from voipwatch.web.app import create_app

FIXTURES = Path(__file__).parents[2] / "fixtures" / "measurements"
BASE = "http://127.0.0.1"


def _files() -> list[Path]:
    return sorted(p for p in FIXTURES.glob("*.json") if p.is_file())


def _worker(tmp_path: Path) -> Worker:
    spool = Spool(tmp_path / "watch")
    spool.root.mkdir()
    spool.prepare()
    return Worker(
        open_store(tmp_path / "live.duckdb"),
        spool,
        clock=lambda: datetime(2026, 12, 1, tzinfo=UTC),
        known_changes=known.load(None),
    )


def _drop(files: list[Path], spool: Spool) -> None:
    for f in files:
        shutil.copyfile(f, spool.incoming / f.name)


def _count(client: TestClient) -> int:
    r = client.get("/api/v1/aggregation")
    assert r.status_code == 200, r.text
    return int(r.json()["result"]["measurement_count"])


def test_a_batch_shows_once_its_answers_are_computed_again(tmp_path: Path) -> None:
    files = _files()
    assert len(files) > 6
    worker = _worker(tmp_path)
    app = create_app(tmp_path / "live.duckdb", live=worker)
    db = app.state.db
    worker.listeners.insert(0, lambda o: db.follow(o.snapshot))
    # Computed again last (the least recently used): it holds the swap once the rest
    # of the next batch's answers are ready.
    gate_entered, gate_open = threading.Event(), threading.Event()
    gate_calls: list[int] = []

    def gate() -> int:
        gate_calls.append(1)
        if len(gate_calls) > 1:
            gate_entered.set()
            assert gate_open.wait(60)
        return len(gate_calls)

    try:
        with TestClient(app, base_url=BASE) as client:
            _drop(files[:3], worker.spool)
            first = worker.run_once()
            assert first is not None
            assert first.new > 0
            db.cache.get_or_compute(("gate",), gate)
            assert _count(client) == first.new
            page = client.get("/")
            assert page.status_code == 200

            _drop(files[3:], worker.spool)
            batch = threading.Thread(target=worker.run_once)
            batch.start()
            try:
                assert gate_entered.wait(120), "the refresh never reached the gate"
                # The next batch is committed and its answers computed, but not shown yet.
                assert _count(client) == first.new
                assert client.get("/").text == page.text
            finally:
                gate_open.set()
                batch.join(120)
            assert not batch.is_alive()
            # Swapped: the new batch's answers were computed before anyone asked.
            misses = db.cache.misses
            second = _count(client)
            assert second > first.new
            assert client.get("/").status_code == 200
            assert db.cache.misses == misses
            assert db.cache.get_or_compute(("gate",), gate) == 2
    finally:
        gate_open.set()
        worker.stop()
        worker.store.close()


def test_a_cached_answer_is_sent_as_the_app_sends_it(tmp_path: Path) -> None:
    worker = _worker(tmp_path)
    _drop(_files(), worker.spool)
    assert worker.run_once() is not None
    worker.stop()
    worker.store.close()
    app = create_app(tmp_path / "live.duckdb")
    with TestClient(app, base_url=BASE) as client:
        drawn = client.get("/", headers={"accept-encoding": "identity"})
        assert drawn.status_code == 200
        sent = client.get("/", headers={"accept-encoding": "identity"})
        assert sent.content == drawn.content
        assert dict(sent.headers) == dict(drawn.headers)
        etag = sent.headers["etag"]
        assert sent.headers["content-security-policy"].startswith("default-src 'none'")
        # A browser that has the page asks again with its ETag: nothing is sent.
        same = client.get("/", headers={"if-none-match": etag})
        assert same.status_code == 304
        assert same.content == b""
        assert same.headers["etag"] == etag
        assert client.get("/", headers={"if-none-match": '"other"'}).status_code == 200
        # Compressed once, for the clients that accept it (httpx decodes it again).
        zipped = client.get("/", headers={"accept-encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.content == drawn.content
        # Every part of the URL names its own answer.
        other = client.get("/?days=30")
        assert other.status_code == 200
        assert other.headers["etag"] != etag


def test_the_cached_path_answers_before_the_app_and_only_for_cached_gets(tmp_path: Path) -> None:
    worker = _worker(tmp_path)
    worker.stop()
    worker.store.close()
    app = create_app(tmp_path / "live.duckdb")
    db = app.state.db
    with TestClient(app, base_url=BASE) as client:
        path = "/no/such/route"
        assert client.get(path).status_code == 404  # the app's answer: nothing cached
        # An answer stored under that URL is what the cached path sends from now on,
        # although no route would ever answer it.
        body = b"an answer kept in the cache"
        scope = {
            "type": "http",
            "scheme": "http",
            "root_path": "",
            "path": path,
            "query_string": b"",
            "headers": [(b"host", b"127.0.0.1")],
        }
        stored = Stored.of(200, (("content-type", "text/plain"),), body, gzip.compress(body))
        db.cache.get_or_compute(response_key(scope), lambda: stored)
        kept = client.get(path, headers={"accept-encoding": "identity"})
        assert kept.status_code == 200
        assert kept.content == body
        assert kept.headers["x-frame-options"] == "DENY"
        # Other methods, other URLs and cross-origin requests go to the app.
        assert client.head(path).status_code in (404, 405)
        assert client.get(path + "?x=1").status_code == 404
        assert client.get(path, headers={"origin": "http://127.0.0.1"}).status_code == 404
        # The host allow-list still comes first.
        assert client.get(path, headers={"host": "evil.example"}).status_code == 421
