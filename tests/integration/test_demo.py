"""``voipwatch demo`` runs offline on the bundled measurements."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from voipwatch.cli import app


def test_demo_builds_a_store_and_shows_what_is_blocked(tmp_path: Path) -> None:
    db = tmp_path / "demo.duckdb"
    result = CliRunner().invoke(app, ["demo", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout.splitlines()[-1])
    assert doc["ingest"]["new"] == doc["ingest"]["read"] >= 18
    assert doc["ingest"]["quarantined"] == 0
    techniques = {b["technique"] for b in doc["blocked"] if b["status"] != "down"}
    assert {"tls.mitm", "ip.blocked", "tcp.refused", "dns.nxdomain", "dns.bogon"} <= techniques
    assert any(b["role"] == "signal/sfu" and b["plane"] == "media" for b in doc["blocked"])
    counts = {r["test_name"]: r for r in doc["by_test"]["result"]}
    assert counts["whatsapp"]["measurement_count"] == 3

    again = CliRunner().invoke(app, ["demo", "--db", str(db), "--json"])
    assert again.exit_code == 0
    second = json.loads(again.stdout.splitlines()[-1])
    assert second["ingest"]["new"] == 0
    assert second["blocked"] == doc["blocked"]
