"""The server's door: Host allow-list, body caps before reading, the token before the
body, and a 4xx (never a 5xx) for any value of any page route's parameters."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import hypothesis
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import strategies as st

from conftest import LOOPBACK_URL, TOKEN
from voipwatch.web.app import create_app
from voipwatch.web.guard import MAX_BODY, allowed_hosts, host_name

OVERSIZED = 300 * 1024 * 1024


def test_host_names() -> None:
    assert host_name("127.0.0.1:8000") == "127.0.0.1"
    assert host_name("[::1]:8000") == "::1"
    assert host_name("LocalHost.") == "localhost"
    assert host_name("evil.example:80") == "evil.example"
    assert allowed_hosts() == {"localhost", "127.0.0.1", "::1"}
    assert allowed_hosts("0.0.0.0", ["Obs.Example.org"]) == {
        "localhost",
        "127.0.0.1",
        "::1",
        "obs.example.org",
    }
    assert "192.0.2.7" in allowed_hosts("192.0.2.7")


def test_foreign_host_is_refused(web_store: Path) -> None:
    """DNS rebinding: a page on evil.example, its name now pointing here, reads nothing."""
    app = create_app(web_store)
    with TestClient(app, base_url=LOOPBACK_URL) as c:
        for host in ("127.0.0.1", "127.0.0.1:8000", "localhost:8000", "[::1]:8000"):
            assert c.get("/api/v1/health", headers={"Host": host}).status_code == 200, host
        for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example", "", "x y"):
            for url in ("/api/v1/cases", "/", "/openapi.json"):
                r = c.get(url, headers={"Host": host})
                assert r.status_code == 421, (host, url)
                assert "case_id" not in r.text
    named = create_app(web_store, hosts=allowed_hosts("0.0.0.0", ["obs.example.org"]))
    with TestClient(named, base_url="http://obs.example.org") as c:
        assert c.get("/api/v1/health").status_code == 200
        assert c.get("/api/v1/health", headers={"Host": "evil.example"}).status_code == 421


def test_serve_takes_allowed_hosts() -> None:
    from typer.testing import CliRunner

    from voipwatch.cli import app

    r = CliRunner().invoke(app, ["serve", "--help"])
    assert "--allowed-host" in r.stdout


@pytest.fixture
def writable(web_store: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(web_store, tmp_path / "writable.duckdb"))


def _case_url(c: TestClient) -> str:
    case_id = c.get("/api/v1/cases").json()["results"][0]["case_id"]
    return f"/api/v1/cases/{case_id}/annotations"


def test_body_cap_and_token_before_the_body(writable: Path) -> None:
    with TestClient(create_app(writable, token=TOKEN), base_url=LOOPBACK_URL) as c:
        url = _case_url(c)
        form = url.replace("/api/v1/cases/", "/case/").replace("/annotations", "/annotate")
        big = b'{"note": "' + b"x" * (MAX_BODY + 1) + b'"}'
        auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        assert c.post(url, content=big, headers=auth).status_code == 413
        # Without Content-Length (chunked), the count stops it while it is received.
        r = c.post(url, content=iter([big[:1000], big[1000:]]), headers=auth)
        assert r.status_code == 413
        # No token, a wrong one: refused before the body, even a huge one.
        assert c.post(url, json={"note": "n"}).status_code == 401
        assert (
            c.post(url, json={"note": "n"}, headers={"Authorization": "Bearer no"}).status_code
            == 401
        )
        assert c.post(form, content=b"x" * (MAX_BODY + 1)).status_code == 413
        assert c.post(url, json={"note": "fine"}, headers=auth).status_code == 201
        big_get = c.request("GET", "/api/v1/health", content=b"x" * (MAX_BODY + 1))
        assert big_get.status_code == 413
    with TestClient(create_app(writable), base_url=LOOPBACK_URL) as ro:
        assert ro.post(_case_url(ro), json={"note": "n"}).status_code == 403
        assert ro.post(form, data={"note": "n", "token": "x"}).status_code == 403


# -- the same on a real server, watched from outside ----------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(writable: Path) -> Iterator[tuple[int, int]]:
    """``voipwatch serve`` with a token, as an operator runs it: (port, pid)."""
    port = _free_port()
    env = {**os.environ, "VOIPWATCH_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voipwatch.cli",
            "serve",
            "--db",
            str(writable),
            "--port",
            str(port),
            "--no-warm",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _exchange(port: int, head: bytes, body_chunks: int = 0, chunk: bytes = b"") -> bytes:
    """Send ``head`` then up to ``body_chunks`` chunks; the server's answer (bounded)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(head)
        for _ in range(body_chunks):
            try:
                s.sendall(chunk)
            except OSError:
                break  # the server answered and closed: what we want
        s.settimeout(20)
        answer = b""
        while len(answer) < 65536:
            try:
                data = s.recv(65536)
            except OSError:
                break
            if not data:
                break
            answer += data
        return answer


def test_oversized_bodies_leave_server_memory_bounded(server: tuple[int, int]) -> None:
    port, pid = server
    before = _peak_rss_mb(pid)
    path = "/api/v1/cases/x/annotations"
    # A 300 MB Content-Length: answered at once, nothing read (no body is ever sent).
    for auth, status in ((f"Bearer {TOKEN}", b"413"), ("Bearer wrong", b"401"), ("", b"401")):
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {OVERSIZED}\r\n"
            + (f"Authorization: {auth}\r\n" if auth else "")
            + "\r\n"
        ).encode()
        answer = _exchange(port, head)
        assert answer.split(b" ", 2)[1] == status, answer[:80]
    # Chunked, no length, the right token: stopped once past the cap, 64 MB offered.
    chunk = b"100000\r\n" + b"x" * 0x100000 + b"\r\n"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Transfer-Encoding: chunked\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    ).encode()
    answer = _exchange(port, head, body_chunks=64, chunk=chunk)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:80]
    # The form route: its own cap, before the token it carries is read.
    head = (
        f"POST /case/x/annotate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {OVERSIZED}\r\n\r\n"
    ).encode()
    assert _exchange(port, head).startswith(b"HTTP/1.1 413")
    after = _peak_rss_mb(pid)
    print(f"server peak RSS: {before:.0f} MB before, {after:.0f} MB after the oversized bodies")
    assert after - before < 32, (before, after)


# -- every parameter of every page route: 4xx, never 5xx --------------------------------


@pytest.mark.parametrize(
    "day", ["2026-02-30", "9999-12-31", "0000-00-00", "2026-13-01", "٢٠٢٦-٠١-٠١"]
)
def test_impossible_days_are_4xx(client: TestClient, day: str) -> None:
    r = client.get("/measurements", params={"day": day})
    assert 400 <= r.status_code < 500, (day, r.status_code)


_VALUES = st.one_of(
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "1e999",
            "NaN",
            "9999-12-31",
            "0000-00-00",
            "2026-02-30",
            "9999-12-31T23:59:59",
            "0001-01-01",
            "IR",
            "AS0",
            "AS99999999999",
            "telegram",
            "x" * 5000,
            "%00",
            "\x00",
            "'; DROP TABLE x;--",
            "../../etc/passwd",
            "ok,ok,ok",
            "2147483648",
            "-9223372036854775809",
        ]
    ),
    st.text(max_size=40),
)


def _page_routes() -> list[APIRoute]:
    """The pages' GET routes (the API's are fuzzed from its schema by schemathesis)."""
    from voipwatch.web import pages, pages_detail

    return [
        r
        for router in (pages.router, pages_detail.router)
        for r in router.routes
        if isinstance(r, APIRoute) and "GET" in r.methods
    ]


def _fuzz(client: TestClient, route: APIRoute, examples: int) -> int:
    """Draw values for the route's path and query parameters; the requests sent."""
    names = [p.name for p in route.dependant.query_params]
    paths = [p.name for p in route.dependant.path_params]
    sent = 0

    @hypothesis.given(data=st.data())
    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    def check(data: Any) -> None:
        nonlocal sent
        url = route.path
        for name in paths:
            value = quote(data.draw(_VALUES.filter(bool)), safe="")
            url = url.replace("{" + name + "}", value)
        params = {n: data.draw(_VALUES) for n in names if data.draw(st.booleans())}
        r = client.get(url, params=params)
        sent += 1
        assert r.status_code < 500, (url, params, r.status_code)

    check()
    return sent


def test_page_parameters_never_5xx(client: TestClient) -> None:
    routes = _page_routes()
    assert len(routes) >= 8
    sent = sum(_fuzz(client, route, 25) for route in routes)
    assert sent >= 25 * len(routes)
