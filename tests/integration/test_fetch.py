"""``voipwatch fetch`` against an S3-compatible server and a fake OONI API, on loopback.

The bucket is moto's S3 server, seeded at test time with OONI's public samples laid
out as OONI's bucket is (``raw/YYYYMMDD/HH/CC/<test>/...jsonl.gz``, one file as an
older ``.tar.gz`` postcan); the API is a small HTTP server of our own that answers
``/api/v1/measurements`` and ``/api/v1/raw_measurement``, with a rate limit.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from voipwatch.errors import FetchError
from voipwatch.fetch.api import Api, pull
from voipwatch.fetch.bucket import Bucket, RemoteObject
from voipwatch.fetch.layout import Selection, bucket_test_name, parse_tests
from voipwatch.fetch.mirror import FetchStats, fetch, plan

VOIPWATCH = [sys.executable, "-m", "voipwatch.cli"]
BUCKET = "ooni-data-eu-fra"
SAMPLES = ("derived/all_raw_measurements.jsonl", "more/all_im.jsonl")
#: The selection most tests fetch: Italy's telegram runs of 9-11 January 2020 (three
#: hourly files, one of them a postcan); the same days hold other tests from Italy.
SINCE, UNTIL, CC, TESTS = "2020-01-09", "2020-01-12", "IT", "telegram"
POSTCAN_KEY_PART = "raw/20200110/"


def _key(m: dict[str, Any], suffix: str) -> str:
    t = str(m["measurement_start_time"])
    day, hour = t[:10].replace("-", ""), t[11:13]
    test = bucket_test_name(str(m["test_name"]))
    cc = m["probe_cc"]
    return f"raw/{day}/{hour}/{cc}/{test}/{day}{hour}_{cc}_{test}.n1.0{suffix}"


def _postcan(lines: list[bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for i, line in enumerate(lines):
            body = json.dumps({"format": "json", "content": json.loads(line)}).encode()
            info = tarfile.TarInfo(f"2020011000_IT_telegram/{i:04d}.post")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def seed_objects(samples: Path) -> dict[str, bytes]:
    """OONI's samples as the bucket would hold them: key → file bytes."""
    groups: dict[str, list[bytes]] = {}
    seen: set[bytes] = set()
    for name in SAMPLES:
        for line in (samples / name).read_bytes().splitlines():
            m = json.loads(line)
            if not (m.get("probe_cc") and m.get("test_name") and m.get("measurement_start_time")):
                continue
            if str(m["measurement_start_time"]) < "2016" or line in seen:
                continue
            seen.add(line)
            groups.setdefault(_key(m, ""), []).append(line)
    objects: dict[str, bytes] = {}
    for base, lines in groups.items():
        if base.startswith(POSTCAN_KEY_PART) and "/IT/telegram/" in base:
            objects[base + ".tar.gz"] = _postcan(lines)
        else:
            objects[base + ".jsonl.gz"] = gzip.compress(b"\n".join(lines) + b"\n", mtime=0)
    return objects


@pytest.fixture(scope="module")
def s3(shared_dir: Path) -> Iterator[tuple[str, dict[str, bytes]]]:
    """A moto S3 server on loopback holding the seeded bucket; yields (endpoint, objects)."""
    pytest.importorskip("moto.server")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        objects = seed_objects(shared_dir / "ooni-samples")
        with httpx.Client(timeout=30) as client:
            # Public, as OONI's bucket is: read without credentials.
            public = {"x-amz-acl": "public-read"}
            assert client.put(f"{endpoint}/{BUCKET}", headers=public).status_code == 200
            for key, body in objects.items():
                resp = client.put(f"{endpoint}/{BUCKET}/{key}", content=body, headers=public)
                assert resp.status_code == 200
        yield endpoint, objects
    finally:
        server.stop()


def expected(objects: dict[str, bytes]) -> dict[str, bytes]:
    sel = Selection(tuple(date(2020, 1, d) for d in (9, 10, 11)), (CC,), parse_tests(TESTS))
    return {k: v for k, v in objects.items() if sel.wants(k)}


def mirror_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def run_fetch(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_PROXY": "127.0.0.1"}
    return subprocess.run(
        [*VOIPWATCH, "fetch", *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_fetch_mirrors_exactly_the_selection(
    s3: tuple[str, dict[str, bytes]], tmp_path: Path
) -> None:
    endpoint, objects = s3
    want = expected(objects)
    assert len(want) == 3, "three hourly telegram files from Italy (one a postcan)"
    assert any(k.endswith(".tar.gz") for k in want)
    assert len(objects) > 20, "the bucket holds much more than the selection"
    out = tmp_path / "mirror"
    args = ["--since", SINCE, "--until", UNTIL, "--cc", CC, "--test", TESTS]
    done = run_fetch(*args, "--endpoint", endpoint, "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["fetched"] == 3
    assert summary["bytes_fetched"] == sum(len(v) for v in want.values())
    assert mirror_files(out) == want

    # The mirror is what ingest reads: every measurement of the three files.
    db = tmp_path / "m.duckdb"
    ingested = subprocess.run(
        [*VOIPWATCH, "ingest", "--json", "--db", str(db), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ingested.returncode == 0, ingested.stderr
    assert json.loads(ingested.stdout)["files"] == 3

    again = run_fetch(*args, "--endpoint", endpoint, "--out", str(out), "--json")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout.splitlines()[-1])
    assert (summary["complete"], summary["fetched"], summary["bytes_fetched"]) == (3, 0, 0)


def test_dry_run_lists_sizes_and_writes_nothing(
    s3: tuple[str, dict[str, bytes]], tmp_path: Path
) -> None:
    endpoint, objects = s3
    want = expected(objects)
    out = tmp_path / "mirror"
    args = ["--since", SINCE, "--until", UNTIL, "--cc", CC, "--test", TESTS, "--dry-run"]
    done = run_fetch(*args, "--endpoint", endpoint, "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    listed = {r["key"]: r["size"] for r in rows if "key" in r}
    assert listed == {k: len(v) for k, v in want.items()}
    assert rows[-1]["summary"]["bytes_needed"] == sum(len(v) for v in want.values())
    assert not out.exists()

    plain = run_fetch(*args[:-1], "--dry-run", "--endpoint", endpoint, "--out", str(out))
    assert plain.returncode == 0, plain.stderr
    assert all(k in plain.stdout for k in want)
    assert "would fetch 3" in plain.stderr


class _Counting:
    """An httpx client that counts object downloads and can fail after some of them."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.downloads: list[str] = []
        self.fail_after = fail_after
        self.lock = threading.Lock()
        self.client = httpx.Client(timeout=30, event_hooks={"request": [self._hook]})

    def _hook(self, request: httpx.Request) -> None:
        if "list-type" in request.url.query.decode():
            return
        with self.lock:
            if self.fail_after is not None and len(self.downloads) >= self.fail_after:
                raise httpx.ConnectError("connection lost (simulated)", request=request)
            self.downloads.append(request.url.path.split("/", 2)[2])


def _bucket(endpoint: str, counting: _Counting) -> Bucket:
    return Bucket(f"{endpoint}/{BUCKET}", counting.client, sleep=lambda _: None)


def _selection() -> Selection:
    return Selection(tuple(date(2020, 1, d) for d in (9, 10, 11)), (CC,), parse_tests(TESTS))


def test_interrupted_fetch_resumes_without_refetching_complete_files(
    s3: tuple[str, dict[str, bytes]], tmp_path: Path
) -> None:
    endpoint, objects = s3
    want = expected(objects)
    out = tmp_path / "mirror"
    # The first run loses its connection for good after one file.
    first = _Counting(fail_after=1)
    stats = FetchStats()
    planned = plan(_bucket(endpoint, first), _selection(), out, stats)
    fetch(_bucket(endpoint, first), planned, stats, jobs=1)
    assert (stats.fetched, stats.failed) == (1, 2)
    done_first = set(first.downloads)
    assert set(mirror_files(out)) == done_first

    # A download cut mid-way leaves a .part file, which the next run resumes.
    cut_key = sorted(set(want) - done_first)[0]
    cut = out.joinpath(*cut_key.split("/"))
    cut.parent.mkdir(parents=True, exist_ok=True)
    cut.with_name(cut.name + ".part").write_bytes(want[cut_key][:100])

    second = _Counting()
    stats = FetchStats()
    planned = plan(_bucket(endpoint, second), _selection(), out, stats)
    assert {p.obj.key: p.state for p in planned}[cut_key] == "partial"
    fetch(_bucket(endpoint, second), planned, stats, jobs=2)
    assert (stats.complete, stats.fetched, stats.failed) == (1, 2, 0)
    assert not set(second.downloads) & done_first, "complete files are not fetched again"
    assert stats.bytes_fetched == sum(len(want[k]) for k in want if k not in done_first) - 100
    assert mirror_files(out) == want


def test_corrupted_file_is_detected_and_fetched_again(
    s3: tuple[str, dict[str, bytes]], tmp_path: Path
) -> None:
    endpoint, objects = s3
    want = expected(objects)
    out = tmp_path / "mirror"
    args = ["--since", SINCE, "--until", UNTIL, "--cc", CC, "--test", TESTS]
    assert run_fetch(*args, "--endpoint", endpoint, "--out", str(out)).returncode == 0
    victim_key = sorted(want)[0]
    victim = out.joinpath(*victim_key.split("/"))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different bytes: only the checksum tells
    victim.write_bytes(bytes(data))

    done = run_fetch(*args, "--endpoint", endpoint, "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert (summary["complete"], summary["fetched"], summary["refetched"]) == (2, 1, 1)
    assert mirror_files(out) == want


def test_download_that_keeps_failing_verification_is_an_error(tmp_path: Path) -> None:
    body = b"not what the listing promised"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    bucket = Bucket("http://bucket.invalid/b", client, sleep=lambda _: None)
    obj = RemoteObject("raw/20200110/17/IT/telegram/x.jsonl.gz", len(body), "0" * 32)
    with pytest.raises(FetchError, match="checksum mismatch"):
        bucket.download(obj, tmp_path / "x.jsonl.gz", lambda _: None)
    assert not list(tmp_path.iterdir()), "no unverified file is left under its final name"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2020-01-09", "--test", "whatsap"], "unknown test name 'whatsap'"),
        (["--since", "2020-01-12", "--until", "2020-01-09"], "--until: 2020-01-09 is not after"),
        (["--since", "2020-13-01"], "is not a date"),
        (["--since", "2020-01-09", "--cc", "Italy"], "not a country code"),
    ],
)
def test_bad_arguments_get_one_clear_line(args: list[str], message: str, tmp_path: Path) -> None:
    done = run_fetch(*args, "--endpoint", "http://127.0.0.1:9", "--out", str(tmp_path / "m"))
    assert done.returncode == 2
    lines = [x for x in done.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, done.stderr
    assert message in lines[0]
    assert "Traceback" not in done.stderr


def test_unreachable_endpoint_is_one_line(tmp_path: Path) -> None:
    done = run_fetch(
        "--since", SINCE, "--cc", CC, "--endpoint", "http://127.0.0.1:9", "--out", str(tmp_path)
    )
    assert done.returncode == 1
    lines = [x for x in done.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, done.stderr
    assert "127.0.0.1:9" in lines[0]


# --- the OONI API ---------------------------------------------------------------------


class FakeApi(ThreadingHTTPServer):
    """``/api/v1/measurements`` (paged by ``next_url``) and ``/api/v1/raw_measurement``.

    The first request of all, and every third raw request, is answered 429 with
    ``Retry-After: 0``, as a rate-limited API would.
    """

    def __init__(self, measurements: list[dict[str, Any]]) -> None:
        super().__init__(("127.0.0.1", 0), _ApiHandler)
        self.by_uid = {
            f"20200110000000.000000_IT_telegram_{i:06x}": m for i, m in enumerate(measurements)
        }
        self.requests: list[str] = []
        self.limited = 0


class _ApiHandler(BaseHTTPRequestHandler):
    server: FakeApi

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        srv = self.server
        srv.requests.append(self.path)
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        n = len(srv.requests)
        if n == 1 or (url.path.endswith("raw_measurement") and n % 3 == 0):
            srv.limited += 1
            self._send(429, {"error": "rate limit"}, {"Retry-After": "0"})
            return
        if url.path == "/api/v1/measurements":
            rows = [
                {"measurement_uid": uid, "test_name": m["test_name"], "probe_cc": m["probe_cc"]}
                for uid, m in srv.by_uid.items()
                if m["test_name"] == q.get("test_name")
                and m["probe_cc"] == q.get("probe_cc", m["probe_cc"])
            ]
            offset, limit = int(q.get("offset", 0)), int(q.get("limit", 100))
            page = rows[offset : offset + limit]
            more = offset + limit < len(rows)
            nxt = f"/api/v1/measurements?{url.query.split('&offset=')[0]}&offset={offset + limit}"
            self._send(200, {"metadata": {"next_url": nxt if more else None}, "results": page})
        elif url.path == "/api/v1/raw_measurement":
            m = srv.by_uid.get(q.get("measurement_uid", ""))
            if m is None:
                self._send(404, {"error": "not found"})
            else:
                self._send(200, m)
        else:
            self._send(404, {"error": "no such endpoint"})


@pytest.fixture
def api(shared_dir: Path) -> Iterator[FakeApi]:
    lines = (shared_dir / "ooni-samples" / "more" / "all_im.jsonl").read_bytes().splitlines()
    ms = [json.loads(x) for x in lines]
    ms = [m for m in ms if m.get("test_name") in ("telegram", "signal")][:12]
    server = FakeApi(ms)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_api_pull_pages_waits_out_rate_limits_and_resumes(api: FakeApi, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{api.server_address[1]}"
    out = tmp_path / "api.jsonl"
    waits: list[float] = []
    with httpx.Client(timeout=30) as client:
        remote = Api(base, client, interval=0.0, sleep=waits.append)
        stats = pull(
            remote,
            out,
            tests=("telegram", "signal"),
            countries=(),
            since=date(2016, 1, 1),
            until=date(2026, 1, 1),
            limit=5,
        )
    total = sum(1 for m in api.by_uid.values() if m["test_name"] in ("telegram", "signal"))
    want = min(5, sum(1 for m in api.by_uid.values() if m["test_name"] == "telegram")) + min(
        5, sum(1 for m in api.by_uid.values() if m["test_name"] == "signal")
    )
    assert total > 5
    assert stats.fetched == want
    assert api.limited > 0
    assert stats.failed == 0, "429s are waited out, not failures"
    lines = out.read_bytes().splitlines()
    assert len(lines) == want
    assert {json.loads(x)["measurement_uid"] for x in lines} <= set(api.by_uid)

    with httpx.Client(timeout=30) as client:
        again = pull(
            Api(base, client, interval=0.0, sleep=waits.append),
            out,
            tests=("telegram", "signal"),
            countries=(),
            since=date(2016, 1, 1),
            until=date(2026, 1, 1),
            limit=5,
        )
    assert (again.fetched, again.skipped) == (0, want)
    assert len(out.read_bytes().splitlines()) == want


def test_api_spaces_its_requests() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    def handler(request: httpx.Request) -> httpx.Response:
        now[0] += 0.1
        return httpx.Response(200, json={"results": [], "metadata": {}})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    api = Api("http://api.invalid", client, interval=2.0, sleep=sleep, clock=lambda: now[0])
    for _ in range(3):
        api.get_json("http://api.invalid/api/v1/measurements")
    assert slept == pytest.approx([1.9, 1.9])


def test_api_cli_rejects_bulk_sized_pulls(tmp_path: Path) -> None:
    done = run_fetch(
        "--api",
        "--api-url",
        "http://127.0.0.1:9",
        "--since",
        SINCE,
        "--limit",
        "1000000",
        "--out",
        str(tmp_path),
    )
    assert done.returncode == 2
    assert "fetch from the bucket for more" in done.stderr
