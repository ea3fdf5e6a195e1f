"""Annotations on a server that ingests while it serves: written through its one writer.

The app reads the snapshots its worker publishes; an annotation goes to the live
store under the worker's lock, and the page, the API and a reading command in
another process see it as soon as the write's snapshot is published.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from conftest import LOOPBACK_URL, TOKEN
from voipwatch.events import known
from voipwatch.observatory import Spool, Worker
from voipwatch.store import open_store
from voipwatch.web.app import create_app

RUN = "import sys; from voipwatch.cli import main; sys.exit(main())"


def test_an_annotation_goes_through_the_live_writer_and_shows_everywhere(
    web_store: Path, tmp_path: Path
) -> None:
    # A store of its own: this process holds the shared one read-only.
    db = Path(shutil.copy(web_store, tmp_path / "live.duckdb"))
    spool = Spool(tmp_path)
    spool.prepare()
    store = open_store(db)
    worker = Worker(
        store, spool, clock=lambda: datetime(2026, 12, 1, tzinfo=UTC), known_changes=known.load()
    )
    app = create_app(db, token=TOKEN, live=worker)
    worker.listeners.append(lambda o: app.state.db.follow(o.snapshot))
    first = worker.snapshot
    try:
        with TestClient(app, base_url=LOOPBACK_URL) as c:
            cases = c.get("/api/v1/cases", params={"probe_cc": "IR"}).json()["results"]
            case_id = cases[0]["case_id"]
            url = f"/api/v1/cases/{case_id}/annotations"
            assert c.post(url, json={"note": "no token"}).status_code == 401
            r = c.post(
                url, json={"note": "checked live"}, headers={"Authorization": f"Bearer {TOKEN}"}
            )
            assert r.status_code == 201, r.text
            assert worker.snapshot != first  # the write was published
            shown = c.get(f"/api/v1/cases/{case_id}").json()
            assert shown["annotations"][-1]["note"] == "checked live"
            other = subprocess.run(
                [sys.executable, "-c", RUN, "cases", "show", case_id, "--db", str(db), "--json"],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert other.returncode == 0, other.stderr
            assert "checked live" in json.dumps(json.loads(other.stdout))
    finally:
        worker.stop()
        store.close()
