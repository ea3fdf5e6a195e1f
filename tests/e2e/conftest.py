"""Fixtures of the web's tests: a store, the app, a live server on loopback, Chromium.

The browser is Debian's Chromium (``/usr/bin/chromium``, installed by
``scripts/install-system-deps``), driven by Playwright; Playwright's own browser
downloads are never used. Screenshots go to ``artifacts/e2e/`` at the repository root.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from webstore import build_store

from voipwatch.testing import populate
from voipwatch.web.app import create_app
from voipwatch.web.guard import allowed_hosts

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TOKEN = "operator-secret-token-1234"
#: The host name of the in-process test clients.
TEST_HOST = "testserver"
LOOPBACK_URL = "http://127.0.0.1"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "e2e"


@pytest.fixture(scope="session")
def web_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("web")
    path = folder / "web.duckdb"
    build_store(path, days=30, reps=1)
    populate(path, folder)
    return path


@pytest.fixture(scope="session")
def app(web_store: Path) -> FastAPI:
    # The in-process clients (Starlette's, schemathesis's) call it "testserver"; the
    # live server and the browser use 127.0.0.1, a loopback name allowed by default.
    return create_app(web_store, demo=True, hosts=allowed_hosts(extra=[TEST_HOST]))


@pytest.fixture(scope="session")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


class _Server:
    """uvicorn in a thread on a free loopback port (stopped at the end of the session)."""

    def __init__(self, app: FastAPI) -> None:
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> _Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="session")
def live_server(app: FastAPI) -> Iterator[str]:
    with _Server(app) as server:
        yield server.url


# Module scope, not session: Playwright's sync API keeps an asyncio loop running in
# this thread while it is open, and every later test that calls asyncio.run() (the
# probe's) would fail with "cannot be called from a running event loop".
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: scripts/install-system-deps installs it")
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    p = context.new_page()
    p.set_default_timeout(20_000)
    problems: list[str] = []
    p.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    p.on("pageerror", lambda e: problems.append(str(e)))
    p.problems = problems
    try:
        yield p
    finally:
        context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
