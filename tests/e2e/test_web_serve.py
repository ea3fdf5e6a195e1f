"""``voipwatch serve``: starts on loopback, answers, keeps the token out of its output."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conftest import TOKEN

RUN = "import sys; from voipwatch.cli import main; sys.exit(main())"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_and_never_prints_the_token(web_store: Path, tmp_path: Path) -> None:
    import shutil

    # Its own copy: this test process holds the shared store open.
    db = Path(shutil.copy(web_store, tmp_path / "served.duckdb"))
    port = _free_port()
    env = {**os.environ, "VOIPWATCH_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN, "serve", "--db", str(db), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                if httpx.get(base + "/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        page = httpx.get(base + "/country/IR", timeout=30)
        assert page.status_code == 200
        assert "Iran" in page.text
        case = httpx.get(base + "/api/v1/cases", timeout=30).json()["results"][0]
        r = httpx.post(
            f"{base}/api/v1/cases/{case['case_id']}/annotations",
            json={"note": "checked"},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30,
        )
        assert r.status_code == 201
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    text = (out + err).decode()
    assert f"127.0.0.1:{port}" in text
    assert "annotations enabled" in text
    assert TOKEN not in text


def test_serve_without_a_store_is_one_clear_line(tmp_path: Path) -> None:
    missing = tmp_path / "none.duckdb"
    r = subprocess.run(
        [sys.executable, "-c", RUN, "serve", "--db", str(missing), "--port", str(_free_port())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert "no store here" in r.stderr
    assert "Traceback" not in r.stderr
