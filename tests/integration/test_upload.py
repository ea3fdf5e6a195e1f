"""Uploading: the probe's queue against ``voipwatch serve --collector-spool`` on loopback.

The server is the real command in a subprocess; the measurements are real OONI ones
(``tests/fixtures/measurements``). With the collector down nothing is lost and the
retries are bounded; once it is up, the queue empties into the spool, each
measurement once; a measurement the collector refuses is kept with its reason; a
collector killed (``kill -9``) mid-upload loses nothing it acknowledged.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from voipwatch.store import open_store
from voipwatch.upload import ATTEMPTS, Queue, deliver

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "measurements"
VOIPWATCH = [sys.executable, "-m", "voipwatch.cli"]
SENT = ["whatsapp-ok.json", "telegram-ok.json", "signal-ok.json"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def compact(name: str) -> bytes:
    return json.dumps(json.loads((FIXTURES / name).read_text())).encode()


def server_pid(tmp: Path) -> int:
    return int((tmp / "serve.pid").read_text())


@contextmanager
def collector(tmp: Path, port: int) -> Iterator[Path]:
    """``voipwatch serve --collector-spool`` on 127.0.0.1:port; yields the spool."""
    db, spool, log = tmp / "store.duckdb", tmp / "spool", tmp / "serve.log"
    if not db.exists():
        with open_store(db):
            pass
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*VOIPWATCH, "serve", "--db", str(db), "--port", str(port), "--no-warm",
             "--collector-spool", str(spool)],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"},
        )  # fmt: skip
    (tmp / "serve.pid").write_text(str(proc.pid))
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not start"
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield spool
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=30)


def test_queue_waits_for_the_collector_then_delivers_each_once(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "queue")
    for name in SENT:
        queue.put(compact(name))
    queue.put(compact(SENT[0]))  # queued twice by mistake: one file
    assert len(queue.pending()) == len(SENT)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    pauses: list[float] = []
    with httpx.Client(timeout=5) as client:
        down = deliver(queue, url, client, sleep=pauses.append)
    assert down.acknowledged == []
    assert down.queued == len(SENT)
    assert down.error is not None
    assert down.error.status == 0
    assert pauses == [1.0, 2.0]  # ATTEMPTS tries for the first, then it stops asking
    assert len(pauses) == ATTEMPTS - 1
    assert len(queue.pending()) == len(SENT)

    with collector(tmp_path, port) as spool, httpx.Client(timeout=10) as client:
        up = deliver(queue, url, client, sleep=pauses.append)
        again = deliver(queue, url, client, sleep=pauses.append)
    assert len(up.acknowledged) == len(SENT)
    assert (up.queued, up.rejected) == (0, [])
    assert (again.acknowledged, again.queued) == ([], 0)
    assert queue.pending() == []
    stored = sorted(p.stem for p in (spool / "incoming").glob("*.json"))
    assert stored == sorted(up.acknowledged)
    tests = {
        json.loads((spool / "incoming" / f"{u}.json").read_text())["test_name"] for u in stored
    }
    assert tests == {"whatsapp", "telegram", "signal"}
    assert sorted(p.suffix for p in (spool / "reports").iterdir()) == [".closed"] * len(SENT)


def test_a_refused_measurement_is_kept_with_the_reason(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "queue")
    unknown = json.loads((FIXTURES / "whatsapp-ok.json").read_text())
    unknown["test_name"] = "ndt"
    queue.put(json.dumps(unknown).encode())
    queue.put(b'{"test_name": "whatsapp", "oops": ')
    queue.put(compact("telegram-ok.json"))
    port = free_port()
    with collector(tmp_path, port) as spool:
        r = subprocess.run(
            [*VOIPWATCH, "upload", "--to", f"http://127.0.0.1:{port}", "--json",
             "--queue", str(tmp_path / "queue")],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert len(result["acknowledged"]) == 1
    assert len(result["rejected"]) == 2
    assert result["queued"] == 0
    reasons = sorted(p.read_text() for p in (tmp_path / "queue" / "rejected").glob("*.reason"))
    assert any("not one voipwatch collects (HTTP 400)" in x for x in reasons), reasons
    assert any("not a measurement" in x for x in reasons), reasons
    assert len(list((spool / "incoming").glob("*.json"))) == 1
    assert "refused by the collector" in r.stderr


def test_upload_to_a_collector_that_is_down_keeps_the_queue(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "queue")
    queue.put(compact("signal-ok.json"))
    r = subprocess.run(
        [*VOIPWATCH, "upload", "--to", f"http://127.0.0.1:{free_port()}",
         "--queue", str(tmp_path / "queue")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 1
    assert "1 measurement(s) stay queued" in r.stderr
    assert "Traceback" not in r.stderr
    assert len(queue.pending()) == 1


def test_a_server_killed_mid_upload_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """``kill -9`` of the collector while a submission is on the wire; after a restart
    the queue delivers the rest, and the spool holds each measurement exactly once —
    the one that may have been written without an acknowledgement included."""
    names = sorted(p.name for p in FIXTURES.glob("*.json"))
    queue = Queue(tmp_path / "queue")
    for name in names:
        queue.put(compact(name))
    total = len(queue.pending())
    assert total >= 10
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    submits = 0

    def kill_after_the_fourth_submit(response: httpx.Response) -> None:
        # The fourth measurement is stored, then the server dies before the probe
        # reads the acknowledgement: the probe must send it again, the spool keep it once.
        nonlocal submits
        parts = response.request.url.path.split("/")
        if len(parts) == 3 and parts[1] == "report":
            submits += 1
            if submits == 4:
                os.kill(server_pid(tmp_path), signal.SIGKILL)
                raise httpx.ReadError("the acknowledgement was lost", request=response.request)

    with collector(tmp_path, port) as spool:
        hooks = {"response": [kill_after_the_fourth_submit]}
        with httpx.Client(timeout=10, event_hooks=hooks) as client:
            first = deliver(queue, url, client, sleep=lambda s: None)
    assert len(first.acknowledged) == 3
    assert len(list((spool / "incoming").glob("*.json"))) == 4  # one unacknowledged
    assert first.queued == total - 3 - len(first.rejected)
    with collector(tmp_path, port) as spool, httpx.Client(timeout=10) as client:
        second = deliver(queue, url, client, sleep=lambda s: None)
    assert second.queued == 0
    assert queue.pending() == []
    acknowledged = first.acknowledged + second.acknowledged
    rejected = first.rejected + second.rejected
    stored = {p.stem for p in (spool / "incoming").glob("*.json")}
    assert set(acknowledged) <= stored  # every acknowledged one is there
    assert rejected == []  # real OONI measurements of tests voipwatch judges
    assert len(stored) == len(set(acknowledged)) == len(acknowledged) == total  # each once
    for uid in stored:
        json.loads((spool / "incoming" / f"{uid}.json").read_bytes())  # whole
    assert not list((spool / "tmp").iterdir())
